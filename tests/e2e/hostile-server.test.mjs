// A hostile MCP server behind warden (lib/hostile.mjs), the same peer on both
// transports: as a stdio child (lib/hostile-child.mjs) and over HTTP
// (lib/hostile-http.mjs). Its messages are read strictly and routed by id,
// never sniffed; a raw CR frames no extra event; stray and duplicate answers
// are dropped; a tools list warden cannot read with certainty never reaches
// the client and a hidden tool is gone from it; a call it never answers ends
// at the deadline; its death mid-call is an error, audited as such and
// counted. stdio only: notifications/cancelled, and children are capped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, initialize, messages, post, until } from './lib/client.mjs';
import { freePort, startWarden, stop } from './lib/peers.mjs';
import { portOpen, run, waitFor } from './lib/proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const hostile = [process.execPath, path.join(here, 'lib', 'hostile-child.mjs')];
const lines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

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

function startWithConfig(dir, server, extra = {}) {
  const config = path.join(dir, 'warden.json');
  fs.writeFileSync(config, JSON.stringify({ ...extra, servers: { hostile: { command: hostile, ...server } } }));
  return startWarden(['--config', config]);
}

/* The two transports, each facing the same hostile peer. */
const transports = {
  stdio: async (dir, server, extra) => ({ warden: await startWithConfig(dir, server, extra), stop: async () => {} }),
  http: async (dir, server, extra) => {
    const port = await freePort();
    const peer = run(process.execPath, [path.join(here, 'lib', 'hostile-http.mjs')], { env: { PORT: String(port) } });
    await waitFor(peer, 'hostile HTTP server', () => portOpen(port));
    const config = path.join(dir, 'warden.json');
    fs.writeFileSync(config, JSON.stringify({ ...extra, servers: { hostile: { url: `http://127.0.0.1:${port}/mcp`, ...server } } }));
    return { warden: await startWarden(['--config', config]), stop: () => stop(peer) };
  },
};

