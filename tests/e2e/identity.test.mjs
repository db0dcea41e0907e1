// Who is calling, end to end: API keys made by `warden key new`, the 401
// that points at the RFC 9728 metadata warden serves, a principal's rate
// limit that new sessions do not reset, two principals with different bound
// policies, the credential never forwarded, the principal in the audit log.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { initialize, post, until } from './lib/client.mjs';
import { startFixture, startWarden, wardenBin } from './lib/peers.mjs';

const demo = process.env.WARDEN_DEMO_BIN || path.join(path.dirname(wardenBin), 'warden-demo-registry');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-identity-'));
let upstream, warden, url, keys;

/* `warden key new ID`: the secret and the config line it prints. */
function newKey(id, labels) {
  const out = execFileSync(wardenBin, ['key', 'new', id]).toString();
  const secret = out.match(/^wdn_\S+$/m)[0];
  const entry = JSON.parse(out.match(/^\{"id".*$/m)[0]);
  return { secret, entry: { ...entry, labels } };
}

async function connectAs(secret) {
  const client = new Client({ name: 'warden-e2e-identity', version: '1.0.0' });
  const headers = secret ? { Authorization: `Bearer ${secret}` } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

before(async () => {
  upstream = await startFixture();
  keys = { ci: newKey('ci-bot', { team: 'ci' }), ml: newKey('ml-agent', { team: 'ml' }) };
  fs.writeFileSync(path.join(dir, 'all.json'), JSON.stringify({
    version: '1', tools: { query_runs: { rate_limit: { max: 3, window: 60 } } },
  }));
  fs.writeFileSync(path.join(dir, 'ci.json'), JSON.stringify({
    version: '1', tools: { set_model_alias: { action: 'deny', reason: 'CI does not move aliases' } },
  }));
  const config = path.join(dir, 'warden.json');
  fs.writeFileSync(config, JSON.stringify({
    auth: {
      api_keys: [keys.ci.entry, keys.ml.entry],
      resource_metadata: { authorization_servers: ['https://idp.example'], scopes_supported: ['mcp:tools'] },
    },
    audit_log: path.join(dir, 'audit.log'),
    servers: {
      reg: {
        url: upstream.url,
        policies: ['all.json', { file: 'ci.json', when: { principal: 'labels.team', eq: 'ci' } }],
      },
    },
  }));
  warden = await startWarden(['--config', config]);
  url = `${warden.base}/mcp/reg`;
});
after(async () => {
  assert.equal(await warden.stop(), 0);
  await upstream.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('without a key: 401 naming the metadata, which warden serves; the SDK client is refused', async () => {
  const r = await post(url, initialize());
  assert.equal(r.status, 401);
  const challenge = r.headers.get('www-authenticate');
  const metadata = `${warden.base}/.well-known/oauth-protected-resource/mcp/reg`;
  assert.equal(challenge, `Bearer resource_metadata="${metadata}", scope="mcp:tools"`);
  const doc = await (await fetch(metadata)).json();
  assert.deepEqual(doc, {
    resource: url, authorization_servers: ['https://idp.example'], scopes_supported: ['mcp:tools'],
    bearer_methods_supported: ['header'],
  });
  const wrong = await post(url, initialize(), { Authorization: 'Bearer wdn_not-a-key' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.headers.get('www-authenticate'), /error="invalid_token"/);
  await assert.rejects(connectAs(null));
  assert.ok(!warden.stderr().includes(keys.ci.secret) && !warden.stderr().includes('wdn_not-a-key'));
});

test('with a key the SDK client works, and its credential never reaches the server', async () => {
  const client = await connectAs(keys.ml.secret);
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'));
  const r = await client.callTool({ name: 'echo', arguments: { hi: 1 } });
  assert.equal(r.isError, undefined);
  await client.close();
  const calls = await (await fetch(`${upstream.base}/__calls`)).json();
  assert.ok(calls.length > 0);
  assert.ok(calls.every((c) => c.headers.authorization === undefined));
});

test('a principal limited to 3 calls a minute gets exactly 3 across 5 sessions', async () => {
  const answers = [];
  for (let i = 0; i < 5; i++) {
    const client = await connectAs(keys.ci.secret);
    answers.push(await client.callTool({ name: 'query_runs', arguments: { experiment_id: String(i) } }));
    await client.close();
  }
  assert.equal(answers.filter((a) => !a.isError).length, 3);
  const refused = answers.filter((a) => a.isError);
  assert.equal(refused.length, 2);
  assert.match(refused[0].content[0].text, /rate limited/);
  // another principal has its own three
  const other = await connectAs(keys.ml.secret);
  const r = await other.callTool({ name: 'query_runs', arguments: { experiment_id: 'x' } });
  assert.ok(!r.isError);
  await other.close();
});

test('two principals with different bound policies get different answers for the same call', async () => {
  const call = { name: 'set_model_alias', arguments: { name: 'm', alias: 'champion', version: '2' } };
  const ci = await connectAs(keys.ci.secret);
  const refused = await ci.callTool(call);
  assert.equal(refused.isError, true);
  assert.match(refused.content[0].text, /CI does not move aliases/);
  await ci.close();
  const ml = await connectAs(keys.ml.secret);
  const allowed = await ml.callTool(call);
  assert.ok(!allowed.isError);
  await ml.close();
  const audit = path.join(dir, 'audit.log');
  await until('the audit lines', () => fs.existsSync(audit) &&
    fs.readFileSync(audit, 'utf8').split('\n').filter((l) => l.includes('set_model_alias')).length >= 2);
  const lines = fs.readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((l) => l.tool === 'set_model_alias');
  assert.deepEqual(lines.map((l) => [l.principal, l.principal_kind, l.decision]),
    [['ci-bot', 'key', 'deny'], ['ml-agent', 'key', 'allow']]);
});

test('--stdio: the desktop user is the principal (--principal, else $WARDEN_PRINCIPAL), kind local', async () => {
  const policy = path.join(dir, 'local.json');
  fs.writeFileSync(policy, JSON.stringify({
    version: '1', tools: { delete_model_alias: { deny_if: [{ principal: 'id', neq: 'alice' }], reason: 'only alice' } },
  }));
  const lines = [
    { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } } },
  ].map((m) => JSON.stringify(m)).join('\n') + '\n';
  const run = (args, env = {}) => {
    const audit = path.join(dir, `stdio-${Object.keys(env).length}-${args.length}.log`);
    const r = spawnSync(wardenBin, ['--stdio', '--audit-log', audit, '--policy', policy, ...args, '--', demo],
      { input: lines, env: { ...process.env, ...env }, timeout: 20000 });
    const answer = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l)).find((m) => m.id === 1);
    const line = JSON.parse(fs.readFileSync(audit, 'utf8').trim().split('\n').pop());
    return { answer, line, stderr: r.stderr.toString(), status: r.status };
  };
  const alice = run(['--principal', 'alice']);
  assert.ok(!alice.answer.result.isError, alice.stderr);
  assert.deepEqual([alice.line.principal, alice.line.principal_kind], ['alice', 'local']);
  const bob = run([], { WARDEN_PRINCIPAL: 'bob' });
  assert.equal(bob.answer.result.isError, true);
  assert.match(bob.answer.result.content[0].text, /only alice/);
  assert.equal(bob.line.principal, 'bob');
  const bad = spawnSync(wardenBin, ['--stdio', '--principal', 'a b', '--', demo], { input: '', timeout: 10000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.toString(), /--principal a b: a principal id is/);
});
