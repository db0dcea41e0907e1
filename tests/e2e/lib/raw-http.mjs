// HTTP/1.1 over a bare socket, for what fetch will not send (bad request
// lines, wrong Host, pipelining) and to see exactly what comes back.
import net from 'node:net';

/* Parses as many complete responses as `buf` holds; returns them and the
 * bytes left over. Bodies are framed by Content-Length or chunked coding. */
function parseResponses(buf) {
  const out = [];
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) break;
    const [statusLine, ...lines] = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const headers = {};
    for (const l of lines) {
      const c = l.indexOf(':');
      headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
    }
    let rest = buf.subarray(headEnd + 4);
    let body;
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts = [];
      let ended = false;
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) break;
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        if (rest.length < lineEnd + 2 + size + 2) break;
        if (size === 0) { rest = rest.subarray(lineEnd + 4); ended = true; break; }
        parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        rest = rest.subarray(lineEnd + 2 + size + 2);
      }
      if (!ended) break;
      body = Buffer.concat(parts);
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (rest.length < len) break;
      body = rest.subarray(0, len);
      rest = rest.subarray(len);
    }
    out.push({ status: Number(m[1]), headers, body: body.toString('utf8') });
    buf = rest;
  }
  return { responses: out, rest: buf };
}

/* Writes `bytes` on a new connection to 127.0.0.1:port and collects
 * `count` responses (or fewer if the connection closes). Bounded by `ms`. */
export function exchange(port, bytes, { count = 1, ms = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const got = [];
    const finish = (err) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve({ responses: got, closed: sock.readableEnded });
    };
    const timer = setTimeout(() => finish(new Error(`${got.length} of ${count} responses after ${ms} ms; unread: ${buf.toString().slice(0, 500)}`)), ms);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      try {
        const { responses, rest } = parseResponses(buf);
        buf = rest;
        got.push(...responses);
      } catch (e) { finish(e); return; }
      if (got.length >= count) finish();
    });
    sock.on('end', () => finish());
    sock.on('error', (e) => finish(got.length ? undefined : e));
  });
}

/* A request's bytes: headers as given (a Host is added unless given). */
export function request(method, path, { headers = {}, body = '' } = {}) {
  const b = Buffer.from(body);
  const h = { Host: '127.0.0.1', ...headers };
  if (method === 'POST' && !('Content-Length' in h) && !('Transfer-Encoding' in h)) h['Content-Length'] = String(b.length);
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

/* The headers of a JSON-RPC POST as the spec has clients send them. */
export const jsonPost = (extra = {}) => ({
  'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...extra,
});
