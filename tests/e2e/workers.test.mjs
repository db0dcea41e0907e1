// Several workers share one listening socket; rate limits and
// sessions stay correct across them: a limit of 10 admits exactly 10.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { initialize, messages, post } from './lib/client.mjs';
import { startFixture, startWarden } from './lib/peers.mjs';

let fixture, warden;
before(async () => {
  fixture = await startFixture({ json: true });
  warden = await startWarden(['--upstream', fixture.url, '--workers', '4', '--policy',
    new URL('./policies/limit10.json', import.meta.url).pathname]);
});
after(async () => {
  assert.equal(await warden.stop(), 0);
  await fixture.stop();
});

test('a limit of 10 holds at exactly 10 across 4 workers', async () => {
  const init = await post(warden.url, initialize());
  const sid = init.headers.get('mcp-session-id');
  await post(warden.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'Mcp-Session-Id': sid });
  await fixture.reset();
  // 60 calls at once, each on a connection of its own, spread over the workers by the kernel
  const agent = new http.Agent({ keepAlive: false, maxSockets: 60 });
  const calls = Array.from({ length: 60 }, (_, i) => new Promise((resolve, reject) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'query_runs', arguments: { i } } });
    const req = http.request(warden.url, {
      method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sid,
        'MCP-Protocol-Version': '2025-06-18', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(JSON.parse(messages(text)[0])));
    });
    req.on('error', reject);
    req.end(body);
  }));
  const answers = await Promise.all(calls);
  const allowed = answers.filter((a) => !a.result?.isError);
  const limited = answers.filter((a) => a.result?.isError && /rate limited/.test(a.result.content[0].text));
  assert.equal(allowed.length, 10);
  assert.equal(limited.length, 50);
  const arrived = (await fixture.calls()).filter((c) => c.tool === 'query_runs');
  assert.equal(arrived.length, 10);
  agent.destroy();
});
