// The local dashboard in a real Chromium, over a lake whose answers are known.
//
//   node --test tests/e2e/dashboard_browser.test.mjs
//
// tests/e2e/dashboard_server.py stores planned traffic (clickstream.traffic), exports it and
// serves /dashboard the way `make run` does; it prints the URL, a write key and a read key, and
// what the traffic plan says each panel, tile and list must show. This test opens the page as a
// share link (the read key in the URL fragment, so the live view reads GET /v1/live), posts
// events and sees them live, reads every panel back from the page (drawn text and data-value),
// checks each tile's change against its own arithmetic, switches the graph, clicks a country,
// and saves screenshots at desktop and phone width in test-output/dashboard_browser/.
// Skipped without Chromium (CHROMIUM_PATH, default /usr/bin/chromium) or the project's virtualenv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
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
    const timer = setTimeout(() => reject(new Error('dashboard_server did not start within 180 s')), 180_000);
    proc.on('exit', (code) => reject(new Error(`dashboard_server exited with ${code}`)));
    createInterface({ input: proc.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ proc, ...JSON.parse(line) });
    });
  });
}

// What a person sees: the page's own formats (dashboard.js, home.js), restated.
function shown(value, format) {
  if (value === null || value === undefined) return '–';
  if (format === 'percent') return `${(value * 100).toFixed(1)}%`;
  if (format === 'duration') {
    const s = Math.round(value);
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  }
  return new Intl.NumberFormat('en-US', { maximumFractionDigits: format === 'decimal' ? 2 : 0 }).format(value);
}

