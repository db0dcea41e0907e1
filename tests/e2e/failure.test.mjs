// When the upstream is gone, the agent gets a JSON-RPC error for its own
// request at once (HTTP 200, so the SDK client reads it instead of failing
// its transport), the message names the upstream, and warden keeps serving.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, post } from './lib/client.mjs';
import { freePort, startFixture, startWarden } from './lib/peers.mjs';

/* The answer to a POST through warden must be an error for exactly `id`. */
function assertRpcError(res, id, namePattern) {
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const msg = JSON.parse(res.text);
  assert.equal(msg.jsonrpc, '2.0');
  assert.equal(msg.id, id);
  assert.equal(msg.result, undefined);
  assert.equal(typeof msg.error.code, 'number');
  assert.match(msg.error.message, namePattern);
}

async function healthy(warden) {
  const res = await fetch(`${warden.base}/healthz`, { signal: AbortSignal.timeout(2000) });
  assert.equal(res.status, 200);
}

describe('upstream failures', { timeout: 30000 }, () => {
  test('a dead port: a JSON-RPC error for the request within 2 s; warden keeps serving and exits 0', async () => {
    const dead = await freePort();
    const warden = await startWarden(['--upstream', `http://127.0.0.1:${dead}/mcp`]);
    try {
      for (const id of [42, 'req-7']) {
        const t0 = Date.now();
        const res = await post(warden.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: {} } });
        assert.ok(Date.now() - t0 < 2000, `answered after ${Date.now() - t0} ms`);
        assertRpcError(res, id, new RegExp(`127\\.0\\.0\\.1:${dead}`));
      }
      await healthy(warden);
    } finally {
      assert.equal(await warden.stop(), 0, warden.stderr());
    }
  });

  test('the SDK client gets an error naming the upstream, not a transport failure', async () => {
    const dead = await freePort();
    const warden = await startWarden(['--upstream', `http://127.0.0.1:${dead}/mcp`]);
    try {
      await assert.rejects(connect(warden.url), (e) => e.code !== undefined && /upstream server/.test(e.message));
    } finally {
      assert.equal(await warden.stop(), 0, warden.stderr());
    }
  });

  test('an upstream that hangs up without answering', async () => {
    // Accepts, reads, closes: the request may or may not have reached it, and no answer came.
    const hangup = net.createServer((s) => { s.once('data', () => s.destroy()); });
    await new Promise((r) => hangup.listen(0, '127.0.0.1', r));
    const { port } = hangup.address();
    const warden = await startWarden(['--upstream', `http://127.0.0.1:${port}/mcp`]);
    try {
      const t0 = Date.now();
      const res = await post(warden.url, { jsonrpc: '2.0', id: 9, method: 'tools/list' });
      assert.ok(Date.now() - t0 < 2000, `answered after ${Date.now() - t0} ms`);
      assertRpcError(res, 9, new RegExp(`127\\.0\\.0\\.1:${port}`));
      await healthy(warden);
    } finally {
      assert.equal(await warden.stop(), 0, warden.stderr());
      hangup.close();
    }
  });

  test('the upstream dies in the middle of a session', async () => {
    const fixture = await startFixture({ json: true });
    const warden = await startWarden(['--upstream', fixture.url]);
    try {
      const { client } = await connect(warden.url);
      try {
        const ok = await client.callTool({ name: 'echo', arguments: { n: 1 } });
        assert.equal(ok.isError, undefined);
        await fixture.stop();
        const t0 = Date.now();
        await assert.rejects(client.callTool({ name: 'echo', arguments: { n: 2 } }),
          (e) => e.code !== undefined && new RegExp(`127\\.0\\.0\\.1:${fixture.port}`).test(e.message));
        assert.ok(Date.now() - t0 < 2000, `failed after ${Date.now() - t0} ms`);
      } finally {
        await client.close();
      }
      await healthy(warden);
    } finally {
      assert.equal(await warden.stop(), 0, warden.stderr());
      await fixture.stop();
    }
  });
});
