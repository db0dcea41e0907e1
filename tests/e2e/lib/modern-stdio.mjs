// A stdio MCP server built with the SDK v2 (@modelcontextprotocol/server):
// warden runs it as a child and hands it session-less 2026-07-28 requests.
// whoami answers with the child's pid, so tests can tell children apart.
import { McpServer, fromJsonSchema } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';

const schema = () => fromJsonSchema({ type: 'object', properties: { x: { type: 'number' } } });
function newServer() {
  const server = new McpServer({ name: 'warden-modern-stdio', version: '1.0.0' });
  server.registerTool('echo', { description: 'echo', inputSchema: schema() },
    async (args) => ({ content: [{ type: 'text', text: `echo ran with ${JSON.stringify(args)}` }] }));
  server.registerTool('delete_everything', { description: 'deletes', inputSchema: schema() },
    async () => ({ content: [{ type: 'text', text: 'everything is gone' }] }));
  server.registerTool('whoami', { description: 'pid', inputSchema: schema() },
    async () => ({ content: [{ type: 'text', text: String(process.pid) }] }));
  return server;
}

// The opening exchange picks the era; a 2026-07-28 one needs no initialize.
serveStdio(newServer);
