// A stateless (2026-07-28) stdio MCP server that takes its time: tools/call
// "sleep" answers after arguments.ms with arguments.tag as its text, each
// call on its own timer (a slow call does not hold up the next one). Used to
// show what a child still working on an abandoned call says afterwards.
import readline from 'node:readline';

const rl = readline.createInterface({ input: process.stdin });
const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');
rl.on('line', (line) => {
  let msg;
  try { msg = JSON.parse(line); } catch { return; }
  if (msg.id === undefined || msg.method === undefined) return;
  if (msg.method === 'tools/list') {
    send({ jsonrpc: '2.0', id: msg.id, result: { tools: [{ name: 'sleep', inputSchema: { type: 'object' } }] } });
    return;
  }
  if (msg.method === 'tools/call' && msg.params?.name === 'sleep') {
    const { ms = 0, tag = '' } = msg.params.arguments ?? {};
    setTimeout(() => send({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: String(tag) }] } }), ms);
    return;
  }
  send({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
});
