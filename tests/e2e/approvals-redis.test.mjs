// Approvals across wardens that share a real Redis ("state"): three wardens
// behind HAProxy (round robin), each with its own admin API. A call held on
// warden A is approved through warden B's admin API and the client gets the
// server's real answer, the upstream seeing it once, and notify_command
// hears of the request once; a client that gave up retries through the
// balancer after the approval and passes exactly once, a second retry
// needs a new approval; any warden lists every warden's pending requests.
// Redis stopped: a held call stays held until its hold ends (then pending),
// a new call needing approval is refused with the reason, a decision
// answers 503 (approvals fail closed); restarted: approvals work again
// without restarting warden. Every warden exits cleanly (ASan: no leak).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initialize, messages, post, until } from './lib/client.mjs';
import { freePort, sleep, startFixture, startWarden, stop } from './lib/peers.mjs';
import { needBinaries, startBalancer, startRedis, stateUp } from './lib/shared-state.mjs';
needBinaries('redis-server', 'haproxy');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-apr-redis-'));
const sha = (t) => crypto.createHash('sha256').update(t).digest('hex');
const alice = { Authorization: 'Bearer alice-token' };
const notified = path.join(dir, 'notified.jsonl');
const notices = () => (fs.existsSync(notified) ? fs.readFileSync(notified, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
let fixture, redis, redisPort, haproxy, lbUrl;
const wardens = [];

before(async () => {
  redisPort = await freePort();
  redis = await startRedis(redisPort, dir);
  fixture = await startFixture({ json: true });
  fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
    version: '1',
    tools: {
      set_model_alias: { action: 'require_approval', reason: 'aliases need a person', approval: { hold: 30 } },
      get_env: { action: 'require_approval', reason: 'env needs a person', approval: { hold: 0 } },
      query_runs: { action: 'require_approval', reason: 'runs need a person', approval: { hold: 4 } },
    },
  }));
  for (let i = 0; i < 3; i++) {
    const adminPort = await freePort();
    const cfg = path.join(dir, `warden${i}.json`);
    fs.writeFileSync(cfg, JSON.stringify({
      workers: 2,
      admin: `127.0.0.1:${adminPort}`,
      approvers: [{ id: 'alice', sha256: sha('alice-token') }],
      approvals: { notify_command: ['sh', '-c', `cat >> ${notified}; echo >> ${notified}`] },
      state: { redis: `redis://127.0.0.1:${redisPort}/0`, key_prefix: 'apr-test:', timeout_ms: 1000, on_failure: 'closed' },
      servers: { fx: { url: fixture.url, policies: [path.join(dir, 'policy.json')] } },
    }));
    const w = await startWarden(['--config', cfg]);
    w.admin = `http://127.0.0.1:${adminPort}`;
    wardens.push(w);
  }
  for (const w of wardens) await until('warden connected to Redis', () => stateUp(w), 10000);
  let lbPort;
  ({ child: haproxy, port: lbPort } = await startBalancer(dir, wardens));
  lbUrl = `http://127.0.0.1:${lbPort}/mcp/fx`;
});

