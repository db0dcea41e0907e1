// An upstream that answers every POSTed request with its id copied byte for
// byte from the body it received. JSON.parse cannot do that
// (9007199254740993 would come back as ...992), so the id is found by a
// small scanner over the top-level object. --sse answers as an event stream.
import http from 'node:http';

const sse = process.argv.includes('--sse');
const port = Number(process.env.PORT);

/* Index just past the JSON value starting at i (s has no leading space at i). */
function skipValue(s, i) {
  if (s[i] === '"') {
    for (i++; i < s.length; i++) {
      if (s[i] === '\\') i++;
      else if (s[i] === '"') return i + 1;
    }
    throw new Error('unterminated string');
  }
  if (s[i] === '{' || s[i] === '[') {
    let depth = 0;
    for (; i < s.length; i++) {
      if (s[i] === '"') { i = skipValue(s, i) - 1; continue; }
      if (s[i] === '{' || s[i] === '[') depth++;
      else if ((s[i] === '}' || s[i] === ']') && --depth === 0) return i + 1;
    }
    throw new Error('unterminated container');
  }
  const m = /^[^,}\]\s]+/.exec(s.slice(i));
  if (!m) throw new Error(`no value at ${i}`);
  return i + m[0].length;
}

/* The raw text of the top-level member "id", or undefined. */
function rawId(s) {
  const ws = (i) => { while (/\s/.test(s[i] ?? '')) i++; return i; };
  let i = ws(0);
  if (s[i] !== '{') throw new Error('not an object');
  i = ws(i + 1);
  while (s[i] === '"') {
    const keyEnd = skipValue(s, i);
    const key = JSON.parse(s.slice(i, keyEnd));
    i = ws(keyEnd);
    if (s[i] !== ':') throw new Error('no colon');
    const start = ws(i + 1);
    const end = skipValue(s, start);
    if (key === 'id') return s.slice(start, end);
    i = ws(end);
    if (s[i] === ',') i = ws(i + 1);
  }
  return undefined;
}

http.createServer(async (req, res) => {
  if (req.method !== 'POST') { res.writeHead(405).end(); return; }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  let id;
  try { id = rawId(text); } catch (e) { res.writeHead(400, { 'Content-Type': 'text/plain' }).end(e.message); return; }
  if (id === undefined) { res.writeHead(202).end(); return; } // a notification
  // The id as received, also as a string, so a test can see what the upstream got.
  const answer = `{"jsonrpc":"2.0","id":${id},"result":{"receivedId":${JSON.stringify(id)}}}`;
  if (sse) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.end(`event: message\ndata: ${answer}\n\n`);
  } else {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(answer);
  }
}).listen(port, '127.0.0.1');
