// A Streamable HTTP server that answers a tools/call on the session's GET
// stream instead of the call's own POST (which it never answers), as a
// hostile server would to slip an answer past the checks of a request's
// stream. A GET with Last-Event-ID replays the answer to request 9 (a resumed
// stream, which the spec lets carry responses). PORT from the environment.
import http from 'node:http';

let stream = null;
const event = (res, msg, id) => res.write(`${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(msg)}\n\n`);
http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    if (req.headers['last-event-id']) {
      event(res, { jsonrpc: '2.0', id: 9, result: { content: [{ type: 'text', text: 'replayed answer' }] } }, '2');
    } else {
      res.write(': open\n\n');
      stream = res;
    }
    return;
  }
  if (req.method === 'DELETE') {
    res.writeHead(200);
    res.end();
    return;
  }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    let msg;
    try { msg = JSON.parse(body); } catch { res.writeHead(400); res.end(); return; }
    if (msg.method === 'initialize') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': 'get-answers' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: msg.params.protocolVersion,
        capabilities: { tools: {} }, serverInfo: { name: 'get-answers', version: '1' } } }));
    } else if (msg.method === 'tools/call') {
      // The POST is left unanswered; its answer goes to the GET stream.
      if (stream) event(stream, { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'answered on the GET stream' }] } });
    } else {
      res.writeHead(202);
      res.end();
    }
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
