// The console on the admin listener, in a real browser: Debian's chromium
// driven by playwright-core. Warden serves the demo registry (stdio) and
// our fixture server (HTTP, one tool description is hostile markup); the
// test logs in, reads the tools with their classes and decisions, watches a
// denied call arrive live, edits a policy and sees the reload, and checks
// escaping and CSRF. WARDEN_SCREENSHOTS=DIR also saves each page there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { connect, listAllPages, until } from './lib/client.mjs';
import { freePort, portOpen, run, stop, waitFor } from './lib/proc.mjs';
import { startWarden } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const demo = process.env.WARDEN_DEMO_BIN || path.join(repo, 'build', 'warden-demo-registry');
const shots = process.env.WARDEN_SCREENSHOTS;
const secret = crypto.randomBytes(24).toString('hex');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-console-'));
const registryPolicy = path.join(tmp, 'registry.json');
const fixturePolicy = path.join(tmp, 'fixture.json');

async function startMarkupFixture() {
  const port = await freePort();
  const child = run(process.execPath, [path.join(here, 'lib', 'fixture-server.mjs'), '--markup-description'],
    { env: { PORT: String(port) } });
  await waitFor(child, 'fixture server', () => portOpen(port));
  return { url: `http://127.0.0.1:${port}/mcp`, stop: (ms) => stop(child, ms) };
}

