// Approvals end to end, with the official SDK client in front of warden and
// the demo registry behind it: a held call approved within the hold gets the
// server's real answer; a denied one gets the approver's reason; a client
// that gave up gets the pending result, and its identical retry after the
// approval passes exactly once while a changed argument does not; the
// requester's own token cannot approve; an expired request cannot be
// approved; the webhook hears of each request; the page's cookie session
// needs its CSRF token; a client that goes away cancels only its call;
// `warden approvals`; a reload keeps pending requests and a new deny wins;
// a held call ends as pending when warden stops; HTTP upstreams (JSON and
// SSE) with four workers; a URL-elicitation client gets -32042.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from './lib/client.mjs';
import { freePort, sleep, startFixture, startWarden, wardenBin } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const demo = process.env.WARDEN_DEMO_BIN || path.join(repo, 'build', 'warden-demo-registry');
const sha = (t) => crypto.createHash('sha256').update(t).digest('hex');

describe('approvals', { timeout: 120000 }, () => {
  let warden, admin, dir, hook, notices = [];
  const alice = { Authorization: 'Bearer alice-token' };
  // The requester is known by its address until callers authenticate: this approver is the requester itself.
  const self = { Authorization: 'Bearer requester-token' };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-approvals-'));
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => { notices.push(JSON.parse(body)); res.writeHead(204).end(); });
    });
    await new Promise((r) => hook.listen(0, '127.0.0.1', r));
    fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
      version: '1',
      tools: {
        transition_model_version_stage: { action: 'require_approval', reason: 'stage moves need a person', approval: { hold: 30 } },
        set_model_alias: { action: 'require_approval', approval: { hold: 1 } },
        delete_model_alias: { action: 'require_approval', approval: { hold: 0, ttl: 1 } },
      },
    }));
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({
      admin: `127.0.0.1:${adminPort}`,
      approvers: [{ id: 'alice', sha256: sha('alice-token') }, { id: '127.0.0.1', sha256: sha('requester-token') }],
      approvals: {
        webhook: `http://127.0.0.1:${hook.address().port}/notices`,
        notify_command: ['sh', '-c', `cat >> ${path.join(dir, 'notified.jsonl')}; echo >> ${path.join(dir, 'notified.jsonl')}`],
      },
      servers: { registry: { command: [demo], policies: ['policy.json'] } },
    }));
    warden = await startWarden(['--config', path.join(dir, 'warden.json')]);
  });
  after(async () => {
    assert.equal(await warden.stop(), 0, warden.stderr());
    hook.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const url = () => `${warden.base}/mcp/registry`;
  const api = async (p, headers = alice, init = {}) => {
    const r = await fetch(`${admin}${p}`, { ...init, headers: { ...headers, ...(init.headers || {}) } });
    return { status: r.status, body: await r.json() };
  };
  const decide = (id, decision, reason, headers = alice) => api(`/approvals/${id}`, headers, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ decision, reason }),
  });
  /* The pending request for `tool`, once it is there. */
  const pendingFor = async (tool) => {
    for (let i = 0; i < 200; i++) {
      const { body } = await api('/approvals?status=pending');
      const a = body.approvals.find((x) => x.tool === tool);
      if (a) return a;
      await sleep(50);
    }
    throw new Error(`no pending approval for ${tool}`);
  };

  test('a held call approved within the hold gets the server\'s real answer, with progress meanwhile', async () => {
    const { client } = await connect(url());
    try {
      const progress = [];
      const call = client.callTool({ name: 'transition_model_version_stage', arguments: { name: 'fraud-detector', version: '2', stage: 'Staging' } },
        undefined, { onprogress: (p) => progress.push(p) });
      const a = await pendingFor('transition_model_version_stage');
      assert.deepEqual(a.arguments, { name: 'fraud-detector', version: '2', stage: 'Staging' });
      assert.equal(a.principal, '127.0.0.1');
      assert.match(a.reason, /stage moves need a person/);
      assert.match(a.id, /^apr_[a-z2-7]{26}$/);
      assert.equal((await decide(a.id, 'approve', 'fine')).status, 200);
      const r = await call;
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.equal(JSON.parse(r.content[0].text).current_stage, 'Staging');
      assert.ok(progress.some((p) => p.message.includes(a.id)), JSON.stringify(progress));
      assert.equal((await api(`/approvals/${a.id}`)).body.status, 'consumed');
      // Both notices are sent from warden's notifier thread: wait for them.
      const file = path.join(dir, 'notified.jsonl');
      const notified = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
      for (let i = 0; i < 100 && !(notices.some((n) => n.id === a.id) && notified().some((n) => n.id === a.id)); i++) await sleep(50);
      assert.ok(notices.some((n) => n.id === a.id && n.tool === 'transition_model_version_stage' && n.arguments.stage === 'Staging'));
      assert.ok(notified().some((n) => n.id === a.id && n.principal === '127.0.0.1' && n.status === 'pending'), JSON.stringify(notified()));
    } finally {
      await client.close();
    }
  });

  test('a denied call ends with the approver\'s reason and never runs', async () => {
    const { client } = await connect(url());
    try {
      const call = client.callTool({ name: 'transition_model_version_stage', arguments: { name: 'fraud-detector', version: '1', stage: 'Archived' } });
      const a = await pendingFor('transition_model_version_stage');
      assert.equal((await decide(a.id, 'deny', 'not during the freeze')).status, 200);
      const r = await call;
      assert.equal(r.isError, true);
      assert.match(r.content[0].text, /refused by alice: not during the freeze\. It has not run\./);
    } finally {
      await client.close();
    }
  });

  test('a client whose hold ran out gets the pending result; its identical retry passes exactly once', async () => {
    const args = { name: 'fraud-detector', alias: 'candidate', version: '2' };
    const first = await connect(url());
    let pending;
    try {
      const r = await first.client.callTool({ name: 'set_model_alias', arguments: args });
      assert.equal(r.isError, true);
      assert.match(r.content[0].text, /It has NOT run/);
      pending = r._meta['warden/approval'];
      assert.equal(pending.status, 'pending');
      assert.match(pending.id, /^apr_/);
      assert.ok(pending.expires_at && pending.retry_after > 0);
      assert.ok(!JSON.stringify(r).includes('token'));
    } finally {
      await first.client.close();
    }
    assert.equal((await decide(pending.id, 'approve', '')).status, 200);
    // The retry: another session, the same arguments (in another order).
    const second = await connect(url());
    try {
      const ok = await second.client.callTool({ name: 'set_model_alias', arguments: { version: '2', alias: 'candidate', name: 'fraud-detector' } });
      assert.equal(ok.isError, undefined, JSON.stringify(ok));
      const again = await second.client.callTool({ name: 'set_model_alias', arguments: args });
      assert.equal(again.isError, true);
      assert.notEqual(again._meta['warden/approval'].id, pending.id);
      const changed = await second.client.callTool({ name: 'set_model_alias', arguments: { ...args, version: '1' } });
      assert.equal(changed.isError, true);
      assert.equal(changed._meta['warden/approval'].status, 'pending');
      assert.notEqual(changed._meta['warden/approval'].id, pending.id);
    } finally {
      await second.client.close();
    }
  });

  test('the requester cannot approve its own call; an expired request cannot be approved', async () => {
    const { client } = await connect(url());
    try {
      const r = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'champion' } });
      const id = r._meta['warden/approval'].id;
      const own = await decide(id, 'approve', 'me', self);
      assert.equal(own.status, 403);
      assert.match(own.body.error, /cannot approve its own call/);
      let status;
      for (let i = 0; i < 100 && status !== 'expired'; i++) {
        await sleep(50);
        status = (await api(`/approvals/${id}`)).body.status;
      }
      assert.equal(status, 'expired');
      const late = await decide(id, 'approve', 'too late');
      assert.equal(late.status, 409);
    } finally {
      await client.close();
    }
  });

  test('the admin API wants an approver; a browser decides through the console\'s session and its CSRF token', async () => {
    assert.equal((await api('/approvals', {})).status, 401);
    assert.equal((await api('/approvals', { Authorization: 'Bearer nope' })).status, 401);
    const login = await fetch(`${admin}/login`, { method: 'POST', redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'secret=alice-token' });
    assert.equal(login.status, 303);
    const cookie = login.headers.get('set-cookie');
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const jar = { Cookie: cookie.split(';')[0] };
    const page = await fetch(`${admin}/approvals`, { headers: { ...jar, Accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
    const html = await page.text();
    assert.doesNotMatch(html, /<script>/);
    const csrf = html.match(/<meta name="csrf" content="([0-9a-f]+)">/)[1];
    const consoleDecide = (id, headers) => fetch(`${admin}/api/approvals/${id}`, { method: 'POST',
      headers: { ...jar, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ decision: 'deny', reason: 'x' }) });
    const { client } = await connect(url());
    try {
      const r = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'old' } });
      const id = r._meta['warden/approval'].id;
      /* The admin API takes no cookie: bearer clients only. */
      assert.equal((await decide(id, 'deny', 'x', jar)).status, 401);
      assert.equal((await consoleDecide(id, {})).status, 403);
      assert.equal((await consoleDecide(id, { 'X-CSRF-Token': csrf })).status, 200);
    } finally {
      await client.close();
    }
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    assert.match(metrics, /warden_approvals_total\{server="registry",outcome="consumed"\} 2/);
    assert.match(metrics, /warden_approvals_pending \d+/);
    assert.match(metrics, /warden_tool_calls_total\{server="registry",tool="set_model_alias",decision="require_approval"\} [1-9]/);
  });

  test('a client that goes away cancels its call, never the request; `warden approvals` lists and approves it', async () => {
    const cli = (...args) => promisify(execFile)(wardenBin, ['approvals', '--admin', admin, ...args],
      { env: { ...process.env, WARDEN_APPROVER_TOKEN: 'alice-token' } });
    const args = { name: 'fraud-detector', version: '1', stage: 'Staging' };
    const gone = await connect(url());
    const call = gone.client.callTool({ name: 'transition_model_version_stage', arguments: args });
    const a = await pendingFor('transition_model_version_stage');
    await gone.client.close();
    await assert.rejects(call);
    const listed = await cli('list');
    assert.match(listed.stdout, new RegExp(`${a.id} +pending +transition_model_version_stage`));
    const shown = JSON.parse((await cli('show', a.id)).stdout);
    assert.deepEqual(shown.arguments, args);
    assert.equal((await cli('approve', a.id, '--reason', 'go')).stdout, `approved ${a.id}\n`);
    // Nothing ran on its own: the grant waits for the agent's retry.
    await sleep(300);
    assert.equal((await api(`/approvals/${a.id}`)).body.status, 'approved');
    const { client } = await connect(url());
    try {
      const r = await client.callTool({ name: 'transition_model_version_stage', arguments: args });
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.equal((await api(`/approvals/${a.id}`)).body.status, 'consumed');
    } finally {
      await client.close();
    }
    await assert.rejects(cli('deny', a.id), (e) => e.code === 1 && /409/.test(e.stderr));
    await assert.rejects(cli('approve', 'nonsense'), (e) => e.code === 2);
  });

  test('a pending request survives a policy reload, and a rule added since that denies wins over the approval', async () => {
    const { client } = await connect(url());
    try {
      const call = client.callTool({ name: 'transition_model_version_stage', arguments: { name: 'fraud-detector', version: '2', stage: 'Production' } });
      const a = await pendingFor('transition_model_version_stage');
      fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
        version: '1',
        tools: {
          transition_model_version_stage: {
            action: 'require_approval', approval: { hold: 30 },
            deny_if: [{ arg: 'stage', in: ['Production'] }], reason: 'production is frozen',
          },
        },
      }));
      warden.child.kill('SIGHUP');
      await warden.logged(/generation 2 in force/);
      assert.equal((await api(`/approvals/${a.id}`)).body.status, 'pending');
      assert.equal((await decide(a.id, 'approve', 'fine')).status, 200);
      const r = await call;
      assert.equal(r.isError, true);
      assert.match(r.content[0].text, /production is frozen/);
    } finally {
      await client.close();
    }
  });
});

