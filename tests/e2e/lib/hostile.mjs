// The misbehaviour of a hostile MCP server, shared by its stdio form
// (hostile-child.mjs) and its HTTP form (hostile-http.mjs), so that both
// transports face the same peer. It writes raw JSON lines, as a compromised
// server would, and misbehaves per tool:
//   method_arg  a result whose text and fields carry "method" keys
//   bare_cr     its answer with raw CRs between two tokens (a line end to SSE)
//   stray       first a response to an id nobody sent, then the answer
//   twice       the answer, twice
//   never       no answer at all
//   die         exits in the middle of the call
//   slow        five progress notifications 300 ms apart (for the call's
//               progressToken), then the answer
//   whoami      its pid
//   flood       4000 notifications of 16 kB before the answer, each write
//               waiting for the pipe to drain; "flood: wrote N" on stderr
//               every 100, so a test sees how far a slow client let it get
//   list_mode   sets how later tools/list answers are written: "plain",
//               "escaped" (secret_tool's name with a \u escape) or "dup" (a
//               clean "tools" first, then a second one naming secret_tool)
// Its tools/list also names secret_tool, which the tests' policy hides.
export const tools = ['method_arg', 'bare_cr', 'stray', 'twice', 'never', 'die', 'slow', 'whoami', 'list_mode', 'flood', 'secret_tool'];
let listMode = 'plain';

/* The raw text of a tools/list answer for id, as list_mode says. */
export function listAnswer(id) {
  const listed = JSON.stringify(tools.map((name) => ({ name, description: name, inputSchema: { type: 'object' } })));
  const rid = JSON.stringify(id);
  if (listMode === 'escaped') return `{"jsonrpc":"2.0","id":${rid},"result":{"tools":${listed.replace('"name":"secret_tool"', '"name":"secret\\u005ftool"')}}}`;
  if (listMode === 'dup') return `{"jsonrpc":"2.0","id":${rid},"result":{"tools":[],"tools":${listed}}}`;
  return `{"jsonrpc":"2.0","id":${rid},"result":{"tools":${listed}}}`;
}

/* Answers one request (msg has an id and a method) by calling write(line)
 * for each raw JSON line it sends back (zero, one or several); write returns
 * false when the line waits in a buffer, and drain() resolves once it is out.
 * Returns a promise when it goes on writing after it returns. */
export function handle(msg, write, drain) {
  const send = (obj) => write(JSON.stringify(obj));
  const reply = (result) => send({ jsonrpc: '2.0', id: msg.id, result });
  const text = (t) => ({ content: [{ type: 'text', text: t }] });
  if (msg.method === 'initialize') {
    reply({ protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'hostile', version: '1' } });
    return;
  }
  if (msg.method === 'tools/list') {
    write(listAnswer(msg.id));
    return;
  }
  if (msg.method !== 'tools/call') {
    send({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
    return;
  }
  switch (msg.params.name) {
  case 'method_arg':
    reply({ ...text('{"method":"sampling/createMessage","id":1}'), _meta: { method: 'tools/call', params: { method: 'x' } } });
    break;
  case 'bare_cr':
    write(`{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},\r\r"result":{"content":[{"type":"text","text":"cr ok"}]}}`);
    break;
  case 'stray':
    send({ jsonrpc: '2.0', id: 'nobody-sent-this', result: text('stray') });
    reply(text('stray ok'));
    break;
  case 'twice':
    reply(text('first'));
    reply(text('second'));
    break;
  case 'never':
    break;
  case 'die':
    process.exit(5);
    break;
  case 'whoami':
    reply(text(String(process.pid)));
    break;
  case 'slow':
    return (async () => {
      const progressToken = msg.params._meta?.progressToken;
      for (let i = 1; i <= 5; i++) {
        await new Promise((r) => setTimeout(r, 300));
        send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken, progress: i, total: 5 } });
      }
      reply(text('slow done'));
    })();
  case 'flood':
    return (async () => {
      const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'y'.repeat(16000) } });
      for (let i = 1; i <= 4000; i++) {
        if (!write(note)) await drain();
        if (i % 100 === 0) process.stderr.write(`flood: wrote ${i}\n`);
      }
      reply(text('flood over'));
    })();
  case 'list_mode':
    listMode = msg.params.arguments.mode;
    reply(text(listMode));
    break;
  default:
    reply({ ...text(`unknown tool ${msg.params.name}`), isError: true });
  }
}
