// A real OAuth 2.1 / OpenID authorization server for the JWT tests: npm
// oidc-provider (8.8.1: the 9.x line asks for Node 22) on 127.0.0.1, issuing
// RS256 JWT access tokens for one resource (warden's MCP URL, the token's
// `aud`) through resource indicators, with its keys at its jwks_uri. Grants: client_credentials (a configured
// confidential client) and authorization code + PKCE (clients register
// themselves, RFC 7591, as the MCP SDK does). The login and consent steps
// finish by themselves: an /interaction/UID request logs in `account` and
// grants what was asked, so a test can follow the redirects headlessly.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

/* Starts the server for `resource`. Resolves to {issuer, jwksUri, tokenUrl,
 * clientId, clientSecret, privateJwk, kid, jwksTimes(), clientCredentials(),
 * stop()}. */
export async function startAuthorizationServer({ resource, scope = 'mcp:tools', account = 'alice' }) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `k-${crypto.randomBytes(4).toString('hex')}`;
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const server = http.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const clientId = 'warden-e2e-service';
  const clientSecret = crypto.randomBytes(24).toString('base64url');

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId, client_secret: clientSecret,
      grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [privateJwk] },
    scopes: ['openid', 'offline_access', scope],
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== resource) throw new Provider.errors.InvalidTarget();
          return { scope, audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    pkce: { required: () => true },
    ttl: { ClientCredentials: 300, AccessToken: 300 },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  provider.on('server_error', (ctx, err) => console.error('oidc-provider:', err));
  const callback = provider.callback();

  // Logs in `account` and grants every scope and resource asked for.
  async function interact(req, res) {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details;
    let result;
    if (prompt.name === 'login') {
      result = { login: { accountId: account } };
    } else {
      const grant = details.grantId ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      for (const [ind, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
        grant.addResourceScope(ind, scopes.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }

  const jwksTimes = [];    // when each key set fetch arrived (ms, monotonic)
  server.on('request', (req, res) => {
    if (req.url === '/jwks') jwksTimes.push(performance.now());
    if (req.url.startsWith('/interaction/')) {
      interact(req, res).catch((err) => { res.statusCode = 500; res.end(String(err)); });
    } else {
      callback(req, res);
    }
  });

  return {
    issuer, kid, privateJwk, clientId, clientSecret,
    jwksUri: `${issuer}/jwks`,
    jwksTimes: () => [...jwksTimes],
    tokenUrl: `${issuer}/token`,
    /* A token for the service client, through the token endpoint. */
    async clientCredentials() {
      const r = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
      });
      const body = await r.json();
      if (r.status !== 200) throw new Error(`token endpoint: ${r.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    stop: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

/* Follows an authorization URL the way a browser would (cookies kept, every
 * redirect taken) until the server redirects to `redirectUri`; resolves to
 * that redirect's URL (with ?code=... or ?error=...). */
export async function followAuthorization(authorizationUrl, redirectUri) {
  const jar = new Map();
  let url = String(authorizationUrl);
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(redirectUri)) return new URL(url);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const r = await fetch(url, { redirect: 'manual', headers: cookie ? { Cookie: cookie } : {} });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
    }
    const loc = r.headers.get('location');
    if (!loc) throw new Error(`authorization stopped at ${url}: ${r.status} ${await r.text()}`);
    url = new URL(loc, url).toString();
  }
  throw new Error('too many redirects during authorization');
}
