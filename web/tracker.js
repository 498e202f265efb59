/*! clickstream tracker | Apache-2.0 */
// One classic script, two ways in (see web/README.md):
//   <script src="/web/tracker.js" data-key="..." data-endpoint="..."> sets
//   window.clickstream and auto-inits; web/tracker.mjs re-exports the same object
//   as an ES module; node's require() gets it as module.exports (tests).
// createTracker() is the platform-free core (queue, batching, retry, sessions,
// outbox); init() wires it to the browser. Nothing here may throw into the page.
(function (root, factory) {
  'use strict';
  var api = root && root.clickstream && root.clickstream.init ? root.clickstream : factory(root);
  if (typeof module == 'object' && module.exports) module.exports = api;
  else if (root) {
    root.clickstream = api;
    api._auto();
  }
})(typeof globalThis != 'undefined' ? globalThis : this, function (win) {
  'use strict';

  var TYPES = 'page_view click scroll form_submit conversion video_play custom'.split(' ');
  var SESSION_MS = 18e5; // 30 minutes without an event ends a session
  var STALE_MS = 3e5; // another tab's outbox is orphaned after 5 minutes without a heartbeat
  var POLL_MS = 3e4; // heartbeat and offline poll
  var MAX_BODY = 6e4; // bytes per request: under the 64 KiB keepalive/sendBeacon budget
  var MAX_EVENTS = 500; // per request (API limit)
  var MAX_EVENT = 32768; // bytes per event (API limit); bigger events are dropped at track()
  var P = 'cs_'; // storage prefix: cs_a anonymous id, cs_u user id, cs_s session, cs_q_<tab> outbox
  var GEO_ERRORS = ['', 'denied', 'unavailable', 'timeout'];

  function noop() {}

  // The API rejects an event whose url/referrer (4096) or title (1024) is longer: cut instead.
  function cut(v, n) {
    return v == null ? v : String(v).slice(0, n);
  }

  function safe(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {}
    };
  }

  function bytes(s) {
    return encodeURIComponent(s).replace(/%../g, '.').length;
  }

  function uuid(c) {
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16), h = '', i;
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    for (i = 0; i < 16; i++) h += (i == 4 || i == 6 || i == 8 || i == 10 ? '-' : '') + (b[i] + 256).toString(16).slice(1);
    return h;
  }

  /** Milliseconds to wait before retry number `n` (1-based): 1 s, 2 s, 4 s ... 60 s, with equal jitter. */
  function backoff(n, random) {
    return Math.min(6e4, 1e3 * Math.pow(2, n - 1)) * (0.5 + (random || Math.random)() / 2);
  }

  /** Network errors (status 0), 429 and 5xx may succeed later; every other 4xx never will. */
  function retryable(status) {
    return !status || status == 429 || status >= 500;
  }

  /** data-cs-prop-item-index="3" -> {item_index: "3"}; values stay strings. */
  function propsOf(el) {
    var p = {}, a = el.attributes || [], i;
    for (i = 0; i < a.length; i++)
      if (a[i].name.indexOf('data-cs-prop-') == 0) p[a[i].name.slice(13).replace(/-/g, '_')] = a[i].value;
    return p;
  }

  function memStore() {
    var m = {};
    return {
      getItem: function (k) { return k in m ? m[k] : null; },
      setItem: function (k, v) { m[k] = '' + v; },
      removeItem: function (k) { delete m[k]; },
      key: function (i) { return Object.keys(m)[i]; },
      get length() { return Object.keys(m).length; }
    };
  }

  /**
   * The core. `opts` is the public configuration (README); `env` injects the platform:
   * storage (Storage-like), now(), setTimeout/clearTimeout, random(), crypto, online(),
   * dnt, page() -> {url, referrer, title}, context() -> {...}, post(url, body, headers)
   * -> Promise<{status, retryAfter}>, beacon(url, body) -> bool, locate(ok, fail), log.
   */
  function createTracker(opts, env) {
    opts = opts || {};
    env = env || {};
    var cookieless = !!opts.cookieless;
    var store = cookieless || !env.storage ? memStore() : env.storage;
    var now = env.now || Date.now;
    var later = env.setTimeout || setTimeout;
    var cancel = env.clearTimeout || clearTimeout;
    var online = env.online || function () { return true; };
    var log = opts.debug ? env.log || noop : noop;
    var batchSize = opts.batchSize > 0 ? +opts.batchSize : 20;
    var flushMs = (opts.flushInterval > 0 ? +opts.flushInterval : 5) * 1e3;
    var maxQueue = opts.maxQueue > 0 ? +opts.maxQueue : 1e3;
    var url = String(opts.endpoint || '').replace(/\/+$/, '') + '/v1/events';
    var dnt = opts.respectDnt !== false && !!env.dnt;
    var consent = opts.consent !== false;
    var uid = null;
    var queue = []; // oldest first; an event leaves it only once a response (or a beacon) took it
    var saved = {}; // event_ids in our outbox as last written
    var flying = {}; // event_ids in the one request in flight
    var busy = 0, attempt = 0, holdUntil = 0, timer = 0, dropped = 0, sent = 0;
    var released = 0; // set at pagehide: our outbox is up for adoption by the next page load

    function id() {
      return env.uuid ? env.uuid() : uuid(env.crypto);
    }
    var qkey = P + 'q_' + id();

    function enabled() {
      return consent && !dnt;
    }
    function get(k) {
      try {
        return JSON.parse(store.getItem(k));
      } catch (e) {
        return null;
      }
    }
    // Writes only while tracking is allowed; removals always.
    function put(k, v) {
      try {
        if (v == null) store.removeItem(k);
        else if (enabled()) store.setItem(k, JSON.stringify(v));
        else return 0;
        return 1;
      } catch (e) {
        return 0;
      }
    }

    // Every tab keeps its own outbox {t: heartbeat, q: events} under cs_q_<tab id>, so two
    // tabs never send the same event. A tab that is gone leaves its outbox behind; the next
    // tracker to start (or come back online) adopts it:
    //
    //   tab A: track e1 -> save {t: now, q: [e1]} ... pagehide -> save {t: 0} (released;
    //          the visibilitychange that follows pagehide must not stamp it fresh again)
    //   tab B (next page load): sees t older than STALE_MS -> removes cs_q_A, queues e1, sends
    //   tab A restored from the back/forward cache: sync() finds cs_q_A gone -> forgets e1
    //
    // Without sync(), A and B would both send e1. The window left is two trackers adopting
    // the same outbox in the same instant; both then send e1 under the same event_id.
    function sync() {
      var mine;
      try {
        mine = store.getItem(qkey);
      } catch (e) {
        mine = 1;
      }
      if (mine == null) queue = queue.filter(function (e) { return !saved[e.event_id]; });
    }

    function save() {
      sync();
      var ids = {};
      queue.forEach(function (e) { ids[e.event_id] = 1; });
      saved = put(qkey, queue.length ? { t: released ? 0 : now(), q: queue } : null) ? ids : {};
    }

    function add(events) {
      var have = {}, i;
      queue.forEach(function (e) { have[e.event_id] = 1; });
      events.forEach(function (e) {
        if (e && e.event_id && !have[e.event_id]) queue.push((have[e.event_id] = e));
      });
      queue.sort(function (a, b) { return a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0; });
      while (queue.length > maxQueue && (i = queue.findIndex(function (e) { return !flying[e.event_id]; })) >= 0) {
        queue.splice(i, 1);
        dropped++;
        log('clickstream: queue full, dropped the oldest event; dropped so far:', dropped);
      }
    }

    function reclaim() {
      var keys = [], i;
      try {
        for (i = 0; i < store.length; i++) keys.push(store.key(i));
      } catch (e) {}
      keys.forEach(function (k) {
        if (!k || k.indexOf(P + 'q_') || k == qkey) return;
        var v = get(k) || {};
        if (now() - v.t < STALE_MS) return; // its tab is alive
        put(k);
        if (v.q) add(v.q);
      });
    }

    function session(t) {
      var s = get(P + 's');
      if (!s || !(t - s.t < SESSION_MS)) s = { id: id() };
      s.t = t;
      put(P + 's', s);
      return s.id;
    }

    function anonymousId() {
      var a = get(P + 'a');
      if (!a) put(P + 'a', (a = id()));
      return a;
    }

    function track(type, name, props, extra) {
      if (!enabled()) return false;
      if (TYPES.indexOf(type) < 0) return log('clickstream: unknown event_type', type), false;
      extra = extra || {};
      var page = env.page ? env.page() : {};
      var t = now();
      var ev = {
        event_id: id(),
        event_type: type,
        event_name: String(name || type).slice(0, 128),
        timestamp: new Date(t).toISOString(),
        session_id: session(t),
        url: cut(page.url, 4096),
        referrer: cut(extra.referrer != null ? extra.referrer : page.referrer, 4096),
        title: cut(page.title, 1024),
        properties: Object.assign({}, props && typeof props == 'object' ? props : {}),
        context: Object.assign({}, env.context && env.context())
      };
      if (!cookieless) ev.anonymous_id = anonymousId();
      if (uid) ev.user_id = uid;
      if (extra.geo) ev.context.geo = extra.geo;
      if (bytes(JSON.stringify(ev)) > MAX_EVENT) return log('clickstream: event over 32 KiB dropped', name), false;
      add([ev]);
      save();
      if (queue.length >= batchSize) flush();
      else if (!timer) arm(flushMs);
      return true;
    }

    // A click on a data-cs-event element. GEO_LOC asks for the position only when the page
    // opted in with {geo: true}; a refusal still records the click, with properties.geo_error.
    function click(name, props, type) {
      type = TYPES.indexOf(type) < 0 ? 'click' : type;
      if (name == 'GEO_LOC' && opts.geo && env.locate && enabled())
        env.locate(
          safe(function (geo) { track(type, name, props, { geo: geo }); }),
          safe(function (code) { track(type, name, Object.assign({ geo_error: GEO_ERRORS[code] || 'unavailable' }, props)); })
        );
      else track(type, name, props);
    }

    function arm(ms) {
      cancel(timer);
      timer = later(safe(function () { timer = 0; flush(); }), ms);
    }

    // The next request: oldest events not in flight, up to MAX_EVENTS and MAX_BODY bytes.
    function chunk(events) {
      var out = [], size = 16, n, i;
      for (i = 0; i < events.length; i++) {
        n = bytes(JSON.stringify(events[i])) + 50; // + "sent_at" and separators
        if (out.length && (out.length >= MAX_EVENTS || size + n > MAX_BODY)) break;
        out.push(events[i]);
        size += n;
      }
      return out;
    }

    function body(batch) {
      var at = new Date(now()).toISOString();
      return JSON.stringify({ events: batch.map(function (e) { return Object.assign({}, e, { sent_at: at }); }) });
    }

    function idle() {
      return queue.filter(function (e) { return !flying[e.event_id]; });
    }

    function forget(batch) {
      var ids = {};
      batch.forEach(function (e) { ids[e.event_id] = 1; });
      queue = queue.filter(function (e) { return !ids[e.event_id]; });
    }

    function flush() {
      if (!enabled() || busy) return;
      cancel(timer);
      timer = 0;
      sync();
      if (!queue.length) return;
      if (!online()) return save(), arm(POLL_MS); // keeps the outbox's heartbeat fresh
      if (holdUntil > now()) return arm(holdUntil - now());
      var batch = chunk(idle()), p;
      busy = 1;
      batch.forEach(function (e) { flying[e.event_id] = 1; });
      try {
        p = Promise.resolve(env.post(url, body(batch), { 'Content-Type': 'application/json', 'X-Api-Key': opts.key }));
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(safe(function (r) { done(batch, r || {}); }), safe(function () { done(batch, {}); }));
    }

    function done(batch, r) {
      busy = 0;
      batch.forEach(function (e) { delete flying[e.event_id]; });
      if (!enabled()) return; // consent withdrawn meanwhile: the queue is already gone
      if (retryable(r.status)) {
        var after = r.retryAfter, wait = after != null && after !== '' && after >= 0 ? after * 1e3 : backoff(attempt + 1, env.random);
        attempt++;
        holdUntil = now() + wait;
        log('clickstream: will retry in', Math.round(wait), 'ms; HTTP', r.status || 'network error');
        return arm(wait);
      }
      attempt = holdUntil = 0;
      if (r.status >= 300) log('clickstream: HTTP', r.status, '- dropped', batch.length, 'events');
      else sent += batch.length;
      forget(batch);
      save();
      if (queue.length >= batchSize) flush();
      else if (queue.length) arm(flushMs);
    }

    // The page is being hidden (final: unloaded or frozen). Send what is idle with sendBeacon
    // unless the API is failing: a beacon's fate is unknown, so it is only used while the
    // last request worked. Whatever stays is in the outbox for the next page load.
    function hide(final) {
      if (!enabled()) return;
      sync();
      var rest = idle(), c;
      if (env.beacon && online() && !attempt && holdUntil <= now())
        while (rest.length) {
          c = chunk(rest);
          try {
            if (!env.beacon(url + '?key=' + encodeURIComponent(opts.key || ''), body(c))) break;
          } catch (e) {
            break;
          }
          sent += c.length;
          forget(c);
          rest = rest.slice(c.length);
        }
      if (final) released = 1;
      save();
    }

    function start() {
      if (!enabled()) return;
      released = 0;
      uid = get(P + 'u');
      reclaim();
      save();
      flush();
    }

    var core = {
      track: track,
      click: click,
      flush: flush,
      hide: hide,
      enabled: enabled,
      identify: function (userId) {
        uid = userId == null || userId === '' ? null : String(userId);
        put(P + 'u', uid);
      },
      reset: function () {
        uid = null;
        [P + 'u', P + 'a', P + 's'].forEach(function (k) { put(k); });
      },
      setConsent: function (yes) {
        if (!!yes == consent) return;
        consent = !!yes;
        if (consent) return start();
        // Withdrawn: forget the queue and every identifier we stored.
        cancel(timer);
        timer = 0;
        queue = [];
        saved = {};
        put(qkey);
        core.reset();
      },
      // Back online (or restored from the back/forward cache): retry now.
      online: function () {
        attempt = holdUntil = 0;
        start();
      },
      stats: function () {
        return { queued: queue.length, dropped: dropped, sent: sent, retries: attempt };
      }
    };
    Object.keys(core).forEach(function (k) { core[k] = safe(core[k]); });
    start();
    return core;
  }

  // ---- browser wiring -------------------------------------------------------------------

  function browserEnv(w) {
    var n = w.navigator || {}, d = w.document || {}, storage = null;
    try {
      storage = w.localStorage;
      storage.getItem(P);
    } catch (e) {
      storage = null;
    }
    return {
      storage: storage,
      crypto: w.crypto,
      online: function () { return n.onLine !== false; },
      dnt: n.doNotTrack == '1' || w.doNotTrack == '1' || n.globalPrivacyControl === true,
      page: function () { return { url: w.location.href, referrer: d.referrer, title: d.title }; },
      context: function () {
        var s = w.screen || {}, tz;
        try {
          tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
        } catch (e) {}
        return { locale: n.language, timezone: tz, screen: { width: s.width, height: s.height } };
      },
      post: function (url, body, headers) {
        return w.fetch(url, { method: 'POST', body: body, headers: headers, keepalive: true, credentials: 'omit' })
          .then(function (r) { return { status: r.status, retryAfter: r.headers.get('Retry-After') }; });
      },
      beacon: n.sendBeacon && function (url, body) { return n.sendBeacon(url, body); },
      locate: function (ok, fail) {
        if (!n.geolocation) return fail(2);
        n.geolocation.getCurrentPosition(
          function (p) { ok({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy }); },
          function (e) { fail(e.code); },
          { maximumAge: 6e4, timeout: 1e4 }
        );
      },
      log: function () { w.console && w.console.debug.apply(w.console, arguments); }
    };
  }

  var core = null, lastUrl = '';

  function on(target, type, fn, capture) {
    target.addEventListener(type, safe(fn), capture);
  }

  // In-page anchors (#section) are not new pages; hash routes (#/about, #!/about) are.
  function route(href) {
    return href.replace(/#(?![!/]).*/, '');
  }

  // One page_view per URL: load, pushState, replaceState and popstate all land here.
  function pageview() {
    var href = win.location.href;
    if (core && route(href) != route(lastUrl) && core.track('page_view', 'page_view', {}, lastUrl ? { referrer: lastUrl } : 0))
      lastUrl = href;
  }

  function init(opts) {
    if (core || !opts || !opts.key) return core;
    var d = win.document, h = win.history;
    core = createTracker(opts, browserEnv(win));
    // After the route change's own task, so the router has set document.title.
    var soon = function () { win.setTimeout(safe(pageview), 0); };
    ['pushState', 'replaceState'].forEach(function (m) {
      var orig = h[m];
      if (orig)
        h[m] = function () {
          var r = orig.apply(this, arguments);
          soon();
          return r;
        };
    });
    on(win, 'popstate', soon);
    on(d, 'click', function (e) {
      var el = e.target && e.target.closest && e.target.closest('[data-cs-event]');
      if (el) core.click(el.getAttribute('data-cs-event'), propsOf(el), el.getAttribute('data-cs-type'));
    }, true);
    on(d, 'visibilitychange', function () { if (d.visibilityState == 'hidden') core.hide(); });
    on(win, 'pagehide', function () { core.hide(1); });
    on(win, 'pageshow', function (e) { if (e.persisted) core.online(); });
    on(win, 'online', core.online);
    if (d.readyState == 'loading') on(d, 'DOMContentLoaded', pageview);
    else pageview();
    return core;
  }

  function call(name) {
    return safe(function (a, b, c) { return core ? core[name](a, b, c) : undefined; });
  }

  // <script src=".../tracker.js" data-key="k" data-endpoint="https://..." data-geo="true">
  function auto() {
    var s = win.document && win.document.currentScript, o = {}, k, v;
    if (!s || !s.dataset || !s.dataset.key) return;
    for (k in s.dataset) {
      v = s.dataset[k];
      o[k] = v == 'true' ? true : v == 'false' ? false : v;
    }
    init(o);
  }

  return {
    init: safe(init),
    track: call('track'),
    identify: call('identify'),
    reset: call('reset'),
    flush: call('flush'),
    stats: call('stats'),
    setConsent: safe(function (yes) {
      if (core) core.setConsent(yes);
      if (yes) pageview();
    }),
    page: safe(pageview),
    createTracker: createTracker,
    backoff: backoff,
    retryable: retryable,
    propsOf: propsOf,
    browserEnv: browserEnv,
    uuid: uuid,
    _auto: safe(auto)
  };
});
