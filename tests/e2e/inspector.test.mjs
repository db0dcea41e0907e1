// The MCP Inspector's CLI (the tool the README walks people through) against
// warden: it must print what it prints against the server directly, and a
// policy must show in what it prints.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFixture, startWarden } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// The CLI must run from its own build/ folder (see mcp-notes.md).
const cliDir = path.join(here, 'node_modules', '@modelcontextprotocol', 'inspector-cli', 'build');

/* Runs the CLI against url; resolves to its stdout parsed as JSON. */
function inspect(url, ...args) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['index.js', url, '--transport', 'http', ...args], { cwd: cliDir, timeout: 15000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`inspector-cli ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout));
      });
  });
}

describe('inspector-cli through warden', { timeout: 45000 }, () => {
  let fixture, warden, guarded;
  before(async () => {
    fixture = await startFixture();
    warden = await startWarden(['--upstream', fixture.url]);
    guarded = await startWarden(['--upstream', fixture.url, '--policy', path.join(here, 'policies', 'fixture.json')]);
  });
  after(async () => {
    for (const w of [warden, guarded]) if (w) assert.equal(await w.stop(), 0, w.stderr());
    await fixture?.stop();
  });

  test('tools/list and tools/call print the same as directly', async () => {
    const list = await inspect(warden.url, '--method', 'tools/list');
    assert.deepEqual(list, await inspect(fixture.url, '--method', 'tools/list'));
    assert.ok(list.tools.some((t) => t.name === 'get_env'));
    const call = ['--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'word=hi'];
    const echo = await inspect(warden.url, ...call);
    assert.deepEqual(echo, await inspect(fixture.url, ...call));
    assert.deepEqual(JSON.parse(echo.content[0].text), { tool: 'echo', args: { word: 'hi' } });
  });

  test('with the fixture policy, hidden tools are not listed and a denial is readable', async () => {
    const list = await inspect(guarded.url, '--method', 'tools/list');
    const names = list.tools.map((t) => t.name);
    assert.ok(names.includes('echo'));
    assert.ok(!names.includes('get_env') && !names.some((n) => n.startsWith('debug_')), names.join(' '));
    const denied = await inspect(guarded.url, '--method', 'tools/call', '--tool-name', 'delete_registered_model', '--tool-arg', 'name=m');
    assert.equal(denied.isError, true);
    assert.match(denied.content[0].text, /models are deleted by people/);
  });
});
