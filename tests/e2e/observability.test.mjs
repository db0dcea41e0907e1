// What the agents did, seen by the operator: after an allowed and a denied
// call the audit log has a line for each with decision and reason, /metrics
// counts both, and rotation by SIGUSR1 loses no line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, until } from './lib/client.mjs';
import { freePort, startFixture, startWarden } from './lib/peers.mjs';

const policy = new URL('./policies/fixture.json', import.meta.url).pathname;
let fixture, warden, dir, audit, admin, client;

const lines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);


before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-obs-'));
  audit = path.join(dir, 'audit.jsonl');
  admin = `127.0.0.1:${await freePort()}`;
  fixture = await startFixture({ json: true });
  warden = await startWarden(['--upstream', fixture.url, '--policy', policy, '--audit-log', audit, '--admin', admin]);
  ({ client } = await connect(warden.url));
});
after(async () => {
  await client.close();
  assert.equal(await warden.stop(), 0);
  await fixture.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('an allowed and a denied call: an audit line each, and /metrics counts both', async () => {
  await client.callTool({ name: 'echo', arguments: { a: 1, secret: 'hunter2' } });
  const denied = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'm', alias: 'champion' } });
  assert.equal(denied.isError, true);
  await until('two audit lines', () => lines(audit).length >= 2);
  const [allowed, refused] = lines(audit);
  assert.equal(allowed.tool, 'echo');
  assert.equal(allowed.decision, 'allow');
  assert.equal(allowed.tool_class, 'read');
  assert.equal(allowed.status, 200);
  assert.equal(allowed.is_error, false);
  assert.ok(allowed.latency_ms >= 0);
  assert.deepEqual(allowed.arg_keys, ['a', 'secret']);
  assert.ok(!JSON.stringify(allowed).includes('hunter2'), 'argument values are not logged');
  assert.match(allowed.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.ok(allowed.session && allowed.client);
  assert.equal(refused.tool, 'delete_model_alias');
  assert.equal(refused.decision, 'deny');
  assert.equal(refused.tool_class, 'destructive');
  assert.match(refused.reason, /protected alias/);
  assert.match(refused.rule, /fixture\.json:\/tools\/delete_model_alias\/deny_if\/0/);

  const metrics = await (await fetch(`http://${admin}/metrics`)).text();
  assert.match(metrics, /warden_tool_calls_total\{server="\/mcp",tool="echo",class="read",decision="allow"\} 1/);
  assert.match(metrics, /warden_tool_calls_total\{server="\/mcp",tool="delete_model_alias",class="destructive",decision="deny"\} 1/);
  assert.match(metrics, /warden_request_duration_seconds_count \d+/);
  assert.match(metrics, /warden_policy_reloads_total\{result="ok"\} 0/);
  assert.match(metrics, /warden_open_connections [1-9]/);
  const health = await fetch(`http://${admin}/healthz`);
  assert.equal(health.status, 200);
  const policies = await (await fetch(`http://${admin}/policies`)).json();
  assert.equal(policies.generation, 1);
  assert.match(policies.servers[0].policies[0].hash, /^fnv1a64:[0-9a-f]{16}$/);
});

test('log rotation by SIGUSR1 loses no line', async () => {
  const before = lines(audit).length;
  const calls = [];
  for (let i = 0; i < 40; i++) {
    calls.push(client.callTool({ name: 'echo', arguments: { i } }));
    if (i === 20) {
      fs.renameSync(audit, `${audit}.1`);
      warden.child.kill('SIGUSR1');
    }
  }
  await Promise.all(calls);
  await until('40 more lines across both files', () => lines(`${audit}.1`).length + lines(audit).length === before + 40);
  assert.ok(lines(audit).length > 0, 'the reopened file gets the later lines');
});