describe('approvals when warden stops', { timeout: 60000 }, () => {
  test('a call still held when warden is told to stop ends at once as pending, and warden exits cleanly', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-approvals-stop-'));
    try {
      fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
        version: '1', tools: { transition_model_version_stage: { action: 'require_approval', approval: { hold: 40 } } },
      }));
      fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({
        servers: { registry: { command: [demo], policies: ['policy.json'] } },
      }));
      const w = await startWarden(['--config', path.join(dir, 'warden.json')]);
      const { client } = await connect(`${w.base}/mcp/registry`);
      const progress = [];
      const call = client.callTool({ name: 'transition_model_version_stage', arguments: { name: 'fraud-detector', version: '2', stage: 'None' } },
        undefined, { onprogress: (p) => progress.push(p) });
      call.catch(() => {});
      for (let i = 0; i < 100 && progress.length === 0; i++) await sleep(50);
      assert.equal(progress.length, 1);
      const started = Date.now();
      const exited = w.stop(20000);
      const r = await call;
      assert.ok(Date.now() - started < 5000);
      assert.equal(r.isError, true);
      assert.equal(r._meta['warden/approval'].status, 'pending');
      assert.equal(await exited, 0, w.stderr());
      await client.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

for (const json of [false, true]) {
  describe(`approvals in front of an HTTP server answering in ${json ? 'JSON' : 'SSE'}, four workers`, { timeout: 60000 }, () => {
    let fixture, w, dir, admin;
    before(async () => {
      fixture = await startFixture({ json });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-approvals-http-'));
      fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
        version: '1', tools: { echo: { action: 'require_approval', approval: { hold: 30 } } },
      }));
      const adminPort = await freePort();
      admin = `http://127.0.0.1:${adminPort}`;
      fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({
        admin: `127.0.0.1:${adminPort}`, workers: 4,
        approvers: [{ id: 'alice', sha256: sha('alice-token') }],
        servers: { fixture: { url: fixture.url, policies: ['policy.json'] } },
      }));
      w = await startWarden(['--config', path.join(dir, 'warden.json')]);
    });
    after(async () => {
      assert.equal(await w.stop(), 0, w.stderr());
      await fixture.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('held calls on every worker are woken by the admin thread and get the server\'s answers', async () => {
      const clients = await Promise.all([0, 1, 2, 3, 4, 5].map(() => connect(`${w.base}/mcp/fixture`)));
      try {
        const calls = clients.map(({ client }, i) => client.callTool({ name: 'echo', arguments: { n: i } }));
        calls.forEach((c) => c.catch(() => {}));
        let pending = [];
        for (let i = 0; i < 200 && pending.length < 6; i++) {
          await sleep(50);
          const r = await fetch(`${admin}/approvals?status=pending`, { headers: { Authorization: 'Bearer alice-token' } });
          pending = (await r.json()).approvals;
        }
        assert.equal(pending.length, 6);
        await Promise.all(pending.map((a) => fetch(`${admin}/approvals/${a.id}`, {
          method: 'POST', headers: { Authorization: 'Bearer alice-token' }, body: JSON.stringify({ decision: 'approve' }),
        })));
        const results = await Promise.all(calls);
        results.forEach((r, i) => assert.deepEqual(JSON.parse(r.content[0].text), { tool: 'echo', args: { n: i } }));
        const arrived = (await fixture.calls()).filter((c) => c.method === 'tools/call').map((c) => c.arguments.n);
        assert.deepEqual(arrived.sort(), [0, 1, 2, 3, 4, 5]);
      } finally {
        await Promise.all(clients.map(({ client }) => client.close()));
      }
    });
  });
}

