// The persisted outbox: offline queueing, its bound, replay with the same event_ids,
// beacons on hide, and hand-over between page loads and tabs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, clicks, ids, outboxes, fakeStorage, fakeTransport, fakeClock, MIN } from './fakes.mjs';

const outboxIds = (storage) =>
  outboxes(storage).flatMap((k) => ids(JSON.parse(storage.getItem(k)).q));

test('offline: nothing is sent, events wait in the outbox, and go with the same ids once online', async () => {
  const { tracker, clock, transport, storage, state } = setup();
  state.online = false;
  clicks(tracker, 3);
  await clock.advance(MIN);
  assert.equal(transport.requests.length, 0);
  const waiting = outboxIds(storage);
  assert.equal(waiting.length, 3);

  state.online = true;
  tracker.online();
  await clock.advance(0);
  assert.deepEqual(ids(transport.delivered()), waiting);
  assert.deepEqual(outboxes(storage), []);
});

test('the queue is bounded: the oldest events are dropped and counted', async () => {
  const { tracker, clock, transport, state } = setup({ maxQueue: 1000, batchSize: 5000 });
  state.online = false;
  clicks(tracker, 1005);
  assert.deepEqual(tracker.stats(), { queued: 1000, dropped: 5, sent: 0, retries: 0 });

  state.online = true;
  tracker.online();
  await clock.advance(MIN);
  const props = transport.delivered().map((e) => e.properties.item_index);
  assert.equal(props.length, 1000);
  assert.equal(props[0], '5', 'the five oldest went');
  assert.equal(new Set(ids(transport.delivered())).size, 1000);
});

test('next page load: a released outbox is replayed at once with the same event_ids', async () => {
  const storage = fakeStorage();
  const clock = fakeClock();
  const first = setup({}, { storage, clock });
  first.state.online = false;
  clicks(first.tracker, 2);
  const waiting = outboxIds(storage);
  first.tracker.hide(true); // pagehide while offline: no beacon, outbox released
  first.tracker.hide(); // the visibilitychange that follows pagehide keeps it released

  const next = setup({}, { storage, clock }); // the next page, online
  await clock.advance(0);
  assert.deepEqual(ids(next.transport.delivered()), waiting);
  assert.deepEqual(outboxes(storage), []);
});

test("a live tab's outbox is left alone: its heartbeat keeps it fresh while offline", async () => {
  const storage = fakeStorage();
  const clock = fakeClock();
  const tabA = setup({}, { storage, clock });
  tabA.state.online = false;
  clicks(tabA.tracker, 1);
  await clock.advance(10 * MIN);

  const tabB = setup({}, { storage, clock });
  tabB.tracker.online();
  await clock.advance(0);
  assert.equal(tabB.transport.requests.length, 0);
  assert.equal(tabA.tracker.stats().queued, 1);
});

test('an outbox silent for 5 minutes is adopted, and its frozen owner then forgets it', async () => {
  const storage = fakeStorage();
  const clock = fakeClock();
  // Tab A is frozen: its timers never run, so no heartbeat.
  const tabA = setup({}, { storage, clock, setTimeout: () => 0, clearTimeout: () => {} });
  tabA.state.online = false;
  clicks(tabA.tracker, 1);

  const tabB = setup({}, { storage, clock });
  await clock.advance(5 * MIN - 1);
  tabB.tracker.online();
  await clock.advance(0);
  assert.equal(tabB.transport.requests.length, 0, 'not yet stale');

  await clock.advance(2);
  tabB.tracker.online();
  await clock.advance(0);
  assert.equal(tabB.transport.delivered().length, 1);

  // A thaws and comes online: its outbox is gone, so it must not send the event again.
  tabA.state.online = true;
  tabA.tracker.online();
  await clock.advance(MIN);
  assert.equal(tabA.transport.requests.length, 0);
  assert.equal(tabA.tracker.stats().queued, 0);
});

test('hide: idle events go by beacon, text body, key in the query string', async () => {
  const { tracker, clock, transport, storage } = setup({ key: 'wk test' });
  clicks(tracker, 3);
  tracker.hide();
  assert.equal(transport.beacons.length, 1);
  assert.equal(transport.beacons[0].url, 'https://collect.example/v1/events?key=wk%20test');
  assert.equal(transport.beacons[0].events.length, 3);
  assert.ok(transport.beacons[0].events[0].sent_at);
  assert.deepEqual(outboxes(storage), []);
  await clock.advance(MIN);
  assert.equal(transport.requests.length, 0, 'nothing sent twice');
});

test('hide: many events are split into beacons under 60 KB; a refused beacon leaves the rest queued', async () => {
  const { tracker, transport, storage } = setup({ batchSize: 5000 });
  clicks(tracker, 400);
  transport.beacon = function (url, body) {
    if (this.beacons.length === 2) return false; // the browser's keepalive budget ran out
    assert.ok(body.length < 61_440);
    this.beacons.push({ url, ...JSON.parse(body) });
    return true;
  };
  tracker.hide(true);
  const beaconed = transport.beacons.flatMap((b) => b.events).length;
  assert.ok(beaconed > 0 && beaconed < 400);
  assert.equal(outboxIds(storage).length, 400 - beaconed);
});

test('hide: no beacon for events in flight, nor while the API is failing', async () => {
  const { tracker, clock, transport, storage } = setup({ batchSize: 2 });
  transport.reply('hold');
  clicks(tracker, 2);
  await clock.advance(0);
  clicks(tracker, 1);
  tracker.hide();
  assert.equal(transport.beacons.length, 1);
  assert.equal(transport.beacons[0].events.length, 1, 'only the idle event');

  transport.release(503);
  await clock.advance(0);
  tracker.hide(true);
  assert.equal(transport.beacons.length, 1, 'a failing API gets no beacon');
  assert.equal(outboxIds(storage).length, 2, 'kept for retry or the next page load');
});

test('replay after an outage: the same event_ids, each delivered once', async () => {
  const transport = fakeTransport();
  const { tracker, clock, state } = setup({}, { transport });
  transport.reply('network');
  clicks(tracker, 2);
  await clock.advance(5000);
  state.online = false;
  clicks(tracker, 2);
  await clock.advance(MIN);
  state.online = true;
  tracker.online();
  await clock.advance(MIN);

  const [failed, ...rest] = transport.requests;
  const delivered = rest.flatMap((r) => r.events);
  assert.equal(delivered.length, 4);
  assert.equal(new Set(ids(delivered)).size, 4);
  assert.deepEqual(ids(delivered).slice(0, 2), ids(failed.events));
});
