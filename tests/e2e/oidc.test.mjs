// JWT access tokens from a real authorization server (npm oidc-provider,
// lib/oidc-as.mjs) through warden's jwks_url: its client_credentials tokens
// are accepted; tokens forged from its real key material (expired, wrong
// audience, wrong issuer, alg none, HS256 keyed with its RSA public key, a
// broken signature, an unknown kid) are 401. Then the official SDK client
// logs in by itself: it reads warden's 401 and RFC 9728 document, discovers
// the server, registers, runs authorization code + PKCE and ends in an
// authorized session through warden; its client_credentials provider (a
// service, no user) gets its token the same way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { initialize, post } from './lib/client.mjs';
import { followAuthorization, startAuthorizationServer } from './lib/oidc-as.mjs';
import { freePort, sleep, startFixture, startWarden } from './lib/peers.mjs';

const SCOPE = 'mcp:tools';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-oidc-'));
let as, upstream, warden, resource;

const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const parts = (t) => t.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url')));

before(async () => {
  const port = await freePort();
  resource = `http://127.0.0.1:${port}/mcp/reg`;
  as = await startAuthorizationServer({ resource, scope: SCOPE });
  upstream = await startFixture();
  const config = path.join(dir, 'warden.json');
  fs.writeFileSync(config, JSON.stringify({
    auth: {
      // A host name, so that the keys come through warden's own resolver (evdns, /etc/hosts).
      jwt: { issuer: as.issuer, audience: resource, jwks_url: as.jwksUri.replace('127.0.0.1', 'localhost'), algorithms: ['RS256'], required_scopes: [SCOPE] },
      resource_metadata: { authorization_servers: [as.issuer], scopes_supported: [SCOPE] },
    },
    servers: { reg: { url: upstream.url } },
  }));
  warden = await startWarden(['--config', config], { port });
});
after(async () => {
  assert.equal(await warden.stop(), 0);
  await upstream.stop();
  await as.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const initAs = (token) => post(`${warden.base}/mcp/reg`, initialize(), { Authorization: `Bearer ${token}` });

test('a client_credentials token from the authorization server is accepted through jwks_url', async () => {
  const token = await as.clientCredentials();
  const [header, claims] = parts(token);
  assert.equal(header.kid, as.kid);
  assert.equal(claims.aud, resource);
  const r = await initAs(token);
  assert.equal(r.status, 200);
  assert.ok(as.jwksTimes().length >= 1);
  assert.ok(!warden.stderr().includes(token.split('.')[2]));
});

test('tokens forged from the server\'s real key material are 401 invalid_token', async () => {
  const real = await as.clientCredentials();
  const [header, claims] = parts(real);
  const key = crypto.createPrivateKey({ key: as.privateJwk, format: 'jwk' });
  const sign = (h, c, k = key) => {
    const input = `${b64(h)}.${b64(c)}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), k).toString('base64url')}`;
  };
  const now = Math.floor(Date.now() / 1000);
  const publicPem = crypto.createPublicKey(key).export({ format: 'pem', type: 'spki' });
  const hmacInput = `${b64({ ...header, alg: 'HS256' })}.${b64(claims)}`;
  const [h64, c64, s64] = real.split('.');
  const sig = Buffer.from(s64, 'base64url');
  sig[10] ^= 1;
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  // The forgeries are signed with the real key (or keyed with the real
  // public key), so only the one thing each changes can refuse them.
  assert.equal((await initAs(sign(header, claims))).status, 200);
  const cases = {
    'token expired': sign(header, { ...claims, iat: now - 7200, exp: now - 3600 }),
    'wrong audience': sign(header, { ...claims, aud: `${resource}-other` }),
    'wrong issuer': sign(header, { ...claims, iss: 'http://127.0.0.1:1' }),
    // alg none as RFC 7519 writes it (an empty signature), and with bytes there.
    'not a compact JWS \\(three base64url parts\\)': `${b64({ ...header, alg: 'none' })}.${b64(claims)}.`,
    'unsigned token \\(alg none\\)': `${b64({ ...header, alg: 'none' })}.${b64(claims)}.${s64}`,
    'HMAC tokens are not accepted': `${hmacInput}.${crypto.createHmac('sha256', publicPem).update(hmacInput).digest('base64url')}`,
    'signature does not verify': `${h64}.${c64}.${sig.toString('base64url')}`,
    'no key for this kid': sign({ ...header, kid: 'k-unknown' }, claims, other),
  };
  for (const [reason, token] of Object.entries(cases)) {
    const r = await initAs(token);
    assert.equal(r.status, 401, reason);
    assert.match(r.headers.get('www-authenticate'), new RegExp(
      `^Bearer resource_metadata="http://127.0.0.1:${warden.port}/.well-known/oauth-protected-resource/mcp/reg", ` +
      `scope="${SCOPE}", error="invalid_token", error_description="${reason}"`), reason);
  }
});

test('unknown kids ask for the key set again at most once a minute', async () => {
  const before = as.jwksTimes().length;
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const claims = parts(await as.clientCredentials())[1];
  for (let i = 0; i < 5; i++) {
    const input = `${b64({ alg: 'RS256', kid: `rotated-${i}` })}.${b64(claims)}`;
    const r = await initAs(`${input}.${crypto.sign('sha256', Buffer.from(input), other).toString('base64url')}`);
    assert.equal(r.status, 401);
  }
  await sleep(500);
  // The asks (here and in the tests before) are merged into at most one
  // fetch, a minute after the last one: never two fetches within the minute.
  const times = as.jwksTimes();
  assert.ok(times.length <= before + 1, `${times.length - before} fetches for 5 unknown kids`);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] > 55000, `fetches ${i - 1} and ${i} within a minute`);
});

