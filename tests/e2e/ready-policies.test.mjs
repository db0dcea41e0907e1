// policies/everything.json in front of the real server-everything: its
// get-env tool (the server's whole environment) is gone for agents.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from './lib/client.mjs';
import { startEverything, startWarden } from './lib/peers.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let everything, warden, client;

before(async () => {
  everything = await startEverything();
  warden = await startWarden(['--upstream', everything.url, '--policy', path.join(repo, 'policies', 'everything.json')]);
  ({ client } = await connect(warden.url));
});
after(async () => {
  await client.close();
  assert.equal(await warden.stop(), 0);
  await everything.stop();
});

test('get-env is not listed and cannot be called; echo still works', async () => {
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'));
  assert.ok(!tools.some((t) => t.name === 'get-env'));
  await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }), /Unknown tool: get-env/);
  const r = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
  assert.equal(r.content[0].text, 'Echo: hi');
});

test('a long operation over 30 s is refused before it reaches the server', async () => {
  const r = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 600, steps: 2 } });
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /capped at 30 seconds/);
});
