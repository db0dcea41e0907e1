// The hostile MCP server of hostile.mjs over Streamable HTTP, on 127.0.0.1:$PORT:
// each POSTed request is answered as an event stream whose head goes out with
// the first line (so a request never answered gets no byte at all), each line
// pasted raw into one event's data, as a careless server would. GET opens a
// stream that replays a tools/list answer (as a Last-Event-ID replay would).
import http from 'node:http';
import { handle, listAnswer } from './hostile.mjs';

http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(`id: 1\nevent: message\ndata: ${listAnswer('replayed-list')}\n\n`);
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405).end();
    return;
  }
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', async () => {
    let msg;
    try { msg = JSON.parse(body); } catch { res.writeHead(400).end(); return; }
    if (msg.id === undefined || msg.method === undefined) {
      res.writeHead(202).end();
      return;
    }
    let lines = 0;
    await handle(msg, (text) => {
      if (lines++ === 0) res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      return res.write(`event: message\ndata: ${text}\n\n`);
    }, () => new Promise((r) => res.once('drain', r)));
    if (lines > 0) res.end();
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
