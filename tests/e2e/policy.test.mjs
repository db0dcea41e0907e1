// JSON policies end to end, with the official SDK client and a fixture that
// records what reaches it: hidden tools vanish from every page and cannot be
// called, denied calls never arrive, limits count per session.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, listAllPages } from './lib/client.mjs';
import { startFixture, startWarden, stop } from './lib/peers.mjs';

const policy = new URL('./policies/fixture.json', import.meta.url).pathname;

for (const json of [false, true]) {
  describe(`policies, fixture answering in ${json ? 'JSON' : 'SSE'}`, { timeout: 30000 }, () => {
    let fixture, warden, calls;
    before(async () => {
      fixture = await startFixture({ json });
      warden = await startWarden(['--upstream', fixture.url, '--policy', policy]);
      const base = fixture.url.replace('/mcp', '');
      calls = async () => (await fetch(`${base}/__calls`)).json();
      calls.reset = () => fetch(`${base}/__calls`, { method: 'DELETE' });
    });
    after(async () => {
      assert.equal(await stop(warden.child), 0, warden.child.output());
      await stop(fixture.child);
    });
    beforeEach(async () => { await calls.reset(); });

    test('hidden tools vanish from every page; the rest and nextCursor stay', async () => {
      const direct = await connect(fixture.url);
      const through = await connect(warden.url);
      try {
        const want = (await listAllPages(direct.client)).map((p) => ({
          ...p, tools: p.tools.filter((t) => t.name !== 'get_env' && !t.name.startsWith('debug_')),
        }));
        const got = await listAllPages(through.client);
        assert.deepEqual(got, want);
        assert.ok(got.flatMap((p) => p.tools).length === 23);
      } finally {
        await direct.client.close();
        await through.client.close();
      }
    });

    test('a hidden tool answers like a tool that does not exist, and never arrives', async () => {
      const { client } = await connect(warden.url);
      try {
        await assert.rejects(client.callTool({ name: 'get_env', arguments: {} }), (e) => e.code === -32602 && /Unknown tool: get_env/.test(e.message));
        await assert.rejects(client.callTool({ name: 'debug_dump', arguments: {} }), (e) => e.code === -32602);
        assert.deepEqual((await calls()).filter((c) => c.method === 'tools/call'), []);
      } finally {
        await client.close();
      }
    });

    test('a denied call is answered as a tool error with the reason, and never arrives', async () => {
      const { client } = await connect(warden.url);
      try {
        const r = await client.callTool({ name: 'delete_registered_model', arguments: { name: 'fraud-detector' } });
        assert.equal(r.isError, true);
        assert.match(r.content[0].text, /models are deleted by people/);
        assert.deepEqual((await calls()).filter((c) => c.method === 'tools/call'), []);
      } finally {
        await client.close();
      }
    });

    test('the protected alias is refused while another passes', async () => {
      const { client } = await connect(warden.url);
      try {
        const champion = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'm', alias: 'champion' } });
        assert.equal(champion.isError, true);
        assert.match(champion.content[0].text, /protected alias/);
        const challenger = await client.callTool({ name: 'delete_model_alias', arguments: { name: 'm', alias: 'challenger' } });
        assert.equal(challenger.isError, undefined);
        const arrived = (await calls()).filter((c) => c.method === 'tools/call');
        assert.deepEqual(arrived.map((c) => c.arguments.alias), ['challenger']);
      } finally {
        await client.close();
      }
    });

    test('the fourth call in the window is refused; a new session starts fresh', async () => {
      const first = await connect(warden.url);
      const second = await connect(warden.url);
      try {
        for (let i = 0; i < 3; i++) {
          const r = await first.client.callTool({ name: 'query_runs', arguments: { i } });
          assert.equal(r.isError, undefined);
        }
        const fourth = await first.client.callTool({ name: 'query_runs', arguments: { i: 3 } });
        assert.equal(fourth.isError, true);
        assert.match(fourth.content[0].text, /rate limited.*retry in/);
        const fresh = await second.client.callTool({ name: 'query_runs', arguments: { i: 0 } });
        assert.equal(fresh.isError, undefined);
        assert.equal((await calls()).filter((c) => c.tool === 'query_runs').length, 4);
      } finally {
        await first.client.close();
        await second.client.close();
      }
    });
  });
}
