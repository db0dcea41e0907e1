// Approvals through MCP's own channels (issue 14, item 5), with real peers:
// a 2025-11-25 SDK client that declared elicitation.url gets -32042 pointing
// at the approval page and hears notifications/elicitation/complete on its
// GET stream when an approver decides through the admin API (stdio and HTTP
// upstreams); a 2026-07-28 SDK v2 client gets input_required with a signed
// requestState, and its retry passes once approved (approved first, or held
// until a person decides); a tampered, moved or foreign-key requestState is
// refused with -32602 and never reaches the server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitationCompleteNotificationSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { messages, post, until } from './lib/client.mjs';
import { freePort, startEverything, startModern, startWarden } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const demo = process.env.WARDEN_DEMO_BIN || path.join(here, '..', '..', 'build', 'warden-demo-registry');
const sha = (t) => crypto.createHash('sha256').update(t).digest('hex');

/* warden with an admin listener and approver alice in front of `servers` (policy.json beside them). */
async function startWith(servers, tools) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-elicit-'));
  fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({ version: '1', tools }));
  const adminPort = await freePort();
  fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({
    admin: `127.0.0.1:${adminPort}`, approvers: [{ id: 'alice', sha256: sha('alice-token') }], servers,
  }));
  const w = await startWarden(['--config', path.join(dir, 'warden.json')]);
  const admin = `http://127.0.0.1:${adminPort}`;
  return {
    w, admin, dir,
    decide: async (id, decision) => {
      const r = await fetch(`${admin}/approvals/${id}`, {
        method: 'POST', headers: { Authorization: 'Bearer alice-token', 'Content-Type': 'application/json' },
        body: JSON.stringify({ decision, reason: 'checked' }),
      });
      assert.equal(r.status, 200, await r.text());
    },
    stop: async () => {
      assert.equal(await w.stop(), 0, w.stderr());
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/* The 2025-11-25 SDK client declaring URL elicitation; completes: elicitationIds heard on its GET stream. */
async function legacyClient(url) {
  const client = new LegacyClient({ name: 'warden-e2e-url', version: '1.0.0' },
    { capabilities: { elicitation: { form: {}, url: {} } } });
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept' }));
  const completes = [];
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => { completes.push(n.params.elicitationId); });
  const transport = new LegacyTransport(new URL(url));
  await client.connect(transport);
  return { client, transport, completes };
}

async function urlElicitationFlow(t, mcp, tool, args, check) {
  const { client, completes } = await legacyClient(mcp);
  try {
    const err = await client.callTool({ name: tool, arguments: args }).then(
      (r) => assert.fail(`expected -32042, got ${JSON.stringify(r)}`), (e) => e);
    assert.equal(err.code, -32042, String(err));
    const [e] = err.data.elicitations;
    assert.equal(e.mode, 'url');
    assert.match(e.elicitationId, /^apr_/);
    assert.equal(e.url, `${t.admin}/approvals#${e.elicitationId}`);
    // The GET stream is open before the person decides (the SDK opens it after initialize).
    await until('the GET stream', async () => (await streamsOpen(t.admin)) >= 1);
    assert.deepEqual(completes, []);
    await t.decide(e.elicitationId, 'approve');
    await until('notifications/elicitation/complete', () => completes.includes(e.elicitationId), 10000);
    check(await client.callTool({ name: tool, arguments: args }));
  } finally {
    await client.close();
  }
}

/* warden_open_sse_streams, from the admin listener's metrics. */
async function streamsOpen(admin) {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const m = /^warden_open_sse_streams (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('approvals by URL elicitation (2025-11-25)', { timeout: 90000 }, () => {
  test('stdio upstream: -32042, then notifications/elicitation/complete on the GET stream, then the retry passes', async () => {
    const t = await startWith({ registry: { command: [demo], policies: ['policy.json'] } },
      { transition_model_version_stage: { action: 'require_approval' } });
    try {
      await urlElicitationFlow(t, `${t.w.base}/mcp/registry`, 'transition_model_version_stage',
        { name: 'fraud-detector', version: '3', stage: 'Archived' }, (done) => {
          assert.equal(done.isError, undefined, JSON.stringify(done));
          assert.equal(JSON.parse(done.content[0].text).current_stage, 'Archived');
        });
    } finally {
      await t.stop();
    }
  });

  test("HTTP upstream: the notice is written into the server's own proxied GET stream", async () => {
    const everything = await startEverything();
    const t = await startWith({ everything: { url: everything.url, policies: ['policy.json'] } },
      { echo: { action: 'require_approval' } });
    try {
      await urlElicitationFlow(t, `${t.w.base}/mcp/everything`, 'echo', { message: 'approved hello' }, (done) => {
        assert.equal(done.isError, undefined, JSON.stringify(done));
        assert.match(done.content[0].text, /approved hello/);
      });
    } finally {
      await t.stop();
      await everything.stop();
    }
  });
});

const modernHeaders = (name) => ({ 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': name });
function modernBody(id, name, args, extra = {}) {
  return {
    jsonrpc: '2.0', id, method: 'tools/call',
    params: {
      name, arguments: args, ...extra,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } },
      },
    },
  };
}
const last = (r) => JSON.parse(messages(r.text).pop());

describe('approvals by input_required (2026-07-28)', { timeout: 90000 }, () => {
  let server, t, mcp;
  before(async () => {
    server = await startModern();
    t = await startWith({ modern: { url: server.url, policies: ['policy.json'] } },
      { echo: { action: 'require_approval', approval: { hold: 20 } } });
    mcp = `${t.w.base}/mcp/modern`;
  });
  after(async () => {
    await t.stop();
    await server.stop();
  });

  /* The SDK v2 client declaring URL elicitation; onUrl(id) runs when it is sent to the page. */
  async function modernClient(onUrl) {
    const client = new Client({ name: 'warden-e2e-mrtr', version: '1.0.0' },
      { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: 'auto' } });
    client.setRequestHandler('elicitation/create', async (req) => {
      assert.equal(req.params.mode, 'url');
      await onUrl(req.params.url.split('#')[1], req.params.url);
      return { action: 'accept' };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcp)));
    return client;
  }

  test('the SDK client is sent to the page; its retry with the requestState passes once approved', async () => {
    const seen = [];
    const client = await modernClient(async (id, url) => {
      seen.push(id);
      assert.equal(url, `${t.admin}/approvals#${id}`);
      await t.decide(id, 'approve');
    });
    try {
      const r = await client.callTool({ name: 'echo', arguments: { x: 1 } });
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.match(r.content[0].text, /echo ran with \{"x":1\}/);
      assert.equal(seen.length, 1);
    } finally {
      await client.close();
    }
  });

  test('a retry before the person decides is held until they do', async () => {
    const client = await modernClient(async (id) => {
      setTimeout(() => { t.decide(id, 'approve').catch(() => {}); }, 500);
    });
    try {
      const r = await client.callTool({ name: 'echo', arguments: { x: 2 } });
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.match(r.content[0].text, /echo ran with \{"x":2\}/);
    } finally {
      await client.close();
    }
  });

  test('a tampered, moved or expired-looking requestState is refused with -32602 and never reaches the server', async () => {
    const first = last(await post(mcp, modernBody(1, 'echo', { x: 3 }), modernHeaders('echo')));
    assert.equal(first.result.resultType, 'input_required', JSON.stringify(first));
    const state = first.result.requestState;
    assert.match(state, /^wd1\.apr_/);
    const req = first.result.inputRequests['warden/approval'];
    assert.equal(req.method, 'elicitation/create');
    assert.equal(req.params.mode, 'url');
    const id = req.params.url.split('#')[1];
    await t.decide(id, 'approve');
    await server.reset();
    const accept = { 'warden/approval': { action: 'accept' } };
    const flip = state.slice(0, -1) + (state.endsWith('A') ? 'B' : 'A');
    const parts = state.split('.');
    const later = [parts[0], parts[1], String(Number(parts[2]) + 3600), parts[3]].join('.');
    for (const [what, body] of [
      ['a changed mac', modernBody(2, 'echo', { x: 3 }, { requestState: flip, inputResponses: accept })],
      ['a later expiry', modernBody(3, 'echo', { x: 3 }, { requestState: later, inputResponses: accept })],
      ['another call', modernBody(4, 'echo', { x: 4 }, { requestState: state, inputResponses: accept })],
    ]) {
      const r = last(await post(mcp, body, modernHeaders('echo')));
      assert.equal(r.error?.code, -32602, `${what}: ${JSON.stringify(r)}`);
      assert.match(r.error.message, /requestState/);
    }
    assert.deepEqual((await server.calls()).filter((c) => c.method === 'tools/call'), []);
    // The genuine state still passes, exactly once.
    const ok = last(await post(mcp, modernBody(5, 'echo', { x: 3 }, { requestState: state, inputResponses: accept }),
      modernHeaders('echo')));
    assert.match(ok.result.content[0].text, /echo ran/, JSON.stringify(ok));
    // A client that declines is told the call is pending; it has not run.
    const again = last(await post(mcp, modernBody(6, 'echo', { x: 3 }), modernHeaders('echo')));
    assert.equal(again.result.resultType, 'input_required');
    const declined = last(await post(mcp, modernBody(7, 'echo', { x: 3 }, {
      requestState: again.result.requestState, inputResponses: { 'warden/approval': { action: 'decline' } },
    }), modernHeaders('echo')));
    assert.equal(declined.result.isError, true, JSON.stringify(declined));
    assert.equal(declined.result.resultType, 'complete');
    assert.equal(declined.result._meta['warden/approval'].status, 'pending');
    // A client without URL elicitation never gets input_required.
    const plain = modernBody(8, 'echo', { x: 5 });
    plain.params._meta['io.modelcontextprotocol/clientCapabilities'] = {};
    const r = last(await post(mcp, plain, { ...modernHeaders('echo'), Accept: 'application/json' }));
    assert.equal(r.result.isError, true, JSON.stringify(r));
    assert.equal(r.result._meta['warden/approval'].status, 'pending');
  });
});
