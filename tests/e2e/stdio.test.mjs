// stdio servers behind warden and warden on stdio, end to end: the demo
// registry behind warden driven by the SDK's HTTP client, warden --stdio
// driven by the SDK's stdio client, a child that crashes mid-call, sessions
// that end, and no process left behind (checked in /proc, not assumed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { connect, until } from './lib/client.mjs';
import { startWarden, wardenBin } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const demo = process.env.WARDEN_DEMO_BIN || path.join(repo, 'build', 'warden-demo-registry');
const policies = ['--policy', path.join(repo, 'policies', 'registry.json'), '--policy', path.join(repo, 'policies', 'protect-champion.lua')];
const stdioFixture = [process.execPath, path.join(here, 'lib', 'stdio-fixture.mjs')];

/* The pids of a process's children, from /proc. */
function childrenOf(pid) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };


/* What the quick start shows: hidden tools gone, champion refused, challenger deleted for real. */
async function demoWalkthrough(client) {
  const { tools } = await client.listTools();
  assert.equal(tools.length, 38);
  assert.ok(!tools.some((t) => t.name === 'delete_run' || t.name === 'delete_experiment'));
  const champion = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'champion' } });
  assert.equal(champion.isError, true);
  assert.match(champion.content[0].text, /champion alias is protected.*protect-champion\.lua:\d+/);
  const stillThere = await client.callTool({ name: 'get_model_version_by_alias', arguments: { name: 'fraud-detector', alias: 'champion' } });
  assert.match(stillThere.content[0].text, /"version":"3"/);
  const challenger = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } });
  assert.equal(challenger.isError, undefined);
  const gone = await client.callTool({ name: 'get_model_version_by_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } });
  assert.equal(gone.isError, true);
  await assert.rejects(client.callTool({ name: 'delete_run', arguments: { run_id: 'a1f0c3' } }), /Unknown tool: delete_run/);
}

describe('the demo registry behind warden, over HTTP', () => {
  let warden;
  before(async () => { warden = await startWarden([...policies, '--', demo]); });
  after(async () => { assert.equal(await warden.stop(), 0); });

  test('the quick start walk-through', async () => {
    const { client } = await connect(warden.url);
    try {
      await demoWalkthrough(client);
    } finally {
      await client.close();
    }
  });

  test('each session has its own child, so sessions cannot see each other\'s state', async () => {
    const a = await connect(warden.url);
    const b = await connect(warden.url);
    try {
      await a.client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } });
      const inB = await b.client.callTool({ name: 'get_model_version_by_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } });
      assert.equal(inB.isError, undefined);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });
});

describe('stdio children: crashes, ended sessions, stopping', () => {
  test('a child that crashes mid-call gives that call an error, and the next session works', async () => {
    const warden = await startWarden(['--', ...stdioFixture]);
    try {
      const first = await connect(warden.url);
      await assert.rejects(first.client.callTool({ name: 'crash', arguments: {} }), /process exited/);
      await first.client.close().catch(() => {});
      const second = await connect(warden.url);
      const r = await second.client.callTool({ name: 'echo', arguments: { ok: 1 } });
      assert.equal(r.content[0].text, '{"ok":1}');
      await second.client.close();
      await until('no leftover child', () => childrenOf(warden.child.pid).length <= 1);
    } finally {
      assert.equal(await warden.stop(), 0);
    }
  });

  test('a session ended by the client ends its child; stopping warden ends the rest', async () => {
    const warden = await startWarden(['--', ...stdioFixture]);
    let pids = [];
    try {
      const a = await connect(warden.url);
      const b = await connect(warden.url);
      const pidA = Number((await a.client.callTool({ name: 'whoami', arguments: {} })).content[0].text);
      const pidB = Number((await b.client.callTool({ name: 'whoami', arguments: {} })).content[0].text);
      assert.notEqual(pidA, pidB);
      pids = [pidA, pidB];
      assert.ok(alive(pidA) && alive(pidB));
      await a.transport.terminateSession();
      await a.client.close();
      await until(`child ${pidA} to end with its session`, () => !alive(pidA));
      assert.ok(alive(pidB));
    } finally {
      assert.equal(await warden.stop(), 0);
    }
    for (const pid of pids) assert.ok(!alive(pid), `child ${pid} outlived warden`);
  });

  test('children see only the environment warden gives them', async () => {
    const warden = await startWarden(['--', ...stdioFixture], { env: { SECRET_TOKEN: 'hunter2' } });
    try {
      const { client } = await connect(warden.url);
      const env = JSON.parse((await client.callTool({ name: 'env', arguments: {} })).content[0].text);
      assert.equal(env.SECRET_TOKEN, undefined);
      assert.ok(env.PATH);
      await client.close();
    } finally {
      await warden.stop();
    }
  });
});

describe('warden --stdio, launched by a desktop-style client', () => {
  test('the SDK stdio client through warden to the demo registry', async () => {
    const transport = new StdioClientTransport({ command: wardenBin, args: ['--stdio', ...policies, '--', demo], stderr: 'pipe' });
    const client = new Client({ name: 'desktop', version: '1.0.0' });
    await client.connect(transport);
    const pid = transport.pid;
    try {
      await demoWalkthrough(client);
    } finally {
      await client.close();
    }
    await until('warden to exit when its stdin closes', () => !alive(pid));
  });

  test('the SDK stdio client through warden to an HTTP server', async () => {
    const upstream = await startWarden([...policies, '--', demo]);
    try {
      const transport = new StdioClientTransport({ command: wardenBin, args: ['--stdio', '--upstream', upstream.url, ...policies], stderr: 'pipe' });
      const client = new Client({ name: 'desktop', version: '1.0.0' });
      await client.connect(transport);
      try {
        await demoWalkthrough(client);
      } finally {
        await client.close();
      }
    } finally {
      await upstream.stop();
    }
  });
});
