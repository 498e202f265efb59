// Which responses are retried, when, and what happens to the events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoff, retryable } from '../tracker.mjs';
import { setup, clicks, ids, outboxes } from './fakes.mjs';

test('network errors, 429 and 5xx are retryable; every other 4xx is terminal', () => {
  for (const s of [0, undefined, 429, 500, 502, 503, 504]) assert.equal(retryable(s), true, String(s));
  for (const s of [400, 401, 403, 404, 413, 422]) assert.equal(retryable(s), false, String(s));
});

test('backoff doubles from 1 s, caps at 60 s, and jitters between half and all of it', () => {
  assert.equal(backoff(1, () => 1), 1000);
  assert.equal(backoff(2, () => 1), 2000);
  assert.equal(backoff(3, () => 1), 4000);
  assert.equal(backoff(20, () => 1), 60_000);
  assert.equal(backoff(3, () => 0), 2000);
});

test('503 with Retry-After: the retry waits that long and resends the same event_ids', async () => {
  const { tracker, clock, transport } = setup();
  transport.reply({ status: 503, retryAfter: '7' });
  clicks(tracker, 2);
  await clock.advance(5000);
  assert.equal(transport.requests.length, 1);

  await clock.advance(6999);
  assert.equal(transport.requests.length, 1, 'Retry-After honoured');
  await clock.advance(1);
  assert.equal(transport.requests.length, 2);

  const [first, retry] = transport.requests;
  assert.deepEqual(ids(retry.events), ids(first.events));
  assert.notEqual(retry.events[0].sent_at, first.events[0].sent_at, 'sent_at is per attempt');
  assert.equal(retry.events[0].timestamp, first.events[0].timestamp);
});

test('network errors back off exponentially, then delivery succeeds once', async () => {
  const { tracker, clock, transport } = setup();
  transport.reply('network', 'network', 500);
  clicks(tracker, 1);
  await clock.advance(5000); // attempt 1 fails
  await clock.advance(749);
  assert.equal(transport.requests.length, 1);
  await clock.advance(1); // 1 s * 0.75 jitter
  assert.equal(transport.requests.length, 2);
  await clock.advance(1500); // 2 s * 0.75
  assert.equal(transport.requests.length, 3);
  await clock.advance(3000); // 4 s * 0.75, then 200
  assert.equal(transport.requests.length, 4);
  await clock.advance(60_000);
  assert.equal(transport.requests.length, 4, 'nothing left to send');
  assert.equal(tracker.stats().sent, 1);
});

test('429 is retried too', async () => {
  const { tracker, clock, transport } = setup();
  transport.reply({ status: 429, retryAfter: '2' });
  clicks(tracker, 1);
  await clock.advance(7000);
  assert.equal(transport.requests.length, 2);
});

for (const status of [400, 401, 403, 413]) {
  test(`${status} is terminal: the batch is dropped, never retried, logged once in debug`, async () => {
    const logs = [];
    const { tracker, clock, transport, storage } = setup({ debug: true }, { log: (...a) => logs.push(a.join(' ')) });
    transport.reply(status);
    clicks(tracker, 2);
    await clock.advance(5000);
    await clock.advance(10 * 60_000);

    assert.equal(transport.requests.length, 1);
    assert.equal(tracker.stats().queued, 0);
    assert.deepEqual(outboxes(storage), []);
    assert.equal(logs.filter((l) => l.includes(`HTTP ${status}`)).length, 1);

    clicks(tracker, 1); // later events still flow
    await clock.advance(5000);
    assert.equal(transport.requests.length, 2);
  });
}

test('no debug option, no console output', async () => {
  const logs = [];
  const { tracker, clock, transport } = setup({}, { log: (...a) => logs.push(a) });
  transport.reply(400);
  clicks(tracker, 1);
  await clock.advance(5000);
  assert.deepEqual(logs, []);
});

test('200 with some rejected events is not retried', async () => {
  const { tracker, clock, transport } = setup();
  transport.reply({ status: 200, accepted: 1, rejected: [{ index: 1, error: 'event_name: too long' }] });
  clicks(tracker, 2);
  await clock.advance(60_000);
  assert.equal(transport.requests.length, 1);
});
