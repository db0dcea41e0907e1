// Several wardens behind a real load balancer share their rate limits in a
// real Redis ("state"): HAProxy round robin over three wardens, a limit of
// 10 a minute admits exactly 10 of 60 concurrent calls; Redis stopped
// mid-run refuses limited calls with a reason (on_failure closed) while
// unlimited ones flow; Redis restarted, limits work again without
// restarting warden; every warden exits cleanly (ASan builds: no leak).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { initialize, messages, post, until } from './lib/client.mjs';
import { freePort, startFixture, startWarden, stop } from './lib/peers.mjs';
import { needBinaries, startBalancer, startRedis, stateUp } from './lib/shared-state.mjs';

needBinaries('redis-server', 'haproxy');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-redis-'));
const limit10 = new URL('./policies/limit10.json', import.meta.url).pathname;
let fixture, redis, redisPort, haproxy, lbUrl;
const wardens = [];

// warden.shared across wardens: set_model_alias counts, get_env tells the count
// (and the last alias set), each on whichever warden serves it.
const counter = path.join(dir, 'counter.lua');
fs.writeFileSync(counter, `return { on_call = function(call)
  if call.tool == "get_env" then
    return warden.deny("count=" .. tostring(warden.shared.get("hits")) .. " last=" .. tostring(warden.shared.get("last")))
  end
  if call.tool == "set_model_alias" then
    warden.shared.incr("hits", 1, 600)
    warden.shared.set("last", call.args.text, 600)
  end
end }
`);

before(async () => {
  redisPort = await freePort();
  redis = await startRedis(redisPort, dir);
  fixture = await startFixture({ json: true });
  const cfg = path.join(dir, 'warden.json');
  fs.writeFileSync(cfg, JSON.stringify({
    workers: 2,
    state: { redis: `redis://127.0.0.1:${redisPort}/0`, key_prefix: 'test:', timeout_ms: 1000, on_failure: 'closed' },
    servers: { fx: { url: fixture.url, policies: [limit10, counter] } },
  }));
  for (let i = 0; i < 3; i++) wardens.push(await startWarden(['--config', cfg]));
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

/* n calls of tool at once, each on a connection of its own (round robin over the wardens). */
function burst(sid, tool, n) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: n });
  const calls = Array.from({ length: n }, (_, i) => new Promise((resolve, reject) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: tool, arguments: { text: `x${i}`, i } } });
    const req = http.request(lbUrl, {
      method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sid,
        'MCP-Protocol-Version': '2025-06-18', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(JSON.parse(messages(text)[0])));
    });
    req.on('error', reject);
    req.end(body);
  }));
  return Promise.all(calls).finally(() => agent.destroy());
}

const allowed = (answers) => answers.filter((a) => a.result && !a.result.isError);
const refusedWith = (answers, re) => answers.filter((a) => a.result?.isError && re.test(a.result.content[0].text));

test('a limit of 10 a minute admits exactly 10 of 60 concurrent calls over three wardens', async () => {
  const sid = await session();
  await fixture.reset();
  const answers = await burst(sid, 'query_runs', 60);
  assert.equal(allowed(answers).length, 10);
  assert.equal(refusedWith(answers, /rate limited by policy .*retry in/).length, 50);
  const arrived = (await fixture.calls()).filter((c) => c.tool === 'query_runs');
  assert.equal(arrived.length, 10);
  // one session, consecutive requests on different wardens: the HTTP upstream's session serves them all
  assert.equal(allowed(await burst(sid, 'echo', 6)).length, 6);
});

test('Redis stopped: limited calls are refused with a reason, unlimited ones flow; restarted: limits again', async () => {
  const sid = await session();
  await stop(redis);
  redis = null;
  const limited = await burst(sid, 'query_runs', 6);
  assert.equal(refusedWith(limited, /rate-limit state unavailable/).length, 6, JSON.stringify(limited[0]));
  assert.equal(allowed(await burst(sid, 'echo', 6)).length, 6);

  redis = await startRedis(redisPort, dir);
  for (const w of wardens) await until('warden reconnected to Redis', () => stateUp(w), 15000);
  const sid2 = await session();
  const again = await burst(sid2, 'query_runs', 15);
  assert.equal(allowed(again).length, 10);
  assert.equal(refusedWith(again, /rate limited by policy/).length, 5);
});

