// The approval page on the admin listener, in a real browser: Debian's
// chromium driven by playwright-core. A call waits on its event stream; the
// approver signs in with the token, sees the request with its arguments
// (hostile markup shown as text), approves it, and the waiting SDK client
// gets the server's real answer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { connect } from './lib/client.mjs';
import { freePort, startWarden } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const demo = process.env.WARDEN_DEMO_BIN || path.join(repo, 'build', 'warden-demo-registry');
const token = crypto.randomBytes(24).toString('hex');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

describe('the approval page', { timeout: 120000 }, () => {
  let warden, admin, browser, page, dir;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-approval-page-'));
    fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
      version: '1', tools: { set_model_alias: { action: 'require_approval', reason: 'aliases move traffic', approval: { hold: 40 } } },
    }));
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({
      admin: `127.0.0.1:${adminPort}`,
      approvers: [{ id: 'alice', sha256: sha256(token) }],
      servers: { registry: { command: [demo], policies: ['policy.json'] } },
    }));
    warden = await startWarden(['--config', path.join(dir, 'warden.json')]);
    const profile = fs.mkdtempSync(path.join(dir, 'profile-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] || await browser.newPage();
  });

  after(async () => {
    if (browser) await browser.close();
    const code = warden ? await warden.stop() : 0;
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, warden && warden.stderr());
  });

  test('an approver signs in, sees the waiting call with its arguments, approves it, and the client gets its answer', async () => {
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const { client } = await connect(`${warden.base}/mcp/registry`);
    try {
      const hostile = '<img src=x onerror="window.pwned=1">';
      const call = client.callTool({ name: 'set_model_alias', arguments: { name: 'fraud-detector', alias: hostile, version: '2' } });
      call.catch(() => {});   /* awaited below; a failure before that must not become an unhandled rejection */
      await page.goto(`${admin}/approvals`);
      await page.locator('#login').waitFor();
      await page.fill('#token', 'not-the-token');
      await page.click('#login button[type=submit]');
      await page.locator('#login-error', { hasText: 'not an approver' }).waitFor();
      await page.fill('#token', token);
      await page.click('#login button[type=submit]');
      await page.locator('#who', { hasText: 'Signed in as alice' }).waitFor();
      const cookie = (await browser.cookies(`${admin}/approvals`)).find((c) => c.name === 'warden_approver');
      assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict');
      const request = page.locator('.request', { hasText: 'set_model_alias' });
      await request.waitFor();
      assert.match(await request.locator('pre.arguments').textContent(), /<img src=x onerror=/);
      assert.equal(await page.locator('.request img').count(), 0);
      assert.match(await request.textContent(), /aliases move traffic/);
      await request.locator('button.approve').click();
      const r = await call;
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.match(r.content[0].text, /fraud-detector/);
      await page.locator('#empty').waitFor();
      assert.equal(await page.evaluate(() => window.pwned), undefined);
      assert.deepEqual(errors, []);
    } finally {
      await client.close();
    }
  });
});
