// A legacy HTTP+SSE server behind warden ("transport": "sse") answers on its
// one stream, and warden routes each response to the request with its id
// (upstream_session.c, read strictly: 1 and "1" are different ids). A
// response no request waits for (answered already, never sent, or sent under
// another spelling of the id) is dropped, as the stdio transport does: on the
// client's GET stream it would carry no request's context, and a lenient
// client (the TypeScript SDK reads ids with Number()) would take "1" for the
// answer to its request 1, which warden's answer checks fail on the
// request's own stream (answer.c: an id that is the request's only to a
// lenient client).
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

/* The lenient-id server behind a warden whose server "old" has `conf` too;
 * the result's url is warden's for it, stop() ends both. */
async function startBehind(conf) {
  const port = await freePort();
  const t = { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-legacy-ids-')) };
  t.server = run(process.execPath, [path.join(here, 'lib', 'sse-lenient-id-server.mjs')], { env: { PORT: String(port) } });
  await waitFor(t.server, 'server', () => portOpen(port));
  const servers = { old: { url: `http://127.0.0.1:${port}/sse`, transport: 'sse', ...conf } };
  fs.writeFileSync(path.join(t.dir, 'warden.json'), JSON.stringify({ servers }));
  t.warden = await startWarden(['--config', path.join(t.dir, 'warden.json')]);
  t.url = `${t.warden.base}/mcp/old`;
  t.stop = async () => {
    assert.equal(await t.warden.stop(), 0, t.warden.stderr());
    await stop(t.server);
    fs.rmSync(t.dir, { recursive: true, force: true });
  };
  return t;
}

describe('a legacy SSE server answering under another spelling of the id', { timeout: 60000 }, () => {
  let t, url;
  before(async () => {
    t = await startBehind({ first_byte_timeout_ms: 1000 });
    url = t.url;
  });
  after(async () => t?.stop());

  test('the stray response reaches no stream: the request fails at its deadline', async () => {
    const init = await post(url, initialize(0));
    assert.equal(init.status, 200, init.text);
    const session = init.headers.get('mcp-session-id');
    assert.ok(session);
    const headers = { 'Mcp-Session-Id': session, 'MCP-Protocol-Version': '2025-06-18' };
    assert.equal((await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status, 202);
    // The client's GET stream, read in the background.
    const ac = new AbortController();
    const get = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal });
    assert.equal(get.status, 200);
    let seen = '';
    const reading = (async () => {
      const dec = new TextDecoder();
      try { for await (const chunk of get.body) seen += dec.decode(chunk); } catch { /* aborted */ }
    })();
    try {
      const call = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: {} } }, headers);
      assert.match(call.text, /did not answer within 1000 ms/);
      await sleep(200);
      assert.ok(!seen.includes('answered under a string id'), `the GET stream carried it: ${seen}`);
    } finally {
      ac.abort();
      await reading;
    }
  });
});

describe('a legacy SSE server\'s client stream with nothing to say', { timeout: 60000 }, () => {
  let t, url;
  before(async () => {
    t = await startBehind({ sse_idle_timeout_ms: 300 });
    url = t.url;
  });
  after(async () => t?.stop());

  test('ends at sse_idle_timeout_ms, as a stdio or HTTP server\'s does, and a new one opens', async () => {
    const init = await post(url, initialize(0));
    assert.equal(init.status, 200, init.text);
    const headers = { 'Mcp-Session-Id': init.headers.get('mcp-session-id'), 'MCP-Protocol-Version': '2025-06-18' };
    for (let round = 0; round < 2; round++) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 10000);
      const get = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal });
      assert.equal(get.status, 200);
      let ended = false;
      try {
        for await (const chunk of get.body) void chunk;
        ended = true;
      } catch { /* aborted: it never ended */ }
      clearTimeout(timer);
      assert.ok(ended, 'the idle stream did not end');
    }
    await t.warden.logged(/sent nothing for 300 ms/);
  });
});