/** Every panel of the grid as drawn: state, and rows rebuilt from the marks' data attributes and texts. */
const readPanels = (page, panels) => page.evaluate((panels) => {
  const num = (v) => (v === '' || v === 'null' || v === undefined ? null : Number(v));
  const out = {};
  for (const card of document.querySelectorAll('[data-panel]')) {
    const all = (sel) => [...card.querySelectorAll(sel)];
    const panel = { state: card.dataset.state, visual: card.dataset.visual, rows: [], texts: [] };
    switch (card.dataset.visual) {
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

/** The top of the page: tiles, the graph's points, the compact lists. */
const readTop = (page) => page.evaluate(() => {
  const num = (v) => (v === '' || v === undefined ? null : Number(v));
  const tiles = Object.fromEntries([...document.querySelectorAll('.tile')].map((b) => [b.dataset.metric, {
    value: num(b.querySelector('.tile-value').dataset.value), text: b.querySelector('.tile-value').textContent,
    change: num(b.querySelector('.tile-change').dataset.change), changeText: b.querySelector('.tile-change').textContent,
    selected: b.getAttribute('aria-selected') === 'true',
  }]));
  const points = (series) => [...document.querySelectorAll(`#graph circle.point[data-series="${series}"]`)].map((c) => [c.dataset.x, num(c.dataset.value)]);
  const lists = Object.fromEntries([...document.querySelectorAll('[data-list]')].map((card) => [card.dataset.list,
    [...card.querySelectorAll('ol.bars li[data-key]')].map((li) => [li.dataset.key, num(li.dataset.value)])]));
  return { tiles, metric: document.querySelector('#overview').dataset.metric, current: points('current'), previous: points('previous'), lists };
});

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

function checkGrid(drawn, expected, specOf, filters) {
  // the KPIs are the tiles now, and four bar charts the compact lists (checked by checkLists)
  const grid = Object.keys(expected).filter((id) => specOf[id].visual !== 'kpi' && !['top_pages', 'referrers', 'browsers', 'countries', 'country_map'].includes(id));
  assert.deepEqual(Object.keys(drawn).sort(), grid.sort());
  for (const id of grid) checkPanel(id, specOf[id], drawn[id], expected[id], filters);
}

/** Tiles against the truth's values, and each change against this test's own arithmetic. */
function checkTiles(top, main) {
  for (const t of main.tiles) {
    const got = top.tiles[t.id];
    assert.ok(close(got.value, t.value), `${t.id}: ${got.value} vs ${t.value}`);
    assert.equal(got.text, shown(t.value, t.format), `${t.id} text`);
    const want = t.previous === null || t.value === null ? null
      : t.id === 'bounce_rate' ? t.value - t.previous // percentage points
        : t.previous === 0 ? null : (t.value - t.previous) / t.previous;
    assert.ok(want === null ? got.change === null : Math.abs(got.change - want) < 1e-9, `${t.id} change ${got.change} vs ${want}`);
    const sign = want > 0 ? '+' : want < 0 ? '−' : '±';
    const text = want === null ? 'new' : t.id === 'bounce_rate' ? `${sign}${Math.abs(want * 100).toFixed(1)} pp` : `${sign}${Math.abs(want * 100).toFixed(0)}%`;
    assert.equal(got.changeText, text, `${t.id} change text`);
  }
}

function checkLists(top, main) {
  for (const [id, list] of Object.entries(main.lists)) {
    const want = list.rows.slice(0, 9).map(([k, v]) => [k ?? '(none)', v]);
    sameRows(top.lists[id], want, `list ${id}`);
  }
}

test('the dashboard in a real browser shows what the traffic plan says', { skip, timeout: 300_000 }, async (t) => {
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
  const base = new URL(server.url);
  const spec = await (await fetch(new URL('/dashboard/api/spec', base))).json();
  const specOf = Object.fromEntries(spec.panels.map((p) => [p.id, p]));
  const ready = () => page.waitForFunction(() => document.body.dataset.ready === 'true' && document.body.dataset.liveReady === 'true');
  mkdirSync(OUT, { recursive: true });

  // GIVEN events posted a moment ago, through the API, from the Netherlands: 3 visitors,
  // 5 page views, 1 click; and one old event delivered late (imported history: not live)
  const now = Date.now();
  const ev = (visitor, path, type = 'page_view', at = now - 2_000) => ({ event_id: randomUUID(), event_type: type, timestamp: at,
    anonymous_id: visitor, url: `https://shop.example${path}`, ...(type === 'custom' ? { event_name: 'buy' } : {}) });
  const posted = [ev('live-1', '/live/a'), ev('live-1', '/live/b'), ev('live-2', '/live/a'), ev('live-3', '/live/a'),
    ev('live-3', '/live/c'), ev('live-2', '/live/a', 'click'), ev('late-1', '/live/a', 'page_view', now - 3 * 3_600_000)];
  const res = await fetch(new URL('/v1/events', base), { method: 'POST', body: JSON.stringify({ events: posted }),
    headers: { 'Content-Type': 'application/json', 'X-Api-Key': server.write_key, 'CloudFront-Viewer-Country': 'NL' } });
  assert.equal(res.status, 200, await res.text());

  await t.test('the live view shows the events posted a moment before, read with the share link\'s read key', async () => {
    const liveCalls = [];
    page.on('request', (r) => r.url().includes('/v1/live') && liveCalls.push(r.headers().authorization));
    await page.goto(`${server.url}#key=${server.read_key}`);
    await ready();
    assert.equal(await page.locator('#live').getAttribute('data-state'), 'ready');
    assert.deepEqual(liveCalls, [`Bearer ${server.read_key}`]);
    assert.equal(await page.locator('#live-visitors').getAttribute('data-value'), '3');
    assert.equal(await page.locator('#live-pageviews').getAttribute('data-value'), '5');
    assert.match(await page.locator('#live-window').textContent(), /since \d\d:\d\d UTC \(last 5 min\)/);
    const minutes = await page.locator('#live-bars g.minute').evaluateAll((gs) => gs.map((g) => [Number(g.dataset.visitors), Number(g.dataset.pageViews)]));
    assert.equal(minutes.length, 30);
    assert.equal(minutes.reduce((s, m) => s + m[1], 0), 5);
    const list = (key) => page.locator(`[data-live="${key}"] li[data-key]`).evaluateAll((lis) => lis.map((li) => [li.dataset.key, Number(li.dataset.value)]));
    assert.deepEqual(await list('top_pages'), [['/live/a', 3], ['/live/b', 1], ['/live/c', 1]]);
    assert.deepEqual(await list('top_countries'), [['NL', 3]]);
    assert.deepEqual(await list('top_sources'), [['Direct / none', 3]]);
  });

  await t.test('every panel and tile shows the expected numbers; each change equals the previous period\'s', async () => {
    assert.equal(await page.locator('#f-date_from').inputValue(), server.filters.date_from);
    checkGrid(await readPanels(page, spec.panels), server.expected, specOf, server.filters);
    const top = await readTop(page);
    checkTiles(top, server.main);
    checkLists(top, server.main);
    await page.screenshot({ path: `${OUT}/desktop.png`, fullPage: true });
  });

  await t.test('clicking a tile switches the graph to that metric, with the previous period overlaid', async () => {
    for (const metric of ['sessions', 'bounce_rate', 'visitors']) {
      await page.locator(`.tile[data-metric="${metric}"]`).click();
      const top = await readTop(page);
      assert.equal(top.metric, metric);
      assert.ok(top.tiles[metric].selected);
      assert.match(page.url(), new RegExp(`metric=${metric}`));
      const counts = metric !== 'bounce_rate';
      const want = (rows) => rows.map((r) => [r.day, r[metric]]).filter(([, v]) => v !== null || counts);
      const byDay = (rows) => Object.fromEntries(rows);
      for (const [series, rows] of [['current', server.main.daily], ['previous', server.main.daily_previous]]) {
        const got = byDay(top[series]);
        for (const [day, v] of want(rows)) assert.ok(close(got[day], v), `${metric} ${series} ${day}: ${got[day]} vs ${v}`);
        if (counts) assert.equal(top[series].length, 7, `${series} has a point per day`);
      }
    }
  });

  await t.test('clicking a country filters every panel, tile and list, and the filter is in the URL', async () => {
    await page.locator(`[data-list="countries"] li[data-key="${server.country}"] button`).click();
    await page.waitForURL(new RegExp(`country=${server.country}`));
    await ready();
    assert.match(await page.locator('#chips').textContent(), /Country is/);
    checkGrid(await readPanels(page, spec.panels), server.expected_country, specOf, server.filters);
    const top = await readTop(page);
    checkTiles(top, server.main_country);
    checkLists(top, server.main_country);
    assert.deepEqual(top.lists.countries.map((r) => r[0]), [server.country]);
    // the same URL, opened fresh, shows the same filtered view
    await page.reload();
    await ready();
    checkTiles(await readTop(page), server.main_country);
    // removing the chip brings the whole view back
    await page.locator('#chips .chip button').click();
    await page.waitForURL((u) => !u.searchParams.has('country'));
    await ready();
    checkTiles(await readTop(page), server.main);
  });

  await t.test('at phone width the page stacks into one column', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await ready();
    const widths = await page.locator('.lists > *').evaluateAll((cards) => cards.map((c) => c.getBoundingClientRect().width));
    assert.ok(widths.every((w) => w > 300), `cards are full width: ${widths}`);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), 'no horizontal scrolling');
    await page.screenshot({ path: `${OUT}/phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await t.test('ticking "Include bots" re-queries every panel with bots', async () => {
    await page.reload();
    await ready();
    await page.locator('#f-include_bots').check();
    await page.waitForURL(/include_bots=true/);
    await ready();
    checkGrid(await readPanels(page, spec.panels), server.expected_with_bots, specOf, server.filters);
    const visitors = (e) => e.visitors.rows[0][0];
    assert.ok(visitors(server.expected_with_bots) > visitors(server.expected), 'the generated traffic has bots');
  });

  await t.test('no script errors', () => assert.deepEqual(problems, []));
});
