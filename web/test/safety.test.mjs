// The tracker never throws into the host page, whatever the platform or the caller does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import cs, { propsOf, uuid, createTracker } from '../tracker.mjs';
import { setup } from './fakes.mjs';

const boom = () => {
  throw new Error('boom');
};

test('a storage that throws on every call (private mode, quota) does not stop tracking', async () => {
  const storage = { getItem: boom, setItem: boom, removeItem: boom, key: boom, get length() { return boom(); } };
  const { tracker, clock, transport } = setup({}, { storage });
  assert.equal(tracker.track('click', 'LIKE_WOOD'), true);
  await clock.advance(5000);
  assert.equal(transport.delivered().length, 1);
});

test('a transport that throws synchronously is a network error: retried, no exception', async () => {
  let calls = 0;
  const post = () => {
    if (++calls === 1) boom();
    return Promise.resolve({ status: 200 });
  };
  const { tracker, clock } = setup({}, { post, beacon: boom });
  tracker.track('click', 'LIKE_WOOD');
  await clock.advance(5000);
  tracker.track('click', 'LIKE_WOOD');
  tracker.hide(true); // beacon throws: kept, not lost
  assert.equal(tracker.stats().queued, 2);
  tracker.online();
  await clock.advance(0);
  assert.equal(calls, 2);
  assert.equal(tracker.stats().queued, 0);
});

test('bad arguments never throw', async () => {
  const { tracker, clock } = setup();
  const circular = {};
  circular.self = circular;
  assert.doesNotThrow(() => {
    tracker.track();
    tracker.track(null, null, null);
    tracker.track('click', { not: 'a name' }, 'not props');
    tracker.track('custom', 'CIRCULAR', circular);
    tracker.identify({ toString: boom });
    tracker.click(undefined, undefined, 42);
  });
  await clock.advance(5000);
});

test('a failing env.page/context callback is swallowed', () => {
  const { tracker } = setup({}, { page: boom, context: boom });
  assert.doesNotThrow(() => tracker.track('page_view'));
});

test('the public API is safe before init() and without a window', () => {
  assert.doesNotThrow(() => {
    cs.track('click', 'LIKE_WOOD');
    cs.identify('u');
    cs.reset();
    cs.flush();
    cs.page();
    cs.setConsent(true);
    assert.equal(cs.init() ?? null, null, 'no key, no tracker');
  });
});

test('createTracker works with no env at all', () => {
  const tracker = createTracker({ key: 'k', consent: false });
  assert.equal(tracker.track('click', 'X'), false);
});

test('uuid: randomUUID when present, else a v4 built from getRandomValues or Math.random', () => {
  assert.equal(uuid({ randomUUID: () => 'native' }), 'native');
  const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(uuid({ getRandomValues: (b) => b.fill(255) }), v4);
  assert.match(uuid(undefined), v4);
  assert.notEqual(uuid(undefined), uuid(undefined));
});

test('propsOf maps data-cs-prop-* attributes to snake_case string properties', () => {
  const el = {
    attributes: [
      { name: 'data-cs-event', value: 'LIKE_WOOD' },
      { name: 'data-cs-prop-item-index', value: '3' },
      { name: 'data-cs-prop-lang', value: 'en' },
      { name: 'class', value: 'btn' },
    ],
  };
  assert.deepEqual(propsOf(el), { item_index: '3', lang: 'en' });
});
