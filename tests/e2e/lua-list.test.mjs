// A Lua on_list end to end, with the official SDK client: the script reads
// each tool's name, description and annotations (converted when read) and
// walks one with pairs; the tools it drops vanish from every page while
// nextCursor stays; a failing on_list shows no tool (fail closed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, listAllPages } from './lib/client.mjs';
import { startFixture, startWarden, stop } from './lib/peers.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-lua-list-'));
const keeps = path.join(dir, 'keeps.lua');
fs.writeFileSync(keeps, `
return {
  on_call = function(call) end,
  on_list = function(tools, ctx)
    local keep = {}
    for _, t in ipairs(tools) do
      if t.name == 'query_runs' then
        local n = 0
        for k in pairs(t) do n = n + 1 end
        if n ~= 3 then error('pairs saw ' .. n .. ' fields') end
      end
      if t.annotations.destructiveHint == false and t.description == 'fixture tool ' .. t.name
         and t.name:sub(1, 6) ~= 'tool_1' then
        keep[#keep + 1] = t
      end
    end
    return keep
  end,
}
`);
const fails = path.join(dir, 'fails.lua');
fs.writeFileSync(fails, `
return {
  on_call = function(call) end,
  on_list = function(tools) if #tools > 0 then local _ = tools[1].description error('no list today') end return tools end,
}
`);

for (const json of [false, true]) {
  describe(`Lua on_list, fixture answering in ${json ? 'JSON' : 'SSE'}`, { timeout: 30000 }, () => {
    let fixture, warden, failing;
    before(async () => {
      fixture = await startFixture({ json });
      warden = await startWarden(['--upstream', fixture.url, '--policy', keeps]);
      failing = await startWarden(['--upstream', fixture.url, '--policy', fails]);
    });
    after(async () => {
      assert.equal(await stop(warden.child), 0, warden.child.output());
      assert.equal(await stop(failing.child), 0, failing.child.output());
      await stop(fixture.child);
    });

    test('the tools on_list drops vanish from every page; the rest and nextCursor stay', async () => {
      const direct = await connect(fixture.url);
      const through = await connect(warden.url);
      try {
        const want = (await listAllPages(direct.client)).map((p) => ({
          ...p, tools: p.tools.filter((t) => !t.annotations.destructiveHint && !t.name.startsWith('tool_1')),
        }));
        const got = await listAllPages(through.client);
        assert.deepEqual(got, want);
        assert.equal(got.length, 3);
        assert.ok(got.flatMap((p) => p.tools).some((t) => t.name === 'query_runs'));
      } finally {
        await direct.client.close();
        await through.client.close();
      }
    });

    test('a failing on_list shows no tool, and the pages still link', async () => {
      const { client } = await connect(failing.url);
      try {
        const pages = await listAllPages(client);
        assert.equal(pages.length, 3);
        assert.deepEqual(pages.flatMap((p) => p.tools), []);
      } finally {
        await client.close();
      }
    });
  });
}

after(() => fs.rmSync(dir, { recursive: true, force: true }));
