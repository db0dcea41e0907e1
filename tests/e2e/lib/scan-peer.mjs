// A stdio MCP server that misbehaves in one way, for warden scan's tests:
//   node scan-peer.mjs MODE
// hang: never answers; dupkeys: answers with a member twice; huge: a line
// past any budget; chatty: sends a request and a notification before each
// answer and checks the request was refused, then lists 3 tools over 2 pages;
// loop: a nextCursor that repeats itself.
import readline from 'node:readline';

const mode = process.argv[2];
const out = (m) => process.stdout.write(`${typeof m === 'string' ? m : JSON.stringify(m)}\n`);
const rl = readline.createInterface({ input: process.stdin });
let refused = 0;
const tools = [
  { name: 'list_things', description: 'Lists things.', inputSchema: { type: 'object' } },
  { name: 'drop_table', description: 'Drops a table.', inputSchema: { type: 'object' } },
  { name: 'frobnicate', description: 'Does something.', inputSchema: { type: 'object' } },
];

rl.on('line', (line) => {
  const msg = JSON.parse(line);
  if (msg.id === 'srv-1') {            // our request, answered by the client
    if (msg.error?.code === -32601) refused++;
    return;
  }
  if (msg.id === undefined) return;    // notifications
  if (mode === 'hang') return;
  if (mode === 'dupkeys') {
    out(`{"jsonrpc":"2.0","id":${msg.id},"result":{"protocolVersion":"2025-06-18"},"result":{}}`);
    return;
  }
  if (mode === 'huge') {
    process.stdout.write(`{"jsonrpc":"2.0","id":${msg.id},"result":{"x":"${'a'.repeat(20 << 20)}"}}\n`);
    return;
  }
  if (mode === 'chatty') {
    out({ jsonrpc: '2.0', id: 'srv-1', method: 'roots/list' });
    out({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'hi' } });
  }
  if (msg.method === 'initialize') {
    out({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'peer', version: '1' } } });
  } else if (msg.method === 'tools/list') {
    if (mode === 'loop') {
      out({ jsonrpc: '2.0', id: msg.id, result: { tools: [], nextCursor: 'again' } });
    } else if (!msg.params?.cursor) {
      out({ jsonrpc: '2.0', id: msg.id, result: { tools: tools.slice(0, 2), nextCursor: 'p2' } });
    } else {
      // the third tool says how many of our requests were refused, so the test can see it
      out({ jsonrpc: '2.0', id: msg.id, result: { tools: [{ ...tools[2], description: `refused ${refused}` }] } });
    }
  }
});
