// Fakes for driving the tracker core in node: a manual clock with timers, a Storage,
// and a transport whose replies the test scripts. No test in this file.
import { createTracker } from '../tracker.mjs';

export const T0 = Date.parse('2024-05-01T10:00:00.000Z');
export const MIN = 60_000;

const settle = () => new Promise((resolve) => setImmediate(resolve));

export function fakeClock(start = T0) {
  let now = start;
  let seq = 0;
  const timers = new Map();
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.set(++seq, { at: now + Math.max(0, ms || 0), fn });
      return seq;
    },
    clearTimeout: (id) => timers.delete(id),
    pending: () => timers.size,
    /** Move time forward by `ms`, running due timers and letting promises settle. */
    async advance(ms = 0) {
      const end = now + ms;
      for (;;) {
        await settle();
        const [id, due] = [...timers].sort((a, b) => a[1].at - b[1].at)[0] || [];
        if (!due || due.at > end) break;
        timers.delete(id);
        now = due.at;
        due.fn();
      }
      now = end;
      await settle();
    },
  };
}

/** A Storage whose `writes` counts setItem calls. */
export function fakeStorage(initial = {}) {
  const map = new Map(Object.entries(initial));
  return {
    map,
    writes: 0,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem(k, v) {
      this.writes++;
      map.set(k, String(v));
    },
    removeItem: (k) => map.delete(k),
    key: (i) => [...map.keys()][i] ?? null,
    get length() {
      return map.size;
    },
  };
}

/**
 * Records requests. Script replies with `reply(...)`: a number is an HTTP status,
 * {status, retryAfter} a full response, 'network' a rejected fetch, 'hold' a request
 * that stays in flight until `release()`. Unscripted requests get 200.
 */
export function fakeTransport() {
  const replies = [];
  const held = [];
  const t = {
    requests: [],
    beacons: [],
    beaconOk: true,
    reply: (...r) => replies.push(...r),
    release: (status = 200) => held.shift()({ status }),
    post(url, body, headers) {
      t.requests.push({ url, headers, ...JSON.parse(body) });
      const r = replies.shift() ?? 200;
      if (r === 'network') return Promise.reject(new TypeError('Failed to fetch'));
      if (r === 'hold') return new Promise((resolve) => held.push(resolve));
      return Promise.resolve(typeof r === 'number' ? { status: r } : r);
    },
    beacon(url, body) {
      if (!t.beaconOk) return false;
      t.beacons.push({ url, ...JSON.parse(body) });
      return true;
    },
    /** Every event that reached the server, in order. */
    delivered: () => [...t.requests, ...t.beacons].flatMap((r) => r.events),
  };
  return t;
}

let seq = 0;
/** A tracker on fakes. `env` overrides any fake; returns the fakes for assertions. */
export function setup(opts = {}, env = {}) {
  const clock = env.clock || fakeClock();
  const storage = 'storage' in env ? env.storage : fakeStorage();
  const transport = env.transport || fakeTransport();
  const state = { online: true };
  const tracker = createTracker(
    { key: 'wk_test', endpoint: 'https://collect.example/', ...opts },
    {
      storage,
      now: clock.now,
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
      random: () => 0.5,
      uuid: () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
      online: () => state.online,
      page: () => ({ url: 'https://shop.example/?utm_source=news', referrer: 'https://news.example/', title: 'Woods' }),
      context: () => ({ locale: 'en-GB', timezone: 'Europe/London', screen: { width: 390, height: 844 } }),
      post: transport.post,
      beacon: (u, b) => transport.beacon(u, b),
      ...env,
    },
  );
  return { tracker, clock, storage, transport, state };
}

/** Track `n` LIKE_WOOD clicks. */
export function clicks(tracker, n) {
  for (let i = 0; i < n; i++) tracker.track('click', 'LIKE_WOOD', { item_index: String(i) });
}

export const ids = (events) => events.map((e) => e.event_id);
export const outboxes = (storage) => [...storage.map.keys()].filter((k) => k.startsWith('cs_q_'));
