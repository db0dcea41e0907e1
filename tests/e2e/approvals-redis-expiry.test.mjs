// Approvals in Redis ("state"), what the local store does for its own
// records: two wardens share a real redis-server. The warden that made a
// request counts it in warden_approvals_pending (the other does not), stops
// counting it as soon as it is decided on the other warden, and writes one
// approval_expired audit line when it expires undecided or its grant
// expires unused (never for a grant used); the other warden writes none.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initialize, messages, post, until } from './lib/client.mjs';
import { freePort, sleep, startFixture, startWarden, stop } from './lib/peers.mjs';
import { portOpen, run, waitFor } from './lib/proc.mjs';

try {
  execFileSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' });
} catch {
  throw new Error('redis-server is not installed: apt-get install redis-server (tests/run installs it)');
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-apr-expiry-'));
const sha = (t) => crypto.createHash('sha256').update(t).digest('hex');
const alice = { Authorization: 'Bearer alice-token' };
let fixture, redis;
const wardens = [];

before(async () => {
  const redisPort = await freePort();
  redis = run('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
  await waitFor(redis, 'redis-server', () => portOpen(redisPort));
  fixture = await startFixture({ json: true });
  fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
    version: '1',
    tools: { get_env: { action: 'require_approval', reason: 'env needs a person', approval: { hold: 0, ttl: 4, grant_ttl: 3 } } },
  }));
  for (let i = 0; i < 2; i++) {
    const adminPort = await freePort();
    const cfg = path.join(dir, `warden${i}.json`);
    const audit = path.join(dir, `audit${i}.jsonl`);
    fs.writeFileSync(cfg, JSON.stringify({
      workers: 2,
      admin: `127.0.0.1:${adminPort}`,
      audit_log: audit,
      approvers: [{ id: 'alice', sha256: sha('alice-token') }],
      state: { redis: `redis://127.0.0.1:${redisPort}/0`, key_prefix: 'expiry-test:', timeout_ms: 1000 },
      servers: { fx: { url: fixture.url, policies: [path.join(dir, 'policy.json')] } },
    }));
    const w = await startWarden(['--config', cfg]);
    w.admin = `http://127.0.0.1:${adminPort}`;
    w.audit = () => (fs.existsSync(audit) ? fs.readFileSync(audit, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
    wardens.push(w);
  }
  for (const w of wardens) {
    await until('warden connected to Redis', async () => (await (await fetch(`${w.base}/healthz`)).json()).state === 'up', 10000);
  }
});

after(async () => {
  for (const w of wardens) assert.equal(await w.stop(), 0, w.stderr());
  if (redis) await stop(redis);
  if (fixture) await fixture.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const hdrs = (sid) => ({ 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' });

async function call(w, text) {
  const url = `${w.base}/mcp/fx`;
  const init = await post(url, initialize());
  const sid = init.headers.get('mcp-session-id');
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, hdrs(sid));
  const r = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_env', arguments: { text } } }, hdrs(sid));
  return JSON.parse(messages(r.text).at(-1)).result;
}

async function pendingGauge(w) {
  const m = await (await fetch(`${w.admin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  return Number(m.match(/^warden_approvals_pending (\d+)$/m)[1]);
}

const decide = (w, id) => fetch(`${w.admin}/approvals/${id}`, {
  method: 'POST', headers: { ...alice, 'Content-Type': 'application/json' }, body: JSON.stringify({ decision: 'approve' }),
  signal: AbortSignal.timeout(5000),
});
const expiredLines = (w, id) => w.audit().filter((l) => l.decision === 'approval_expired' && l.approval_id === id);

test('a request expired undecided: counted pending by its warden, then one approval_expired line from it', async () => {
  const [a, b] = wardens;
  const r = await call(a, 'left-alone');
  assert.equal(r.isError, true);
  const id = r._meta['warden/approval'].id;
  assert.equal(await pendingGauge(a), 1);
  assert.equal(await pendingGauge(b), 0, 'the other warden did not make it');
  await until('the expiry is audited', () => expiredLines(a, id).length > 0, 10000);
  assert.equal(await pendingGauge(a), 0);
  await sleep(1500);
  assert.equal(expiredLines(a, id).length, 1, 'once');
  assert.equal(expiredLines(b, id).length, 0);
  assert.equal(a.audit().find((l) => l.decision === 'approval_expired').tool, 'get_env');
});

test('decided on the other warden: no longer pending at once; a grant unused expires with a line, a grant used does not', async () => {
  const [a, b] = wardens;
  const unused = (await call(a, 'approved-unused'))._meta['warden/approval'].id;
  const used = (await call(a, 'approved-used'))._meta['warden/approval'].id;
  assert.equal(await pendingGauge(a), 2);
  assert.equal((await decide(b, unused)).status, 200);
  assert.equal((await decide(b, used)).status, 200);
  await until('the decisions reach the warden that made the requests', async () => (await pendingGauge(a)) === 0, 5000);
  const passed = await call(b, 'approved-used');
  assert.equal(passed.isError, undefined, JSON.stringify(passed));
  await until('the unused grant expires', () => expiredLines(a, unused).length > 0, 10000);
  await sleep(1500);
  assert.equal(expiredLines(a, unused).length, 1);
  assert.equal(expiredLines(a, used).length + expiredLines(b, used).length, 0, 'a grant used never expires');
  assert.equal(expiredLines(b, unused).length, 0);
});
