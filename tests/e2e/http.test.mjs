// HTTP hygiene at warden's front door, over bare sockets so that every byte
// is ours: what warden refuses it refuses with the right status and a JSON
// body, before anything reaches the upstream; pipelined requests are answered
// in order; the client's credentials stay with warden.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initialize, post } from './lib/client.mjs';
import { startFixture, startWarden } from './lib/peers.mjs';
import { exchange, jsonPost, request } from './lib/raw-http.mjs';

const echo = (id, args = {}) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: args } });

/* A refusal: the status, a JSON body holding a JSON-RPC error with id null. */
function assertRefused(res, status, code) {
  assert.equal(res.status, status, res.body);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  const msg = JSON.parse(res.body);
  assert.equal(msg.jsonrpc, '2.0');
  assert.equal(msg.id, null);
  assert.equal(typeof msg.error.message, 'string');
  if (code !== undefined) assert.equal(msg.error.code, code);
}

describe('HTTP hygiene through warden', { timeout: 40000 }, () => {
  let fixture, warden, sid, session;
  before(async () => {
    fixture = await startFixture({ json: true });
    warden = await startWarden(['--upstream', fixture.url]);
    const init = await post(warden.url, initialize());
    sid = init.headers.get('mcp-session-id');
    assert.ok(sid, init.text);
    await post(warden.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'Mcp-Session-Id': sid });
    session = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' };
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    await fixture?.stop();
  });
  beforeEach(async () => { await fixture.reset(); });

  /* Nothing of a refused request may reach the upstream. */
  const nothingArrived = async () => assert.deepEqual(await fixture.calls(), []);
  const send = (bytes, opts) => exchange(warden.port, bytes, opts).then((r) => r.responses);

  test('a well-formed call passes (the baseline the refusals below differ from)', async () => {
    const [res] = await send(request('POST', '/mcp', { headers: jsonPost({ ...session, 'Content-Type': 'application/json; charset=utf-8' }), body: echo(1) }));
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).id, 1);
    assert.deepEqual((await fixture.calls()).map((c) => c.tool), ['echo']);
  });

  for (const [what, ct] of [['text/plain', 'text/plain'], ['no Content-Type', undefined],
    ['charset=latin1', 'application/json; charset=latin1'], ['charset=iso-8859-1', 'application/json;charset=ISO-8859-1']]) {
    test(`415 for ${what}`, async () => {
      const headers = jsonPost(session);
      if (ct === undefined) delete headers['Content-Type']; else headers['Content-Type'] = ct;
      const [res] = await send(request('POST', '/mcp', { headers, body: echo(2) }));
      assertRefused(res, 415);
      await nothingArrived();
    });
  }

  test('413 for a declared body over the limit, answered before the body is sent', async () => {
    const [res] = await send(request('POST', '/mcp', { headers: jsonPost({ ...session, 'Content-Length': String(4 * 1024 * 1024 + 1) }) }));
    assert.equal(res.status, 413);
    await nothingArrived();
  });

  test('400 for a malformed request line', async () => {
    for (const line of ['GET /mcp HTTP/1.1 extra', 'GET  HTTP/1.1', 'G\x01T /mcp HTTP/1.1', 'POST /mcp HTTP/9']) {
      const { responses } = await exchange(warden.port, Buffer.from(`${line}\r\nHost: 127.0.0.1\r\n\r\n`, 'latin1'));
      assert.equal(responses.length, 1, `no answer to ${JSON.stringify(line)}`);
      assert.equal(responses[0].status, 400, `${JSON.stringify(line)}: ${responses[0].body}`);
    }
    await nothingArrived();
  });

  test('a batch is refused with -32600', async () => {
    const [res] = await send(request('POST', '/mcp', { headers: jsonPost(session), body: `[${echo(3)},${echo(4)}]` }));
    assertRefused(res, 400, -32600);
    await nothingArrived();
  });

  test('invalid JSON is refused with -32700', async () => {
    for (const body of ['{"jsonrpc":"2.0","id":5,', '{"jsonrpc":"2.0","id":5,"method":"ping"} trailing',
    Buffer.from('{"jsonrpc":"2.0","id":5,"method":"\xff"}', 'latin1') /* not UTF-8 */]) {
      const [res] = await send(request('POST', '/mcp', { headers: jsonPost(session), body }));
      assertRefused(res, 400, -32700);
    }
    await nothingArrived();
  });

  test('403 for a foreign Origin; a local one passes', async () => {
    const [evil] = await send(request('POST', '/mcp', { headers: jsonPost({ ...session, Origin: 'http://evil.example' }), body: echo(6) }));
    assertRefused(evil, 403);
    await nothingArrived();
    const [local] = await send(request('POST', '/mcp', { headers: jsonPost({ ...session, Origin: `http://127.0.0.1:${warden.port}` }), body: echo(7) }));
    assert.equal(local.status, 200, local.body);
  });

  test('403 for a foreign Host (DNS rebinding); localhost passes', async () => {
    for (const host of ['evil.example', `evil.example:${warden.port}`]) {
      const [res] = await send(request('POST', '/mcp', { headers: jsonPost({ ...session, Host: host }), body: echo(8) }));
      assertRefused(res, 403);
    }
    await nothingArrived();
    const [ok] = await send(request('POST', '/mcp', { headers: jsonPost({ ...session, Host: `localhost:${warden.port}` }), body: echo(9) }));
    assert.equal(ok.status, 200, ok.body);
  });

  test('pipelined requests on one socket are answered in order', async () => {
    // The first one is slow upstream (about half a second), the ones behind it are quick.
    const slow = JSON.stringify({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'slow_progress', arguments: { steps: 3 } } });
    const bytes = Buffer.concat([
      request('POST', '/mcp', { headers: jsonPost(session), body: slow }),
      request('POST', '/mcp', { headers: jsonPost(session), body: echo('quick') }),
      request('GET', '/healthz'),
    ]);
    const { responses } = await exchange(warden.port, bytes, { count: 3 });
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
    assert.equal(JSON.parse(responses[0].body).id, 'slow');
    assert.equal(JSON.parse(responses[1].body).id, 'quick');
    assert.equal(JSON.parse(responses[2].body).status, 'ok');
    assert.deepEqual((await fixture.calls()).map((c) => c.id), ['slow', 'quick']);
  });

  test('the client\'s Authorization and Cookie do not reach the upstream', async () => {
    const [res] = await send(request('POST', '/mcp', { headers: jsonPost({ ...session, Authorization: 'Bearer client-secret', Cookie: 'a=b' }), body: echo(10) }));
    assert.equal(res.status, 200, res.body);
    const calls = await fixture.calls();
    assert.equal(calls.length, 1);
    assert.equal(calls[0].headers.authorization, undefined);
    assert.equal(calls[0].headers.cookie, undefined);
  });
});

