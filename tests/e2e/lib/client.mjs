// The official SDK client, connected over Streamable HTTP, and raw requests
// for what the SDK does not expose (statuses, byte-exact bodies).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export async function connect(url) {
  const client = new Client({ name: 'warden-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport };
}

/* Lists every tool, following nextCursor; returns the pages as received. */
export async function listAllPages(client) {
  const pages = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor);
  return pages;
}

/* A raw POST of one JSON-RPC message (a string is sent as is), bounded in time. */
export async function post(url, body, headers = {}, ms = 10000) {
  const res = await fetch(url, {
    method: 'POST',
    signal: AbortSignal.timeout(ms),
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export const initialize = (id = 0) => ({
  jsonrpc: '2.0', id, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

/* The data of every event of an SSE body, or the body itself for JSON. */
export function messages(text) {
  if (text.trimStart().startsWith('{')) return [text];
  return text.split(/\r?\n\r?\n/).map((block) => block.split(/\r?\n/).filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).replace(/^ /, '')).join('\n')).filter((d) => d.length > 0);
}

/* Polls check() until it is true, failing after ms. */
export async function until(what, check, ms = 5000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
