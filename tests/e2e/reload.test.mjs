// Hot reload end to end: an edit saved by rename takes effect within a
// second, a broken edit leaves the last good policy in force, SIGHUP
// reloads, and reloading in a loop under load drops no request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, until } from './lib/client.mjs';
import { startFixture, startWarden } from './lib/peers.mjs';

const denyEcho = (reason) => `return { on_call = function(call)
  if call.tool == 'echo' then return warden.deny(${JSON.stringify(reason)}) end
end }
`;

/* Saves like an editor that writes a temporary file and renames it over the original. */
function saveByRename(file, text) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.swp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

async function echoText(client) {
  const r = await client.callTool({ name: 'echo', arguments: { x: 1 } });
  return { refused: r.isError === true, text: r.content[0].text };
}


describe('hot reload', () => {
  let fixture, warden, dir, lua, json, client;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-reload-'));
    lua = path.join(dir, 'rules.lua');
    json = path.join(dir, 'rules.json');
    fs.writeFileSync(lua, denyEcho('first rule'));
    fs.writeFileSync(json, JSON.stringify({ version: '1', hide: [] }));
    fixture = await startFixture({ json: true });
    warden = await startWarden(['--upstream', fixture.url, '--policy', json, '--policy', lua]);
    ({ client } = await connect(warden.url));
  });
  after(async () => {
    await client.close();
    assert.equal(await warden.stop(), 0);
    await fixture.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an edit saved by rename takes effect within a second', async () => {
    assert.match((await echoText(client)).text, /first rule/);
    saveByRename(lua, denyEcho('second rule'));
    await until('the new rule', async () => /second rule/.test((await echoText(client)).text), 1000);
  });

  test('a broken edit leaves the last good policy in force, and says where', async () => {
    saveByRename(lua, 'return { on_call = function(call) return ( end }\n');
    await until('the error in the log', () => /rules\.lua:1:/.test(warden.stderr()));
    assert.match((await echoText(client)).text, /second rule/);
    saveByRename(json, '{"version": "1", "hide": ["echo"], "typo": true}');
    await until('the JSON error in the log', () => /rules\.json:1:36 \/typo: unknown field/.test(warden.stderr()));
    assert.match((await echoText(client)).text, /second rule/);
    fs.writeFileSync(json, JSON.stringify({ version: '1', hide: [] }));
    saveByRename(lua, denyEcho('third rule'));
    await until('the repaired rule', async () => /third rule/.test((await echoText(client)).text), 1000);
  });

  test('SIGHUP reloads', async () => {
    fs.writeFileSync(json, JSON.stringify({ version: '1', hide: ['echo'] }));
    warden.child.kill('SIGHUP');
    await until('echo hidden', async () => {
      try { await echoText(client); return false; } catch (e) { return /Unknown tool: echo/.test(e.message); }
    }, 1000);
    fs.writeFileSync(json, JSON.stringify({ version: '1', hide: [] }));
    warden.child.kill('SIGHUP');
    await until('echo back', async () => { try { await echoText(client); return true; } catch { return false; } }, 1000);
  });

  test('reloading in a loop under load drops no request and no connection', async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connect(warden.url)));
    let stop = false, reloads = 0;
    const reloader = (async () => {
      while (!stop) {
        saveByRename(lua, denyEcho(`rule ${reloads++}`));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let results;
    const seen = new Set();
    try {
      results = await Promise.all(clients.map(async ({ client: c }) => {
        let ok = 0;
        for (let i = 0; i < 100; i++) {
          const r = await c.callTool({ name: 'query_runs', arguments: { i } });
          if (r.isError === undefined) ok++;
          const e = await echoText(c);
          assert.ok(e.refused, e.text);   /* every generation refuses echo: none may let it through */
          seen.add(e.text.replace(/ \(policy.*/, ''));
        }
        return ok;
      }));
    } finally {
      stop = true;
      await reloader;
    }
    assert.ok(seen.size > 2, `calls saw ${seen.size} generations`);
    assert.deepEqual(results, [100, 100, 100, 100]);
    assert.ok(reloads > 10, `only ${reloads} reloads`);
    await warden.logged(/generation \d+ in force/);
    await Promise.all(clients.map(({ client: c }) => c.close()));
  });
});
