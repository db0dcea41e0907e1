// The config lifecycle end to end: SIGHUP re-reads the config file. A server
// added serves at once while a client of an existing server keeps its
// session and its open GET stream; a config changing the listen address, or
// one that does not parse, is refused with a log line and shown in
// /policies, and the config in force stays; a removed server answers 404.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, initialize, messages, post, until } from './lib/client.mjs';
import { freePort, run, stop, waitFor } from './lib/proc.mjs';
import { startFixture, wardenBin } from './lib/peers.mjs';

const accept = { Accept: 'application/json, text/event-stream' };

describe('config reload', () => {
  let fixture, child, dir, file, base, admin, port;
  let session, stream, streamText = '', streamEnded = false;
  const config = (servers, listenPort = port) => ({
    listen: `127.0.0.1:${listenPort}`, admin, workers: 2, servers,
  });
  const write = (c) => fs.writeFileSync(file, typeof c === 'string' ? c : JSON.stringify(c, null, 2));
  const one = () => ({ a: { url: fixture.url, policies: ['rules.json'] } });
  const two = () => ({ ...one(), b: { url: fixture.url } });
  const policies = async () => (await fetch(`http://${admin}/policies`, { signal: AbortSignal.timeout(5000) })).json();
  const call = (id) => post(`${base}/mcp/a`, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { x: id } } },
    { 'Mcp-Session-Id': session, 'Mcp-Protocol-Version': '2025-06-18' });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cfgreload-'));
    file = path.join(dir, 'warden.json');
    fs.writeFileSync(path.join(dir, 'rules.json'), JSON.stringify({ version: '1', hide: [] }));
    fixture = await startFixture();
    port = await freePort();
    admin = `127.0.0.1:${await freePort()}`;
    base = `http://127.0.0.1:${port}`;
    write(config(one()));
    child = run(wardenBin, ['--config', file]);
    await waitFor(child, 'warden', async () => (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200);

    // A session on server a with its GET stream open, read as it comes.
    const init = await post(`${base}/mcp/a`, initialize(1));
    assert.equal(init.status, 200);
    session = init.headers.get('mcp-session-id');
    assert.ok(session);
    const h = { 'Mcp-Session-Id': session, 'Mcp-Protocol-Version': '2025-06-18' };
    assert.equal((await post(`${base}/mcp/a`, { jsonrpc: '2.0', method: 'notifications/initialized' }, h)).status, 202);
    const ctl = new AbortController();
    const res = await fetch(`${base}/mcp/a`, { headers: { ...h, Accept: 'text/event-stream' }, signal: ctl.signal });
    assert.equal(res.status, 200);
    stream = { ctl };
    (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of res.body) streamText += dec.decode(chunk, { stream: true });
      } catch { /* aborted at the end */ }
      streamEnded = true;
    })();
  });
  after(async () => {
    stream?.ctl.abort();
    assert.equal(await stop(child), 0);
    await fixture.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an added server serves at once; the existing session keeps its session and its stream', async () => {
    assert.equal((await post(`${base}/mcp/b`, initialize(1))).status, 404);
    write(config(two()));
    child.kill('SIGHUP');
    await until('/mcp/b serving', async () => (await post(`${base}/mcp/b`, initialize(1))).status === 200);
    const { client } = await connect(`${base}/mcp/b`);
    assert.ok((await client.listTools()).tools.some((t) => t.name === 'echo'));
    await client.close();
    // Server a kept its runtime: the same session answers, and the open stream
    // carried the notice of its policies' new generation.
    const r = await call(7);
    assert.equal(r.status, 200);
    assert.match(messages(r.text)[0], /"id":7/);
    await until('the list_changed notice on the open stream', () => /notifications\/tools\/list_changed/.test(streamText));
    assert.equal(streamEnded, false);
    assert.match(child.stderrText(), /config .*warden\.json re-read: 1 server\(s\) added, 0 removed, 0 changed, 1 unchanged/);
    assert.equal((await policies()).last_reload.result, 'ok');
  });

  test('a changed listen address is refused with a log line, and everything keeps working', async () => {
    write(config(two(), await freePort()));
    child.kill('SIGHUP');
    await until('the refusal in the log', () => /the listen address cannot change while warden runs/.test(child.stderrText()));
    const p = await policies();
    assert.equal(p.last_reload.result, 'failed');
    assert.match(p.last_reload.error, /listen address/);
    assert.equal((await call(8)).status, 200);
    assert.equal((await post(`${base}/mcp/b`, initialize(1))).status, 200);
    assert.equal(streamEnded, false);
  });

  test('a config that does not parse is refused, named by file:line:col, and shown in /policies', async () => {
    write('{\n  "servers": {,\n}\n');
    child.kill('SIGHUP');
    await until('the parse error in the log', () => /warden\.json:2:\d+/.test(child.stderrText()));
    const p = await policies();
    assert.equal(p.last_reload.result, 'failed');
    assert.match(p.last_reload.error, /warden\.json:2:\d+/);
    assert.equal((await call(9)).status, 200);
    assert.equal((await post(`${base}/mcp/b`, initialize(1))).status, 200);
  });

  test('a changed server is replaced under its name; its client goes on; the others keep theirs', async () => {
    const { client, transport } = await connect(`${base}/mcp/b`);
    write(config({ ...one(), b: { url: fixture.url, headers: { 'X-Upstream-Token': 'blue' } } }));
    child.kill('SIGHUP');
    await until('the change applied', () => /0 removed, 1 changed, 1 unchanged/.test(child.stderrText()));
    await fixture.reset();
    const r = await client.callTool({ name: 'echo', arguments: { y: 1 } });
    assert.match(r.content[0].text, /"y":1/);
    // The same upstream session, through the new runtime with its header.
    const echo = (await fixture.calls()).find((c) => c.tool === 'echo');
    assert.equal(echo.headers['x-upstream-token'], 'blue');
    assert.ok(transport.sessionId);
    assert.equal(echo.headers['mcp-session-id'], transport.sessionId);
    await client.close();
    assert.equal((await call(11)).status, 200);
    assert.equal(streamEnded, false);
  });

  test('a removed server answers 404 to new requests; its call in flight finishes; the others keep serving', async () => {
    const { client } = await connect(`${base}/mcp/b`);
    let progressed = false;
    const slow = client.callTool({ name: 'slow_progress', arguments: { steps: 10 } }, undefined,
      { onprogress: () => { progressed = true; } });
    await until('the slow call under way', () => progressed);
    write(config(one()));
    child.kill('SIGHUP');
    await until('/mcp/b gone', async () => (await post(`${base}/mcp/b`, initialize(1))).status === 404);
    const r = await slow;
    assert.match(r.content[0].text, /slow_progress/);
    await client.close();
    assert.equal((await call(10)).status, 200);
    assert.equal(streamEnded, false);
    assert.deepEqual((await policies()).servers.map((s) => s.name), ['a']);
    await until('the retired runtime freed', () => /server b removed by a reload: its last exchange has ended/.test(child.stderrText()));
  });
});
