// The official SDK client in a process of its own, so that its TLS trust can
// be set from outside (NODE_EXTRA_CA_CERTS): connects to argv[2], lists the
// tools and calls echo; prints {"tools": N, "text": ...} or exits 1 with the
// error on stderr. BEARER, when set, is sent as the Authorization.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL(process.argv[2]);
const headers = process.env.BEARER ? { Authorization: `Bearer ${process.env.BEARER}` } : {};
const client = new Client({ name: 'warden-e2e-tls', version: '1.0.0' });
try {
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  const { tools } = await client.listTools();
  const r = await client.callTool({ name: 'echo', arguments: { via: 'tls' } });
  process.stdout.write(JSON.stringify({ tools: tools.length, text: r.content[0].text }));
  await client.close();
  process.exit(0);
} catch (e) {
  process.stderr.write(`${e?.cause?.code ?? ''} ${e?.cause?.message ?? ''} ${e?.message ?? e}\n`);
  process.exit(1);
}