for (const [name, start] of Object.entries(transports)) describe(`a hostile server over ${name}`, { timeout: 60000 }, () => {
  let dir, warden, peer, audit, admin, url;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-hostile-'));
    const policy = path.join(dir, 'hide.json');
    fs.writeFileSync(policy, JSON.stringify({ version: '1', hide: ['secret_tool'] }));
    audit = path.join(dir, 'audit.jsonl');
    admin = `127.0.0.1:${await freePort()}`;
    ({ warden, stop: peer } = await start(dir, { policies: [policy], first_byte_timeout_ms: 1000 }, { audit_log: audit, admin }));
    url = `${warden.base}/mcp/hostile`;
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    if (peer) await peer();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a hidden tool the child lists is gone from the list', async () => {
    const { client } = await connect(url);
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'whoami'));
      assert.ok(!tools.some((t) => t.name === 'secret_tool'));
    } finally {
      await client.close();
    }
  });

  test('a tools list warden cannot read with certainty never reaches the client', async () => {
    const { client } = await connect(url);
    try {
      await client.callTool({ name: 'list_mode', arguments: { mode: 'escaped' } });
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'whoami'));
      assert.ok(!tools.some((t) => t.name === 'secret_tool'), 'an escaped name is still the hidden tool');
      await client.callTool({ name: 'list_mode', arguments: { mode: 'dup' } });
      await assert.rejects(client.listTools(), /warden cannot pass on with certainty/);
    } finally {
      await client.callTool({ name: 'list_mode', arguments: { mode: 'plain' } });
      await client.close();
    }
  });

  test('"method" inside a tool result is not a server request: the call ends', async () => {
    const { client, transport: t } = await connect(url);
    try {
      const r = await client.callTool({ name: 'method_arg', arguments: { method: 'tools/call' } }, undefined, { timeout: 5000 });
      assert.equal(r.content[0].text, '{"method":"sampling/createMessage","id":1}');
      /* The SDK resolves on the answer; the stream itself must end too (post() reads to the end, or times out). */
      const headers = t.sessionId ? { 'Mcp-Session-Id': t.sessionId, 'MCP-Protocol-Version': '2025-06-18' } : {};
      const raw = await post(url, { jsonrpc: '2.0', id: 'm', method: 'tools/call', params: { name: 'method_arg', arguments: {} } }, headers, 5000);
      assert.equal(messages(raw.text).length, 1);
      const pid = await client.callTool({ name: 'whoami', arguments: {} }, undefined, { timeout: 5000 });
      assert.match(pid.content[0].text, /^\d+$/);
    } finally {
      await client.close();
    }
  });

  test('raw CRs between tokens frame no extra event: the client gets one well-formed message for its request', async () => {
    const { client, transport: t } = await connect(url);
    try {
      const headers = t.sessionId ? { 'Mcp-Session-Id': t.sessionId, 'MCP-Protocol-Version': '2025-06-18' } : {};
      const raw = await post(url, { jsonrpc: '2.0', id: 'cr', method: 'tools/call', params: { name: 'bare_cr', arguments: {} } }, headers);
      const events = messages(raw.text);
      assert.equal(events.length, 1, JSON.stringify(raw.text));
      const msg = JSON.parse(events[0]);
      assert.equal(msg.id, 'cr');
      if (name === 'stdio') {
        /* A stdio line is one message: its CRs are whitespace, written as spaces. */
        assert.ok(!raw.text.includes('\r'), JSON.stringify(raw.text));
        assert.equal(msg.result.content[0].text, 'cr ok');
        const r = await client.callTool({ name: 'bare_cr', arguments: {} }, undefined, { timeout: 5000 });
        assert.equal(r.content[0].text, 'cr ok');
      } else {
        /* In an event stream the server's CRs ended its event: what is left of the answer cannot be passed on. */
        assert.match(msg.error.message, /warden cannot pass on with certainty/);
      }
    } finally {
      await client.close();
    }
  });

  test('a response to an id nobody sent, and a second answer, are dropped', async () => {
    const { client } = await connect(url);
    try {
      const stray = await client.callTool({ name: 'stray', arguments: {} }, undefined, { timeout: 5000 });
      assert.equal(stray.content[0].text, 'stray ok');
      const first = await client.callTool({ name: 'twice', arguments: {} }, undefined, { timeout: 5000 });
      assert.equal(first.content[0].text, 'first');
      const next = await client.callTool({ name: 'whoami', arguments: {} }, undefined, { timeout: 5000 });
      assert.match(next.content[0].text, /^\d+$/);
      await until('both drops logged', () => (warden.stderr().match(/dropped/g) || []).length >= 2);
    } finally {
      await client.close();
    }
  });

  test('progress reaches the call that asked for it and keeps it alive past the first-byte deadline', async () => {
    const { client } = await connect(url);
    try {
      const seen = [];
      const never = client.callTool({ name: 'never', arguments: {} }, undefined, { timeout: 10000 });
      const slow = client.callTool({ name: 'slow', arguments: {} }, undefined, { timeout: 10000, onprogress: (p) => seen.push(p.progress) });
      await assert.rejects(never, /did not answer within 1000 ms/);
      const r = await slow;
      assert.equal(r.content[0].text, 'slow done');
      assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    } finally {
      await client.close();
    }
  });

  test('a call the child never answers ends with a JSON-RPC error at the deadline', async () => {
    const { client } = await connect(url);
    try {
      const t0 = Date.now();
      await assert.rejects(client.callTool({ name: 'never', arguments: {} }, undefined, { timeout: 10000 }), /did not answer within 1000 ms/);
      assert.ok(Date.now() - t0 < 8000);
      const next = await client.callTool({ name: 'whoami', arguments: {} }, undefined, { timeout: 5000 });
      assert.match(next.content[0].text, /^\d+$/);
    } finally {
      await client.close();
    }
  });

  if (name === 'http') {
    test('a GET stream (a Last-Event-ID replay) is filtered too', async () => {
      const res = await fetch(url, { headers: { Accept: 'text/event-stream', 'Last-Event-ID': '0' }, signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200);
      const reader = res.body.getReader();
      let text = '';
      while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      const list = JSON.parse(messages(text)[0]);
      assert.equal(list.id, 'replayed-list');
      assert.ok(list.result.tools.some((t) => t.name === 'whoami'));
      assert.ok(!list.result.tools.some((t) => t.name === 'secret_tool'));
    });
  }

  test('a server that dies mid-call (last: it is gone after): an error, audited as "error", counted as an upstream error', async () => {
    const { client } = await connect(url);
    await assert.rejects(client.callTool({ name: 'die', arguments: {} }, undefined, { timeout: 5000 }), /process exited|closed the connection/);
    await client.close().catch(() => {});
    await until('the audit line', () => lines(audit).some((l) => l.tool === 'die'));
    const line = lines(audit).find((l) => l.tool === 'die');
    assert.equal(line.decision, 'error');
    assert.equal(line.is_error, true);
    const metrics = await (await fetch(`http://${admin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const m = metrics.match(/warden_upstream_errors_total\{server="hostile",kind="reset"\} (\d+)/);
    assert.ok(m && Number(m[1]) >= 1, metrics);
  });
});

describe('stdio: notifications/cancelled', { timeout: 60000 }, () => {
  let dir, warden, url;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cancel-'));
    warden = await startWithConfig(dir, { first_byte_timeout_ms: 1000 });
    url = `${warden.base}/mcp/hostile`;
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('notifications/cancelled ends the cancelled call\'s stream without waiting for its deadline', async () => {
    const { client, transport } = await connect(url);
    try {
      const headers = { 'Mcp-Session-Id': transport.sessionId, 'MCP-Protocol-Version': '2025-06-18' };
      const res = await fetch(url, {
        method: 'POST', signal: AbortSignal.timeout(5000),
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 'c1', method: 'tools/call', params: { name: 'never', arguments: {} } }),
      });
      assert.equal(res.status, 200);
      const cancel = await post(url, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'c1', reason: 'test' } }, headers);
      assert.equal(cancel.status, 202);
      const t0 = Date.now();
      assert.deepEqual(messages(await res.text()), []);
      assert.ok(Date.now() - t0 < 900, 'ended by the cancellation, not by the 1000 ms deadline');
    } finally {
      await client.close();
    }
  });
});

describe('stdio: a slow client pauses its child', { timeout: 60000 }, () => {
  let dir, warden, url;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-slow-'));
    warden = await startWithConfig(dir, {});
    url = `${warden.base}/mcp/hostile`;
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the child gets no further than the buffers allow until the client reads, then finishes', async () => {
    const init = await post(url, initialize(0));
    const session = init.headers.get('mcp-session-id');
    const wrote = () => Math.max(0, ...[...warden.stderr().matchAll(/flood: wrote (\d+)/g)].map((m) => Number(m[1])));
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'flood', arguments: {} } });
    const sock = net.createConnection({ host: '127.0.0.1', port: warden.port });
    let received = '';
    sock.on('data', (d) => { received += d.toString('latin1'); });
    sock.pause();
    sock.write(`POST /mcp/hostile HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${session}\r\nMCP-Protocol-Version: 2025-06-18\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    /* Wait until the child stops getting further (it would reach 4000 if warden read on regardless). */
    let last = -1;
    await until('the child to stall', async () => {
      const now = wrote();
      if (now > 0 && now === last) return true;
      last = now;
      await new Promise((r) => setTimeout(r, 1000));
      return false;
    }, 20000);
    assert.ok(last < 2000, `the child wrote ${last} of 4000 notifications to a client that reads nothing`);
    sock.resume();
    await until('the answer', () => received.includes('flood over'), 30000);
    /* The child's last stderr line and its answer travel by different pipes: the line may come second. */
    await until('the child to report all 4000 written', () => wrote() === 4000, 10000);
    sock.destroy();
  });
});

describe('stdio: a child that stops reading its input', { timeout: 60000 }, () => {
  let dir, warden, url;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-deaf-'));
    warden = await startWithConfig(dir, {});
    url = `${warden.base}/mcp/hostile`;
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('makes warden refuse more for it past 8 MiB, instead of holding everything', async () => {
    const init = await post(url, initialize(0));
    const headers = { 'Mcp-Session-Id': init.headers.get('mcp-session-id'), 'MCP-Protocol-Version': '2025-06-18' };
    const deaf = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'deaf', arguments: {} } }, headers);
    assert.match(deaf.text, /"deaf"/);
    const note = { jsonrpc: '2.0', method: 'notifications/message', params: { data: 'z'.repeat(1 << 20) } };
    let accepted = 0, refused;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = await post(url, note, headers);
      if (r.status === 202) accepted++;
      else refused = r;
    }
    assert.ok(refused, 'every notification was taken');
    assert.match(refused.text, /is not reading its input/);
    assert.ok(accepted >= 7 && accepted <= 10, `${accepted} MiB were taken before the refusal`);
  });
});

describe('children are capped per server', { timeout: 60000 }, () => {
  let dir, warden;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cap-'));
    warden = await startWithConfig(dir, { max_connections: 20 });
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('60 sessions against max_connections 20 leave at most 20 children, and the newest works', async () => {
    const url = `${warden.base}/mcp/hostile`;
    const sessions = [];
    for (let i = 0; i < 60; i++) {
      const r = await post(url, initialize(i));
      assert.equal(r.status, 200, r.text);
      sessions.push(r.headers.get('mcp-session-id'));
    }
    await until('at most 20 children', () => childrenOf(warden.child.pid).length <= 20);
    const headers = { 'Mcp-Session-Id': sessions[59], 'MCP-Protocol-Version': '2025-06-18' };
    const r = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, headers);
    assert.match(JSON.parse(messages(r.text)[0]).result.content[0].text, /^\d+$/);
    const gone = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { ...headers, 'Mcp-Session-Id': sessions[0] });
    assert.equal(gone.status, 404);
  });
});
