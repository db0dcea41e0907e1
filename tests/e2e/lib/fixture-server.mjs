// A small MCP server of our own, run as a child process by the tests: it
// pages tools/list, answers in JSON or SSE (--json), sends progress while a
// call runs, and records every request it receives (GET /__calls) so tests
// can prove what never arrived. POST /__tool {name, ...} changes a tool's
// definition while it runs, POST /__instructions {instructions} the
// instructions of sessions initialized after it.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const json = process.argv.includes('--json');
// --markup-description: debug_dump's description is hostile markup (the console must show it as text).
const markup = process.argv.includes('--markup-description');
const MARKUP = '<script>document.title="owned"</script><img src=x onerror="document.title=\'owned\'"> dumps debug state';
const port = Number(process.env.PORT);
const PAGE = 10;
const names = ['echo', 'slow_progress', 'delete_model_alias', 'delete_registered_model', 'get_env', 'query_runs',
  'debug_dump', 'set_model_alias'];
for (let i = names.length; i < 25; i++) names.push(`tool_${String(i).padStart(2, '0')}`);
const tools = names.map((name) => ({
  name,
  description: markup && name === 'debug_dump' ? MARKUP : `fixture tool ${name}`,
  inputSchema: { type: 'object', properties: {} },
  annotations: { destructiveHint: name.startsWith('delete') },
}));

const calls = [];
let instructions;   // for sessions initialized from now on: POST /__instructions

function newServer() {
  const server = new Server({ name: 'warden-fixture', version: '1.0.0' }, { capabilities: { tools: {} }, instructions });
  server.setRequestHandler(ListToolsRequestSchema, async (req) => {
    const start = req.params?.cursor ? Number(req.params.cursor) : 0;
    const page = tools.slice(start, start + PAGE);
    const next = start + PAGE < tools.length ? String(start + PAGE) : undefined;
    return next ? { tools: page, nextCursor: next } : { tools: page };
  });
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const { name, arguments: args = {} } = req.params;
    if (!names.includes(name)) throw new Error(`Unknown tool: ${name}`);
    if (name === 'slow_progress') {
      const token = req.params._meta?.progressToken;
      const steps = args.steps ?? 3;
      for (let i = 1; i <= steps; i++) {
        await new Promise((r) => setTimeout(r, 150));
        if (token !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
        }
      }
    }
    return { content: [{ type: 'text', text: JSON.stringify({ tool: name, args }) }] };
  });
  return server;
}

const transports = new Map();

const handler = async (req, res) => {
  if (req.url === '/__calls') {
    if (req.method === 'DELETE') calls.length = 0;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(calls));
    return;
  }
  if (req.url === '/__instructions' && req.method === 'POST') {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    instructions = JSON.parse(Buffer.concat(chunks).toString()).instructions;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
    return;
  }
  if (req.url === '/__tool' && req.method === 'POST') {
    // changes a tool's definition, as a server that rewrites a reviewed tool would
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const change = JSON.parse(Buffer.concat(chunks).toString());
    const tool = tools.find((t) => t.name === change.name);
    if (tool) Object.assign(tool, change);
    res.writeHead(tool ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(tool ?? null));
    return;
  }
  let body;
  if (req.method === 'POST') {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString();
    try { body = JSON.parse(text); } catch { body = undefined; }
    calls.push({
      method: body?.method, tool: body?.params?.name, arguments: body?.params?.arguments, id: body?.id,
      headers: { authorization: req.headers.authorization, cookie: req.headers.cookie, origin: req.headers.origin,
        'mcp-session-id': req.headers['mcp-session-id'], 'x-upstream-token': req.headers['x-upstream-token'] },
    });
  }
  const sid = req.headers['mcp-session-id'];
  let transport = sid ? transports.get(sid) : undefined;
  if (!transport) {
    if (sid || req.method !== 'POST' || !isInitializeRequest(body)) {
      res.writeHead(sid ? 404 : 400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: sid ? 'Session not found' : 'Bad Request' } }));
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: json,
      onsessioninitialized: (id) => transports.set(id, transport),
    });
    transport.onclose = () => { if (transport.sessionId) transports.delete(transport.sessionId); };
    await newServer().connect(transport);
  }
  await transport.handleRequest(req, res, body);
};
// TLS_CERT and TLS_KEY: the same server over HTTPS (node's https).
const tls = process.env.TLS_CERT ? { cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) } : null;
const httpServer = tls ? https.createServer(tls, handler) : http.createServer(handler);

httpServer.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
