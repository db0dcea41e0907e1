// 2026-07-28 approvals (input_required + requestState) across wardens that
// share a real Redis ("state"). Three wardens behind HAProxy (round robin,
// each answer names the warden that served it), no key configured: they sign
// requestState with the key shared in Redis. The SDK v2 client's retry lands
// on another warden and gets the server's real answer; raw requests prove the
// rest warden by warden: input_required from A, approved through B's admin
// API, the retry on C runs once, the same retry again on B and A is not let
// through (the server counts one execution), a forged or altered state is
// refused by every warden, and a retry held on one warden is released by a
// decision made on another. A 2025-11-25 client sent to the page by A hears
// notifications/elicitation/complete only once the person decided through B. Two more wardens sign with the operator's key
// (approvals.request_state_key_env): a state of one passes on the other, and
// not on the wardens of the shared key; a weak key stops warden at start with
// a config error that never shows the key. Every warden exits cleanly (ASan).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitationCompleteNotificationSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { messages, post, until } from './lib/client.mjs';
import { freePort, startEverything, startModern, startWarden, stop, wardenBin } from './lib/peers.mjs';
import { run } from './lib/proc.mjs';
import { needBinaries, startBalancer, startRedis, stateUp } from './lib/shared-state.mjs';
needBinaries('redis-server', 'haproxy');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-elicit-redis-'));
const sha = (t) => crypto.createHash('sha256').update(t).digest('hex');
const operatorKey = crypto.randomBytes(32).toString('hex');
let server, everything, redis, redisPort, haproxy, lbBase;
const wardens = [];   // the key shared in Redis, behind HAProxy
const operated = [];  // the operator's key

async function startOne(name, extra, env = {}) {
  const adminPort = await freePort();
  const cfg = path.join(dir, `${name}.json`);
  fs.writeFileSync(cfg, JSON.stringify({
    workers: 2,
    admin: `127.0.0.1:${adminPort}`,
    approvers: [{ id: 'alice', sha256: sha('alice-token') }],
    servers: {
      modern: { url: server.url, policies: [path.join(dir, 'policy.json')] },
      everything: { url: everything.url, policies: [path.join(dir, 'policy.json')] },
    },
    ...extra,
  }));
  const w = await startWarden(['--config', cfg], { env });
  w.name = name;
  w.admin = `http://127.0.0.1:${adminPort}`;
  w.mcp = `${w.base}/mcp/modern`;
  return w;
}

before(async () => {
  redisPort = await freePort();
  redis = await startRedis(redisPort, dir);
  server = await startModern();
  everything = await startEverything();
  fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
    version: '1',
    tools: {
      echo: { action: 'require_approval', reason: 'echo needs a person', approval: { hold: 20 } },
      other: { action: 'require_approval', reason: 'other needs a person', approval: { hold: 20 } },
    },
  }));
  const state = (prefix) => ({ redis: `redis://127.0.0.1:${redisPort}/0`, key_prefix: prefix, timeout_ms: 1000 });
  for (let i = 0; i < 3; i++) wardens.push(await startOne(`shared${i}`, { state: state('elicit-test:') }));
  for (let i = 0; i < 2; i++) {
    operated.push(await startOne(`operated${i}`, {
      state: state('elicit-op:'), approvals: { request_state_key_env: 'WARDEN_E2E_STATE_KEY' },
    }, { WARDEN_E2E_STATE_KEY: operatorKey }));
  }
  for (const w of [...wardens, ...operated]) await until(`${w.name} connected to Redis`, () => stateUp(w), 10000);
  // The shared key is read once Redis answers: the log says so.
  for (const w of wardens) {
    await until(`${w.name} read the shared key`, () => /requestState is signed with the key shared in Redis/.test(w.stderr()), 10000);
  }
  let lbPort;
  ({ child: haproxy, port: lbPort } = await startBalancer(dir, wardens, ['  http-response set-header X-Served-By %[srv_name]']));
  lbBase = `http://127.0.0.1:${lbPort}`;
});