test('Redis hanging: a parked call times out into a refusal, a client leaving while parked is forgotten safely', async () => {
  const w = wardens[0];
  const url = `${w.base}/mcp/fx`;
  const init = await post(url, initialize());
  const sid = init.headers.get('mcp-session-id');
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'Mcp-Session-Id': sid });
  const call = (id) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'query_runs', arguments: {} } });
  redis.kill('SIGSTOP');
  try {
    // clients that give up while their calls wait for Redis
    const gone = Array.from({ length: 4 }, (_, i) => post(url, call(100 + i), { 'Mcp-Session-Id': sid }, 200).catch((e) => e));
    for (const g of await Promise.all(gone)) assert.ok(g instanceof Error, 'the client gave up before Redis answered');
    // a client that waits gets the refusal once timeout_ms has passed
    const res = await post(url, call(7), { 'Mcp-Session-Id': sid });
    const answer = JSON.parse(messages(res.text)[0]);
    assert.equal(answer.id, 7);
    assert.match(answer.result.content[0].text, /rate-limit state unavailable/);
    assert.equal(allowed(await burst(sid, 'echo', 3)).length, 3);
  } finally {
    redis.kill('SIGCONT');
  }
  for (const x of wardens) await until('warden back on Redis', () => stateUp(x), 15000);
  const again = await post(url, call(8), { 'Mcp-Session-Id': sid });
  const ok = JSON.parse(messages(again.text)[0]);
  assert.equal(ok.id, 8);
  assert.ok(!ok.result.isError, JSON.stringify(ok));
});

test('warden.shared: counters and values written on three wardens agree on all of them', async () => {
  const sid = await session();
  const counted = await burst(sid, 'set_model_alias', 30);
  assert.equal(allowed(counted).length, 30);
  const last = await burst(sid, 'set_model_alias', 1);
  assert.equal(allowed(last).length, 1);
  // replication is asynchronous (milliseconds): each warden converges on the total
  for (const w of wardens) {
    let seen = '';
    await until(`warden on ${w.port} sees 31 calls`, async () => {
      const res = await post(`${w.base}/mcp/fx`, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_env', arguments: {} } },
        { 'Mcp-Session-Id': sid });
      seen = JSON.parse(messages(res.text)[0]).result.content[0].text;
      return /count=31 last=x0\b/.test(seen);
    }, 10000).catch((e) => { throw new Error(`${e.message}: ${seen}`); });
  }
});

test('on_failure local divides each limit by the instances; open allows; no Redis at all', async () => {
  const deadPort = await freePort();   // nothing listens there
  for (const [mode, want] of [['local', 5], ['open', 8]]) {
    const cfg = path.join(dir, `warden-${mode}.json`);
    fs.writeFileSync(cfg, JSON.stringify({
      workers: 1,
      state: { redis: `redis://127.0.0.1:${deadPort}/0`, on_failure: mode, instances: 2 },
      servers: { fx: { url: fixture.url, policies: [limit10] } },
    }));
    const w = await startWarden(['--config', cfg]);
    try {
      const url = `${w.base}/mcp/fx`;
      const init = await post(url, initialize());
      const sid = init.headers.get('mcp-session-id');
      let admitted = 0;
      for (let i = 0; i < 8; i++) {
        const res = await post(url, { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'query_runs', arguments: {} } },
          { 'Mcp-Session-Id': sid });
        const a = JSON.parse(messages(res.text)[0]);
        if (!a.result.isError) admitted++;
        else assert.match(a.result.content[0].text, /rate limited by policy/);
      }
      assert.equal(admitted, want, mode);
      const h = await (await fetch(`${w.base}/healthz`)).json();
      assert.equal(h.state, 'down');
    } finally {
      assert.equal(await w.stop(), 0, w.stderr());
    }
  }
});
