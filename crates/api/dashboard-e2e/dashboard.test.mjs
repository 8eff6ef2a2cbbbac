// The dashboard in a real browser (Debian's chromium, driven by playwright-core), against the
// storefleet binary with a temp SQLite database and no Kubernetes cluster, so stores wait.
//
// The dashboard is served first by `storefleet api` (no orchestrator), so a new store is seen
// waiting in `requested`; then `storefleet serve` takes over on the same port and database, and
// the open list page must show the store move to `provisioning` without a reload.
//
// run.sh builds the binary, creates the user and passes everything in through E2E_* variables.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run this through run.sh`);
  return value;
};

const BIN = env('E2E_STOREFLEET_BIN');
const WORK = env('E2E_WORKDIR');
const TOKEN = env('E2E_TOKEN');
const ADMIN_TOKEN = env('E2E_ADMIN_TOKEN');
const PORT = env('E2E_PORT');
const ARTIFACTS = env('E2E_ARTIFACTS');
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = process.env.E2E_SCREENSHOTS || '';
const BASE = `http://127.0.0.1:${PORT}`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` until it returns a truthy value; fail with `what` after `ms`. */
async function eventually(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(200);
  }
}

/** A storefleet server process (`api` or `serve`), logging to the work directory. */
async function startServer(role) {
  const log = fs.openSync(path.join(WORK, `${role}.log`), 'a');
  const child = spawn(BIN, [role, '--listen', `127.0.0.1:${PORT}`], {
    env: {
      ...process.env,
      STOREFLEET_DATABASE_URL: `sqlite://${WORK}/storefleet.db`,
      STOREFLEET_LOG_FORMAT: 'text',
      STOREFLEET_LOG: 'info',
      // No cluster: the orchestrator runs and every store waits for one, saying why.
      KUBECONFIG: '/nonexistent',
    },
    stdio: ['ignore', log, log],
  });
  // run.sh kills whatever is listed here if this process dies first.
  fs.appendFileSync(path.join(WORK, 'pids'), `${child.pid}\n`);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  await eventually(`storefleet ${role} to answer /healthz`, async () => {
    if (exited) throw new Error(`storefleet ${role} exited; see ${role}.log`);
    const response = await fetch(`${BASE}/healthz`);
    return response.ok;
  });
  return child;
}

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = once(child, 'exit');
  child.kill('SIGTERM');
  const stopped = await Promise.race([exit.then(() => true), sleep(35_000).then(() => false)]);
  if (!stopped) {
    child.kill('SIGKILL');
    await exit;
  }
}

/** A screenshot for the artifacts and, when E2E_SCREENSHOTS names a directory, the README. */
async function screenshot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
  if (SCREENSHOTS) {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: true });
  }
}

/** axe-core's serious and critical findings on the page, one line each. */
async function accessibilityProblems(page) {
  // Evaluated through the devtools protocol, so the page's CSP (script-src 'self') allows it.
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Whether the page is wider than the viewport (horizontal scrolling). */
const overflowsWidth = (page) =>
  page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);

