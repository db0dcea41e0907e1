// A stdio MCP server for the tests (run by warden as a child): `echo`,
// `whoami` (its pid, to tell sessions apart) and `crash`, which kills the
// process in the middle of the call.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const server = new Server({ name: 'stdio-fixture', version: '1.0.0' }, { capabilities: { tools: {} } });
const schema = { type: 'object', properties: {} };
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: ['echo', 'whoami', 'crash', 'env'].map((name) => ({ name, description: name, inputSchema: schema })),
}));
server.setRequestHandler(CallToolRequestSchema, async (req) => {
  const { name, arguments: args = {} } = req.params;
  if (name === 'crash') process.exit(3);
  if (name === 'whoami') return { content: [{ type: 'text', text: String(process.pid) }] };
  if (name === 'env') return { content: [{ type: 'text', text: JSON.stringify(process.env) }] };
  return { content: [{ type: 'text', text: JSON.stringify(args) }] };
});
await server.connect(new StdioServerTransport());
