// Old HTTP+SSE servers behind warden ("transport": "sse"): server-everything
// in its `sse` mode answers a Streamable HTTP client and the SDK 1.x
// SSEClientTransport through warden, with the policies holding; an endpoint
// event naming another host is refused and nothing is POSTed anywhere.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort, startEverything, startWarden, stop } from './lib/peers.mjs';
import { portOpen, run, waitFor } from './lib/proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

async function startWardenFor(url, policy, extra = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-legacy-up-'));
  const servers = { old: { url, transport: 'sse', ...extra } };
  if (policy) {
    fs.writeFileSync(path.join(dir, 'p.json'), JSON.stringify(policy));
    servers.old.policies = ['p.json'];
  }
  // Asked for 4 workers: warden runs one, where the upstream sessions live.
  fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({ workers: 4, servers }));
  const w = await startWarden(['--config', path.join(dir, 'warden.json')]);
  w.dir = dir;
  return w;
}

describe('server-everything over legacy HTTP+SSE, behind warden', { timeout: 90000 }, () => {
  let everything, warden;
  const policy = { version: '1', hide: ['get-env'], tools: { 'get-sum': { action: 'deny', reason: 'no sums today' } } };
  before(async () => {
    everything = await startEverything('sse');
    warden = await startWardenFor(everything.url, policy);
  });
  after(async () => {
    assert.equal(await stop(warden.child), 0, warden.child.output());
    await everything.stop();
    fs.rmSync(warden.dir, { recursive: true, force: true });
  });

  for (const [name, make] of [
    ['Streamable HTTP', (u) => new StreamableHTTPClientTransport(new URL(u))],
    ['legacy SSE', (u) => new SSEClientTransport(new URL(`${u}/sse`))],
  ]) {
    test(`a ${name} client lists, calls, and the policy holds`, async () => {
      const client = new Client({ name: 'warden-e2e', version: '1.0.0' });
      await client.connect(make(`${warden.base}/mcp/old`));
      try {
        const tools = (await client.listTools()).tools.map((t) => t.name);
        assert.ok(tools.includes('echo'), tools.join(','));
        assert.ok(!tools.includes('get-env'));
        const r = await client.callTool({ name: 'echo', arguments: { message: 'old server' } });
        assert.match(JSON.stringify(r.content), /old server/);
        await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }), (e) => e.code === -32602);
        const denied = await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
        assert.equal(denied.isError, true);
        assert.match(denied.content[0].text, /no sums today/);
      } finally {
        await client.close();
      }
    });
  }
});

describe('an endpoint event naming another host', { timeout: 60000 }, () => {
  let evil, server, warden;
  before(async () => {
    // The "other host": a second listener the endpoint names by another address.
    const evilPort = await freePort();
    evil = run(process.execPath, [path.join(here, 'lib', 'sse-endpoint-server.mjs'), 'unused'], { env: { PORT: String(evilPort) } });
    await waitFor(evil, 'evil', () => portOpen(evilPort));
    const port = await freePort();
    server = run(process.execPath, [path.join(here, 'lib', 'sse-endpoint-server.mjs'), `http://localhost:${evilPort}/message`], { env: { PORT: String(port) } });
    await waitFor(server, 'server', () => portOpen(port));
    server.port = port;
    evil.port = evilPort;
    warden = await startWardenFor(`http://127.0.0.1:${port}/sse`);
  });
  after(async () => {
    assert.equal(await stop(warden.child), 0, warden.child.output());
    await stop(server);
    await stop(evil);
    fs.rmSync(warden.dir, { recursive: true, force: true });
  });

  test('is refused: the client gets an error, nothing is POSTed', async () => {
    const client = new Client({ name: 'warden-e2e', version: '1.0.0' });
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(`${warden.base}/mcp/old`))),
      /another origin/);
    for (const p of [server.port, evil.port]) {
      const got = await (await fetch(`http://127.0.0.1:${p}/__posts`)).json();
      assert.equal(got.posts, 0);
    }
    await warden.logged(/refused the endpoint event 'http:\/\/localhost:\d+\/message'/);
  });
});

describe('an old server that takes messages and never answers', { timeout: 60000 }, () => {
  let server, warden;
  before(async () => {
    const port = await freePort();
    server = run(process.execPath, [path.join(here, 'lib', 'sse-endpoint-server.mjs'), '/message?sessionId=1'], { env: { PORT: String(port) } });
    await waitFor(server, 'server', () => portOpen(port));
    server.port = port;
    warden = await startWardenFor(`http://127.0.0.1:${port}/sse`, null, { first_byte_timeout_ms: 500 });
  });
  after(async () => {
    assert.equal(await stop(warden.child), 0, warden.child.output());
    await stop(server);
    fs.rmSync(warden.dir, { recursive: true, force: true });
  });

  test('the request is POSTed to the same-origin endpoint and fails at its deadline, naming the server', async () => {
    const client = new Client({ name: 'warden-e2e', version: '1.0.0' });
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(`${warden.base}/mcp/old`))),
      /upstream server 'old'.*did not answer within 500 ms/);
    const got = await (await fetch(`http://127.0.0.1:${server.port}/__posts`)).json();
    assert.equal(got.posts, 1);
    assert.equal((await fetch(`${warden.base}/healthz`)).status, 200);
  });
});
