// The console's Approvals page, "try a call" form and session counts, in a
// real browser (Debian's chromium driven by playwright-core). Warden serves
// the demo registry with a policy sending delete_model_alias to approval:
// an SDK client's call is held on its event stream, the approver logged in
// to the console approves it with a reason, and the waiting client gets the
// server's answer. WARDEN_SCREENSHOTS=DIR also saves the pages there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { connect, until } from './lib/client.mjs';
import { freePort, startWarden } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const demo = process.env.WARDEN_DEMO_BIN || path.join(repo, 'build', 'warden-demo-registry');
const shots = process.env.WARDEN_SCREENSHOTS;
const secret = crypto.randomBytes(24).toString('hex');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

describe('the console: approvals, try a call, sessions', { timeout: 120000 }, () => {
  let warden, admin, browser, page, dir;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-console-approvals-'));
    fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({
      version: '1',
      tools: {
        delete_model_alias: { action: 'require_approval', reason: 'aliases move traffic', approval: { hold: 40 } },
        delete_registered_model: { action: 'deny', reason: 'models are kept' },
        get_experiments: { rate_limit: { max: 1, window: 3600 } },
      },
    }));
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    fs.writeFileSync(path.join(dir, 'warden.json'), JSON.stringify({
      admin: `127.0.0.1:${adminPort}`,
      approvers: [{ id: 'alice', sha256: sha256(secret) }],
      servers: { registry: { command: [demo], policies: ['policy.json'] } },
    }));
    warden = await startWarden(['--config', path.join(dir, 'warden.json')]);
    const profile = fs.mkdtempSync(path.join(dir, 'profile-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1366, height: 800 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] || await browser.newPage();
    await page.goto(`${admin}/approvals`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.fill('#secret', secret);
    await page.click('button[type=submit]');
    /* Back to the page that asked for the login. */
    await page.waitForURL(`${admin}/approvals`);
  });

  after(async () => {
    if (browser) await browser.close();
    const code = warden ? await warden.stop() : 0;
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, warden && warden.stderr());
  });

  const shot = async (name) => {
    if (shots) await page.screenshot({ path: path.join(shots, `console-${name}.png`), fullPage: false });
  };

  test('a held call is approved in the console and the waiting client gets its answer', async () => {
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const { client } = await connect(`${warden.base}/mcp/registry`);
    try {
      const call = client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'champion' } });
      call.catch(() => {});   /* awaited below; a failure before that must not become an unhandled rejection */
      await page.goto(`${admin}/approvals`);
      assert.equal(await page.textContent('header nav a[aria-current="page"]'), 'Approvals');
      const request = page.locator('.request[data-tool="delete_model_alias"]');
      await request.waitFor({ timeout: 5000 });
      assert.deepEqual(JSON.parse(await request.locator('pre.arguments').textContent()), { name: 'fraud-detector', alias: 'champion' });
      const facts = await request.locator('dl.facts').textContent();
      assert.match(facts, /aliases move traffic/);
      assert.match(facts, /policy\.json:\/tools\/delete_model_alias/);
      assert.match(facts, /Expires\d{4}-\d\d-\d\dT/);
      await request.locator('input.reason').fill('checked with the ML team');
      await shot('approvals');
      await request.locator('button.approve').click();
      const r = await call;
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.match(r.content[0].text, /fraud-detector/);
      await page.locator('#none-pending').waitFor();
      const row = page.locator('#recent tr[data-status="approved"], #recent tr[data-status="consumed"]').first();
      await row.waitFor();
      assert.equal(await row.locator('td.decided-by').textContent(), 'alice');
      assert.match(await row.textContent(), /checked with the ML team/);
      assert.equal(await page.evaluate(() => window.pwned), undefined);
      assert.deepEqual(errors, []);
    } finally {
      await client.close();
    }
  });

  test('/approvals is the page for a browser and the JSON API for bearer clients; deciding needs the CSRF token', async () => {
    const bearer = { Authorization: `Bearer ${secret}` };
    const json = await fetch(`${admin}/approvals`, { headers: bearer });
    assert.equal(json.status, 200);
    assert.match(json.headers.get('content-type'), /application\/json/);
    assert.ok(Array.isArray((await json.json()).approvals));
    const anon = await fetch(`${admin}/approvals`, { headers: { Accept: 'text/html' }, redirect: 'manual' });
    assert.equal(anon.status, 303);
    assert.equal(anon.headers.get('location'), '/login?next=/approvals');
    assert.equal((await fetch(`${admin}/approvals`)).status, 401);
    /* The way back after a login is one of the console's pages, nothing else. */
    assert.match(await (await fetch(`${admin}/login?next=/approvals`)).text(), /name="next" value="\/approvals"/);
    assert.match(await (await fetch(`${admin}/login?next=//evil.example/`)).text(), /name="next" value="\/"/);
    /* The old token-in-cookie login is gone. */
    assert.equal((await fetch(`${admin}/approvals/login`, { method: 'POST', body: JSON.stringify({ token: secret }) })).status, 401);
    const { client } = await connect(`${warden.base}/mcp/registry`);
    try {
      const hostile = '<img src=x onerror="window.pwned=1">';
      const call = client.callTool({ name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: hostile } });
      call.catch(() => {});
      let id;
      await until('a pending request', async () => {
        const list = (await (await fetch(`${admin}/approvals?status=pending`, { headers: bearer })).json()).approvals;
        id = list[0] && list[0].id;
        return Boolean(id);
      }, 5000);
      await page.goto(`${admin}/approvals`);
      const request = page.locator(`.request[data-id="${id}"]`);
      await request.waitFor();
      assert.match(await request.locator('pre.arguments').textContent(), /<img src=x onerror=/);
      assert.equal(await page.locator('.request img').count(), 0);
      const status = (csrf) => page.evaluate(async ([u, t]) => (await fetch(u, { method: 'POST',
        headers: Object.assign({ 'Content-Type': 'application/json' }, t ? { 'X-CSRF-Token': t } : {}),
        body: JSON.stringify({ decision: 'deny', reason: 'no' }) })).status, [`/api/approvals/${id}`, csrf]);
      assert.equal(await status(null), 403);
      assert.equal(await status('0'.repeat(32)), 403);
      const csrf = await page.getAttribute('meta[name=csrf]', 'content');
      assert.equal(await status(csrf), 200);
      assert.equal(await status(csrf), 409);
      const r = await call;
      assert.equal(r.isError, true);
      assert.match(r.content[0].text, /no/);
      assert.equal(await page.evaluate(() => window.pwned), undefined);
    } finally {
      await client.close();
    }
  });

  test('try a call: the policies\' trace, escaped, with nothing counted', async () => {
    await page.goto(`${admin}/policy`);
    await page.locator('#try-server option[value="registry"]').waitFor({ state: 'attached' });
    const tryIt = async (tool, args, principal) => {
      await page.fill('#try-tool', tool);
      await page.fill('#try-args', args);
      await page.fill('#try-principal', principal || '');
      await page.click('#try button[type=submit]');
    };
    await tryIt('delete_registered_model', '{"name": "<b>fraud</b>"}');
    await page.locator('#try-trace').waitFor();
    assert.match(await page.textContent('#try-rule'), /policy\.json:\/tools\/delete_registered_model/);
    assert.match(await page.textContent('#try-result'), /denied/);
    assert.match(await page.textContent('#try-trace'), /deny/);
    assert.equal(await page.locator('#try-result b').count(), 0);
    await page.locator('#try-trace').scrollIntoViewIfNeeded();
    await shot('try');
    /* The rate limit of one call an hour: tried twice, still allowed, and a real call after is allowed too. */
    for (let i = 0; i < 2; i++) {
      await tryIt('get_experiments', '{}', '{"id": "ci-bot", "labels": {"team": "ml"}}');
      await page.waitForFunction(() => /allowed/.test(document.getElementById('try-result')?.textContent || ''));
    }
    await tryIt('get_experiments', '[1]');
    await page.locator('#try-result .problem').waitFor();
    await tryIt('get_experiments', 'not json');
    assert.match(await page.textContent('#try-result'), /Not JSON/);
    const { client } = await connect(`${warden.base}/mcp/registry`);
    try {
      const r = await client.callTool({ name: 'get_experiments', arguments: {} });
      assert.equal(r.isError, undefined, JSON.stringify(r));
    } finally {
      await client.close();
    }
  });

  test('the servers page counts the sessions open', async () => {
    const a = await connect(`${warden.base}/mcp/registry`);
    const b = await connect(`${warden.base}/mcp/registry`);
    try {
      await page.goto(`${admin}/`);
      const section = page.locator('section[data-server="registry"]');
      await until('two sessions shown', async () => {
        await page.reload();
        await section.waitFor();
        return Number(await section.getAttribute('data-sessions')) >= 2;
      }, 8000);
      assert.match(await section.locator('p.meta').textContent(), /\d+ sessions open/);
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      assert.match(metrics, /warden_open_sessions\{server="registry"\} [2-9]/);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });
});
