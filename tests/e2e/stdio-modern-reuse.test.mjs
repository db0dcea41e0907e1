// Session-less 2026-07-28 requests share stateless stdio children, one
// request at a time (upstream_stdio.c, idle_modern_child). A child whose
// request left without its answer (its client went away, or its deadline
// passed) is still working on it: handed the next client's request, it would
// answer that one with the abandoned call's answer as soon as the ids match
// (every SDK client counts from 0), one client's data in another's answer.
// Such a child must not serve anyone else.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { messages } from './lib/client.mjs';
import { startWarden, sleep } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = [process.execPath, path.join(here, 'lib', 'slow-modern-child.mjs')];
const MODERN = '2026-07-28';

/* A session-less 2026-07-28 tools/call of "sleep" with id 1. */
function call(url, args, signal) {
  return fetch(url, {
    method: 'POST', signal,
    headers: {
      'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': MODERN, 'Mcp-Method': 'tools/call', 'Mcp-Name': 'sleep',
    },
    body: JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'tools/call',
      params: { name: 'sleep', arguments: args, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } },
    }),
  });
}

describe('stdio: a stateless child with an abandoned call', { timeout: 60000 }, () => {
  let dir, warden, url;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-modern-reuse-'));
    const config = path.join(dir, 'warden.json');
    fs.writeFileSync(config, JSON.stringify({ servers: { slow: { command: child, first_byte_timeout_ms: 2000 } } }));
    warden = await startWarden(['--config', config]);
    url = `${warden.base}/mcp/slow`;
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /* A's answer comes in aMs, after A has gone (abandon); then B, another
   * client with the same id, whose own answer takes 1500 ms: B must get
   * that one, never A's. */
  const check = async (aMs, abandon) => {
    const ac = new AbortController();
    const a = await call(url, { ms: aMs, tag: 'secret of A' }, ac.signal);
    assert.equal(a.status, 200);
    await abandon(a, ac);
    try {
      const b = await call(url, { ms: 1500, tag: 'answer for B' }, AbortSignal.timeout(10000));
      const got = messages(await b.text()).map((m) => JSON.parse(m));
      assert.deepEqual(got.map((m) => m.result?.content?.[0]?.text ?? m.error?.message), ['answer for B']);
    } finally {
      await sleep(2000);   // nothing of this test's left for the next one
    }
  };

  test('a call whose client left does not hand its answer to the next client', async () => {
    await check(1200, async (a, ac) => { ac.abort(); await sleep(300); });
  });

  test('a call past its deadline does not hand its answer to the next client', async () => {
    await check(3000, async (a) => {
      assert.match(await a.text(), /did not answer within 2000 ms/);   // the deadline ends A first
    });
  });
});
