// The hostile MCP server of hostile.mjs on stdio (run by warden as a child):
// one JSON-RPC message per line each way. One more tool here: deaf, after
// which it never reads its stdin again.
import readline from 'node:readline';
import { handle } from './hostile.mjs';

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let msg;
  try { msg = JSON.parse(line); } catch { return; }
  if (msg.id === undefined || msg.method === undefined) return;   // notifications, responses
  if (msg.method === 'tools/call' && msg.params.name === 'deaf') {
    /* Stops reading its stdin for good, after saying so. */
    rl.pause();
    setInterval(() => {}, 1 << 30);   /* a paused stdin no longer keeps node alive */
    process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'deaf' }] } }) + '\n');
    return;
  }
  handle(msg, (text) => process.stdout.write(text + '\n'), () => new Promise((r) => process.stdout.once('drain', r)));
});
