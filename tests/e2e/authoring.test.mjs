// Policies tried before they go live (issue 16), end to end against the demo
// registry: a shadow policy that would deny delete_model_alias lets the call
// through while the audit line and /metrics record what it would have
// decided; "default": "deny" keeps the tools it refuses out of tools/list;
// /policies shows the shadow files and the last reload's failure.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, until } from './lib/client.mjs';
import { freePort, startWarden } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const demo = process.env.WARDEN_DEMO_BIN || path.join(repo, 'build', 'warden-demo-registry');
const lines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

describe('a shadow policy on live traffic', () => {
  let warden, dir, audit, admin, shadow, client;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-authoring-'));
    audit = path.join(dir, 'audit.jsonl');
    admin = `127.0.0.1:${await freePort()}`;
    // a copy, so that a broken edit can be tried without touching the repository
    shadow = path.join(dir, 'registry-next.json');
    fs.copyFileSync(path.join(repo, 'policies', 'registry-next.json'), shadow);
    warden = await startWarden(['--policy', path.join(repo, 'policies', 'registry.json'), '--shadow-policy', shadow,
      '--audit-log', audit, '--admin', admin, '--', demo]);
    ({ client } = await connect(warden.url));
  });
  after(async () => {
    await client.close();
    assert.equal(await warden.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the call the shadow policy would deny goes through, and the audit line says so', async () => {
    const res = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } });
    assert.equal(res.isError, undefined);
    const gone = await client.callTool({ name: 'get_model_version_by_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } });
    assert.equal(gone.isError, true, 'the alias was really deleted');
    // both lines: the audit is written off the request path, so the later call's may lag
    await until('the audit lines of the deletion and the read', () =>
      lines(audit).some((l) => l.tool === 'delete_model_alias') && lines(audit).some((l) => l.tool === 'get_model_version_by_alias'));
    const line = lines(audit).find((l) => l.tool === 'delete_model_alias');
    assert.equal(line.decision, 'allow');
    assert.equal(line.shadow_decision, 'deny');
    assert.equal(line.shadow_rule, `${shadow}:/tools/delete_model_alias`);
    const read = lines(audit).find((l) => l.tool === 'get_model_version_by_alias');
    assert.equal(read.shadow_decision, 'allow');
    assert.equal(read.shadow_rule, null);
  });

  test('a refusal by the enforced policy carries the shadow verdict too', async () => {
    const res = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'production' } });
    assert.equal(res.isError, true);
    await until('the refusal\'s audit line', () => lines(audit).some((l) => l.decision === 'deny'));
    const line = lines(audit).find((l) => l.decision === 'deny');
    assert.match(line.rule, /registry\.json:\/tools\/delete_model_alias\/deny_if\/0$/);
    assert.equal(line.shadow_decision, 'deny');
  });

  test('/metrics counts shadow decisions apart from real ones', async () => {
    const metrics = await (await fetch(`http://${admin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    assert.match(metrics, /warden_shadow_decisions_total\{server="\/mcp",tool="delete_model_alias",decision="deny"\} 2\n/);
    assert.match(metrics, /warden_tool_calls_total\{server="\/mcp",tool="delete_model_alias",class="destructive",decision="allow"\} 1\n/);
    assert.match(metrics, /warden_tool_calls_total\{server="\/mcp",tool="delete_model_alias",class="destructive",decision="deny"\} 1\n/);
  });

  test('a shadow policy hides nothing from tools/list', async () => {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'delete_model_alias'));
  });

  test('/policies lists the shadow file, and a failed reload with its error', async () => {
    const get = async () => (await fetch(`http://${admin}/policies`, { signal: AbortSignal.timeout(5000) })).json();
    const first = await get();
    assert.equal(first.servers[0].shadow_policies[0].file, shadow);
    fs.writeFileSync(shadow, '{"version": "1", "mode": "shadow", "tools": {"x": {"deny_if": [{"arg": "a", "regex": "("}]}}}');
    await until('a failed reload in /policies', async () => (await get()).last_reload?.result === 'failed');
    const failed = (await get()).last_reload;
    assert.match(failed.error, /registry-next\.json:1:\d+ \/tools\/x\/deny_if\/0\/regex: the regex does not compile/);
    assert.equal((await get()).generation, first.generation, 'the previous generation stays in force');
    // the shadow policy in force still decides
    await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'champion' } });
    await until('the audit line', () => lines(audit).filter((l) => l.tool === 'delete_model_alias').length === 3);
    assert.equal(lines(audit).filter((l) => l.tool === 'delete_model_alias')[2].shadow_decision, 'deny');
  });
});

describe('"default": "deny" hides what it refuses', () => {
  let warden, dir, client;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-authoring-'));
    const write = (name, policy) => { const p = path.join(dir, name); fs.writeFileSync(p, JSON.stringify(policy)); return p; };
    const strict = write('strict.json', { version: '1', default: 'deny', tools: { 'get_*': {}, delete_model_alias: { action: 'deny' }, set_model_alias: { require: [{ arg: 'version', regex: '^[0-9]+$' }] } } });
    const listed = write('listed.json', { version: '1', default: 'deny', list_denied: true, tools: { 'search_*': {} } });
    warden = await startWarden(['--policy', strict, '--', demo]);
    ({ client } = await connect(warden.url));
    const other = await startWarden(['--policy', listed, '--', demo]);
    try {
      const c = await connect(other.url);
      const { tools } = await c.client.listTools();
      assert.equal(tools.length, 40, 'list_denied: true lists every tool');
      await c.client.close();
    } finally {
      assert.equal(await other.stop(), 0);
    }
  });
  after(async () => {
    await client.close();
    assert.equal(await warden.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('tools/list offers only the tools the agent may call', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    assert.ok(names.length > 0);
    assert.ok(names.every((n) => n.startsWith('get_') || n === 'set_model_alias'), names.join(','));
    assert.ok(!names.includes('delete_model_alias'));
    const refused = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } });
    assert.equal(refused.isError, true);
  });
});
