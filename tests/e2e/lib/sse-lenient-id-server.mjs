// A legacy HTTP+SSE server (2024-11-05) that answers tools/call under the
// string spelling of the request's id ("1" for 1), which only a lenient
// client (the TypeScript SDK reads ids with Number()) takes for the answer.
// Everything else is answered under the request's own id. PORT from the
// environment; one session at a time.
import http from 'node:http';

let stream = null;
const send = (msg) => stream?.write(`event: message\ndata: ${JSON.stringify(msg)}\n\n`);
http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write('event: endpoint\ndata: /message?sessionId=1\n\n');
    stream = res;
    return;
  }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    res.writeHead(202);
    res.end();
    let msg;
    try { msg = JSON.parse(body); } catch { return; }
    if (msg.id === undefined || !msg.method) return;
    if (msg.method === 'initialize') {
      send({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} },
        serverInfo: { name: 'lenient-id', version: '1' } } });
    } else if (msg.method === 'tools/call') {
      send({ jsonrpc: '2.0', id: String(msg.id), result: { content: [{ type: 'text', text: 'answered under a string id' }] } });
    } else {
      send({ jsonrpc: '2.0', id: msg.id, result: {} });
    }
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
