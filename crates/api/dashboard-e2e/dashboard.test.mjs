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
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run this through run.sh`);
  return value;
};

const BIN = env('E2E_STOREFLEET_BIN');
const WORK = env('E2E_WORKDIR');
const TOKEN = env('E2E_TOKEN');
const PORT = env('E2E_PORT');
const ARTIFACTS = env('E2E_ARTIFACTS');
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
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
    await eventually('the list to be live again', async () =>
      (await page.locator('#live-status').getAttribute('data-state')) === 'ok',
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'list.png'), fullPage: true });
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
    await page.screenshot({ path: path.join(ARTIFACTS, 'detail.png'), fullPage: true });
  });

  it("offers the owner the store's credentials and says they come once setup is complete", async () => {
    const storePage = page.url();
    await Promise.all([page.waitForURL(/\/credentials$/), page.click('#credentials-form button')]);
    const alert = (await page.locator('.alert.error').textContent()).trim();
    assert.match(alert, /copied once the store's setup is complete; the store is provisioning/);
    await page.goto(storePage);
    assert.equal((await page.locator('h1 [data-field="phase"]').textContent()).trim(), 'provisioning');
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
    assert.equal(await phaseOf('e2e-shop'), 'deleted');

    // And from the list, for the other store: its row turns deleted in place.
    await Promise.all([
      page.waitForURL(/\/#store-/),
      row('e2e-woo').locator('button', { hasText: 'Delete' }).click(),
    ]);
    await eventually('e2e-woo to show deleted', async () => (await phaseOf('e2e-woo')) === 'deleted');
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
