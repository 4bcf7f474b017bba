// Drives the slo-host dashboard in headless Chromium through playwright-core and checks it
// against the server's own RPC answers. Run by host-harness/tests/dashboard.rs, which starts the
// server; every check that fails throws, and the process exits non-zero with the reason.
//
// Environment: SLO_BASE (the server), SLO_ADMIN_TOKEN, SLO_READER_TOKEN, SLO_OBJECTIVE_SYSTEM
// (the system whose objective page is opened and whose health is changed), SLO_SCREENSHOTS (a
// directory), CHROMIUM_PATH.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = need('SLO_BASE');
const adminToken = need('SLO_ADMIN_TOKEN');
const readerToken = need('SLO_READER_TOKEN');
const focusSystem = need('SLO_OBJECTIVE_SYSTEM');
const screenshots = need('SLO_SCREENSHOTS');
const executablePath = need('CHROMIUM_PATH');
const WAIT = 20000;

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function api(method, path, token, body) {
  const response = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

const rpc = (procedure, input) => api('POST', `/rpc/${procedure}`, adminToken, input || {});
const log = (...args) => console.log('[dashboard]', ...args);

async function signIn(page, token) {
  await page.goto(base + '/');
  await page.locator('#sign-in').waitFor({ state: 'visible', timeout: WAIT });
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type=submit]');
}

async function rowValues(page) {
  return page.$$eval('#objectives tbody tr[data-objective-id]', (rows) =>
    rows.map((row) => {
      const out = { id: row.dataset.objectiveId };
      for (const cell of row.querySelectorAll('td[data-field]')) out[cell.dataset.field] = cell.dataset.value;
      return out;
    }),
  );
}

async function checkList(page) {
  await page.locator('#objectives tbody tr[data-objective-id]').first().waitFor({ timeout: WAIT });
  const [list, streaks, catalog] = await Promise.all([
    rpc('listObjectives'),
    rpc('getStreaks'),
    api('GET', '/catalog/systems', adminToken),
  ]);
  const names = new Map(catalog.systems.map((s) => [s.id, s.name]));
  const streakOf = new Map(streaks.streaks.map((s) => [s.objectiveId, s.currentStreak]));
  const rows = new Map((await rowValues(page)).map((row) => [row.id, row]));
  check(rows.size === list.objectives.length, `${rows.size} rows for ${list.objectives.length} objectives`);
  for (const { objective, status } of list.objectives) {
    const row = rows.get(objective.id);
    check(row, `no row for objective ${objective.id}`);
    const expected = {
      system: names.get(objective.systemId),
      target: String(objective.target),
      windowDays: String(objective.windowDays),
      mode: status.dependencyExclusion,
      availability: status.currentAvailability === null ? '' : String(status.currentAvailability),
      budget: String(status.errorBudgetRemainingPercent),
      state: status.budgetState,
      alert: status.burnAlert,
      streak: String(streakOf.get(objective.id) ?? 0),
    };
    for (const [field, value] of Object.entries(expected)) {
      check(row[field] === value, `objective ${objective.id} ${field}: page ${row[field]}, RPC ${value}`);
    }
  }
  log(`list: ${rows.size} rows equal the RPC answers`);

  // sorting by budget left, ascending then descending
  await page.click('th button[data-sort="budget"]');
  let budgets = (await rowValues(page)).map((r) => Number(r.budget));
  check(budgets.every((b, i) => i === 0 || budgets[i - 1] <= b), `not ascending: ${budgets}`);
  await page.click('th button[data-sort="budget"]');
  budgets = (await rowValues(page)).map((r) => Number(r.budget));
  check(budgets.every((b, i) => i === 0 || budgets[i - 1] >= b), `not descending: ${budgets}`);
  // filtering by system
  const focusName = names.get(focusSystem);
  await page.fill('#filter', focusName.slice(0, 4));
  const filtered = await rowValues(page);
  check(filtered.length >= 1 && filtered.length < rows.size, `filter kept ${filtered.length} rows`);
  check(filtered.every((r) => r.system.toLowerCase().includes(focusName.slice(0, 4).toLowerCase())), 'filter kept a stranger');
  await page.fill('#filter', '');
  await page.click('th button[data-sort="system"]');
  log('list: sorting and filtering work');
  return list;
}

async function openObjective(page, list) {
  const entry = list.objectives.find((o) => o.objective.systemId === focusSystem);
  check(entry, `no objective on ${focusSystem}`);
  const id = entry.objective.id;
  await page.click(`tr[data-objective-id="${id}"] td[data-field=system] a`);
  await page.locator('#budget-chart canvas').waitFor({ timeout: WAIT });
  await page.locator('#timeline-chart canvas').waitFor({ timeout: WAIT });
  return id;
}

// Whether a chart's canvas has drawn pixels (not a blank bitmap).
async function drawnPixels(page, selector) {
  return page.$eval(selector, (canvas) => {
    const { width, height } = canvas;
    const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    let drawn = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) drawn += 1;
    return drawn;
  });
}

