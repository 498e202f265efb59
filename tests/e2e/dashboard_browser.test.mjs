// The local dashboard in a real Chromium, over a lake whose answers are known.
//
//   node --test tests/e2e/dashboard_browser.test.mjs
//
// tests/e2e/dashboard_server.py stores planned traffic (clickstream.traffic), exports it and
// serves /dashboard the way `make run` does; it prints the URL and, per panel, the rows the
// traffic plan says each filter setting must show. This test reads every panel back from the
// page (the drawn text and each mark's data-value), toggles a filter, and saves a screenshot
// in test-output/dashboard_browser/. Skipped without Chromium (CHROMIUM_PATH, default
// /usr/bin/chromium) or without the project's virtualenv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = process.env.CLICKSTREAM_PYTHON || `${ROOT}.venv/bin/python`;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT = `${ROOT}test-output/dashboard_browser`;
const skip = !existsSync(CHROMIUM) ? `Chromium not found at ${CHROMIUM}` : !existsSync(PYTHON) ? `no ${PYTHON}: run make` : false;

/** Start the Python side; resolve with its first stdout line (JSON) and the process. */
function startServer() {
  const proc = spawn(PYTHON, ['-m', 'tests.e2e.dashboard_server'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('dashboard_server did not start within 120 s')), 120_000);
    proc.on('exit', (code) => reject(new Error(`dashboard_server exited with ${code}`)));
    createInterface({ input: proc.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ proc, ...JSON.parse(line) });
    });
  });
}

// What a person sees: the page's own formats (dashboard.js), restated.
function shown(value, format) {
  if (value === null || value === undefined) return '–';
  if (format === 'percent') return `${(value * 100).toFixed(1)}%`;
  if (format === 'duration') {
    const s = Math.round(value);
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  }
  return new Intl.NumberFormat('en-US', { maximumFractionDigits: format === 'decimal' ? 2 : 0 }).format(value);
}

/** Every panel as drawn: state, and rows rebuilt from the marks' data attributes and texts. */
const readPanels = (page, panels) => page.evaluate((panels) => {
  const num = (v) => (v === '' || v === 'null' || v === undefined ? null : Number(v));
  const out = {};
  for (const card of document.querySelectorAll('[data-panel]')) {
    const all = (sel) => [...card.querySelectorAll(sel)];
    const panel = { state: card.dataset.state, visual: card.dataset.visual, rows: [], texts: [] };
    switch (card.dataset.visual) {
      case 'kpi': {
        const v = card.querySelector('.kpi-value');
        if (v) { panel.rows = [[num(v.dataset.value)]]; panel.texts = [v.textContent]; }
        break;
      }
      case 'bar':
      case 'funnel':
        for (const g of all('g.bar, g.step')) {
          panel.rows.push([g.dataset.label, num(g.dataset.value)]);
          panel.texts.push(g.querySelector('text.value').textContent);
        }
        break;
      case 'line': {
        const series = panels.find((p) => p.id === card.dataset.panel).measures.map((m) => m.column);
        const days = [...new Set(all('circle.point').map((c) => c.dataset.x))];
        panel.rows = days.map((d) => [d, ...series.map((s) => num(card.querySelector(`circle[data-series="${s}"][data-x="${d}"]`).dataset.value))]);
        break;
      }
      case 'table':
        panel.rows = all('tbody tr').map((tr) => [...tr.cells].map((td) => td.dataset.value));
        panel.texts = all('tbody tr').map((tr) => [...tr.cells].map((td) => td.textContent));
        break;
      case 'heatmap':
        panel.rows = all('g.cell').map((g) => [g.dataset.row, num(g.dataset.col), num(g.dataset.value)]);
        break;
      case 'geo':
        panel.rows = all('g.dot').map((g) => [num(g.dataset.lat), num(g.dataset.lon), num(g.dataset.value)]);
        break;
    }
    out[card.dataset.panel] = panel;
  }
  return out;
}, panels);

const close = (a, b) => (typeof b === 'number' && typeof a === 'number' ? Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)) : a === b);
const sameRows = (got, want, what) => {
  assert.equal(got.length, want.length, `${what}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
  got.forEach((row, i) => row.forEach((v, j) => assert.ok(close(v, want[i][j]), `${what} row ${i}: ${JSON.stringify(row)} vs ${JSON.stringify(want[i])}`)));
};

/** Compare one drawn panel with the rows the traffic plan says it must show. */
function checkPanel(id, spec, drawn, expected, filters) {
  const want = expected.rows;
  if (!want.length) return assert.equal(drawn.state, 'empty', `${id} should say there is no data`);
  assert.equal(drawn.state, 'ready', `${id} is ${drawn.state}`);
  const m = spec.measures[0];
  switch (spec.visual) {
    case 'kpi':
      sameRows(drawn.rows, want, id);
      assert.equal(drawn.texts[0], shown(want[0][0], m.format), `${id} text`);
      break;
    case 'bar':
      sameRows(drawn.rows, want.map(([k, v]) => [k === null || k === '' ? '(none)' : String(k), v]), id);
      assert.deepEqual(drawn.texts, want.map(([, v]) => shown(v, m.format)), `${id} labels`);
      break;
    case 'funnel':
      sameRows(drawn.rows, want.map(([k, v]) => [`${k}. ${filters.steps[k - 1]}`, v]), id);
      break;
    case 'table':
      sameRows(drawn.rows.map((r) => r.map((v, j) => (j >= spec.dimensions.length ? Number(v) : v === 'null' ? null : v))), want, id);
      break;
    case 'geo': {
      const order = (rows) => [...rows].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      sameRows(order(drawn.rows), order(want), id);
      break;
    }
    default:
      sameRows(drawn.rows, want, id);
  }
}

test('the dashboard in a real browser shows what the traffic plan says', { skip, timeout: 240_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const server = await startServer();
  t.after(() => {
    server.proc.stdin.end(); // the server stops its stack when stdin closes
    setTimeout(() => server.proc.exitCode === null && server.proc.kill('SIGTERM'), 10_000).unref();
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  const spec = await (await fetch(new URL('/dashboard/api/spec', server.url))).json();
  const specOf = Object.fromEntries(spec.panels.map((p) => [p.id, p]));
  const ready = () => page.waitForFunction(() => document.body.dataset.ready === 'true');

  await t.test('every panel shows the expected numbers for the filters in the URL', async () => {
    await page.goto(server.url);
    await ready();
    assert.equal(await page.locator('#f-app_id').inputValue(), 'shop');
    assert.equal(await page.locator('#f-date_from').inputValue(), server.filters.date_from);
    const drawn = await readPanels(page, spec.panels);
    assert.deepEqual(Object.keys(drawn).sort(), Object.keys(server.expected).sort());
    for (const [id, expected] of Object.entries(server.expected)) checkPanel(id, specOf[id], drawn[id], expected, server.filters);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: `${OUT}/dashboard.png`, fullPage: true });
  });

  await t.test('ticking "Include bots" re-queries every panel with bots', async () => {
    await page.locator('#f-include_bots').check();
    await page.waitForURL(/include_bots=true/);
    await ready();
    const drawn = await readPanels(page, spec.panels);
    for (const [id, expected] of Object.entries(server.expected_with_bots)) checkPanel(id, specOf[id], drawn[id], expected, server.filters);
    const visitors = (e) => e.visitors.rows[0][0];
    assert.ok(visitors(server.expected_with_bots) > visitors(server.expected), 'the generated traffic has bots');
  });

  await t.test('no script errors', () => assert.deepEqual(problems, []));
});
