// Identity: anonymous_id, the 30-minute session rule, identify() and reset().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, fakeStorage, fakeClock, MIN } from './fakes.mjs';

async function sessionsAt(offsetsMin) {
  const { tracker, clock, transport } = setup({ batchSize: 1 });
  let at = 0;
  for (const m of offsetsMin) {
    await clock.advance((m - at) * MIN);
    at = m;
    tracker.track('click', 'LIKE_WOOD');
  }
  await clock.advance(0);
  return transport.delivered().map((e) => e.session_id);
}

test('events less than 30 minutes apart share a session', async () => {
  const [a, b, c] = await sessionsAt([0, 29, 58]);
  assert.equal(a, b);
  assert.equal(b, c, 'each event extends the session');
});

test('30 minutes without events starts a new session', async () => {
  const [a, b] = await sessionsAt([0, 30]);
  assert.notEqual(a, b);
});

test('session and anonymous_id survive a page load (same storage)', async () => {
  const storage = fakeStorage();
  const clock = fakeClock();
  const one = setup({ batchSize: 1 }, { storage, clock });
  one.tracker.track('page_view');
  await clock.advance(10 * MIN);
  const two = setup({ batchSize: 1 }, { storage, clock });
  two.tracker.track('page_view');
  await clock.advance(0);
  const [a] = one.transport.delivered();
  const [b] = two.transport.delivered();
  assert.equal(a.session_id, b.session_id);
  assert.equal(a.anonymous_id, b.anonymous_id);
});

test('identify() sets user_id on later events and persists it; reset() clears ids and session', async () => {
  const storage = fakeStorage();
  const { tracker, clock, transport } = setup({ batchSize: 1 }, { storage });
  tracker.track('click', 'BEFORE');
  tracker.identify('u-42');
  tracker.track('click', 'AFTER');
  const reloaded = setup({ batchSize: 1 }, { storage, clock });
  reloaded.tracker.track('click', 'NEXT_PAGE');
  await clock.advance(0);

  const [before, after] = transport.delivered();
  assert.equal('user_id' in before, false);
  assert.equal(after.user_id, 'u-42');
  assert.equal(reloaded.transport.delivered()[0].user_id, 'u-42');

  reloaded.tracker.reset();
  reloaded.tracker.track('click', 'RESET');
  await clock.advance(0);
  const reset = reloaded.transport.delivered()[1];
  assert.equal('user_id' in reset, false);
  assert.notEqual(reset.anonymous_id, after.anonymous_id);
  assert.notEqual(reset.session_id, after.session_id);
});
