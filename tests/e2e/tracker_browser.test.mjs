// The browser tracker in a real Chromium against a fake collection API.
//
//   node --test tests/e2e/tracker_browser.test.mjs
//
// A tiny HTTP server serves web/ the way the dev server does (/demo/*, /web/*, a generated
// /demo/config.js) plus a fake POST /v1/events that records every request and can be told
// to answer 503 or to drop connections. Skipped when Chromium is not installed
// (CHROMIUM_PATH, default /usr/bin/chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = fileURLToPath(new URL('../../web/', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const KEY = 'wk_e2e_demo';
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css' };
const skip = existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`;

/** The fake API and static server. `api.mode`: 'ok' | 'down' | {status, retryAfter}. */
async function startServer() {
  const api = { requests: [], failed: 0, mode: 'ok', flushInterval: 0.3 };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    try {
      if (url.pathname === '/v1/events') return await events(req, res, url);
      if (url.pathname === '/demo/config.js') {
        const config = { key: KEY, endpoint: `http://127.0.0.1:${server.address().port}`, flushInterval: api.flushInterval };
        return send(res, 200, TYPES['.js'], `window.CLICKSTREAM_DEMO = ${JSON.stringify(config)};`);
      }
      if (url.pathname === '/e2e/script-tag.html') return send(res, 200, TYPES['.html'], scriptTagPage(api.origin));
      let file = null;
      if (url.pathname.startsWith('/web/')) file = url.pathname.slice(5);
      else if (url.pathname === '/demo' || url.pathname.startsWith('/demo/'))
        file = path.extname(url.pathname) ? 'demo/' + url.pathname.slice(6) : 'demo/index.html';
      const full = file && path.join(WEB, path.normalize(file));
      if (!full || !full.startsWith(WEB)) return send(res, 404, 'text/plain', 'not found');
      send(res, 200, TYPES[path.extname(full)] || 'application/octet-stream', await readFile(full));
    } catch {
      send(res, 404, 'text/plain', 'not found');
    }
  });

  async function events(req, res, url) {
    if (req.method !== 'POST') return send(res, 405, 'text/plain', '');
    let body = '';
    for await (const chunk of req) body += chunk;
    if (api.mode === 'down') {
      api.failed++;
      return req.socket.destroy();
    }
    if (typeof api.mode === 'object') {
      api.failed++;
      res.setHeader('Retry-After', String(api.mode.retryAfter));
      return send(res, api.mode.status, 'application/json', '{"error":"unavailable"}');
    }
    const { events: list } = JSON.parse(body);
    api.requests.push({
      via: req.headers['content-type'].startsWith('text/plain') ? 'beacon' : 'fetch',
      contentType: req.headers['content-type'],
      key: req.headers['x-api-key'] || url.searchParams.get('key'),
      events: list,
    });
    send(res, 200, 'application/json', JSON.stringify({ accepted: list.length, rejected: [] }));
  }

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.origin = `http://127.0.0.1:${server.address().port}`;
  api.events = () => api.requests.flatMap((r) => r.events.map((e) => ({ ...e, via: r.via })));
  api.close = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  };
  return { server, api };
}

// The one-tag install: no init() call, the tracker configures itself from data-*.
const scriptTagPage = (origin) => `<!doctype html><html lang="en"><title>Script tag</title>
<script src="/web/tracker.js" data-key="${KEY}" data-endpoint="${origin}" data-flush-interval="0.2"></script>
<button data-cs-event="CONVERSION_CTA" data-cs-type="conversion" data-cs-prop-plan="pro">Buy</button></html>`;

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

