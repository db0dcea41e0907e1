// The server's own stream (a GET without Last-Event-ID) answers no request:
// the spec lets no response travel on it, and warden drops any that does
// (answer.c). A client that reads every stream alike (the TypeScript SDK
// matches responses by id whatever stream they come on) would otherwise take
// it for the answer to a request warden holds, refused, or filters on the
// request's own stream. A stream resumed with Last-Event-ID may replay
// responses to earlier requests: those pass.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initialize, post } from './lib/client.mjs';
import { freePort, sleep, startWarden, stop } from './lib/peers.mjs';
import { portOpen, run, waitFor } from './lib/proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/* Reads a fetch body in the background; returns { text(), done }. */
function drain(res) {
  let seen = '';
  const dec = new TextDecoder();
  const done = (async () => {
    try { for await (const chunk of res.body) seen += dec.decode(chunk); } catch { /* aborted */ }
  })();
  return { text: () => seen, done };
}

describe('responses on a server stream that answers no request', { timeout: 60000 }, () => {
  let server, warden, dir, url, headers;
  before(async () => {
    const port = await freePort();
    server = run(process.execPath, [path.join(here, 'lib', 'get-stream-answer-server.mjs')], { env: { PORT: String(port) } });
    await waitFor(server, 'server', () => portOpen(port));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-get-answers-'));
    const servers = { s: { url: `http://127.0.0.1:${port}/mcp`, first_byte_timeout_ms: 1000 } };
    fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({ servers }));
    warden = await startWarden(['--config', path.join(dir, 'warden.json')]);
    url = `${warden.base}/mcp/s`;
    const init = await post(url, initialize(0));
    assert.equal(init.status, 200, init.text);
    headers = { 'Mcp-Session-Id': init.headers.get('mcp-session-id'), 'MCP-Protocol-Version': '2025-06-18' };
    assert.equal((await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status, 202);
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    if (server) await stop(server);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an answer sent on the GET stream is dropped: the call fails at its deadline', async () => {
    const ac = new AbortController();
    const get = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal });
    assert.equal(get.status, 200);
    const stream = drain(get);
    try {
      await sleep(100);
      const call = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: {} } }, headers);
      assert.match(call.text, /did not answer within 1000 ms/);
      await warden.logged(/a response on a stream that answers no request/);
      assert.ok(!stream.text().includes('answered on the GET stream'), `the GET stream carried it: ${stream.text()}`);
    } finally {
      ac.abort();
      await stream.done;
    }
  });

  test('a stream resumed with Last-Event-ID replays an earlier answer', async () => {
    const ac = new AbortController();
    const get = await fetch(url, { headers: { Accept: 'text/event-stream', 'Last-Event-ID': '1', ...headers }, signal: ac.signal });
    assert.equal(get.status, 200);
    const stream = drain(get);
    try {
      for (let i = 0; i < 100 && !stream.text().includes('replayed answer'); i++) await sleep(20);
      assert.ok(stream.text().includes('replayed answer'), `the replay did not come: ${stream.text()}`);
    } finally {
      ac.abort();
      await stream.done;
    }
  });
});
