// TLS both ways with certificates made here by the openssl CLI
// (tests/tls/make-certs.sh): the SDK's server over node's https behind
// warden (verified against a server's "ca"; a wrong CA is refused), and the
// SDK client reaching warden's own TLS listener (trusting the CA; a client
// with the wrong CA is refused); SIGHUP renews the listener's certificate.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { connect, post, initialize } from './lib/client.mjs';
import { freePort, startWarden, stop, wardenBin } from './lib/peers.mjs';
import { portOpen, run, waitFor } from './lib/proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-tls-'));
const cert = (name) => path.join(dir, name);
let upstream;

before(async () => {
  execFileSync('sh', [path.join(repo, 'tests', 'tls', 'make-certs.sh'), dir]);
  const port = await freePort();
  const child = run(process.execPath, [path.join(here, 'lib', 'fixture-server.mjs')],
    { env: { PORT: String(port), TLS_CERT: cert('server.crt'), TLS_KEY: cert('server.key') } });
  await waitFor(child, 'https fixture', () => portOpen(port));
  upstream = { child, url: `https://localhost:${port}/mcp` };
});
after(async () => {
  await stop(upstream.child);
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name, server) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({ servers: { reg: server } }));
  return file;
}

test('an https upstream verified against its "ca" is reached through warden', async () => {
  const warden = await startWarden(['--config', writeConfig('good.json', { url: upstream.url, ca: cert('ca.crt') })]);
  try {
    const { client } = await connect(`${warden.base}/mcp/reg`);
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'echo'));
    const r = await client.callTool({ name: 'echo', arguments: { over: 'https' } });
    assert.deepEqual(JSON.parse(r.content[0].text), { tool: 'echo', args: { over: 'https' } });
    await client.close();
  } finally {
    assert.equal(await warden.stop(), 0);
  }
});

test('an https upstream whose certificate the CA did not sign is refused, with the reason', async () => {
  const warden = await startWarden(['--config', writeConfig('wrong.json', { url: upstream.url, ca: cert('wrongca.crt') })]);
  try {
    const r = await post(`${warden.base}/mcp/reg`, initialize());
    assert.match(r.text, /TLS handshake/);
    assert.match(r.text, /certificate/);
    await warden.logged(/unable to get local issuer certificate/);
  } finally {
    assert.equal(await warden.stop(), 0);
  }
});

test('a certificate from the right CA for another name is refused: the host name is checked', async () => {
  const port = await freePort();
  const other = run(process.execPath, [path.join(here, 'lib', 'fixture-server.mjs')],
    { env: { PORT: String(port), TLS_CERT: cert('other.crt'), TLS_KEY: cert('other.key') } });
  await waitFor(other, 'https fixture for other.example', () => portOpen(port));
  const warden = await startWarden(['--config', writeConfig('name.json', { url: `https://localhost:${port}/mcp`, ca: cert('ca.crt') })]);
  try {
    const r = await post(`${warden.base}/mcp/reg`, initialize());
    assert.match(r.text, /TLS handshake/);
    await warden.logged(/hostname mismatch/);
  } finally {
    assert.equal(await warden.stop(), 0);
    await stop(other);
  }
});

/* Warden with its own TLS listener; ready once /healthz answers over TLS. */
async function startTlsWarden(live) {
  const port = await freePort();
  const child = run(wardenBin, ['--config', writeConfig('listener.json', { url: upstream.url, ca: cert('ca.crt') }),
    '--tls-cert', live.crt, '--tls-key', live.key, '--listen', `127.0.0.1:${port}`]);
  const ca = fs.readFileSync(cert('ca.crt'));
  const healthy = () => new Promise((resolve) => {
    https.get({ host: '127.0.0.1', port, path: '/healthz', ca, servername: 'localhost' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on('error', () => resolve(false));
  });
  await waitFor(child, 'warden over TLS', healthy);
  return { child, port, url: `https://localhost:${port}/mcp/reg` };
}

/* The SDK client in a process that trusts caFile; resolves to {code, out, err}. */
function sdkClient(url, caFile) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, 'lib', 'sdk-call.mjs'), url],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
}

function peerName(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: fs.readFileSync(cert('ca.crt')) }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.end();
      resolve(cn);
    });
    s.on('error', reject);
  });
}

test("the SDK client reaches warden's TLS listener; one with the wrong CA is refused; SIGHUP renews the certificate", async () => {
  const live = { crt: cert('live.crt'), key: cert('live.key') };
  fs.copyFileSync(cert('server.crt'), live.crt);
  fs.copyFileSync(cert('server.key'), live.key);
  const warden = await startTlsWarden(live);
  try {
    const good = await sdkClient(warden.url, cert('ca.crt'));
    assert.equal(good.code, 0, good.err);
    assert.deepEqual(JSON.parse(JSON.parse(good.out).text), { tool: 'echo', args: { via: 'tls' } });

    const bad = await sdkClient(warden.url, cert('wrongca.crt'));
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify|self.signed|fetch failed/i);

    // TLS 1.1 is refused by the listener.
    await assert.rejects(new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: warden.port, maxVersion: 'TLSv1.1', minVersion: 'TLSv1',
        ca: fs.readFileSync(cert('ca.crt')), servername: 'localhost' }, () => { s.end(); resolve(); });
      s.on('error', reject);
    }));

    assert.equal(await peerName(warden.port), 'warden-test-server');
    fs.copyFileSync(cert('renewed.crt'), live.crt);
    fs.copyFileSync(cert('renewed.key'), live.key);
    warden.child.kill('SIGHUP');
    const deadline = Date.now() + 10000;
    let name;
    while (Date.now() < deadline && (name = await peerName(warden.port)) !== 'warden-test-renewed')
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(name, 'warden-test-renewed');
    const again = await sdkClient(warden.url, cert('ca.crt'));
    assert.equal(again.code, 0, again.err);
  } finally {
    assert.equal(await stop(warden.child), 0);
  }
});