after(async () => {
  if (haproxy) await stop(haproxy);
  for (const w of [...wardens, ...operated]) assert.equal(await w.stop(), 0, w.stderr());
  if (redis) await stop(redis);
  if (server) await server.stop();
  if (everything) await everything.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const modernHeaders = (name) => ({ 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': name });
function modernBody(id, name, args, extra = {}) {
  return {
    jsonrpc: '2.0', id, method: 'tools/call',
    params: {
      name, arguments: args, ...extra,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } },
      },
    },
  };
}
const last = (r) => JSON.parse(messages(r.text).pop());
const accept = { 'warden/approval': { action: 'accept' } };
const call = (w, id, args, extra, headers = {}, ms) =>
  post(w.mcp, modernBody(id, 'echo', args, extra), { ...modernHeaders('echo'), ...headers }, ms).then(last);
/* How often the server ran echo (since its last reset). */
const runs = async () => (await server.calls()).filter((c) => c.method === 'tools/call' && c.tool === 'echo').length;

async function decide(w, id, decision = 'approve') {
  const r = await fetch(`${w.admin}/approvals/${id}`, {
    method: 'POST', headers: { Authorization: 'Bearer alice-token', 'Content-Type': 'application/json' },
    body: JSON.stringify({ decision, reason: 'checked' }), signal: AbortSignal.timeout(5000),
  });
  return { status: r.status, body: await r.json() };
}
const show = async (w, id) => (await (await fetch(`${w.admin}/approvals/${id}`, {
  headers: { Authorization: 'Bearer alice-token' }, signal: AbortSignal.timeout(5000),
})).json());

/* An input_required answer's state and request id. */
function required(r) {
  assert.equal(r.result?.resultType, 'input_required', JSON.stringify(r));
  const req = r.result.inputRequests['warden/approval'];
  assert.equal(req.params.mode, 'url');
  return { state: r.result.requestState, id: req.params.url.split('#')[1] };
}

/* warden_open_sse_streams, from an admin listener's metrics. */
async function streamsOpen(w) {
  const text = await (await fetch(`${w.admin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = /^warden_open_sse_streams (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('the key shared in Redis', { timeout: 120000 }, () => {
  test('the SDK v2 client behind round robin: input_required from one warden, its retry passes on another', async () => {
    await server.reset();
    const served = [];
    const recording = async (url, init) => {
      const res = await fetch(url, init);
      if (init?.method === 'POST') served.push({ by: res.headers.get('x-served-by'), body: String(init.body ?? '') });
      return res;
    };
    const client = new Client({ name: 'warden-e2e-lb', version: '1.0.0' },
      { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: 'auto' } });
    const seen = [];
    client.setRequestHandler('elicitation/create', async (req) => {
      const id = req.params.url.split('#')[1];
      seen.push(id);
      // Approved through the admin API of a warden other than the one that asked.
      const asked = served.filter((s) => s.body.includes('tools/call')).at(-1).by;
      const other = wardens[(Number(asked.slice(1)) + 1) % 3];
      assert.equal((await decide(other, id)).status, 200);
      return { action: 'accept' };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${lbBase}/mcp/modern`), { fetch: recording }));
    try {
      const r = await client.callTool({ name: 'echo', arguments: { x: 1 } });
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.match(r.content[0].text, /echo ran with \{"x":1\}/);
      assert.equal(seen.length, 1);
      const calls = served.filter((s) => s.body.includes('tools/call'));
      assert.equal(calls.length, 2, JSON.stringify(calls));
      assert.ok(calls[1].body.includes('requestState'));
      assert.notEqual(calls[0].by, calls[1].by, 'the retry landed on another warden');
      assert.equal(await runs(), 1);
    } finally {
      await client.close();
    }
  });

  test('input_required from A, approved through B, the retry runs on C once; again on B and A it does not run', async () => {
    await server.reset();
    const [a, b, c] = wardens;
    const { state, id } = required(await call(a, 1, { x: 2 }));
    assert.match(state, /^wd1\.apr_/);
    // Every warden lists the request, made on A.
    assert.equal((await show(c, id)).status, 'pending');
    // Forged before the decision: refused by every warden, nothing attaches, nothing runs.
    const flip = state.slice(0, -1) + (state.endsWith('A') ? 'B' : 'A');
    const parts = state.split('.');
    const later = [parts[0], parts[1], String(Number(parts[2]) + 3600), parts[3]].join('.');
    for (const w of wardens) {
      for (const [what, args, st] of [['a changed mac', { x: 2 }, flip], ['a later expiry', { x: 2 }, later],
        ['another call', { x: 3 }, state]]) {
        const r = await call(w, 2, args, { requestState: st, inputResponses: accept });
        assert.equal(r.error?.code, -32602, `${w.name}, ${what}: ${JSON.stringify(r)}`);
        assert.match(r.error.message, /requestState/);
      }
    }
    assert.equal((await decide(b, id)).status, 200);
    // Forged after it: still refused, and the grant is not used up by them.
    for (const w of wardens) {
      const r = await call(w, 3, { x: 2 }, { requestState: flip, inputResponses: accept });
      assert.equal(r.error?.code, -32602, `${w.name}: ${JSON.stringify(r)}`);
    }
    assert.equal((await show(a, id)).status, 'approved');
    assert.equal(await runs(), 0);
    // The genuine retry on C: the server's real answer.
    const ok = await call(c, 4, { x: 2 }, { requestState: state, inputResponses: accept });
    assert.match(ok.result?.content?.[0]?.text ?? '', /echo ran with \{"x":2\}/, JSON.stringify(ok));
    assert.equal(await runs(), 1);
    for (const w of wardens) assert.equal((await show(w, id)).status, 'consumed');
    // The same retry again, on B and on A: a new request, never the server.
    for (const w of [b, a]) {
      const again = await call(w, 5, { x: 2 }, { requestState: state, inputResponses: accept },
        { Accept: 'application/json' });
      const next = required(again);
      assert.notEqual(next.id, id);
    }
    assert.equal(await runs(), 1);
    // Declined: pending, not run.
    const declined = await call(a, 6, { x: 2 }, { requestState: state, inputResponses: { 'warden/approval': { action: 'decline' } } });
    assert.equal(declined.result?._meta?.['warden/approval']?.status, 'pending', JSON.stringify(declined));
    assert.equal(await runs(), 1);
  });

  test('a retry held on A is released by a decision made through C, and runs once', async () => {
    await server.reset();
    const [a, , c] = wardens;
    const { state, id } = required(await call(wardens[1], 1, { x: 4 }));
    const held = call(a, 2, { x: 4 }, { requestState: state, inputResponses: accept }, {}, 30000);
    await until('the retry held on A (an event stream)', async () => (await streamsOpen(a)) >= 1, 10000);
    assert.equal(await runs(), 0);
    assert.equal((await decide(c, id)).status, 200);
    const r = await held;
    assert.match(r.result?.content?.[0]?.text ?? '', /echo ran with \{"x":4\}/, JSON.stringify(r));
    assert.equal(await runs(), 1);
    assert.equal((await show(c, id)).status, 'consumed');
  });
});