describe('approvals for a client that opens URLs (2025-11-25, elicitation.url)', { timeout: 60000 }, () => {
  test('the call gets error -32042 pointing at the approval page, and its retry passes once approved', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-approvals-url-'));
    const adminPort = await freePort();
    const admin = `http://127.0.0.1:${adminPort}`;
    fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
      version: '1', tools: { transition_model_version_stage: { action: 'require_approval' } },
    }));
    fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({
      admin: `127.0.0.1:${adminPort}`, approvers: [{ id: 'alice', sha256: sha('alice-token') }],
      servers: { registry: { command: [demo], policies: ['policy.json'] } },
    }));
    const w = await startWarden(['--config', path.join(dir, 'warden.json')]);
    try {
      const mcp = `${w.base}/mcp/registry`;
      const init = (capabilities) => fetch(mcp, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize',
          params: { protocolVersion: '2025-11-25', capabilities, clientInfo: { name: 'raw', version: '1' } } }),
      });
      const call = async (sid, id) => {
        const r = await fetch(mcp, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sid },
          body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call',
            params: { name: 'transition_model_version_stage', arguments: { name: 'fraud-detector', version: '3', stage: 'Archived' } } }),
        });
        const text = await r.text();
        return JSON.parse(text.startsWith('{') ? text : text.split('\n').filter((l) => l.startsWith('data: ')).pop().slice(6));
      };
      const first = await init({ elicitation: { form: {}, url: {} } });
      const sid = first.headers.get('mcp-session-id');
      await first.text();
      const refused = await call(sid, 1);
      assert.equal(refused.id, 1);
      assert.equal(refused.error.code, -32042);
      const [e] = refused.error.data.elicitations;
      assert.equal(e.mode, 'url');
      assert.match(e.elicitationId, /^apr_/);
      assert.equal(e.url, `${admin}/approvals#${e.elicitationId}`);
      // Until a person decides, the retry is sent there again: the same request.
      assert.equal((await call(sid, 2)).error.data.elicitations[0].elicitationId, e.elicitationId);
      const r = await fetch(`${admin}/approvals/${e.elicitationId}`, {
        method: 'POST', headers: { Authorization: 'Bearer alice-token' }, body: JSON.stringify({ decision: 'approve' }),
      });
      assert.equal(r.status, 200);
      const done = await call(sid, 3);
      assert.equal(done.result.isError, undefined, JSON.stringify(done));
      assert.equal(JSON.parse(done.result.content[0].text).current_stage, 'Archived');
      // A client that declared only form elicitation is held on an event stream instead.
      const other = await init({ elicitation: { form: {} } });
      const otherSid = other.headers.get('mcp-session-id');
      await other.text();
      const ac = new AbortController();
      const held = await fetch(mcp, {
        method: 'POST', signal: ac.signal,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': otherSid },
        body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call',
          params: { name: 'transition_model_version_stage', arguments: { name: 'fraud-detector', version: '3', stage: 'Staging' } } }),
      });
      assert.equal(held.headers.get('content-type'), 'text/event-stream');
      ac.abort();
    } finally {
      assert.equal(await w.stop(), 0, w.stderr());
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