after(async () => {
  if (haproxy) await stop(haproxy);
  for (const w of wardens) assert.equal(await w.stop(), 0, w.stderr());
  if (redis) await stop(redis);
  if (fixture) await fixture.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function session() {
  const init = await post(lbUrl, initialize());
  const sid = init.headers.get('mcp-session-id');
  assert.ok(sid);
  await post(lbUrl, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'Mcp-Session-Id': sid });
  return sid;
}

const callBody = (id, name, args) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const hdrs = (sid) => ({ 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' });

const api = async (w, p, init = {}) => {
  const r = await fetch(`${w.admin}${p}`, { ...init, headers: { ...alice, ...(init.headers || {}) }, signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.json() };
};
const decide = (w, id, decision) => api(w, `/approvals/${id}`, {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ decision, reason: 'ok' }),
});
const upstreamCalls = async (tool, text) => (await fixture.calls()).filter((c) => c.tool === tool && c.arguments?.text === text).length;
const result = (r) => JSON.parse(messages(r.text).at(-1)).result;

test('a call held on warden A is approved through warden B\'s admin API: the real answer, once', async () => {
  const sid = await session();
  const a = wardens[0], b = wardens[1];
  const held = post(`${a.base}/mcp/fx`, callBody(7, 'set_model_alias', { text: 'held-on-a' }), hdrs(sid), 40000);
  let pending;
  await until('the request is listed on warden C', async () => {
    const { body } = await api(wardens[2], '/approvals?status=pending');
    pending = body.approvals.find((x) => x.tool === 'set_model_alias');
    return !!pending;
  }, 10000);
  assert.deepEqual(pending.arguments, { text: 'held-on-a' });
  assert.match(pending.id, /^apr_[a-z2-7]{26}$/);
  assert.equal(await upstreamCalls('set_model_alias', 'held-on-a'), 0);
  const d = await decide(b, pending.id, 'approve');
  assert.equal(d.status, 200, JSON.stringify(d.body));
  assert.equal(d.body.status, 'approved');
  const r = await held;
  const res = result(r);
  assert.equal(res.isError, undefined, r.text);
  assert.deepEqual(JSON.parse(res.content[0].text), { tool: 'set_model_alias', args: { text: 'held-on-a' } });
  assert.equal(await upstreamCalls('set_model_alias', 'held-on-a'), 1);
  // Consumed, as any warden shows; decided again: 409.
  assert.equal((await api(wardens[2], `/approvals/${pending.id}`)).body.status, 'consumed');
  assert.equal((await decide(wardens[0], pending.id, 'approve')).status, 409);
  // The warden that made the request told notify_command, once.
  await until('notify_command heard of the request', () => notices().some((n) => n.id === pending.id), 10000);
  assert.equal(notices().filter((n) => n.id === pending.id).length, 1);
  assert.equal(notices().find((n) => n.id === pending.id).tool, 'set_model_alias');
});

test('a client that gave up retries through the balancer: passes exactly once, then needs a new approval', async () => {
  const sid = await session();
  const first = result(await post(lbUrl, callBody(1, 'get_env', { text: 'gave-up' }), hdrs(sid)));
  assert.equal(first.isError, true);
  const id = first._meta['warden/approval'].id;
  // Attached on any warden: the same request.
  for (let i = 0; i < 3; i++) {
    const again = result(await post(lbUrl, callBody(2 + i, 'get_env', { text: 'gave-up' }), hdrs(sid)));
    assert.equal(again._meta['warden/approval'].id, id);
  }
  assert.equal((await decide(wardens[2], id, 'approve')).status, 200);
  const passed = [];
  for (let i = 0; i < 3; i++) passed.push(result(await post(lbUrl, callBody(10 + i, 'get_env', { text: 'gave-up' }), hdrs(sid))));
  assert.equal(passed[0].isError, undefined, JSON.stringify(passed[0]));
  for (const p of passed.slice(1)) {
    assert.equal(p.isError, true);
    assert.notEqual(p._meta['warden/approval'].id, id);
  }
  assert.equal(await upstreamCalls('get_env', 'gave-up'), 1);
});

test('Redis stopped: a held call stays held, then pending; a new one is refused with the reason; a decision answers 503', async () => {
  const sid = await session();
  const r = result(await post(lbUrl, callBody(1, 'get_env', { text: 'before-stop' }), hdrs(sid)));
  const id = r._meta['warden/approval'].id;
  const started = Date.now();
  const held = post(`${wardens[1].base}/mcp/fx`, callBody(2, 'query_runs', { text: 'held-then-down' }), hdrs(sid), 20000);
  await until('the held request is listed', async () => (await api(wardens[0], '/approvals?status=pending')).body.approvals
    .some((x) => x.tool === 'query_runs'), 10000);
  await stop(redis);
  redis = null;
  await until('wardens see Redis down', async () => !(await stateUp(wardens[0])), 10000);
  await sleep(200);
  for (let i = 0; i < 3; i++) {
    const refused = result(await post(lbUrl, callBody(20 + i, 'set_model_alias', { text: 'no-redis' }), hdrs(sid)));
    assert.equal(refused.isError, true);
    assert.match(refused.content[0].text, /shared state \(Redis\) cannot be reached/);
  }
  for (const w of wardens) assert.equal((await decide(w, id, 'approve')).status, 503);
  assert.equal((await api(wardens[1], '/approvals')).status, 503);
  const pending = result(await held);
  assert.ok(Date.now() - started >= 3500, 'held until its hold ended');
  assert.equal(pending.isError, true);
  assert.equal(pending._meta['warden/approval'].status, 'pending');
  assert.equal(await upstreamCalls('query_runs', 'held-then-down'), 0);
  assert.equal(await upstreamCalls('set_model_alias', 'no-redis'), 0);
  assert.equal(await upstreamCalls('get_env', 'before-stop'), 0);
});

test('Redis restarted: approvals work again without restarting warden', async () => {
  redis = await startRedis(redisPort, dir);
  for (const w of wardens) await until('warden connected to Redis again', () => stateUp(w), 15000);
  const sid = await session();
  const first = result(await post(lbUrl, callBody(1, 'get_env', { text: 'after-restart' }), hdrs(sid)));
  const id = first._meta['warden/approval'].id;
  assert.equal((await decide(wardens[1], id, 'approve')).status, 200);
  const passed = result(await post(lbUrl, callBody(2, 'get_env', { text: 'after-restart' }), hdrs(sid)));
  assert.equal(passed.isError, undefined, JSON.stringify(passed));
  assert.equal(await upstreamCalls('get_env', 'after-restart'), 1);
});
