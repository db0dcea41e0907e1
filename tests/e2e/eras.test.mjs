// Every MCP era through warden (issue 17): a 2026-07-28 client (SDK v2)
// behind a JSON policy reads warden's refusals, the hidden tool's error and
// the rate limit's retry time; headers that do not mirror the body are 400
// -32020 and never reach the server; versions warden does not know are the
// server's to refuse; a refused task-augmented call (2025-11-25)
// is a readable error; a reload that hides a tool reaches a subscribed client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CreateTaskResultSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connect, listAllPages, post, until } from './lib/client.mjs';
import { startEverything, startFixture, startModern, startWarden } from './lib/peers.mjs';

const policy = (hidden) => JSON.stringify({
  version: '1',
  hide: hidden,
  tools: {
    delete_everything: { action: 'deny', reason: 'deleting everything needs a person' },
    other: { rate_limit: { max: 1, window: 60 } },
  },
});

function saveByRename(file, text) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.swp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

async function modernClient(url) {
  const client = new Client({ name: 'warden-e2e-modern', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/* A 2026-07-28 tools/call as the spec writes it; `headers` override the mirrored ones. */
function modernCall(name, headers = {}) {
  const body = {
    jsonrpc: '2.0', id: 7, method: 'tools/call',
    params: {
      name, arguments: {},
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': {},
      },
    },
  };
  return [body, { 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': name, ...headers }];
}

describe('a 2026-07-28 client behind a JSON policy', () => {
  let server, warden, dir, file, client;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-eras-'));
    file = path.join(dir, 'policy.json');
    fs.writeFileSync(file, policy(['get_env']));
    server = await startModern();
    warden = await startWarden(['--upstream', server.url, '--policy', file]);
    client = await modernClient(warden.url);
  });
  after(async () => {
    await client?.close();
    assert.equal(await warden.stop(), 0);
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the client speaks 2026-07-28 through warden', () => {
    assert.equal(client.getProtocolEra(), 'modern');
  });

  test('a denied call is a tool result whose text is the reason', async () => {
    const r = await client.callTool({ name: 'delete_everything', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(r.content[0].text, /deleting everything needs a person/);
  });

  test('a hidden tool is an unknown tool, and missing from the list', async () => {
    await assert.rejects(client.callTool({ name: 'get_env', arguments: {} }),
      (e) => e.code === -32602 && /Unknown tool: get_env/.test(e.message));
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('echo') && !names.includes('get_env'), names.join());
  });

  test('the rate limit says when to retry', async () => {
    assert.equal((await client.callTool({ name: 'other', arguments: {} })).isError, undefined);
    const r = await client.callTool({ name: 'other', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(r.content[0].text, /retry in \d+(\.\d)? s/);
  });

  test('the list keeps ttlMs within max_list_ttl_ms', async () => {
    const [, headers] = modernCall('x');
    const body = { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: modernCall('x')[0].params._meta } };
    delete headers['Mcp-Name'];
    const r = await post(warden.url, body, { ...headers, 'Mcp-Method': 'tools/list' });
    const result = JSON.parse(r.text.includes('data:') ? r.text.split('data: ')[1] : r.text).result;
    assert.ok(result, `${r.status} ${r.text}`);
    assert.equal(result.ttlMs, 60000);
  });

  test('headers that do not mirror the body are 400 -32020 and never reach the server', async () => {
    await server.reset();
    const cases = [
      modernCall('echo', { 'Mcp-Name': 'delete_everything' }),
      modernCall('echo', { 'Mcp-Name': '=?base64?ZGVsZXRlX2V2ZXJ5dGhpbmc=?=' }),
      modernCall('echo', { 'Mcp-Method': 'tools/list' }),
      modernCall('echo', { 'MCP-Protocol-Version': '2025-11-25' }),
      modernCall('echo', { 'Mcp-Name': undefined }),
      modernCall('echo', { 'Mcp-Param-Region': 'us' }),
    ];
    for (const [body, headers] of cases) {
      const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
      const r = await post(warden.url, body, clean);
      assert.equal(r.status, 400, JSON.stringify(clean));
      const err = JSON.parse(r.text);
      assert.equal(err.error.code, -32020, r.text);
      assert.equal(err.id, 7);
    }
    assert.deepEqual((await server.calls()).filter((c) => c.method === 'tools/call'), []);
    // the same call with a base64 Mcp-Name that mirrors the body goes through
    const [body, headers] = modernCall('echo', { 'Mcp-Name': '=?base64?ZWNobw==?=' });
    const ok = await post(warden.url, body, headers);
    assert.equal(ok.status, 200, ok.text);
    assert.match(ok.text, /echo ran/);
  });

  test("a version the server does not support gets the server's own -32022 and its versions", async () => {
    const [body, headers] = modernCall('echo', { 'MCP-Protocol-Version': '2099-01-01' });
    body.params._meta['io.modelcontextprotocol/protocolVersion'] = '2099-01-01';
    const direct = await post(server.url, body, headers);
    const through = await post(warden.url, body, headers);
    assert.equal(through.status, 400);
    assert.equal(direct.status, 400);
    const err = JSON.parse(through.text).error;
    assert.equal(err.code, -32022);
    assert.deepEqual(err.data, JSON.parse(direct.text).error.data);
  });

  test("a 2026-07-28 header without the body's _meta is -32602, as the server says", async () => {
    const [body, headers] = modernCall('echo');
    delete body.params._meta;
    const r = await post(warden.url, body, headers);
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.text).error.code, -32602);
  });

  test('a reload that hides a tool tells a subscribed client, and its next list lacks the tool', async () => {
    let told = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => { told++; });
    const sub = await client.listen({ toolsListChanged: true });
    assert.ok((await client.listTools()).tools.some((t) => t.name === 'echo'));
    saveByRename(file, policy(['get_env', 'echo']));
    await until('notifications/tools/list_changed', () => told > 0, 5000);
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(!names.includes('echo'), names.join());
    await sub.close();
  });
});

describe('a refused task-augmented call (2025-11-25)', () => {
  let fixture, warden;
  before(async () => {
    fixture = await startFixture({ json: true });
    warden = await startWarden(['--upstream', fixture.url, '--policy',
      path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), 'policies', 'fixture.json')]);
  });
  after(async () => {
    assert.equal(await warden.stop(), 0);
    await fixture.stop();
  });

  test('is a JSON-RPC error the SDK client reads, not a result it cannot parse', async () => {
    const { client } = await connect(warden.url);
    await assert.rejects(
      client.request({ method: 'tools/call', params: { name: 'delete_registered_model', arguments: {}, task: { ttl: 60000 } } },
        CreateTaskResultSchema),
      (e) => e.code === -32600 && /models are deleted by people/.test(e.message));
    await client.close();
  });
});

