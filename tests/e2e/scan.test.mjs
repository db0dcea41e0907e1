// warden scan end to end: the demo registry's 40 tools classed as their
// annotations say (27 read, 7 write, 6 destructive), a scaffold that
// `warden check` and `warden test` accept unchanged, inventories, every page
// of an HTTP server (JSON and SSE answers), the first pins file, and a
// "classes" rule deciding real calls through warden.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, listAllPages } from './lib/client.mjs';
import { freePort, startFixture, startWarden, stop, wardenBin } from './lib/peers.mjs';
import { portOpen, run, waitFor } from './lib/proc.mjs';

const demoBin = process.env.WARDEN_DEMO_BIN || path.join(path.dirname(wardenBin), 'warden-demo-registry');

function warden(args, { timeout = 30000 } = {}) {
  const r = spawnSync(wardenBin, args, { encoding: 'utf8', timeout });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function rawPeer(mode) {
  const port = await freePort();
  const child = run(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), 'lib', 'scan-http-peer.mjs'), mode],
    { env: { PORT: String(port) } });
  await waitFor(child, 'raw peer', () => portOpen(port));
  return { child, url: `http://127.0.0.1:${port}/mcp` };
}

function tally(classes) {
  const n = { read: 0, write: 0, destructive: 0, unknown: 0 };
  for (const c of classes) n[c]++;
  return n;
}