/* An OAuthClientProvider as a headless app would write it: memory storage,
 * and a "browser" that follows the authorization URL to the redirect. */
class HeadlessProvider {
  constructor() {
    this.redirectUri = 'http://127.0.0.1:9/callback';
    this.saved = {};
    this.authorizationUrl = null;
  }
  get redirectUrl() { return this.redirectUri; }
  get clientMetadata() {
    return {
      client_name: 'warden-e2e-sdk', redirect_uris: [this.redirectUri], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none', application_type: 'native',
    };
  }
  clientInformation() { return this.saved.client; }
  saveClientInformation(info) { this.saved.client = info; }
  tokens() { return this.saved.tokens; }
  saveTokens(tokens) { this.saved.tokens = tokens; }
  redirectToAuthorization(url) { this.authorizationUrl = url; }
  saveCodeVerifier(v) { this.saved.verifier = v; }
  codeVerifier() { return this.saved.verifier; }
}

test('the SDK client logs in through warden\'s 401 and metadata and ends in an authorized session', async () => {
  const url = new URL(`${warden.base}/mcp/reg`);
  const provider = new HeadlessProvider();
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
  await assert.rejects(new Client({ name: 'warden-e2e-oidc', version: '1.0.0' }).connect(first), UnauthorizedError);
  assert.ok(provider.saved.client?.client_id, 'the SDK registered itself at the authorization server');
  const asked = provider.authorizationUrl;
  assert.ok(asked?.href.startsWith(`${as.issuer}/`), String(asked));
  assert.equal(asked.searchParams.get('resource'), resource);
  assert.equal(asked.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(asked.searchParams.get('scope'), SCOPE);

  const back = await followAuthorization(asked, provider.redirectUri);
  const code = back.searchParams.get('code');
  assert.ok(code, back.href);
  await first.finishAuth(code);
  const [, claims] = parts(provider.saved.tokens.access_token);
  assert.equal(claims.aud, resource);
  assert.equal(claims.sub, 'alice');

  const client = new Client({ name: 'warden-e2e-oidc', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'));
  const r = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
  assert.ok(!r.isError, JSON.stringify(r));
  await client.close();
  assert.ok(!warden.stderr().includes(provider.saved.tokens.access_token.split('.')[2]));
});

test('the SDK client\'s client_credentials provider gets its own token from warden\'s 401 and connects', async () => {
  // The SDK's client_credentials grant asks for the provider's own scope, not the one in
  // warden's challenge: without it the token has none, and warden answers 403 insufficient_scope.
  const provider = new ClientCredentialsProvider({ clientId: as.clientId, clientSecret: as.clientSecret,
                                                   scope: SCOPE, expectedIssuer: as.issuer });
  const client = new Client({ name: 'warden-e2e-oidc-service', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${warden.base}/mcp/reg`), { authProvider: provider }));
  const token = provider.tokens()?.access_token;
  assert.ok(token, 'the SDK fetched a token');
  assert.equal(parts(token)[1].sub, as.clientId);
  assert.ok(!(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).isError);
  await client.close();
});

test('an https jwks_url named by host is resolved and verified: the right certificate serves keys, a wrong host none', async () => {
  const certs = path.join(dir, 'certs');
  execFileSync('sh', [path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'tls', 'make-certs.sh'), certs]);
  const keys = await (await fetch(as.jwksUri)).text();
  const token = await as.clientCredentials();
  for (const [leaf, status, reason] of [['server', 200, null], ['other', 401, 'no signing keys available']]) {
    // The authorization server's keys, served over https by name (localhost) with a
    // certificate from the test CA, which warden trusts through OpenSSL's SSL_CERT_FILE.
    const mirror = https.createServer({ cert: fs.readFileSync(path.join(certs, `${leaf}.crt`)),
                                        key: fs.readFileSync(path.join(certs, `${leaf}.key`)) },
                                      (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(keys); });
    await new Promise((r) => mirror.listen(0, '127.0.0.1', r));
    const config = path.join(dir, `https-${leaf}.json`);
    fs.writeFileSync(config, JSON.stringify({
      auth: { jwt: { issuer: as.issuer, audience: resource, jwks_url: `https://localhost:${mirror.address().port}/jwks`,
                     algorithms: ['RS256'] } },
      servers: { reg: { url: upstream.url } },
    }));
    const w = await startWarden(['--config', config], { env: { SSL_CERT_FILE: path.join(certs, 'ca.crt') } });
    try {
      let r;
      for (let i = 0; i < 50; i++) {    // the first fetch runs beside the listener's start
        r = await post(`${w.base}/mcp/reg`, initialize(), { Authorization: `Bearer ${token}` });
        if (r.status === status && (status === 200 || /jwks .*(no answer|TLS)/.test(w.stderr()))) break;
        await sleep(100);
      }
      assert.equal(r.status, status, leaf);
      if (reason) {
        assert.match(r.headers.get('www-authenticate'), new RegExp(`error_description="${reason}"`));
        await w.logged(/jwks https:\/\/localhost:\d+\/jwks: no answer/);
      }
    } finally {
      assert.equal(await w.stop(), 0);
      await new Promise((r) => { mirror.closeAllConnections(); mirror.close(r); });
    }
  }
});
