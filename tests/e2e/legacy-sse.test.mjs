// The deprecated HTTP+SSE transport (2024-11-05) served to old clients: the
// SDK 1.x SSEClientTransport through warden to a Streamable HTTP server, with
// the same policies as on Streamable HTTP; warden's own endpoint event; an
// unknown sessionId is 404; server-everything answers through it as directly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listAllPages } from './lib/client.mjs';
import { startEverything, startFixture, startWarden, stop, wardenBin } from './lib/peers.mjs';

const policy = new URL('./policies/fixture.json', import.meta.url).pathname;

async function connectSse(url) {
  const client = new Client({ name: 'warden-e2e-legacy', version: '1.0.0' });
  await client.connect(new SSEClientTransport(new URL(url)));
  return client;
}

/* Opens a raw legacy stream and returns its first event (the endpoint) and a way to close it. */
async function openRaw(url, headers = {}) {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const reader = res.body.getReader();
  let text = '';
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  return { status: res.status, type: res.headers.get('content-type'), first: text, close: () => ac.abort() };
}

// With 4 workers a POST mostly lands on another worker than its stream's.
for (const workers of ['1', '4']) describe(`legacy HTTP+SSE clients, to a Streamable HTTP server, ${workers} worker(s)`, { timeout: 60000 }, () => {
  let fixture, warden;
  before(async () => {
    fixture = await startFixture({});
    warden = await startWarden(['--upstream', fixture.url, '--policy', policy, '--workers', workers]);
  });
  after(async () => {
    assert.equal(await stop(warden.child), 0, warden.child.output());
    await stop(fixture.child);
  });

  test('the endpoint event is warden\'s own, on the path the client used', async () => {
    for (const [path, post] of [['/sse', '/message'], ['/mcp/sse', '/mcp/message']]) {
      const s = await openRaw(warden.base + path);
      try {
        assert.equal(s.status, 200);
        assert.match(s.type, /^text\/event-stream/);
        assert.match(s.first, new RegExp(`^event: endpoint\\ndata: ${post.replace('/', '\\/')}\\?sessionId=[0-9a-f]{32}\\n\\n$`));
      } finally {
        s.close();
      }
    }
  });

  test('the SDK SSE client lists and calls tools, with the policies holding', async () => {
    await fixture.reset();
    const client = await connectSse(warden.base + '/sse');
    try {
      const tools = (await listAllPages(client)).flatMap((p) => p.tools).map((t) => t.name);
      assert.ok(tools.length > 0);
      assert.ok(!tools.includes('get_env'), 'a hidden tool is not listed');
      assert.ok(!tools.some((n) => n.startsWith('debug_')));
      await assert.rejects(client.callTool({ name: 'get_env', arguments: {} }),
        (e) => e.code === -32602 && /Unknown tool: get_env/.test(e.message));
      const denied = await client.callTool({ name: 'delete_registered_model', arguments: { name: 'fraud-detector' } });
      assert.equal(denied.isError, true);
      assert.match(denied.content[0].text, /models are deleted by people/);
      const calls = await fixture.calls();
      assert.ok(calls.some((c) => c.method === 'tools/list'), 'the messages reached the server');
      assert.deepEqual(calls.filter((c) => c.method === 'tools/call'), []);
    } finally {
      await client.close();
    }
  });

  test('a POST for an unknown session id is 404 with a JSON body; without one 400', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const headers = { 'Content-Type': 'application/json' };
    let r = await fetch(`${warden.base}/message?sessionId=${'0'.repeat(32)}`, { method: 'POST', headers, body });
    assert.equal(r.status, 404);
    assert.match((await r.json()).error.message, /no legacy SSE session/);
    r = await fetch(`${warden.base}/mcp/message`, { method: 'POST', headers, body });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error.code, -32600);
  });

  test('a session ends with its stream: a later POST to it is 404', async () => {
    const s = await openRaw(warden.base + '/sse');
    const post = s.first.match(/data: (\S+)/)[1];
    s.close();
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
    let status = 202;
    for (let i = 0; i < 50 && status !== 404; i++) {
      status = (await fetch(warden.base + post, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 404);
  });

  test('a client that leaves with requests in flight leaves warden healthy', async () => {
    for (let i = 0; i < 5; i++) {
      const s = await openRaw(warden.base + '/sse');
      const post = s.first.match(/data: (\S+)/)[1];
      const send = (m) => fetch(warden.base + post, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(m) });
      assert.equal((await send({ jsonrpc: '2.0', id: 0, method: 'initialize',
        params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })).status, 202);
      assert.equal((await send({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
      assert.equal((await send({ jsonrpc: '2.0', id: 1, method: 'tools/list' })).status, 202);
      if (i % 2) await new Promise((r) => setTimeout(r, 50));
      s.close();
    }
    assert.equal((await fetch(`${warden.base}/healthz`)).status, 200);
  });

  test('a malformed message is refused at the POST, before any queue', async () => {
    const s = await openRaw(warden.base + '/sse');
    try {
      const post = s.first.match(/data: (\S+)/)[1];
      const r = await fetch(warden.base + post, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,' });
      assert.equal(r.status, 400);
      assert.equal((await r.json()).error.code, -32700);
    } finally {
      s.close();
    }
  });
});

describe('legacy HTTP+SSE clients behind API keys, on a named server', { timeout: 60000 }, () => {
  let fixture, warden, dir, keys;
  before(async () => {
    fixture = await startFixture({});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-legacy-'));
    const newKey = (id, labels) => {
      const out = execFileSync(wardenBin, ['key', 'new', id]).toString();
      return { secret: out.match(/^wdn_\S+$/m)[0], entry: { ...JSON.parse(out.match(/^\{"id".*$/m)[0]), labels } };
    };
    keys = { ci: newKey('ci-bot', { team: 'ci' }), ml: newKey('ml-agent', { team: 'ml' }) };
    fs.writeFileSync(path.join(dir, 'ci.json'), JSON.stringify({
      version: '1', tools: { set_model_alias: { action: 'deny', reason: 'CI does not move aliases' } },
    }));
    const config = path.join(dir, 'warden.json');
    fs.writeFileSync(config, JSON.stringify({
      auth: { api_keys: [keys.ci.entry, keys.ml.entry] },
      servers: { reg: { url: fixture.url, policies: [{ file: 'ci.json', when: { principal: 'labels.team', eq: 'ci' } }] } },
    }));
    warden = await startWarden(['--config', config]);
  });
  after(async () => {
    assert.equal(await stop(warden.child), 0, warden.child.output());
    await stop(fixture.child);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('no key: 401 on the stream and on the POST', async () => {
    assert.equal((await fetch(`${warden.base}/mcp/reg/sse`)).status, 401);
    const r = await fetch(`${warden.base}/mcp/reg/message?sessionId=${'0'.repeat(32)}`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"jsonrpc":"2.0","method":"x"}' });
    assert.equal(r.status, 401);
  });

  test('the principal\'s policy holds on the legacy transport', async () => {
    const headers = { Authorization: `Bearer ${keys.ci.secret}` };
    const client = new Client({ name: 'warden-e2e-legacy', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(`${warden.base}/mcp/reg/sse`), { requestInit: { headers } }));
    try {
      const r = await client.callTool({ name: 'set_model_alias', arguments: { name: 'm', alias: 'a', version: '1' } });
      assert.equal(r.isError, true);
      assert.match(r.content[0].text, /CI does not move aliases/);
    } finally {
      await client.close();
    }
  });

  test('another principal cannot POST into a stream: 404', async () => {
    const s = await openRaw(`${warden.base}/mcp/reg/sse`, { Authorization: `Bearer ${keys.ci.secret}` });
    try {
      const post = s.first.match(/data: (\S+)/)[1];
      assert.match(post, /^\/mcp\/reg\/message\?sessionId=/);
      const send = (secret) => fetch(warden.base + post, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${secret}` },
        body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      });
      assert.equal((await send(keys.ml.secret)).status, 404);
      assert.equal((await send(keys.ci.secret)).status, 202);
    } finally {
      s.close();
    }
  });
});

describe('legacy HTTP+SSE clients, to server-everything over Streamable HTTP', { timeout: 60000 }, () => {
  let everything, warden;
  before(async () => {
    everything = await startEverything('streamableHttp');
    warden = await startWarden(['--upstream', everything.url]);
  });
  after(async () => {
    assert.equal(await stop(warden.child), 0, warden.child.output());
    await everything.stop();
  });

  test('the same tools as directly, and a call answers on the stream', async () => {
    const direct = new Client({ name: 'direct', version: '1.0.0' });
    await direct.connect(new StreamableHTTPClientTransport(new URL(everything.url)));
    const client = await connectSse(warden.base + '/sse');
    try {
      const want = (await direct.listTools()).tools.map((t) => t.name).sort();
      const got = (await client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(got, want);
      const r = await client.callTool({ name: 'echo', arguments: { message: 'through the legacy stream' } });
      assert.match(JSON.stringify(r.content), /through the legacy stream/);
    } finally {
      await client.close();
      await direct.close();
    }
  });
});
