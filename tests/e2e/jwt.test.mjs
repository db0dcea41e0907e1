// JWT access tokens end to end: an issuer made here with node's crypto
// publishes its keys at a jwks_url that warden fetches; a token it signs
// lets the SDK client in (scopes and claims reach the policies), and
// expired, wrong-audience, wrong-issuer, alg none, HS256-with-the-RSA-public-
// key, bad-signature and unknown-kid tokens are each 401 invalid_token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { initialize, post } from './lib/client.mjs';
import { startFixture, startWarden } from './lib/peers.mjs';

const ISS = 'https://idp.test/realms/eng';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-jwt-'));
const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
let upstream, warden, url, jwks, jwksHits = 0;

const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

function sign(header, payload, key = privateKey) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra = {}) => ({ iss: ISS, aud: url, sub: 'alice', exp: now() + 300, scope: 'mcp:tools', ...extra });
const header = { alg: 'RS256', kid: 'k1', typ: 'JWT' };

before(async () => {
  jwks = http.createServer((req, res) => {
    jwksHits++;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }] }));
  });
  await new Promise((r) => jwks.listen(0, '127.0.0.1', r));
  upstream = await startFixture();
  fs.writeFileSync(path.join(dir, 'p.json'), JSON.stringify({
    version: '1',
    tools: { set_model_alias: { require: [{ principal: 'claims.groups', contains: 'ml-admins' }], reason: 'ML admins only' } },
  }));
  const config = path.join(dir, 'warden.json');
  // The audience is the resource warden serves; the port is known once warden runs, so it is
  // written with a fixed public_url.
  fs.writeFileSync(config, JSON.stringify({
    auth: {
      jwt: { issuer: ISS, audience: 'https://warden.test/mcp/reg', jwks_url: `http://127.0.0.1:${jwks.address().port}/certs`,
             algorithms: ['RS256'], required_scopes: ['mcp:tools'] },
      public_url: 'https://warden.test',
    },
    servers: { reg: { url: upstream.url, policies: ['p.json'] } },
  }));
  warden = await startWarden(['--config', config]);
  url = 'https://warden.test/mcp/reg';
});
after(async () => {
  assert.equal(await warden.stop(), 0);
  await upstream.stop();
  await new Promise((r) => jwks.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function sdkAs(token) {
  const client = new Client({ name: 'warden-e2e-jwt', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${warden.base}/mcp/reg`),
    { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client;
}

test('a token from the issuer lets the SDK client in; its claims reach the policies', async () => {
  const admin = await sdkAs(sign(header, claims({ groups: ['ml-admins'] })));
  const call = { name: 'set_model_alias', arguments: { name: 'm', alias: 'a', version: '1' } };
  assert.ok(!(await admin.callTool(call)).isError);
  await admin.close();
  const user = await sdkAs(sign(header, claims({ sub: 'bob', groups: ['ml'] })));
  const r = await user.callTool(call);
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /ML admins only/);
  await user.close();
  assert.ok(jwksHits >= 1);
});

test('every bad token is 401 invalid_token, with its own reason', async () => {
  const hmac = (() => {
    const pem = publicKey.export({ format: 'pem', type: 'spki' });
    const input = `${b64({ alg: 'HS256', kid: 'k1' })}.${b64(claims())}`;
    return `${input}.${crypto.createHmac('sha256', pem).update(input).digest('base64url')}`;
  })();
  const good = sign(header, claims());
  const cases = {
    'token expired': sign(header, claims({ exp: now() - 3600 })),
    'wrong audience': sign(header, claims({ aud: 'https://warden.test/mcp/other' })),
    'wrong issuer': sign(header, claims({ iss: 'https://evil.test' })),
    'unsigned token \\(alg none\\)': `${b64({ alg: 'none', kid: 'k1' })}.${b64(claims())}.AAAA`,
    'HMAC tokens are not accepted': hmac,
    'signature does not verify': sign(header, claims(), other.privateKey),
    'no key for this kid': sign({ ...header, kid: 'k2' }, claims(), other.privateKey),
    'the token lacks the scope mcp:tools': sign(header, claims({ scope: 'other' })),
  };
  for (const [reason, token] of Object.entries(cases)) {
    const r = await post(`${warden.base}/mcp/reg`, initialize(), { Authorization: `Bearer ${token}` });
    const scope = reason.startsWith('the token lacks');
    assert.equal(r.status, scope ? 403 : 401, reason);
    assert.match(r.headers.get('www-authenticate'),
      new RegExp(`^Bearer resource_metadata="https://warden.test/.well-known/oauth-protected-resource/mcp/reg", scope="mcp:tools", error="${scope ? 'insufficient_scope' : 'invalid_token'}", error_description="${reason}"$`));
  }
  const ok = await post(`${warden.base}/mcp/reg`, initialize(), { Authorization: `Bearer ${good}` });
  assert.equal(ok.status, 200);
  assert.ok(!warden.stderr().includes(good.split('.')[2]));
});