describe('limits and pass-through set by configuration', { timeout: 30000 }, () => {
  let fixture, dir;
  before(async () => {
    fixture = await startFixture({ json: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-'));
  });
  after(async () => {
    await fixture?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('413 for a body over max_body_bytes, sized or chunked; a body under it passes', async () => {
    const config = path.join(dir, 'small-bodies.json');
    fs.writeFileSync(config, JSON.stringify({ servers: { fx: { url: fixture.url } }, limits: { max_body_bytes: 1024 } }));
    const warden = await startWarden(['--config', config]);
    try {
      const init = await post(`${warden.base}/mcp/fx`, initialize());
      const headers = jsonPost({ 'Mcp-Session-Id': init.headers.get('mcp-session-id'), 'MCP-Protocol-Version': '2025-06-18' });
      await fixture.reset();
      const big = echo(11, { pad: 'x'.repeat(2000) });
      const [sized] = (await exchange(warden.port, request('POST', '/mcp/fx', { headers, body: big }))).responses;
      assert.equal(sized.status, 413);
      const chunked = Buffer.concat([
        request('POST', '/mcp/fx', { headers: { ...headers, 'Transfer-Encoding': 'chunked' } }),
        Buffer.from(`${Buffer.byteLength(big).toString(16)}\r\n${big}\r\n0\r\n\r\n`),
      ]);
      const [chunk] = (await exchange(warden.port, chunked)).responses;
      assert.equal(chunk.status, 413);
      assert.deepEqual(await fixture.calls(), []);
      const [small] = (await exchange(warden.port, request('POST', '/mcp/fx', { headers, body: echo(12, { pad: 'x'.repeat(500) }) }))).responses;
      assert.equal(small.status, 200, small.body);
    } finally {
      assert.equal(await warden.stop(), 0, warden.stderr());
    }
  });

  test('--pass-authorization forwards the client\'s Authorization (the opt-in the default refuses)', async () => {
    const warden = await startWarden(['--upstream', fixture.url, '--pass-authorization']);
    try {
      await fixture.reset();
      await post(warden.url, initialize(), { Authorization: 'Bearer client-token' });
      const calls = await fixture.calls();
      assert.equal(calls.length, 1);
      assert.equal(calls[0].headers.authorization, 'Bearer client-token');
    } finally {
      assert.equal(await warden.stop(), 0, warden.stderr());
    }
  });
});
