// The processes of an end-to-end test, in one import: warden itself, our
// fixture servers and the reference server-everything, all on 127.0.0.1,
// each a separate process like a real upstream.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, portOpen, run, stop, waitFor } from './proc.mjs';

export { freePort, stop, sleep } from './proc.mjs';
export { startWarden, wardenBin } from './warden.mjs';
export { startEverything } from './everything.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

async function startNode(script, what, args = []) {
  const port = await freePort();
  const child = run(process.execPath, [path.join(here, script), ...args], { env: { PORT: String(port) } });
  await waitFor(child, what, () => portOpen(port));
  const base = `http://127.0.0.1:${port}`;
  return { child, port, base, url: `${base}/mcp`, stop: (ms) => stop(child, ms) };
}

/* Our MCP server (fixture-server.mjs); json: answer requests with one JSON
 * object instead of an SSE stream. calls() is what it received, reset() clears. */
export async function startFixture({ json = false } = {}) {
  const f = await startNode('fixture-server.mjs', 'fixture server', json ? ['--json'] : []);
  f.calls = async () => (await fetch(`${f.base}/__calls`, { signal: AbortSignal.timeout(5000) })).json();
  f.reset = async () => { await fetch(`${f.base}/__calls`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }); };
  return f;
}

/* The raw-id server (raw-id-server.mjs); sse: answer as an event stream. */
export function startRawIdServer({ sse = false } = {}) {
  return startNode('raw-id-server.mjs', 'raw-id server', sse ? ['--sse'] : []);
}

/* The 2026-07-28 server (modern-server.mjs, SDK v2). calls() is what it
 * received (method, tool, Mcp-Method, Mcp-Name), reset() clears. */
export async function startModern() {
  const f = await startNode('modern-server.mjs', 'modern server');
  f.calls = async () => (await fetch(`${f.base}/__calls`, { signal: AbortSignal.timeout(5000) })).json();
  f.reset = async () => { await fetch(`${f.base}/__calls`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }); };
  return f;
}
