// The whole pipeline in a real browser: demo site → tracker → API → DynamoDB → export →
// Parquet → `clickstream query`.
//
//   node --test tests/e2e/demo_pipeline.test.mjs
//
// Starts `clickstream dev` (what `make run` runs) on free ports with a fresh data dir, opens
// the demo with a UTM-tagged landing URL in Debian's Chromium, navigates (SPA), clicks tagged
// elements, goes offline and clicks again, comes back online, closes the page; then runs one
// export and checks with `clickstream query` that exactly those events are in the lake, once
// each. Skipped when Chromium or the Python virtualenv is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, '.venv/bin/clickstream');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-output', 'demo_pipeline');
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const run = promisify(execFile);
const skip = !existsSync(CHROMIUM) ? `Chromium not found at ${CHROMIUM}` : !existsSync(CLI) ? `${CLI} missing: run make test` : false;

const freePort = () => new Promise((resolve) => {
  const srv = createServer();
  srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
});

async function startStack() {
  const [port, ddb, s3] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    CLICKSTREAM_PORT: String(port), CLICKSTREAM_DYNAMODB_PORT: String(ddb), CLICKSTREAM_S3_PORT: String(s3),
    CLICKSTREAM_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'cs-e2e-')),
    CLICKSTREAM_EXPORT_EVERY_SECONDS: '3600', // the test runs the export itself
    CLICKSTREAM_SETTLE_SECONDS: '0',
  };
  const child = spawn(CLI, ['dev'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`clickstream dev did not start:\n${output}`)), 60_000);
    const onData = (chunk) => {
      output += chunk;
      if (output.includes('Ctrl-C stops everything')) { clearTimeout(timer); resolve(); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`clickstream dev exited ${code}:\n${output}`)); });
  });
  const stop = () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGINT'); });
  return { port, env, stop, output: () => output };
}

async function query(env, sql) {
  const { stdout } = await run(CLI, ['query', sql, '--format', 'json'], { env, cwd: ROOT, maxBuffer: 1 << 24 });
  return JSON.parse(stdout);
}

test('demo clicks in a real browser reach the lake exactly once', { skip, timeout: 240_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const stack = await startStack();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ userAgent: UA, locale: 'en-GB', timezoneId: 'Europe/London' });
    const page = await context.newPage();
    const base = `http://127.0.0.1:${stack.port}`;
    // GIVEN a visitor landing from a newsletter campaign
    await page.goto(`${base}/demo?utm_source=newsletter&utm_medium=email&utm_campaign=launch`);
    await page.waitForFunction(() => window.clickstream && document.querySelector('[data-cs-event="LIKE_WOOD"]'));
    // WHEN they switch language, like and unlike a wood, and open About (SPA navigation)
    await page.click('button[data-cs-event="CLICK_LANG"][data-cs-prop-lang="fr"]');
    await page.click('button[data-cs-event="LIKE_WOOD"][data-cs-prop-item-index="2"]');
    await page.click('button[data-cs-event="UNLIKE_WOOD"][data-cs-prop-item-index="2"]');
    await page.click('a[href="/demo/about"]');
    await page.waitForURL(`${base}/demo/about`);
    await page.click('a[data-i18n="nav_woods"]');
    // AND go offline, like another wood, and come back online
    await context.setOffline(true);
    await page.click('button[data-cs-event="LIKE_WOOD"][data-cs-prop-item-index="4"]');
    await page.waitForTimeout(6_000); // a flush attempt fails while offline
    await context.setOffline(false);
    await page.waitForTimeout(4_000);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'demo.png'), fullPage: true });
    // AND close the page (pagehide → sendBeacon flushes whatever is left)
    await page.click('button[data-cs-event="LIKE_WOOD"][data-cs-prop-item-index="5"]');
    await page.close({ runBeforeUnload: true });
    await new Promise((r) => setTimeout(r, 2_000));

    // THEN one export later the lake holds exactly those events, once each
    await run(CLI, ['etl', 'run'], { env: stack.env, cwd: ROOT });
    const rows = await query(stack.env, `
      SELECT event_id, event_type, event_name, properties, browser, os, device_type, path, utm_source,
             utm_medium, utm_campaign, anonymous_id, session_id, is_bot
      FROM events WHERE app_id = 'demo' ORDER BY event_time, event_name`);
    const ids = new Set(rows.map((r) => r.event_id));
    assert.equal(ids.size, rows.length, 'every event once');
    const summary = rows.map((r) => `${r.event_type}:${r.event_name ?? ''}:${r.path}`);
    assert.deepEqual(summary, [
      'page_view:page_view:/demo',
      'click:CLICK_LANG:/demo',
      'click:LIKE_WOOD:/demo',
      'click:UNLIKE_WOOD:/demo',
      'page_view:page_view:/demo/about',
      'page_view:page_view:/demo',
      'click:LIKE_WOOD:/demo',
      'click:LIKE_WOOD:/demo',
    ]);
    const props = rows.filter((r) => r.event_type === 'click').map((r) => JSON.parse(r.properties));
    assert.deepEqual(props, [{ lang: 'fr' }, { item_index: '2' }, { item_index: '2' }, { item_index: '4' }, { item_index: '5' }]);
    for (const r of rows) {
      assert.equal(r.browser, 'Chrome');
      assert.equal(r.os, 'Linux');
      assert.equal(r.device_type, 'desktop');
      assert.equal(r.is_bot, false);
    }
    assert.deepEqual([rows[0].utm_source, rows[0].utm_medium, rows[0].utm_campaign], ['newsletter', 'email', 'launch']);
    assert.equal(new Set(rows.map((r) => r.anonymous_id)).size, 1, 'one visitor');
    const sessions = await query(stack.env, `SELECT session_id, event_count, utm_source, entry_url FROM sessions WHERE app_id = 'demo'`);
    assert.equal(sessions.length, 1, 'one session');
    assert.equal(sessions[0].event_count, rows.length);
    assert.equal(sessions[0].utm_source, 'newsletter');
  } finally {
    await browser.close();
    await stack.stop();
  }
});