describe('warden scan', { timeout: 120000 }, () => {
  let dir;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-scan-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the demo: a scaffold that check and test accept unchanged, 27 read, 7 write, 6 destructive', () => {
    const prefix = path.join(dir, 'registry');
    const r = warden(['scan', '--out', prefix, '--', demoBin]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /40 tools, 27 read, 7 write, 6 destructive, 0 unknown/);
    const policy = JSON.parse(fs.readFileSync(`${prefix}.json`, 'utf8'));
    assert.deepEqual(tally(Object.values(policy.classes_of)), { read: 27, write: 7, destructive: 6, unknown: 0 });
    assert.equal(Object.keys(policy.tools).length, 40);
    assert.equal(policy.classes_of.transition_model_version_stage, 'destructive');
    assert.deepEqual(policy.tools.delete_run, {
      action: 'require_approval',
      description: 'destructive (name verb "delete"): Delete a run. Moves it to the \'deleted\' lifecycle stage.',
    });
    assert.deepEqual(policy.tools.set_run_tag.rate_limit, { max: 30, window: 3600 });
    assert.equal(policy.tools.get_run.action, 'allow');
    const check = warden(['check', `${prefix}.json`]);
    assert.equal(check.code, 0, check.out + check.err);
    const t = warden(['test', `${prefix}.test.json`]);
    assert.equal(t.code, 0, t.out + t.err);
    assert.match(t.out, /40 passed, 0 failed/);
  });

  test('without --out the policy goes to stdout; --format json and table give the inventory', () => {
    const p = warden(['scan', '--', demoBin]);
    assert.equal(p.code, 0, p.err);
    assert.equal(Object.keys(JSON.parse(p.out).tools).length, 40);
    const j = warden(['scan', '--format', 'json', '--', demoBin]);
    assert.equal(j.code, 0, j.err);
    const inv = JSON.parse(j.out);
    assert.equal(inv.length, 40);
    for (const e of inv) assert.deepEqual(Object.keys(e), ['name', 'class', 'why']);
    assert.deepEqual(tally(inv.map((e) => e.class)), { read: 27, write: 7, destructive: 6, unknown: 0 });
    assert.deepEqual(inv.find((e) => e.name === 'transition_model_version_stage'),
      { name: 'transition_model_version_stage', class: 'destructive', why: 'annotation destructiveHint true' });
    const tbl = warden(['scan', '--format', 'table', '--', demoBin]);
    assert.equal(tbl.code, 0, tbl.err);
    assert.match(tbl.out, /^delete_model_alias +destructive +name verb "delete"$/m);
    assert.match(tbl.out, /^40 tools: 27 read, 7 write, 6 destructive, 0 unknown$/m);
  });

  test('--pin writes the first pins file; nothing is pending', () => {
    const pins = path.join(dir, 'registry.pins.json');
    const r = warden(['scan', '--format', 'table', '--pin', pins, '--', demoBin]);
    assert.equal(r.code, 0, r.err);
    const file = JSON.parse(fs.readFileSync(pins, 'utf8'));
    assert.equal(Object.keys(file.tools).length, 40);
    assert.match(file.tools.get_run.sha256, /^[0-9a-f]{64}$/);
    assert.equal(file.tools.get_run.definition.name, 'get_run');
    assert.equal(typeof file.instructions.definition, 'string');
    const d = warden(['pins', 'diff', pins]);
    assert.equal(d.code, 0, d.out + d.err);
    assert.match(d.out, /nothing pending/);
  });

  for (const json of [false, true]) {
    test(`an HTTP server answering in ${json ? 'JSON' : 'SSE'}: every page, a header sent`, async () => {
      const fixture = await startFixture({ json });
      try {
        const { client } = await connect(fixture.url);
        const want = (await listAllPages(client)).flatMap((p) => p.tools.map((t) => t.name));
        await client.close();
        assert.ok(want.length > 10, 'the fixture pages its list');
        await fixture.reset();
        const r = warden(['scan', '--upstream', fixture.url, '--header', 'X-Upstream-Token: scan-secret', '--format', 'json']);
        assert.equal(r.code, 0, r.err);
        assert.deepEqual(JSON.parse(r.out).map((e) => e.name), want);
        const seen = await fixture.calls();
        assert.deepEqual(seen.map((c) => c.method).filter(Boolean).slice(0, 3), ['initialize', 'notifications/initialized', 'tools/list']);
        for (const c of seen) assert.equal(c.headers['x-upstream-token'], 'scan-secret');
        for (const c of seen.slice(1)) assert.ok(c.headers['mcp-session-id'], 'the session id is sent after initialize');
      } finally {
        await stop(fixture.child);
      }
    });
  }

  test('a hostile stdio server: silence, duplicate members, a huge line, a cursor loop; requests refused', () => {
    const peer = [process.execPath, path.join(path.dirname(new URL(import.meta.url).pathname), 'lib', 'scan-peer.mjs')];
    const hang = warden(['scan', '--timeout-ms', '1500', '--', ...peer, 'hang']);
    assert.equal(hang.code, 1);
    assert.match(hang.err, /no answer within 1500 ms/);
    const dup = warden(['scan', '--', ...peer, 'dupkeys']);
    assert.equal(dup.code, 1);
    assert.match(dup.err, /not strict JSON: an object has the same member name twice/);
    const huge = warden(['scan', '--', ...peer, 'huge']);
    assert.equal(huge.code, 1);
    assert.match(huge.err, /longer than/);
    const loop = warden(['scan', '--', ...peer, 'loop']);
    assert.equal(loop.code, 1);
    assert.match(loop.err, /nextCursor/);
    const chatty = warden(['scan', '--format', 'json', '--', ...peer, 'chatty']);
    assert.equal(chatty.code, 0, chatty.err);
    assert.deepEqual(JSON.parse(chatty.out), [
      { name: 'list_things', class: 'read', why: 'name verb "list"' },
      { name: 'drop_table', class: 'destructive', why: 'name verb "drop"' },
      { name: 'frobnicate', class: 'unknown', why: 'no known verb in the name' },
    ]);
    const policy = warden(['scan', '--', ...peer, 'chatty']);
    // the requests sent before initialize and the first page were refused by the time the last page was written
    assert.match(JSON.parse(policy.out).tools.frobnicate.description, /refused 2$/);
    assert.equal(JSON.parse(policy.out).tools.frobnicate.action, 'require_approval');
  });

  test('a hostile HTTP server: chunked events, a short body, a 500, a huge head, silence', async () => {
    // only silence waits for the deadline; the others get a generous one (a loaded machine is slow)
    const expect = {
      'chunked-sse': [0, /^$/, 20000],
      short: [1, /closed the connection in the middle of its answer/, 20000],
      error500: [1, /answered HTTP 500: boom\?\[31m red/, 20000],
      bighead: [1, /head is larger than/, 20000],
      hang: [1, /no answer within 1500 ms/, 1500],
    };
    for (const [mode, [code, err, ms]] of Object.entries(expect)) {
      const peer = await rawPeer(mode);
      try {
        const r = warden(['scan', '--upstream', peer.url, '--timeout-ms', String(ms), '--format', 'table']);
        assert.equal(r.code, code, `${mode}: ${r.err}`);
        assert.match(r.err, err, mode);
      } finally {
        await stop(peer.child);
      }
    }
  });

  test('bad command lines exit 2; a server that cannot be reached exits 1', () => {
    assert.equal(warden(['scan']).code, 2);
    assert.equal(warden(['scan', '--format', 'yaml', '--', demoBin]).code, 2);
    assert.equal(warden(['scan', '--upstream', 'http://127.0.0.1:9/mcp', '--', demoBin]).code, 2);
    assert.equal(warden(['scan', '--header', 'broken', '--upstream', 'http://127.0.0.1:9/mcp']).code, 2);
    const r = warden(['scan', '--upstream', 'http://127.0.0.1:9/mcp', '--timeout-ms', '2000']);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot connect/);
    const gone = warden(['scan', '--', '/nonexistent/server']);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /cannot run/);
  });
});

describe('a classes rule through warden', { timeout: 60000 }, () => {
  let w, dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-classes-'));
    const policy = path.join(dir, 'classes.json');
    fs.writeFileSync(policy, JSON.stringify({
      version: '1',
      classes: { destructive: { action: 'deny', reason: 'no destructive tools here' } },
    }));
    w = await startWarden(['--policy', policy, '--', demoBin]);
  });
  after(async () => {
    assert.equal(await w.stop(), 0, w.stderr());
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('denies delete_model_alias and allows get_registered_model', async () => {
    const { client } = await connect(w.url);
    try {
      const refused = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'challenger' } });
      assert.equal(refused.isError, true);
      assert.match(refused.content[0].text, /no destructive tools here/);
      assert.match(refused.content[0].text, /classes\.destructive/);
      const allowed = await client.callTool({ name: 'get_registered_model', arguments: { name: 'fraud-detector' } });
      assert.notEqual(allowed.isError, true);
      assert.match(allowed.content[0].text, /challenger/, 'the alias was not deleted');
    } finally {
      await client.close();
    }
  });
});
