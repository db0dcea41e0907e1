// JSON-RPC ids come back byte for byte through warden: integers past 2^53,
// zero, negatives and unicode strings, escaped or raw. The raw text of each
// answer is checked, never JSON.parse's reading of it (which would turn
// 9007199254740993 into ...992 and hide a gateway that re-prints numbers).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initialize, messages, post } from './lib/client.mjs';
import { startFixture, startRawIdServer, startWarden } from './lib/peers.mjs';

const ids = ['0', '-1', '9007199254740993', '"caf\\u00e9-\\u2603"', '"café-☃"', '"1"'];
// Around the bytes warden keeps an id in without allocating (24), and far past them.
ids.push(`"${'x'.repeat(22)}"`, `"${'y'.repeat(23)}"`, `"${'z'.repeat(300)}"`);
const call = (id) => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{}}}`;

for (const sse of [false, true]) {
  describe(`ids answered by the upstream (${sse ? 'SSE' : 'JSON'})`, { timeout: 30000 }, () => {
    let upstream, warden;
    before(async () => {
      upstream = await startRawIdServer({ sse });
      warden = await startWarden(['--upstream', upstream.url]);
    });
    after(async () => {
      if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
      await upstream?.stop();
    });

    for (const id of ids) {
      test(`id ${id}`, async () => {
        const direct = await post(upstream.url, call(id));
        const through = await post(warden.url, call(id));
        assert.equal(through.status, 200, through.text);
        // The upstream's own answer is the reference: same bytes for the id.
        const [want] = messages(direct.text);
        assert.ok(want.startsWith(`{"jsonrpc":"2.0","id":${id},`), want);
        const [got] = messages(through.text);
        assert.equal(got, want);
      });
    }
  });
}

describe('ids of answers warden writes itself (a policy refusal)', { timeout: 30000 }, () => {
  let fixture, warden, sid;
  before(async () => {
    fixture = await startFixture({ json: true });
    warden = await startWarden(['--upstream', fixture.url, '--policy', new URL('./policies/deny-echo.json', import.meta.url).pathname]);
    sid = (await post(warden.url, initialize())).headers.get('mcp-session-id');
    assert.ok(sid);
  });
  after(async () => {
    if (warden) assert.equal(await warden.stop(), 0, warden.stderr());
    await fixture?.stop();
  });

  for (const id of ids) {
    test(`id ${id}`, async () => {
      const res = await post(warden.url, call(id), { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' });
      assert.equal(res.status, 200);
      assert.ok(res.text.startsWith(`{"jsonrpc":"2.0","id":${id},`), res.text);
      assert.match(res.text, /echo is refused in this test/);
    });
  }
});