describe('URL elicitation (2025-11-25) with the shared state', { timeout: 60000 }, () => {
  test('sent to the page by A, decided through B: the notice on A\'s GET stream comes after the decision', async () => {
    const [a, b] = wardens;
    const client = new LegacyClient({ name: 'warden-e2e-url', version: '1.0.0' },
      { capabilities: { elicitation: { form: {}, url: {} } } });
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept' }));
    const completes = [];
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => { completes.push(n.params.elicitationId); });
    await client.connect(new LegacyTransport(new URL(`${a.base}/mcp/everything`)));
    try {
      await until('the GET stream', async () => (await streamsOpen(a)) >= 1, 10000);
      const err = await client.callTool({ name: 'echo', arguments: { message: 'across' } }).then(
        (r) => assert.fail(`expected -32042, got ${JSON.stringify(r)}`), (e) => e);
      assert.equal(err.code, -32042, String(err));
      const id = err.data.elicitations[0].elicitationId;
      // Nothing is complete before the person decides (a ping round trip lets a wrong notice arrive first).
      await client.ping();
      assert.deepEqual(completes, []);
      assert.equal((await decide(b, id)).status, 200);
      await until('notifications/elicitation/complete', () => completes.includes(id), 10000);
      const done = await client.callTool({ name: 'echo', arguments: { message: 'across' } });
      assert.equal(done.isError, undefined, JSON.stringify(done));
      assert.match(done.content[0].text, /across/);
      assert.equal((await show(b, id)).status, 'consumed');
    } finally {
      await client.close();
    }
  });
});

describe("the operator's key", { timeout: 60000 }, () => {
  test('a state made by one warden passes on the other; not on the wardens of another key', async () => {
    await server.reset();
    const [d, e] = operated;
    const { state, id } = required(await call(d, 1, { x: 7 }));
    // The wardens of the key shared in Redis (another key): forged there.
    const foreign = await call(wardens[0], 2, { x: 7 }, { requestState: state, inputResponses: accept });
    assert.equal(foreign.error?.code, -32602, JSON.stringify(foreign));
    assert.equal((await decide(e, id)).status, 200);
    const ok = await call(e, 3, { x: 7 }, { requestState: state, inputResponses: accept });
    assert.match(ok.result?.content?.[0]?.text ?? '', /echo ran with \{"x":7\}/, JSON.stringify(ok));
    const again = await call(d, 4, { x: 7 }, { requestState: state, inputResponses: accept }, { Accept: 'application/json' });
    assert.notEqual(required(again).id, id);
    assert.equal(await runs(), 1);
    // The operator's key is not written to Redis, and never logged.
    for (const w of operated) assert.ok(!w.stderr().includes(operatorKey));
    assert.ok(!operated[0].stderr().includes('key shared in Redis'));
  });

  test('a weak key stops warden at start with a config error that does not show it', async () => {
    const cfg = path.join(dir, 'weak.json');
    fs.writeFileSync(cfg, JSON.stringify({
      approvals: { request_state_key_env: 'WARDEN_E2E_STATE_KEY' },
      servers: { modern: { url: server.url } },
    }));
    const weak = crypto.randomBytes(16).toString('hex');
    const child = run(wardenBin, ['--config', cfg, '--listen', `127.0.0.1:${await freePort()}`],
      { env: { WARDEN_E2E_STATE_KEY: weak } });
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 2);
    assert.match(child.stderrText(), /request_state_key_env: WARDEN_E2E_STATE_KEY must hold 32 to 64 random bytes in hex/);
    assert.ok(!child.stderrText().includes(weak));
  });
});
