// A policy script cannot hold a worker (issue 11, class 5): xpcall(f, h)
// where both loop forever once spun a worker at 100% for good, /healthz
// stopped answering and SIGTERM did not stop warden. With one worker, each
// such call is refused within the budget, the next call and /healthz are
// still answered, /metrics counts the failures, and SIGTERM stops warden.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from './lib/client.mjs';
import { freePort, startFixture, startWarden } from './lib/peers.mjs';

const policy = new URL('./policies/lua-budget.lua', import.meta.url).pathname;
const evil = ['xpcall_both', 'handler_errors', 'nested', 'close_in_xpcall', 'gsub'];
let fixture, warden, admin, client;

before(async () => {
  admin = `127.0.0.1:${await freePort()}`;
  fixture = await startFixture({ json: true });
  warden = await startWarden(['--upstream', fixture.url, '--policy', policy, '--workers', '1', '--admin', admin]);
  ({ client } = await connect(warden.url));
});
after(async () => {
  await client?.close();
  await warden?.stop(2000); // already stopped when the last test passed
  await fixture?.stop();
});

const healthy = async () => (await fetch(`${warden.base}/healthz`, { signal: AbortSignal.timeout(5000) })).status;

test('each looping script is refused, and the worker goes on answering', { timeout: 30000 }, async () => {
  for (const name of evil) {
    const r = await client.callTool({ name, arguments: {} }, undefined, { timeout: 10000 });
    assert.equal(r.isError, true, name);
    assert.match(r.content[0].text, /Lua policy .*lua-budget\.lua failed: (instruction budget|time limit) exceeded/, name);
    assert.equal(await healthy(), 200, name);
    const ok = await client.callTool({ name: 'echo', arguments: { x: 1 } }, undefined, { timeout: 10000 });
    assert.notEqual(ok.isError, true, name);
  }
  const metrics = await (await fetch(`http://${admin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  assert.match(metrics, new RegExp(`warden_lua_errors_total\\{kind="timeout"\\} ${evil.length}\\n`));
});

test('SIGTERM stops warden after such calls', { timeout: 30000 }, async () => {
  const r = await client.callTool({ name: 'xpcall_both', arguments: {} }, undefined, { timeout: 10000 });
  assert.equal(r.isError, true);
  await client.close();
  client = undefined;
  // stop() sends SIGTERM and SIGKILL only after 10 s: a 0 exit is a clean stop.
  assert.equal(await warden.stop(10000), 0, warden.stderr());
});
