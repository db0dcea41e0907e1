// The gateway core end to end: through warden, the official SDK client sees
// exactly what it sees directly, progress arrives while a call runs, ids come
// back byte for byte, and a dead upstream gives a JSON-RPC error at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, initialize, listAllPages, messages, post } from './lib/client.mjs';
import { startEverything, startFixture, startWarden, stop, freePort } from './lib/peers.mjs';

async function sameThroughWarden(upstream, run) {
  const warden = await startWarden(['--upstream', upstream.url]);
  try {
    const direct = await connect(upstream.url);
    const through = await connect(warden.url);
    try {
      assert.deepEqual(await run(through.client), await run(direct.client));
    } finally {
      await direct.client.close();
      await through.client.close();
    }
  } finally {
    assert.equal(await stop(warden.child), 0, warden.child.output());
  }
}

describe('through warden the client sees what it sees directly', () => {
  for (const json of [false, true]) {
    describe(`fixture answering in ${json ? 'JSON' : 'SSE'}`, () => {
      let fixture;
      before(async () => { fixture = await startFixture({ json }); });
      after(async () => { await stop(fixture.child); });

      test('tools/list, every page, and tool calls', async () => {
        await sameThroughWarden(fixture, async (client) => {
          const pages = await listAllPages(client);
          assert.equal(pages.length, 3);
          const echo = await client.callTool({ name: 'echo', arguments: { a: 1, s: 'é☃' } });
          return { pages, echo };
        });
      });

      test('progress arrives while the call runs, not with its result', async () => {
        const warden = await startWarden(['--upstream', fixture.url]);
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
        try {
          const direct = await progressOf(fixture.url);
          const through = await progressOf(warden.url);
          assert.deepEqual(through.seen.map((s) => s.progress), direct.seen.map((s) => s.progress));
          if (!json) {
            // With an SSE answer the notifications travel on the call's own stream, as they happen.
            assert.deepEqual(through.seen.map((s) => s.progress), [1, 2, 3]);
            assert.ok(through.seen[0].at < through.done - 200, `first progress at ${through.seen[0].at} ms, result at ${through.done} ms`);
          }
        } finally {
          await stop(warden.child);
        }
      });
    });
  }

  describe('server-everything', () => {
    let everything;
    before(async () => { everything = await startEverything(); });
    after(async () => { await stop(everything.child); });

    test('tools, prompts, resources and calls', async () => {
      await sameThroughWarden(everything, async (client) => {
        const tools = await client.listTools();
        const prompts = await client.listPrompts();
        const resources = await client.listResources();
        const echo = await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
        const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
        return { tools, prompts, resources, echo, sum };
      });
    });
  });
});

describe('sessions and streams', () => {
  let fixture, warden;
  before(async () => {
    fixture = await startFixture();
    warden = await startWarden(['--upstream', fixture.url]);
  });
  after(async () => {
    assert.equal(await stop(warden.child), 0);
    await stop(fixture.child);
  });

  test('an ended session answers 404 through warden, so the client re-initializes', async () => {
    const { client, transport } = await connect(warden.url);
    const sid = transport.sessionId;
    assert.ok(sid);
    await transport.terminateSession();
    await client.close();
    const res = await post(warden.url, { jsonrpc: '2.0', id: 5, method: 'tools/list' },
      { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' });
    assert.equal(res.status, 404);
  });

  test('a long-lived GET stream does not block other requests of the session', async () => {
    const init = await post(warden.url, initialize());
    const sid = init.headers.get('mcp-session-id');
    await post(warden.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'Mcp-Session-Id': sid });
    const controller = new AbortController();
    const stream = await fetch(warden.url, {
      headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' },
      signal: controller.signal,
    });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type'), /text\/event-stream/);
    const res = await post(warden.url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: {} } },
      { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' });
    assert.equal(res.status, 200);
    assert.match(messages(res.text)[0], /"id":2/);
    controller.abort();
  });

  test('the client\'s Authorization and cookies are not passed upstream', async () => {
    await fetch(`${fixture.url.replace('/mcp', '')}/__calls`, { method: 'DELETE' });
    await post(warden.url, initialize(1), { Authorization: 'Bearer secret', Cookie: 'a=b' });
    const calls = await (await fetch(`${fixture.url.replace('/mcp', '')}/__calls`)).json();
    assert.equal(calls.length, 1);
    assert.equal(calls[0].headers.authorization, undefined);
    assert.equal(calls[0].headers.cookie, undefined);
  });
});

describe('ids come back unchanged', () => {
  let fixture, warden;
  before(async () => {
    fixture = await startFixture({ json: true });
    warden = await startWarden(['--upstream', fixture.url, '--policy', new URL('./policies/deny-echo.json', import.meta.url).pathname]);
  });
  after(async () => {
    await stop(warden.child);
    await stop(fixture.child);
  });

  for (const id of ['0', '-1', '9007199254740993', '"caf\\u00e9-\\u2603"', '"café-☃"']) {
    test(`id ${id}`, async () => {
      const init = await post(warden.url, initialize());
      const sid = init.headers.get('mcp-session-id');
      // answered by warden itself (a policy refusal): the id's own bytes come back
      const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{}}}`;
      const res = await post(warden.url, body, { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' });
      assert.equal(res.status, 200);
      assert.ok(res.text.startsWith(`{"jsonrpc":"2.0","id":${id},`), res.text);
    });
  }
});

describe('failures', () => {
  test('a dead upstream gives a JSON-RPC error for the request at once, and warden keeps serving', async () => {
    const dead = await freePort();
    const warden = await startWarden(['--upstream', `http://127.0.0.1:${dead}/mcp`]);
    try {
      const t0 = Date.now();
      const res = await post(warden.url, { jsonrpc: '2.0', id: 42, method: 'tools/list' });
      assert.ok(Date.now() - t0 < 2000);
      assert.equal(res.status, 200);
      const msg = JSON.parse(res.text);
      assert.equal(msg.id, 42);
      assert.equal(msg.error.code, -32603);
      assert.match(msg.error.message, new RegExp(`127\\.0\\.0\\.1:${dead}`));
      assert.equal((await fetch(`${warden.base}/healthz`)).status, 200);
    } finally {
      assert.equal(await stop(warden.child), 0);
    }
  });

  test('the SDK client gets an McpError naming the server when the upstream is down', async () => {
    const dead = await freePort();
    const warden = await startWarden(['--upstream', `http://127.0.0.1:${dead}/mcp`]);
    try {
      await assert.rejects(connect(warden.url), /upstream server/);
    } finally {
      await stop(warden.child);
    }
  });
});
