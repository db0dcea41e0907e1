// The hostile MCP server of hostile.mjs on stdio (run by warden as a child):
// one JSON-RPC message per line each way.
import readline from 'node:readline';
import { handle } from './hostile.mjs';

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let msg;
  try { msg = JSON.parse(line); } catch { return; }
  if (msg.id === undefined || msg.method === undefined) return;   // notifications, responses
  handle(msg, (text) => process.stdout.write(text + '\n'), () => new Promise((r) => process.stdout.once('drain', r)));
});
