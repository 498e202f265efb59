// Cookieless mode, Do-Not-Track, consent and opt-in geolocation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserEnv } from '../tracker.mjs';
import { setup, clicks } from './fakes.mjs';

test('cookieless: events have no anonymous_id and nothing is written to storage', async () => {
  const { tracker, clock, transport, storage } = setup({ cookieless: true, batchSize: 1 });
  tracker.track('page_view');
  tracker.identify('u-1');
  tracker.track('click', 'LIKE_WOOD');
  await clock.advance(0);

  const events = transport.delivered();
  assert.equal(events.length, 2);
  for (const e of events) assert.equal('anonymous_id' in e, false);
  assert.equal(events[0].session_id, events[1].session_id, 'an in-memory session');
  assert.equal(storage.writes, 0);
  assert.equal(storage.length, 0);
});

test('Do-Not-Track and Global Privacy Control are read from the browser', () => {
  const dnt = (navigator, extra = {}) => browserEnv({ navigator, ...extra }).dnt;
  assert.equal(dnt({ doNotTrack: '1' }), true);
  assert.equal(dnt({ globalPrivacyControl: true }), true);
  assert.equal(dnt({}, { doNotTrack: '1' }), true, 'old Safari/IE put it on window');
  assert.equal(dnt({ doNotTrack: '0' }), false);
  assert.equal(dnt({ doNotTrack: 'unspecified' }), false);
});

test('Do-Not-Track: nothing is queued, stored or sent', async () => {
  const { tracker, clock, transport, storage } = setup({}, { dnt: true });
  assert.equal(tracker.enabled(), false);
  assert.equal(tracker.track('page_view'), false);
  tracker.click('LIKE_WOOD', {});
  tracker.hide(true);
  await clock.advance(60_000);
  assert.equal(transport.requests.length + transport.beacons.length, 0);
  assert.equal(storage.writes, 0);
});

test('respectDnt: false tracks even with Do-Not-Track', async () => {
  const { tracker, clock, transport } = setup({ respectDnt: false }, { dnt: true });
  tracker.track('page_view');
  await clock.advance(5000);
  assert.equal(transport.delivered().length, 1);
});

test('consent: false queues and stores nothing until setConsent(true)', async () => {
  const { tracker, clock, transport, storage } = setup({ consent: false });
  clicks(tracker, 3);
  tracker.identify('u-1');
  await clock.advance(60_000);
  assert.equal(transport.requests.length, 0);
  assert.equal(storage.writes, 0);

  tracker.setConsent(true);
  tracker.track('page_view');
  await clock.advance(5000);
  assert.deepEqual(transport.delivered().map((e) => e.event_type), ['page_view']);
});

test('withdrawing consent drops the queue and every stored identifier', async () => {
  const { tracker, clock, transport, storage } = setup();
  clicks(tracker, 2);
  assert.ok(storage.length > 0);
  tracker.setConsent(false);
  assert.equal(storage.length, 0);
  await clock.advance(60_000);
  assert.equal(transport.requests.length, 0);
});

function geoSetup(opts, locate) {
  const calls = [];
  const s = setup({ batchSize: 1, ...opts }, { locate: (ok, fail) => calls.push(1) && locate(ok, fail) });
  return { ...s, calls };
}

test('GEO_LOC with geo: true asks for the position and sends context.geo', async () => {
  const { tracker, clock, transport, calls } = geoSetup({ geo: true }, (ok) => ok({ lat: 22.28, lon: 114.16, accuracy: 30 }));
  tracker.click('GEO_LOC', {});
  await clock.advance(0);
  assert.equal(calls.length, 1);
  const [e] = transport.delivered();
  assert.equal(e.event_type, 'click');
  assert.equal(e.event_name, 'GEO_LOC');
  assert.deepEqual(e.context.geo, { lat: 22.28, lon: 114.16, accuracy: 30 });
});

test('GEO_LOC without the geo option never asks for the position', async () => {
  const { tracker, clock, transport, calls } = geoSetup({}, (ok) => ok({ lat: 1, lon: 2, accuracy: 3 }));
  tracker.click('GEO_LOC', {});
  tracker.track('click', 'LIKE_WOOD');
  await clock.advance(0);
  assert.equal(calls.length, 0);
  for (const e of transport.delivered()) assert.equal('geo' in e.context, false);
});

test('a refused position still records the click, with geo_error', async () => {
  const { tracker, clock, transport } = geoSetup({ geo: true }, (ok, fail) => fail(1));
  tracker.click('GEO_LOC', { from: 'header' });
  await clock.advance(0);
  const [e] = transport.delivered();
  assert.deepEqual(e.properties, { geo_error: 'denied', from: 'header' });
  assert.equal('geo' in e.context, false);
});

test('no position is asked for while tracking is off', async () => {
  const { tracker, calls } = geoSetup({ geo: true, consent: false }, (ok) => ok({}));
  tracker.click('GEO_LOC', {});
  assert.equal(calls.length, 0);
});