async function waitFor(what, predicate, timeout = 10_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const outboxIds = (page) =>
  page.evaluate(() =>
    Object.keys(localStorage)
      .filter((k) => k.startsWith('cs_q_'))
      .flatMap((k) => JSON.parse(localStorage.getItem(k)).q.map((e) => e.event_id)),
  );

test('tracker in a real browser', { skip, timeout: 120_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const { api } = await startServer();
  t.after(() => api.close());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  const context = await browser.newContext({
    permissions: ['geolocation'],
    geolocation: { latitude: 22.2819, longitude: 114.1582, accuracy: 25 },
    locale: 'en-GB',
    timezoneId: 'Asia/Hong_Kong',
  });
  const page = await context.newPage();
  const named = (name) => api.events().filter((e) => e.event_name === name);

  await t.test('page_view on load carries the UTM URL and the contract fields', async () => {
    await page.goto(`${api.origin}/demo?utm_source=newsletter&utm_medium=email&utm_campaign=spring`);
    const pv = await waitFor('the first page_view', () => api.events().find((e) => e.event_type === 'page_view'));
    assert.equal(pv.url, `${api.origin}/demo?utm_source=newsletter&utm_medium=email&utm_campaign=spring`);
    assert.equal(pv.title, 'Touch wood · Touchwood');
    assert.match(pv.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(pv.anonymous_id && pv.session_id);
    assert.ok(Date.parse(pv.sent_at) >= Date.parse(pv.timestamp));
    assert.deepEqual(pv.context, { locale: 'en-GB', timezone: 'Asia/Hong_Kong', screen: pv.context.screen });
    assert.equal(api.requests[0].via, 'fetch');
    assert.equal(api.requests[0].key, KEY);
    assert.equal(api.requests[0].contentType, 'application/json');
  });

  await t.test('the ES module entry re-exports the script tag API', async () => {
    const same = await page.evaluate(async () => {
      const m = await import('/web/tracker.mjs');
      return m.init === window.clickstream.init && m.track === window.clickstream.track && m.default === window.clickstream;
    });
    assert.equal(same, true);
  });

  await t.test('SPA navigation sends one page_view per new URL, none for the same URL or an anchor', async () => {
    await page.evaluate(() => (window.__noReload = true));
    await page.getByRole('link', { name: 'About', exact: true }).click();
    const about = await waitFor('the About page_view', () => api.events().find((e) => e.url === `${api.origin}/demo/about`));
    assert.equal(about.event_type, 'page_view');
    assert.equal(about.title, 'About Touchwood · Touchwood');
    assert.equal(about.referrer, `${api.origin}/demo?utm_source=newsletter&utm_medium=email&utm_campaign=spring`);
    assert.equal(await page.evaluate(() => window.__noReload), true, 'no full page load');

    await page.evaluate(() => history.replaceState({ same: 1 }, '', location.href));
    await page.goBack(); // popstate
    await waitFor('the popstate page_view', () => api.events().filter((e) => e.event_type === 'page_view').length === 3);
    await page.evaluate(() => (location.hash = '#main')); // an in-page anchor is not a page
    await page.waitForTimeout(600);
    assert.equal(api.events().filter((e) => e.event_type === 'page_view').length, 3);
  });

  await t.test('data-cs-event clicks carry their data-cs-prop-* properties', async () => {
    await page.locator('[data-cs-event="LIKE_WOOD"][data-cs-prop-item-index="3"]').click();
    await page.locator('[data-cs-event="UNLIKE_WOOD"][data-cs-prop-item-index="3"]').click();
    await page.getByRole('button', { name: '中文' }).click();
    await page.locator('#geo-button').click();
    await waitFor('four clicks', () => named('GEO_LOC').length === 1 && named('CLICK_LANG').length === 1);

    assert.deepEqual(named('LIKE_WOOD')[0].properties, { item_index: '3' });
    assert.deepEqual(named('UNLIKE_WOOD')[0].properties, { item_index: '3' });
    assert.deepEqual(named('CLICK_LANG')[0].properties, { lang: 'zh-HK' });
    const geo = named('GEO_LOC')[0];
    assert.equal(geo.event_type, 'click');
    assert.deepEqual(geo.context.geo, { lat: 22.2819, lon: 114.1582, accuracy: 25 });
    assert.equal(named('LIKE_WOOD')[0].event_type, 'click');
  });

  await t.test('offline clicks wait in localStorage and are replayed with the same event_ids', async () => {
    const before = api.events().length;
    await context.setOffline(true);
    await page.locator('[data-cs-prop-item-index="1"][data-cs-event="LIKE_WOOD"]').click();
    await page.locator('[data-cs-prop-item-index="2"][data-cs-event="LIKE_WOOD"]').click();
    await page.waitForTimeout(800);
    const waiting = await outboxIds(page);
    assert.equal(waiting.length, 2);
    assert.equal(api.events().length, before, 'nothing reached the API');

    await context.setOffline(false);
    await waitFor('the replay', () => api.events().length === before + 2);
    assert.deepEqual(api.events().slice(before).map((e) => e.event_id), waiting);
    // The server records a batch when it receives it; the tracker empties its outbox only when
    // the response reaches the page, a moment later: wait for that, not for a fixed time.
    await waitFor('the outbox to empty after the replay', async () => (await outboxIds(page)).length === 0);
  });

  await t.test('503 with Retry-After is retried after that delay, once', async () => {
    const before = api.events().length;
    api.mode = { status: 503, retryAfter: 1 };
    await page.locator('[data-cs-prop-item-index="4"][data-cs-event="LIKE_WOOD"]').click();
    await waitFor('a refused request', () => api.failed > 0);
    api.mode = 'ok';
    await waitFor('the retry', () => api.events().length === before + 1, 5000);
  });

  await t.test('a dropped connection (network error) is retried with backoff, once', async () => {
    const before = api.events().length;
    const failed = api.failed;
    api.mode = 'down';
    await page.locator('[data-cs-prop-item-index="4"][data-cs-event="UNLIKE_WOOD"]').click();
    await waitFor('a dropped request', () => api.failed > failed);
    api.mode = 'ok';
    await waitFor('the retry', () => api.events().length === before + 1, 5000);
  });

  await t.test('the next page load replays what the API refused, with the same event_ids', async () => {
    const before = api.events().length;
    const failed = api.failed;
    api.mode = { status: 503, retryAfter: 60 };
    await page.locator('[data-cs-prop-item-index="5"][data-cs-event="LIKE_WOOD"]').click();
    await waitFor('a refused request', () => api.failed > failed);
    const waiting = await outboxIds(page);
    assert.equal(waiting.length, 1);

    api.mode = 'ok';
    await page.reload(); // 60 s before the old page would retry: this is the new page's replay
    await waitFor('the replay and the new page_view', () => api.events().length === before + 2);
    const replayed = api.events().slice(before).filter((e) => e.event_name === 'LIKE_WOOD');
    assert.deepEqual(replayed.map((e) => e.event_id), waiting);
  });

  await t.test('closing the page flushes the queue with sendBeacon (text/plain, key in the query)', async () => {
    api.flushInterval = 60; // nothing goes by timer: only the beacon can deliver
    await page.reload();
    await page.locator('[data-cs-prop-item-index="0"][data-cs-event="LIKE_WOOD"]').click();
    await page.locator('[data-cs-prop-item-index="0"][data-cs-event="UNLIKE_WOOD"]').click();
    const waiting = await outboxIds(page);
    assert.equal(waiting.length, 3, 'page_view + 2 clicks queued');

    await page.close({ runBeforeUnload: true });
    const beacon = await waitFor('the beacon', () => api.requests.find((r) => r.via === 'beacon'));
    assert.match(beacon.contentType, /^text\/plain/);
    assert.equal(beacon.key, KEY);
    assert.deepEqual(beacon.events.map((e) => e.event_id), waiting);
  });

  await t.test('one script tag with data-key/data-endpoint is a complete install', async () => {
    const tagPage = await context.newPage();
    await tagPage.goto(`${api.origin}/e2e/script-tag.html`);
    await tagPage.getByRole('button', { name: 'Buy' }).click();
    const cta = await waitFor('the conversion click', () => named('CONVERSION_CTA')[0]);
    assert.equal(cta.event_type, 'conversion');
    assert.deepEqual(cta.properties, { plan: 'pro' });
    assert.ok(api.events().find((e) => e.event_type === 'page_view' && e.url.endsWith('/e2e/script-tag.html')));
    await tagPage.close();
  });

  await t.test('every event was received exactly once', () => {
    const ids = api.events().map((e) => e.event_id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.length >= 14);
  });
});