async function checkObjective(page, id) {
  const [detail, events] = await Promise.all([
    rpc('getObjective', { id }),
    rpc('getDowntimeEvents', { objectiveId: id, limit: 1000 }),
  ]);
  const last = await page.evaluate(() => {
    const data = window.sloDashboard.charts.budget.data;
    return data[1][data[1].length - 1];
  });
  check(
    last === detail.status.errorBudgetRemainingPercent,
    `the chart ends at ${last}, the status says ${detail.status.errorBudgetRemainingPercent}`,
  );
  const tile = await page.$eval('.tile[data-field=budget]', (t) => t.dataset.value);
  check(tile === String(detail.status.errorBudgetRemainingPercent), `budget tile ${tile}`);
  const availability = await page.$eval('.tile[data-field=availability]', (t) => t.dataset.value);
  check(availability === String(detail.status.currentAvailability), `availability tile ${availability}`);
  check((await drawnPixels(page, '#budget-chart canvas')) > 1000, 'the budget chart drew nothing');
  check((await drawnPixels(page, '#timeline-chart canvas')) > 100, 'the timeline drew nothing');
  const shown = await page.$$eval('#events tbody tr', (rows) => rows.length);
  check(shown === events.events.length, `${shown} events shown, ${events.events.length} recorded`);
  const upstream = events.events.find((e) => e.attributionType === 'upstream');
  if (upstream) {
    const text = await page.$eval('#events tbody', (body) => body.textContent);
    check(text.includes(upstream.upstreamSystemName), `the upstream ${upstream.upstreamSystemName} is not named`);
  }
  const intervals = Number(await page.$eval('#timeline-chart', (c) => c.dataset.intervals));
  check(intervals >= 1, 'the timeline holds no interval');
  const maintenance = Number(await page.$eval('#timeline-chart', (c) => c.dataset.maintenance));
  check(maintenance >= 1, 'the maintenance window is not shaded');
  const rates = await page.$$eval('td[data-lookback]', (cells) => cells.map((c) => c.dataset.lookback));
  check(rates.join() === '5m,30m,1h,6h,3d', `burn rate lookbacks ${rates}`);
  const tiers = await page.$$eval('.tiers tbody tr', (rows) => rows.length);
  check(tiers === 3, `${tiers} alert tiers`);
  log(`objective ${id}: chart ends on the status (${last} %), ${shown} events, ${intervals} timeline intervals`);
}

async function checkLive(page, id) {
  const before = await page.evaluate(() => window.sloDashboard.renders);
  const openBefore = await page.$$eval('#events tbody .badge-open', (b) => b.length);
  check(openBefore === 0, 'an event is open before the change');
  const started = Date.now();
  await api('POST', '/admin/health', adminToken, { systemId: focusSystem, status: 'unhealthy' });
  await page.waitForFunction(
    (n) => window.sloDashboard.renders > n && document.querySelectorAll('#events tbody .badge-open').length === 1,
    before,
    { timeout: WAIT },
  );
  const opened = Date.now() - started;
  const detail = await rpc('getObjective', { id });
  check(detail.status.hasOpenDowntime === true, 'the RPC sees no open downtime');
  log(`live: the page showed the outage ${opened} ms after the health change`);
  await page.screenshot({ path: join(screenshots, 'dashboard-objective-live.png'), fullPage: true });
  const again = Date.now();
  await api('POST', '/admin/health', adminToken, { systemId: focusSystem, status: 'healthy' });
  await page.waitForFunction(() => document.querySelectorAll('#events tbody .badge-open').length === 0, null, {
    timeout: WAIT,
  });
  log(`live: the page showed the recovery ${Date.now() - again} ms after the health change`);
  return opened;
}

async function checkReader(browser, id) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signIn(page, readerToken);
  await page.locator('#objectives tbody tr[data-objective-id]').first().waitFor({ timeout: WAIT });
  await page.goto(`${base}/#/objective/${encodeURIComponent(id)}`);
  await page.locator('#budget-chart canvas').waitFor({ timeout: WAIT });
  const before = (await rpc('getObjective', { id })).objective;
  await page.fill('#edit-target', '50');
  await page.click('#edit-objective button[type=submit]');
  await page.locator('#edit-result[data-error]').waitFor({ timeout: WAIT });
  const refusal = await page.$eval('#edit-result', (r) => ({ code: r.dataset.error, text: r.textContent }));
  check(refusal.code === 'denied', `a reader's change was answered ${JSON.stringify(refusal)}`);
  const after = (await rpc('getObjective', { id })).objective;
  check(after.target === before.target && after.updatedAt === before.updatedAt, 'a reader changed the objective');
  log(`reader: the change was refused (${refusal.text}) and the objective is unchanged`);
  // Signing out forgets the token; one the server does not know goes back to the form.
  await page.click('#sign-out');
  await page.locator('#sign-in').waitFor({ state: 'visible', timeout: WAIT });
  check((await page.evaluate(() => sessionStorage.length)) === 0, 'the token outlived the sign-out');
  await page.fill('#token', 'not-a-token');
  await page.click('#sign-in-form button[type=submit]');
  await page.locator('#problem').waitFor({ state: 'visible', timeout: WAIT });
  await page.locator('#sign-in').waitFor({ state: 'visible', timeout: WAIT });
  const problem = await page.locator('#problem').textContent();
  check(problem.includes('unauthorized'), `an unknown token showed ${problem}`);
  await context.close();
}

async function main() {
  mkdirSync(screenshots, { recursive: true });
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await signIn(page, adminToken);
    const list = await checkList(page);
    await page.waitForFunction(() => document.getElementById('live').dataset.state === 'live', null, { timeout: WAIT });
    await page.screenshot({ path: join(screenshots, 'dashboard-list.png'), fullPage: true });
    const id = await openObjective(page, list);
    await checkObjective(page, id);
    await page.screenshot({ path: join(screenshots, 'dashboard-objective.png'), fullPage: true });
    const latency = await checkLive(page, id);
    await checkReader(browser, id);
    check(problems.length === 0, `the page reported errors: ${problems.join(' | ')}`);
    console.log(JSON.stringify({ ok: true, liveUpdateMs: latency }));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(`[dashboard] FAILED: ${error.stack || error}`);
  process.exit(1);
});