describe('the dashboard in a real browser', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let page;
  const requested = [];
  const problems = [];

  const row = (name) => page.locator('tr[data-store-id]', { has: page.locator('a.store-name', { hasText: name }) });
  const phaseOf = async (name) => (await row(name).locator('[data-field="phase"]').textContent())?.trim();

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer('api');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--headless',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
    page.on('console', (message) => {
      // Refused connections while the server restarts are expected; CSP violations are not.
      if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
    page.on('dialog', (dialog) => dialog.accept());
  });

  after(async () => {
    await browser?.close();
    if (server) await stopServer(server);
  });

  it('logs in with an API token kept in an HttpOnly, SameSite=Strict cookie', async () => {
    await page.goto(`${BASE}/`);
    assert.equal(new URL(page.url()).pathname, '/login', 'an anonymous visit goes to the login page');
    await page.fill('#token', 'sf_not-a-real-token');
    await page.click('button[type="submit"]');
    assert.match(await page.locator('.alert.error').textContent(), /unknown API token/);

    await page.fill('#token', TOKEN);
    await Promise.all([page.waitForURL(`${BASE}/`), page.click('button[type="submit"]')]);
    assert.equal((await page.locator('.who .user').textContent()).trim(), 'e2e-user');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'storefleet_session');
    assert.ok(session, 'a session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.path, '/');
    const visible = await page.evaluate(() => document.cookie);
    assert.ok(!visible.includes('sf_'), 'scripts cannot read the session token');
  });

  it('creates stores through the form; they wait in requested while no orchestrator runs', async () => {
    for (const [name, engine, plan] of [
      ['e2e-shop', 'medusa', 'small'],
      ['e2e-woo', 'woocommerce', 'medium'],
    ]) {
      await page.fill('#name', name);
      await page.selectOption('#engine', engine);
      await page.selectOption('#plan', plan);
      await page.selectOption('#ttl_seconds', '86400');
      await page.click('#create-form button[type="submit"]');
      await row(name).first().waitFor({ timeout: 10_000 });
      assert.match(page.url(), /\/#store-/);
      assert.equal(await row(name).count(), 1, `${name} is listed once`);
    }
    assert.equal(await phaseOf('e2e-shop'), 'requested');
    await sleep(2_500); // a poll or two later, still nobody has picked it up
    assert.equal(await phaseOf('e2e-shop'), 'requested');
    assert.equal((await page.locator('#live-status').getAttribute('data-state')), 'ok');
  });

  it("shows the API's message for a bad name and creates nothing", async () => {
    const before = await page.locator('tr[data-store-id]').count();
    await page.fill('#name', 'Bad Name!');
    await page.click('#create-form button[type="submit"]');
    const api = await fetch(`${BASE}/api/v1/stores`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Bad Name!', engine: 'medusa' }),
    });
    const { error } = await api.json();
    assert.equal((await page.locator('#form-error').textContent()).trim(), error.message);
    assert.equal(await page.locator('#name').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('tr[data-store-id]').count(), before);
  });

  it('updates phases live from requested to provisioning once `storefleet serve` takes over', async () => {
    await page.goto(`${BASE}/`);
    await page.evaluate(() => {
      window.notReloaded = true;
    });
    await stopServer(server);
    server = await startServer('serve');
    await eventually('e2e-shop to show provisioning', async () => (await phaseOf('e2e-shop')) === 'provisioning');
    await eventually('e2e-woo to show provisioning', async () => (await phaseOf('e2e-woo')) === 'provisioning');
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was updated in place');
    await eventually('the progress to name the waiting step', async () =>
      /NamespaceReady/.test(await row('e2e-shop').locator('[data-field="progress"]').textContent()),
    );
    await eventually('the phase badge to show the retries', async () =>
      /failing/.test(await row('e2e-shop').locator('[data-field="phase"]').getAttribute('class')),
    );
    await eventually('the list to be live again', async () =>
      (await page.locator('#live-status').getAttribute('data-state')) === 'ok',
    );
    await screenshot(page, 'list.png');
  });

  it('adds a store created through the API live, and filters, searches and sorts the list', async () => {
    await page.evaluate(() => {
      window.notReloaded = true;
    });
    const created = await fetch(`${BASE}/api/v1/stores`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'e2e-cli', engine: 'woocommerce' }),
    });
    assert.equal(created.status, 201);
    await eventually('the store created elsewhere to appear', async () => (await row('e2e-cli').count()) === 1);
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'added without a reload');
    assert.match(await row('e2e-cli').locator('time').textContent(), /just now|min ago/);
    const names = async () =>
      (await page.locator('tr[data-store-id]:visible a.store-name').allTextContents()).map((t) => t.trim());
    assert.deepEqual(await names(), ['e2e-cli', 'e2e-woo', 'e2e-shop'], 'newest first');
    await page.selectOption('#sort', 'name');
    assert.deepEqual(await names(), ['e2e-cli', 'e2e-shop', 'e2e-woo']);
    await page.fill('#filter-text', 'sho');
    assert.deepEqual(await names(), ['e2e-shop']);
    await page.fill('#filter-text', '');
    await page.selectOption('#filter-engine', 'woocommerce');
    assert.deepEqual(await names(), ['e2e-cli', 'e2e-woo']);
    await page.selectOption('#filter-phase', 'ready');
    assert.deepEqual(await names(), []);
    assert.equal(await page.locator('#no-stores').isVisible(), true, 'says that nothing matches');
    await page.selectOption('#filter-phase', 'live');
    await page.selectOption('#filter-engine', 'all');
    await page.selectOption('#sort', 'newest');
    // Keep e2e-cli out of the later steps' way.
    const id = (await created.json()).id;
    const removed = await fetch(`${BASE}/api/v1/stores/${id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(removed.status, 202);
  });

  it("shows a store's conditions and its events arriving live", async () => {
    await Promise.all([page.waitForURL(/\/stores\//), row('e2e-shop').locator('a.store-name').click()]);
    assert.equal((await page.locator('h1 [data-field="phase"]').textContent()).trim(), 'provisioning');
    const reasons = await page.locator('#events .reason').allTextContents();
    assert.ok(reasons.includes('Requested') && reasons.includes('Provisioning'), reasons.join(', '));
    await eventually('the event stream to connect', async () =>
      (await page.locator('#live-status').getAttribute('data-state')) === 'ok',
    );
    // The orchestrator retries the missing cluster with backoff (1, 2, 4, 8, 16 s): each retry
    // is a new event, which must appear without a reload.
    const fresh = page.locator('#events li.fresh');
    await eventually('an event to arrive over SSE', async () => (await fresh.count()) > 0, 45_000);
    assert.match(await fresh.first().locator('.reason').textContent(), /StepFailed/);
    const namespace = page.locator('tr[data-condition="NamespaceReady"] [data-field="status"]');
    assert.equal((await namespace.textContent()).trim(), 'False');
    // A store that keeps failing looks like it: a warning naming the step, and the time left.
    await eventually('the failing-step warning', async () => page.locator('#failing').isVisible());
    assert.match(await page.locator('#failing').textContent(), /keeps failing[\s\S]*NamespaceReady: /);
    assert.match(await page.locator('time[data-relative="deadline"]').textContent(), /^in \d+ (s|min)$/);
    assert.match(await page.locator('time[data-relative="elapsed"]').textContent(), /^\d+ (s|min)$/);
    await screenshot(page, 'detail.png');
  });

  it("tells the owner the store's credentials come once setup is complete, and offers none before", async () => {
    assert.equal(await page.locator('#credentials-form').count(), 0, 'no empty credential view is offered');
    assert.match(await page.locator('#credentials-pending').textContent(), /once the store's setup is complete/);
  });

  it('works on a phone: 375 px wide, no horizontal scrolling, the list as cards', async () => {
    const phone = await browser.newContext({
      viewport: { width: 375, height: 812 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      storageState: await page.context().storageState(),
    });
    const small = await phone.newPage();
    try {
      small.on('pageerror', (error) => problems.push(`script error (375 px): ${error.message}`));
      await small.goto(`${BASE}/`);
      await small.locator('tr[data-store-id]:visible').first().waitFor();
      assert.equal(await overflowsWidth(small), false, 'the list does not scroll sideways');
      const display = await small.locator('table.stores thead').evaluate((el) => getComputedStyle(el).display);
      assert.equal(display, 'none', 'no table header: each store is a card');
      await screenshot(small, 'list-phone.png');
      await small.locator('tr[data-store-id]:visible a.store-name').first().click();
      await small.waitForURL(/\/stores\//);
      assert.equal(await overflowsWidth(small), false, "a store's page does not scroll sideways");
      await small.goto(`${BASE}/login`);
      assert.equal(await overflowsWidth(small), false, 'the login page does not scroll sideways');
    } finally {
      await phone.close();
    }
  });

  it('has one h1 per page and no serious accessibility problems (axe-core), contrast included', async () => {
    const storePage = page.url();
    for (const url of [`${BASE}/`, storePage]) {
      await page.goto(url);
      assert.equal(await page.locator('h1').count(), 1, `one h1 on ${url}`);
      assert.deepEqual(await accessibilityProblems(page), [], url);
    }
    const anonymous = await browser.newContext();
    const login = await anonymous.newPage();
    try {
      await login.goto(`${BASE}/login`);
      assert.equal(await login.locator('h1').count(), 1, 'one h1 on the login page');
      assert.deepEqual(await accessibilityProblems(login), [], 'login page');
    } finally {
      await anonymous.close();
    }
    await page.goto(storePage);
  });

  it('shows admins the platform, its users and the audit log, on a phone too; tenants get 403', async () => {
    const storePage = page.url();
    const tenantView = await page.goto(`${BASE}/admin`);
    assert.equal(tenantView.status(), 403, 'a tenant gets 403');
    assert.equal(await page.locator('a[href="/admin"]').count(), 0, 'and no link to it');
    await page.goto(storePage);

    for (const [label, viewport] of [['desktop', { width: 1360, height: 900 }], ['phone', { width: 375, height: 812 }]]) {
      const context = await browser.newContext({ viewport, isMobile: label === 'phone', hasTouch: label === 'phone' });
      const admin = await context.newPage();
      try {
        admin.on('pageerror', (error) => problems.push(`script error (admin, ${label}): ${error.message}`));
        await admin.goto(`${BASE}/login`);
        await admin.fill('#token', ADMIN_TOKEN);
        await Promise.all([admin.waitForURL(`${BASE}/`), admin.click('button[type="submit"]')]);
        await admin.click('a[href="/admin"]');
        await admin.waitForURL(`${BASE}/admin`);
        assert.equal(await admin.locator('h1').count(), 1, 'one h1 on the platform page');
        // The numbers agree with the API's own list of every store of this run.
        const all = await (await fetch(`${BASE}/api/v1/stores?phase=all&limit=200`, {
          headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
        })).json();
        const working = all.items.filter((s) => s.phase === 'requested' || s.phase === 'provisioning').length;
        assert.ok(all.items.length >= 2, 'the stores this run created');
        assert.equal((await admin.locator('[data-field="created"]').textContent()).trim(), String(all.items.length));
        assert.equal((await admin.locator('[data-field="provisioning"]').textContent()).trim(), String(working));
        assert.equal(await admin.locator('#users tr[data-user="e2e-user"]').count(), 1);
        assert.equal(await overflowsWidth(admin), false, `the platform page does not scroll sideways (${label})`);
        assert.deepEqual(await accessibilityProblems(admin), [], `platform page (${label})`);
        if (label === 'desktop') await screenshot(admin, 'admin.png');

        await admin.click('a[href="/admin/audit"]');
        await admin.fill('#actor', 'e2e-user');
        await admin.fill('#action', 'store.create');
        await Promise.all([admin.waitForURL(/actor=e2e-user/), admin.click('#audit-filters button[type="submit"]')]);
        const column = async (label) =>
          (await admin.locator(`#audit tbody td[data-label="${label}"]`).allTextContents()).map((a) => a.trim());
        const actions = await column('Action');
        assert.equal(actions.length, all.items.length, 'one store.create per store of this run');
        assert.ok(actions.every((a) => a === 'store.create'), `only the filtered action: ${actions}`);
        assert.ok((await column('Actor')).every((a) => a === 'e2e-user'), 'only the filtered actor');
        assert.equal(await admin.locator('h1').count(), 1, 'one h1 on the audit page');
        assert.equal(await overflowsWidth(admin), false, `the audit page does not scroll sideways (${label})`);
        assert.deepEqual(await accessibilityProblems(admin), [], `audit page (${label})`);
        if (label === 'phone') await screenshot(admin, 'audit-phone.png');
      } finally {
        await context.close();
      }
    }
  });

  it('deletes a store from its page and shows it deleted', async () => {
    await page.click('#delete-form button');
    await eventually('the store to show deleted', async () =>
      (await page.locator('h1 [data-field="phase"]').textContent()).trim() === 'deleted',
    );
    await eventually('the Deleted event', async () =>
      (await page.locator('#events .reason').allTextContents()).includes('Deleted'),
    );
    assert.equal(await page.locator('#delete-form').count(), 0, 'no delete button on a deleted store');
    assert.equal(await page.locator('#credentials-form').count(), 0, 'no credentials button on a deleted store');
    await page.goto(`${BASE}/`);
    assert.equal(await row('e2e-shop').isVisible(), false, 'deleted stores are hidden by default');
    await page.selectOption('#filter-phase', 'all');
    assert.equal(await phaseOf('e2e-shop'), 'deleted');
    assert.equal(await row('e2e-shop').locator('[data-field="links"] a').count(), 0, 'no live links');
    assert.equal((await row('e2e-shop').locator('[data-field="progress"]').textContent()).trim(), '', 'no stale progress');

    // And from the list, for the other store: its row turns deleted in place.
    await Promise.all([
      page.waitForURL(/\/#store-/),
      row('e2e-woo').locator('button', { hasText: 'Delete' }).click(),
    ]);
    await page.selectOption('#filter-phase', 'all');
    await eventually('e2e-woo to show deleted', async () => (await phaseOf('e2e-woo')) === 'deleted');
    await page.selectOption('#filter-phase', 'live');
    assert.equal(await row('e2e-woo').isVisible(), false, 'and leaves the live list');
  });

  it('logs out', async () => {
    await Promise.all([page.waitForURL(`${BASE}/login`), page.click('.who button')]);
    const cookies = await page.context().cookies();
    assert.ok(!cookies.some((c) => c.name === 'storefleet_session'), 'the session cookie is gone');
    await page.goto(`${BASE}/`);
    assert.equal(new URL(page.url()).pathname, '/login');
  });

  it('had no CSP violations or script errors, and never put the token in a URL', () => {
    assert.deepEqual(problems, []);
    assert.ok(requested.length > 10, 'requests were recorded');
    for (const url of requested) assert.ok(!url.includes(TOKEN), `the token is in ${url}`);
  });
});
