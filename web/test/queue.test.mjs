// Event shape, batching thresholds and request chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, clicks, ids, T0 } from './fakes.mjs';

test('an event carries every contract field; sent_at is stamped when the batch is sent', async () => {
  const { tracker, clock, transport } = setup();
  tracker.track('click', 'LIKE_WOOD', { item_index: '3' });
  await clock.advance(5000);

  assert.equal(transport.requests.length, 1);
  const [req] = transport.requests;
  assert.equal(req.url, 'https://collect.example/v1/events');
  assert.deepEqual(req.headers, { 'Content-Type': 'application/json', 'X-Api-Key': 'wk_test' });
  const [e] = req.events;
  assert.match(e.event_id, /^[0-9a-f-]{36}$/);
  assert.equal(e.event_type, 'click');
  assert.equal(e.event_name, 'LIKE_WOOD');
  assert.equal(e.timestamp, new Date(T0).toISOString());
  assert.equal(e.sent_at, new Date(T0 + 5000).toISOString());
  assert.deepEqual(e.properties, { item_index: '3' });
  assert.equal(e.url, 'https://shop.example/?utm_source=news');
  assert.equal(e.referrer, 'https://news.example/');
  assert.equal(e.title, 'Woods');
  assert.ok(e.anonymous_id && e.session_id);
  assert.equal('user_id' in e, false);
  assert.deepEqual(e.context, { locale: 'en-GB', timezone: 'Europe/London', screen: { width: 390, height: 844 } });
});

test('nothing is sent below the batch size until the flush interval has passed', async () => {
  const { tracker, clock, transport } = setup();
  clicks(tracker, 19);
  await clock.advance(4999);
  assert.equal(transport.requests.length, 0);
  await clock.advance(1);
  assert.equal(transport.requests.length, 1);
  assert.equal(transport.requests[0].events.length, 19);
});

test('the 20th event sends the batch at once', async () => {
  const { tracker, clock, transport } = setup();
  clicks(tracker, 20);
  await clock.advance(0);
  assert.equal(transport.requests.length, 1);
  assert.equal(transport.requests[0].events.length, 20);
});

test('batchSize and flushInterval (seconds) are configurable', async () => {
  const { tracker, clock, transport } = setup({ batchSize: 3, flushInterval: 1 });
  clicks(tracker, 3);
  await clock.advance(0);
  assert.equal(transport.requests.length, 1);
  clicks(tracker, 1);
  await clock.advance(1000);
  assert.equal(transport.requests.length, 2);
});

test('events tracked while a request is in flight go in the next request, each event once', async () => {
  const { tracker, clock, transport } = setup({ batchSize: 2 });
  transport.reply('hold');
  clicks(tracker, 2);
  await clock.advance(0);
  clicks(tracker, 3);
  await clock.advance(0);
  assert.equal(transport.requests.length, 1, 'one request at a time');
  transport.release(200);
  await clock.advance(5000);

  const sent = transport.delivered();
  assert.equal(sent.length, 5);
  assert.equal(new Set(ids(sent)).size, 5);
  assert.equal(tracker.stats().queued, 0);
});

test('a request holds at most 500 events and about 60 KB', async () => {
  const { tracker, clock, transport } = setup({ batchSize: 10_000 });
  clicks(tracker, 700);
  tracker.flush();
  await clock.advance(30_000);

  assert.equal(transport.delivered().length, 700);
  for (const r of transport.requests) {
    assert.ok(r.events.length <= 500);
    assert.ok(JSON.stringify(r).length < 61_440, 'under the keepalive budget');
  }
});

test('event_type must be one of the contract types; event_name is cut to 128 characters', async () => {
  const { tracker, clock, transport } = setup();
  assert.equal(tracker.track('hover', 'X'), false);
  tracker.track('custom', 'N'.repeat(300));
  await clock.advance(5000);
  const events = transport.delivered();
  assert.equal(events.length, 1);
  assert.equal(events[0].event_name.length, 128);
});

test('an event over 32 KiB is dropped at track(), so it cannot get a whole batch refused', async () => {
  const { tracker, clock, transport } = setup();
  assert.equal(tracker.track('custom', 'BIG', { blob: 'x'.repeat(33_000) }), false);
  tracker.track('custom', 'SMALL');
  await clock.advance(5000);
  assert.deepEqual(transport.delivered().map((e) => e.event_name), ['SMALL']);
});

test('url, referrer and title are cut to the API limits (4096, 4096, 1024)', async () => {
  const long = 'https://shop.example/?q=' + 'x'.repeat(5000);
  const page = () => ({ url: long, referrer: long, title: 'T'.repeat(2000) });
  const { tracker, clock, transport } = setup({}, { page });
  tracker.track('page_view');
  await clock.advance(5000);
  const [e] = transport.delivered();
  assert.equal(e.url.length, 4096);
  assert.equal(e.referrer.length, 4096);
  assert.equal(e.title.length, 1024);
});
