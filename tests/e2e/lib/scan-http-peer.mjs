// A raw HTTP MCP server that misbehaves in one way, for warden scan's tests:
//   PORT=N node scan-http-peer.mjs MODE
// chunked-sse: every answer an event stream in odd chunk sizes, preceded by
// 300 notifications; short: a Content-Length it does not honour; error500:
// a 500 with control bytes in its body; bighead: a 70 kB head; hang: reads
// and never answers.
import net from 'node:net';

const mode = process.argv[2];
const tools = [{ name: 'get_x', inputSchema: { type: 'object' } }, { name: 'delete_y', inputSchema: { type: 'object' } }];

function answerFor(msg) {
  if (msg.method === 'initialize') return { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'raw', version: '1' } };
  if (msg.method === 'tools/list') return { tools };
  return {};
}

function respond(sock, msg) {
  if (mode === 'hang') return;
  if (msg.id === undefined) {
    sock.end('HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: answerFor(msg) });
  if (mode === 'short') {
    sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 50}\r\n\r\n${body.slice(0, 10)}`);
  } else if (mode === 'error500') {
    sock.end('HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nboom\x1b[31m red');
  } else if (mode === 'bighead') {
    sock.end(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70000)}\r\nContent-Length: 2\r\n\r\n{}`);
  } else {
    let stream = '';
    for (let i = 0; i < 300; i++) stream += `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"n":${i}}}\n\n`;
    // the message over two data lines, cut between two tokens (the joining newline is whitespace)
    const cut = body.indexOf(',"id"') + 1;
    stream += `id: 1\r\ndata: ${body.slice(0, cut)}\r\ndata: ${body.slice(cut)}\r\n\r\n`;
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    const buf = Buffer.from(stream);
    for (let at = 0, k = 1; at < buf.length; k = (k * 7) % 97 + 1) {
      const piece = buf.subarray(at, at + k);
      sock.write(`${piece.length.toString(16)}\r\n`);
      sock.write(piece);
      sock.write('\r\n');
      at += piece.length;
    }
    // the stream stays open, as a server's would: the client must stop at its answer
  }
}

net.createServer((sock) => {
  let data = Buffer.alloc(0);
  sock.on('data', (d) => {
    data = Buffer.concat([data, d]);
    const head = data.indexOf('\r\n\r\n');
    if (head < 0) return;
    const len = Number(/content-length: *(\d+)/i.exec(data.subarray(0, head).toString())?.[1] ?? 0);
    if (data.length < head + 4 + len) return;
    const text = data.subarray(head + 4, head + 4 + len).toString();
    data = Buffer.alloc(0);
    respond(sock, text ? JSON.parse(text) : {});
  });
  sock.on('error', () => {});
}).listen(Number(process.env.PORT), '127.0.0.1');
