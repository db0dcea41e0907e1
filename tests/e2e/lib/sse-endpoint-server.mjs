// A legacy HTTP+SSE server whose endpoint event names the URL given as
// argv[2] (another host, to test that warden refuses it). It records the
// POSTs it receives at GET /__posts. PORT from the environment.
import http from 'node:http';

const endpoint = process.argv[2];
let posts = 0;
http.createServer((req, res) => {
  if (req.url === '/__posts') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ posts }));
  } else if (req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write(`event: endpoint\ndata: ${endpoint}\n\n`);
  } else {
    posts++;
    req.resume();
    req.on('end', () => { res.writeHead(202); res.end(); });
  }
}).listen(Number(process.env.PORT), '127.0.0.1');
