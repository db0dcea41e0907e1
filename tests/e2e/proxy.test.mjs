// The gateway core end to end with the official SDK client: through warden
// it sees exactly what it sees directly (our fixture in JSON and SSE modes,
// and server-everything), progress arrives while a call runs, sessions start
// and end, and a standalone GET stream does not hold up the session's POSTs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, initialize, listAllPages, messages, post } from './lib/client.mjs';
import { startEverything, startFixture, startWarden } from './lib/peers.mjs';

/* Runs `run` with a client connected directly and one through `wardenUrl`;
 * both must get deep-equal results. */
async function sameThroughWarden(directUrl, wardenUrl, run) {
  const direct = await connect(directUrl);
  const through = await connect(wardenUrl);
  try {
    const want = await run(direct.client);
    assert.deepEqual(await run(through.client), want);
    return want;
  } finally {
    await direct.client.close();
    await through.client.close();
  }
}

for (const json of [false, true]) {
  describe(`fixture answering in ${json ? 'JSON' : 'SSE'}`, { timeout: 30000 }, () => {
    let fixture, warden;
    before(async () => {
      fixture = await startFixture({ json });
      warden = await startWarden(['--upstream', fixture.url]);
    });
    after(async () => {
      if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
      await fixture?.stop();
    });

    test('tools/list, every page, and tool calls', async () => {
      const got = await sameThroughWarden(fixture.url, warden.url, async (client) => {
        const pages = await listAllPages(client);
        const echo = await client.callTool({ name: 'echo', arguments: { a: 1, s: 'é☃', n: null, deep: { l: [1, 2.5, 'x'] } } });
        return { pages, echo };
      });
      // What both sides agreed on is the fixture's real answer, not two empty ones.
      assert.deepEqual(got.pages.map((p) => p.tools.length), [10, 10, 5]);
      assert.deepEqual(got.pages.map((p) => p.nextCursor), ['10', '20', undefined]);
      assert.deepEqual(JSON.parse(got.echo.content[0].text), { tool: 'echo', args: { a: 1, s: 'é☃', n: null, deep: { l: [1, 2.5, 'x'] } } });
    });

    test('an unknown tool is the same JSON-RPC error either way', async () => {
      await sameThroughWarden(fixture.url, warden.url, async (client) => {
        const e = await client.callTool({ name: 'no_such_tool', arguments: {} }).then(() => null, (err) => err);
        assert.ok(e, 'the call of an unknown tool succeeded');
        return { code: e.code, message: e.message };
      });
    });

    test('progress arrives while the call runs, not with its result', async () => {
      const progressOf = async (url) => {
        const { client } = await connect(url);
        try {
          const seen = [];
          const t0 = Date.now();
          await client.callTool({ name: 'slow_progress', arguments: { steps: 3 } }, undefined,
            { onprogress: (p) => seen.push({ at: Date.now() - t0, progress: p.progress }) });
          return { seen, done: Date.now() - t0 };
        } finally {
          await client.close();
        }
      };
      const direct = await progressOf(fixture.url);
      const through = await progressOf(warden.url);
      assert.deepEqual(through.seen.map((s) => s.progress), direct.seen.map((s) => s.progress));
      if (!json) {
        // With an SSE answer the notifications travel on the call's own stream, as they happen:
        // the first one comes about 150 ms in, the result after about 450 ms.
        assert.deepEqual(through.seen.map((s) => s.progress), [1, 2, 3]);
        assert.ok(through.seen[0].at < through.done - 200, `first progress at ${through.seen[0].at} ms, result at ${through.done} ms`);
      }
    });
  });
}

describe('server-everything', { timeout: 30000 }, () => {
  let everything, warden;
  before(async () => {
    everything = await startEverything();
    warden = await startWarden(['--upstream', everything.url]);
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    await everything?.stop();
  });

  test('tools, prompts, resources and calls', async () => {
    const got = await sameThroughWarden(everything.url, warden.url, async (client) => ({
      tools: await client.listTools(),
      prompts: await client.listPrompts(),
      resources: await client.listResources(),
      echo: await client.callTool({ name: 'echo', arguments: { message: 'hello' } }),
      sum: await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }),
    }));
    assert.ok(got.tools.tools.some((t) => t.name === 'echo'));
    assert.ok(got.prompts.prompts.length > 0 && got.resources.resources.length > 0);
    assert.match(got.echo.content[0].text, /hello/);
    assert.match(got.sum.content[0].text, /\b5\b/);
  });
});

describe('several servers from a config file, at /mcp/NAME', { timeout: 30000 }, () => {
  let fixture, everything, warden, dir;
  before(async () => {
    [fixture, everything] = await Promise.all([startFixture(), startEverything()]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-'));
    const config = path.join(dir, 'warden.json');
    fs.writeFileSync(config, JSON.stringify({ servers: { fixture: { url: fixture.url }, everything: { url: everything.url } } }));
    warden = await startWarden(['--config', config]);
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    await Promise.all([fixture?.stop(), everything?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('each path reaches its own server', async () => {
    const mine = await sameThroughWarden(fixture.url, `${warden.base}/mcp/fixture`, async (c) => (await c.getServerVersion()).name);
    const theirs = await sameThroughWarden(everything.url, `${warden.base}/mcp/everything`, async (c) => (await c.getServerVersion()).name);
    assert.equal(mine, 'warden-fixture');
    assert.notEqual(theirs, mine);
    const none = await post(`${warden.base}/mcp/nothing`, initialize());
    assert.equal(none.status, 404);
  });
});

describe('sessions and streams', { timeout: 30000 }, () => {
  let fixture, warden;
  before(async () => {
    fixture = await startFixture();
    warden = await startWarden(['--upstream', fixture.url]);
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    await fixture?.stop();
  });
  const session = (sid) => ({ 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' });

  test('the session id comes through; after DELETE it answers 404, so the client re-initializes', async () => {
    const { client, transport } = await connect(warden.url);
    const sid = transport.sessionId;
    assert.ok(sid);
    await fixture.reset();
    await client.listTools();
    // It is the upstream's session: the fixture saw the same id on the request.
    assert.deepEqual((await fixture.calls()).map((c) => c.headers['mcp-session-id']), [sid]);
    await transport.terminateSession(); // throws on any answer but 2xx or 405
    assert.equal(transport.sessionId, undefined);
    await client.close();
    const res = await post(warden.url, { jsonrpc: '2.0', id: 5, method: 'tools/list' }, session(sid));
    assert.equal(res.status, 404, res.text);
  });

  test('a long-lived GET stream does not block other requests of the session', async () => {
    const init = await post(warden.url, initialize());
    const sid = init.headers.get('mcp-session-id');
    assert.ok(sid);
    await post(warden.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session(sid));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 10000);
    try {
      const stream = await fetch(warden.url, {
        headers: { Accept: 'text/event-stream', ...session(sid) },
        signal: controller.signal,
      });
      assert.equal(stream.status, 200);
      assert.match(stream.headers.get('content-type'), /text\/event-stream/);
      const t0 = Date.now();
      const res = await post(warden.url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: {} } }, session(sid));
      assert.equal(res.status, 200);
      assert.equal(JSON.parse(messages(res.text)[0]).id, 2);
      assert.ok(Date.now() - t0 < 2000, `POST beside the GET stream took ${Date.now() - t0} ms`);
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  });
});
