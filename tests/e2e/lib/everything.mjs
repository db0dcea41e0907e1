// The reference server, @modelcontextprotocol/server-everything, over
// Streamable HTTP. It listens on all interfaces; a preloaded script pins it
// to 127.0.0.1 (tests open no port beyond loopback).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, portOpen, run, stop, waitFor } from './proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = path.join(here, '..', 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

/* mode 'sse': the deprecated HTTP+SSE transport, its stream at /sse. */
export async function startEverything(mode = 'streamableHttp') {
  const port = await freePort();
  const child = run(process.execPath, ['--require', path.join(here, 'loopback-only.cjs'), entry, mode],
    { env: { PORT: String(port) } });
  await waitFor(child, 'server-everything', () => portOpen(port));
  const url = `http://127.0.0.1:${port}/${mode === 'sse' ? 'sse' : 'mcp'}`;
  return { child, port, url, stop: (ms) => stop(child, ms) };
}
