// A stdio child inherits none of warden's descriptors. A client connection
// open when a child starts must still end when warden closes it: had the
// child a copy of the socket, the client would see no end and send its next
// request on a connection nobody reads (the SDK then waits for its timeout).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initialize, post } from './lib/client.mjs';
import { startWarden } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/* Sends one raw request on sock and resolves with what came back once the
 * answer is complete (a Content-Length body) or the connection ended. */
function exchange(sock, request) {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d) => {
      text += d.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const m = /content-length: *(\d+)/i.exec(text);
      if (head >= 0 && m && text.length >= head + 4 + Number(m[1])) done();
    };
    const done = () => { sock.off('data', onData); sock.off('error', reject); resolve(text); };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.write(request);
  });
}

describe('stdio children and client connections', { timeout: 30000 }, () => {
  let dir, warden;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-inherit-'));
    const config = path.join(dir, 'warden.json');
    fs.writeFileSync(config, JSON.stringify({ servers: { hostile: { command: [process.execPath, path.join(here, 'lib', 'hostile-child.mjs')] } } }));
    warden = await startWarden(['--config', config]);
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a connection open while a child starts ends when warden closes it', async () => {
    const sock = net.createConnection({ host: '127.0.0.1', port: warden.port });
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const ended = new Promise((resolve) => sock.once('end', resolve));
    try {
      const first = await exchange(sock, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.match(first, /^HTTP\/1\.1 200 /);
      /* A session starts its child while sock is open (and idle) in warden. */
      const init = await post(`${warden.base}/mcp/hostile`, initialize(0));
      assert.ok(init.headers.get('mcp-session-id'), warden.stderr());
      const last = await exchange(sock, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      assert.match(last, /^HTTP\/1\.1 200 /);
      const timeout = new Promise((resolve) => setTimeout(() => resolve('no end'), 5000).unref());
      assert.equal(await Promise.race([ended.then(() => 'ended'), timeout]), 'ended',
        'warden closed the connection, but a copy of it outlived the close');
    } finally {
      sock.destroy();
    }
  });
});