describe('a 2026-07-28 client and a stdio server', () => {
  let warden, dir, file;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-eras-stdio-'));
    file = path.join(dir, 'policy.json');
    fs.writeFileSync(file, policy([]));
    const here = path.dirname(new URL(import.meta.url).pathname);
    warden = await startWarden(['--policy', file, '--', process.execPath, path.join(here, 'lib', 'modern-stdio.mjs')]);
  });
  after(async () => {
    assert.equal(await warden.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('session-less requests reach a stateless child, and the policy holds', async () => {
    const client = await modernClient(warden.url);
    try {
      assert.equal(client.getProtocolEra(), 'modern');
      const r = await client.callTool({ name: 'echo', arguments: { x: 1 } });
      assert.match(r.content[0].text, /echo ran with \{"x":1\}/);
      const refused = await client.callTool({ name: 'delete_everything', arguments: {} });
      assert.equal(refused.isError, true);
      assert.match(refused.content[0].text, /deleting everything needs a person/);
      // one request at a time: a child with nothing in progress is reused
      const a = (await client.callTool({ name: 'whoami', arguments: {} })).content[0].text;
      const b = (await client.callTool({ name: 'whoami', arguments: {} })).content[0].text;
      assert.equal(a, b);
    } finally {
      await client.close();
    }
  });
});

describe('a 2025 client with its GET stream open', () => {
  let fixture, warden, dir, file;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-eras-get-'));
    file = path.join(dir, 'policy.json');
    fs.writeFileSync(file, JSON.stringify({ version: '1', hide: [] }));
    fixture = await startFixture();
    warden = await startWarden(['--upstream', fixture.url, '--policy', file]);
  });
  after(async () => {
    assert.equal(await warden.stop(), 0);
    await fixture.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('is told when a reload hides a tool, and its next list lacks the tool', async () => {
    const { client } = await connect(warden.url);
    try {
      let told = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => { told++; });
      assert.ok((await listAllPages(client)).flatMap((p) => p.tools).some((t) => t.name === 'echo'));
      // the SDK opens the GET stream after initialize; a reload before it is open would go unheard
      await until('the GET stream', async () => {
        saveByRename(file, JSON.stringify({ version: '1', hide: ['echo'], description: String(Date.now()) }));
        await new Promise((r) => setTimeout(r, 300));
        return told > 0;
      }, 5000);
      assert.ok(!(await listAllPages(client)).flatMap((p) => p.tools).some((t) => t.name === 'echo'));
    } finally {
      await client.close();
    }
  });
});

describe('an upstream that speaks the deprecated HTTP+SSE transport', () => {
  let everything, warden;
  before(async () => {
    everything = await startEverything('sse');
    warden = await startWarden(['--upstream', everything.url]);
  });
  after(async () => {
    assert.equal(await warden.stop(), 0);
    await everything.stop();
  });

  test('its endpoint event is dropped and logged, never relayed', async () => {
    const res = await fetch(warden.url, { headers: { Accept: 'text/event-stream' }, signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    let text = '';
    const reading = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })().catch(() => {});
    await until('the log line', async () => /sent an endpoint event/.test(warden.stderr()), 5000);
    await new Promise((r) => setTimeout(r, 300));
    await reader.cancel();
    await reading;
    assert.doesNotMatch(text, /endpoint|sessionId/);
  });
});