describe('the console', () => {
  let warden, fixture, admin, browser, page;

  before(async () => {
    fs.copyFileSync(path.join(repo, 'policies', 'registry.json'), registryPolicy);
    fs.writeFileSync(fixturePolicy, JSON.stringify({ version: '1', tools: { echo: { action: 'deny', reason: 'no echo' } } }));
    fixture = await startMarkupFixture();
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    const config = path.join(tmp, 'warden.json');
    fs.writeFileSync(config, JSON.stringify({
      admin: `127.0.0.1:${adminPort}`,
      approvers: [{ id: 'alice', sha256: sha256(secret) }, { id: 'bob', sha256: sha256('not-' + secret) }],
      servers: {
        registry: { command: [demo], policies: [registryPolicy, path.join(repo, 'policies', 'protect-champion.lua')] },
        fixture: { url: fixture.url, policies: [fixturePolicy] },
      },
    }));
    warden = await startWarden(['--config', config]);
    // The console shows the tools warden saw listed: list them once.
    for (const name of ['registry', 'fixture']) {
      const { client } = await connect(`${warden.base}/mcp/${name}`);
      await listAllPages(client);
      await client.close();
    }
    const profile = fs.mkdtempSync(path.join(tmp, 'profile-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1366, height: 800 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] || await browser.newPage();
  });

  after(async () => {
    if (browser) await browser.close();
    const code = warden ? await warden.stop() : 0;
    if (fixture) await fixture.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
    assert.equal(code, 0, warden && warden.stderr());
  });

  const shot = async (name) => {
    if (shots) await page.screenshot({ path: path.join(shots, `console-${name}.png`), fullPage: false });
  };

  test('pages need a login; a wrong secret is refused; the right one logs in', async () => {
    const res = await fetch(`${admin}/api/servers`);
    assert.equal(res.status, 401);
    await page.goto(`${admin}/`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await shot('login');
    await page.fill('#secret', 'wrong');
    await page.click('button[type=submit]');
    assert.match(await page.textContent('.problem'), /not an approver/);
    await page.fill('#secret', secret);
    await page.click('button[type=submit]');
    await page.waitForURL(`${admin}/`);
    assert.equal(await page.textContent('header .who'), 'alice');
    const cookie = (await browser.cookies(admin)).find((c) => c.name === 'warden_session');
    assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.value.length === 32);
  });

  test('servers and tools: the registry\'s 40 tools with their classes and default decisions', async () => {
    await page.goto(`${admin}/`);
    const registry = page.locator('section[data-server="registry"]');
    await registry.locator('tbody tr').first().waitFor();
    assert.equal(await registry.locator('tbody tr').count(), 40);
    assert.match(await registry.locator('p.meta').textContent(), /stdio .* policy generation 1 \(2 files\)/);
    const rowOf = (tool) => registry.locator(`tr[data-tool="${tool}"]`);
    const expect = {
      delete_run: ['destructive', 'hide', /hidden/],
      delete_registered_model: ['destructive', 'deny', /denied/],
      transition_model_version_stage: ['destructive', 'require_approval', /needs approval/],
      query_runs: ['read', 'rate_limit', /rate-limited at most 10 \/ 60 s/],
      get_experiments: ['read', 'rate_limit', /at most 120 \/ 60 s/],
    };
    for (const [tool, [cls, decision, text]] of Object.entries(expect)) {
      const row = rowOf(tool);
      assert.equal(await row.getAttribute('data-class'), cls, tool);
      assert.equal(await row.getAttribute('data-decision'), decision, tool);
      assert.match(await row.locator('td').nth(2).textContent(), text, tool);
    }
    assert.match(await rowOf('delete_registered_model').locator('td.rule').textContent(), /registry\.json:\/tools\/delete_registered_model$/);
    assert.match(await rowOf('delete_model_alias').textContent(), /1 condition may refuse/);
    await shot('tools');
    // Filters: by decision, then by class.
    await page.selectOption('#f-decision', 'deny');
    assert.deepEqual(await registry.locator('tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.tool).sort()),
      ['delete_model_version', 'delete_registered_model']);
    await page.selectOption('#f-decision', '');
    await page.selectOption('#f-class', 'destructive');
    const classes = await registry.locator('tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.class));
    assert.ok(classes.length > 0 && classes.every((c) => c === 'destructive'));
    await page.selectOption('#f-class', '');
  });

  test('a tool description with <script> is shown as text', async () => {
    await page.goto(`${admin}/`);
    const row = page.locator('section[data-server="fixture"] tr[data-tool="debug_dump"]');
    await row.waitFor();
    assert.equal(await page.locator('section[data-server="fixture"] tbody tr').count(), 25);
    const desc = await row.locator('td.desc').textContent();
    assert.ok(desc.startsWith('<script>document.title="owned"</script><img src=x'), desc);
    assert.equal(await row.locator('td.desc script, td.desc img').count(), 0);
    assert.notEqual(await page.title(), 'owned');
  });

  test('a denied call appears in the live view within a second', async () => {
    await page.goto(`${admin}/live`);
    await page.waitForFunction(() => document.getElementById('live-status')?.textContent === 'live');
    const { client } = await connect(`${warden.base}/mcp/registry`);
    try {
      const r = await client.callTool({ name: 'delete_registered_model', arguments: { name: 'fraud-detector' } });
      assert.equal(r.isError, true);
      const answered = Date.now();
      const row = page.locator('#decisions tr[data-tool="delete_registered_model"][data-decision="deny"]');
      await row.first().waitFor({ timeout: 1000 });
      const seenAfter = Date.now() - answered;
      assert.ok(seenAfter <= 1000, `seen after ${seenAfter} ms`);
      await client.callTool({ name: 'get_experiments', arguments: {} });
      await page.locator('#decisions tr[data-tool="get_experiments"]').first().waitFor({ timeout: 1000 });
    } finally {
      await client.close();
    }
    await page.locator('#decisions tr[data-tool="delete_registered_model"]').first().click();
    assert.match(await page.textContent('#detail-rule'), /registry\.json:\/tools\/delete_registered_model/);
    assert.deepEqual(Object.keys(JSON.parse(await page.textContent('#detail-args'))), ['name']);
    await shot('live');
    // Filtering by decision hides the allowed call.
    await page.selectOption('#f-decision', 'deny');
    assert.equal(await page.locator('#decisions tr[data-tool="get_experiments"]:visible').count(), 0);
    assert.ok(await page.locator('#decisions tr[data-tool="delete_registered_model"]:visible').count() >= 1);
    await page.fill('#f-tool', 'no-such-tool');
    assert.equal(await page.locator('#decisions tr:visible').count(), 0);
  });

  test('an edited policy\'s reload shows on the policies page and in the tools\' decisions', async () => {
    await page.goto(`${admin}/policy`);
    await page.locator('#generation').waitFor();
    assert.equal(await page.textContent('#generation'), '1');
    const fileRow = page.locator(`tr[data-file="${registryPolicy}"]`);
    const before = await fileRow.locator('td').nth(1).textContent();
    const policy = JSON.parse(fs.readFileSync(registryPolicy, 'utf8'));
    policy.tools.get_experiments = { action: 'deny', reason: 'edited by the console test' };
    fs.writeFileSync(registryPolicy + '.tmp', JSON.stringify(policy, null, 2));
    fs.renameSync(registryPolicy + '.tmp', registryPolicy);
    await page.waitForFunction(() => document.getElementById('generation')?.textContent === '2', null, { timeout: 5000 });
    assert.notEqual(await fileRow.locator('td').nth(1).textContent(), before);
    await shot('policies');
    await page.goto(`${admin}/`);
    const row = page.locator('section[data-server="registry"] tr[data-tool="get_experiments"]');
    await row.waitFor();
    assert.equal(await row.getAttribute('data-decision'), 'deny');
    assert.match(await row.locator('td.rule').textContent(), /\/tools\/get_experiments$/);
  });

  test('charts draw the calls of the last hour', async () => {
    await page.goto(`${admin}/charts`);
    await page.locator('#chart-calls').waitFor();
    await until('calls in the chart', async () => Number((await page.textContent('#calls-total')).split(' ')[0]) >= 2, 8000);
    assert.ok(await page.locator('#chart-calls rect').count() >= 1);
    assert.ok(await page.locator('#chart-latency path').count() >= 1);
    await shot('charts');
  });

  test('every answer forbids framing, sniffing and inline script', async () => {
    for (const p of ['/login', '/console/app.js']) {
      const res = await fetch(`${admin}${p}`);
      assert.match(res.headers.get('content-security-policy'), /default-src 'self'/);
      assert.doesNotMatch(res.headers.get('content-security-policy'), /unsafe-inline/);
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    }
    const api = await fetch(`${admin}/api/servers`, { headers: { Authorization: `Bearer ${secret}` } });
    assert.equal(api.status, 200);
    assert.equal((await api.json()).servers.length, 2);
    assert.equal((await fetch(`${admin}/api/servers`, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  });

  test('CSRF: a POST without the session\'s token is refused; with it, it works', async () => {
    await page.goto(`${admin}/`);
    const without = await page.evaluate(async () => (await fetch('/logout', { method: 'POST' })).status);
    assert.equal(without, 403);
    const wrong = await page.evaluate(async () => (await fetch('/logout', {
      method: 'POST', headers: { 'X-CSRF-Token': '0'.repeat(32) } })).status);
    assert.equal(wrong, 403);
    // Still logged in: the refused POSTs changed nothing.
    assert.equal((await page.request.get(`${admin}/api/servers`)).status(), 200);
    // A cross-origin POST is refused even with the cookie.
    const cookie = (await browser.cookies(admin)).find((c) => c.name === 'warden_session');
    const cross = await fetch(`${admin}/logout`, { method: 'POST', redirect: 'manual',
      headers: { Cookie: `warden_session=${cookie.value}`, Origin: 'http://evil.example', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'csrf=' + await page.getAttribute('meta[name=csrf]', 'content') });
    assert.equal(cross.status, 403);
    // The page's own form carries the token.
    await page.click('header form button');
    await page.waitForURL(`${admin}/login`);
    assert.equal((await page.request.get(`${admin}/api/servers`)).status(), 401);
  });

  test('guessing is slow: after 20 failed logins in a minute, logins are refused for the rest of it', async () => {
    const tryLogin = (secretText) => fetch(`${admin}/login`, { method: 'POST', redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'secret=' + encodeURIComponent(secretText) });
    const statuses = [];
    // The minute may turn once during the loop (and the first test failed once): 41 tries always fill one minute's 20.
    for (let i = 0; i < 41 && !statuses.includes(429); i++) statuses.push((await tryLogin('guess-' + i)).status);
    assert.equal(statuses.at(-1), 429, statuses.join(','));
    assert.ok(statuses.length >= 19 && statuses.slice(0, -1).every((st) => st === 401), statuses.join(','));
    const right = await tryLogin(secret);
    if (right.status !== 303) assert.equal(right.status, 429);
  });
});
