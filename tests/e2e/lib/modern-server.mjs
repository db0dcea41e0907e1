// An MCP server of the 2026-07-28 revision, built with the SDK v2
// (@modelcontextprotocol/server, createMcpHandler) on node:http, run as a
// child process by the tests. It records every request it receives (GET
// /__calls: method, Mcp-Method, Mcp-Name and the tool name) so tests can prove
// what never arrived, and serves 2025-era clients statelessly as the SDK does.
import http from 'node:http';
import { McpServer, createMcpHandler, fromJsonSchema } from '@modelcontextprotocol/server';

const port = Number(process.env.PORT);
const calls = [];

function newServer() {
  // Lists say they may be shared and kept for an hour: warden must correct that.
  const server = new McpServer({ name: 'warden-modern-fixture', version: '1.0.0' },
    { cacheHints: { 'tools/list': { ttlMs: 3600000, cacheScope: 'public' } } });
  for (const name of ['echo', 'delete_everything', 'get_env', 'other']) {
    server.registerTool(name, { description: `fixture tool ${name}`, inputSchema: fromJsonSchema({ type: 'object', properties: { x: { type: 'number' } } }) },
      async (args) => ({ content: [{ type: 'text', text: `${name} ran with ${JSON.stringify(args)}` }] }));
  }
  return server;
}

const handler = createMcpHandler(() => newServer());

/* node:http to the handler's web-standard fetch and back, streaming the answer. */
async function serve(req, res) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  if (req.url === '/__calls') {
    if (req.method === 'DELETE') calls.length = 0;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(calls));
    return;
  }
  let msg = null;
  try { msg = JSON.parse(body.toString('utf8')); } catch { /* the SDK answers it */ }
  calls.push({
    httpMethod: req.method, method: msg?.method, tool: msg?.params?.name,
    mcpMethod: req.headers['mcp-method'], mcpName: req.headers['mcp-name'],
  });
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
  const request = new Request(`http://127.0.0.1:${port}${req.url}`, {
    method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
  });
  const response = await handler.fetch(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) { res.end(); return; }
  const reader = response.body.getReader();
  req.on('close', () => reader.cancel().catch(() => {}));
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    res.write(value);
  }
  res.end();
}

http.createServer((req, res) => {
  serve(req, res).catch((e) => { if (!res.headersSent) res.writeHead(500); res.end(String(e)); });
}).listen(port, '127.0.0.1');
