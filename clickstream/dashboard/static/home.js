// The top of the dashboard: live view, KPI tiles with the main graph, compact lists, country map.
// Plain DOM and SVG, no dependencies. dashboard.js calls Home.render(data, ctx) after each load
// and Home.startLive(appId) once; every number carries data-value so tests read what is shown.
(() => {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  const ACCENT = '#4f46e5', PREV = '#9aa5b1', PV = '#c7d2fe';
  const $ = (sel, root = document) => root.querySelector(sel);
  const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const decFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
  function fmt(value, format) {
    if (value === null || value === undefined) return '–';
    switch (format) {
      case 'integer': return intFmt.format(value);
      case 'decimal': return decFmt.format(value);
      case 'percent': return `${(value * 100).toFixed(1)}%`;
      case 'duration': {
        const s = Math.round(value);
        return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
      }
      default: return String(value);
    }
  }
  // +12% for counts and averages, +3.1 pp for rates; '' when there is nothing to compare with.
  function changeText(change, kind) {
    if (change === null || change === undefined) return 'new';
    const sign = change > 0 ? '+' : change < 0 ? '−' : '±';
    return kind === 'points' ? `${sign}${Math.abs(change * 100).toFixed(1)} pp` : `${sign}${Math.abs(change * 100).toFixed(0)}%`;
  }
  function el(name, attrs = {}, parent = null, text = null) {
    const node = name.startsWith('svg:') ? document.createElementNS(SVG, name.slice(4)) : document.createElement(name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function niceTicks(max, count = 4) {
    const raw = max / count;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((x) => x >= raw);
    const ticks = [];
    for (let v = 0; v < max + step - 1e-9; v += step) ticks.push(+v.toFixed(10));
    ticks.push(+(ticks[ticks.length - 1] + step).toFixed(10));
    return ticks[ticks.length - 2] >= max ? ticks.slice(0, -1) : ticks;
  }
  const utcTime = (ms) => new Date(ms).toISOString().slice(11, 16);
  const dayLabel = (d) => new Date(`${d}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
  let world = null;
  const countryName = (cc) => (cc && world && world.names[cc]) || cc || '(none)';

  // ------------------------------------------------------------------ live view
  const live = { timer: 0, app: null, key: null };
  function liveUrl(appId) {
    // A share link carries a read key in the fragment (never sent to servers, never logged):
    // then the page reads GET /v1/live with it; on a laptop it asks the local dashboard.
    return live.key ? `/v1/live?app_id=${encodeURIComponent(appId)}` : `/dashboard/api/live?app_id=${encodeURIComponent(appId)}`;
  }
  async function pollLive() {
    const card = $('#live');
    try {
      const res = await fetch(liveUrl(live.app), { headers: live.key ? { Authorization: `Bearer ${live.key}` } : {}, cache: 'no-store' });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || res.statusText);
      drawLive(body);
      card.dataset.state = 'ready';
    } catch (err) {
      card.dataset.state = 'error';
      $('#live-updated').textContent = `Live view unavailable: ${err.message}`;
    }
    document.body.dataset.liveReady = 'true';
  }
  function drawLive(body) {
    const c = body.current;
    $('#live-visitors').dataset.value = c.visitors;
    $('#live-visitors').textContent = fmt(c.visitors, 'integer');
    $('#live-pageviews').dataset.value = c.page_views;
    $('#live-pageviews').textContent = fmt(c.page_views, 'integer');
    $('#live-window').textContent = `since ${utcTime(c.since)} UTC (last 5 min)`;
    $('#live-updated').textContent = `Updated ${utcTime(body.now)} UTC · refreshes every 30 s`;
    const host = $('#live-bars');
    host.innerHTML = '';
    const W = Math.max(200, host.clientWidth), H = 120, M = { l: 28, r: 4, t: 6, b: 18 };
    const svg = el('svg:svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'visitors per minute' }, host);
    const max = Math.max(1, ...body.minutes.map((m) => Math.max(m.visitors, m.page_views)));
    const bw = (W - M.l - M.r) / body.minutes.length;
    const Y = (v) => M.t + (H - M.t - M.b) * (1 - v / max);
    for (const t of [0, Math.round(max / 2), max]) {
      el('svg:line', { x1: M.l, x2: W - M.r, y1: Y(t), y2: Y(t), class: 'gridline' }, svg);
      el('svg:text', { x: M.l - 4, y: Y(t) + 4, 'text-anchor': 'end' }, svg, String(t));
    }
    body.minutes.forEach((m, i) => {
      const x = M.l + i * bw;
      const g = el('svg:g', { class: 'minute', 'data-start': m.start, 'data-visitors': m.visitors, 'data-page-views': m.page_views, 'data-settled': m.settled }, svg);
      el('svg:title', {}, g, `${utcTime(m.start)} UTC${m.settled ? '' : ' (still counting)'}: ${m.visitors} visitors, ${m.page_views} page views`);
      el('svg:rect', { x: x + 1, y: Y(m.page_views), width: Math.max(1, bw - 2), height: H - M.b - Y(m.page_views), fill: PV, rx: 2 }, g);
      el('svg:rect', { x: x + bw * 0.25, y: Y(m.visitors), width: Math.max(1, bw * 0.5), height: H - M.b - Y(m.visitors), fill: ACCENT, rx: 2, 'fill-opacity': m.settled ? 1 : 0.55 }, g);
      if (i % 5 === 4 || i === body.minutes.length - 1) el('svg:text', { x: x + bw / 2, y: H - 4, 'text-anchor': 'middle' }, svg, i === body.minutes.length - 1 ? 'now' : utcTime(m.start));
    });
    for (const key of ['top_pages', 'top_sources', 'top_countries']) {
      const ol = $(`[data-live="${key}"] ol`);
      ol.innerHTML = '';
      const rows = body[key].slice(0, 5);
      if (!rows.length) el('li', { class: 'empty' }, ol, 'Nobody right now');
      const top = Math.max(1, ...rows.map((r) => r[1]));
      for (const [k, n] of rows) {
        const li = el('li', { 'data-key': k, 'data-value': n, style: `--w:${(100 * n) / top}%` }, ol);
        el('span', { class: 'k' }, li, key === 'top_countries' ? countryName(k) : k);
        el('span', { class: 'v' }, li, fmt(n, 'integer'));
      }
    }
  }
  async function startLive(appId) {
    live.app = appId;
    live.key = new URLSearchParams(location.hash.slice(1)).get('key');
    clearInterval(live.timer);
    await loadWorld().catch(() => null); // country names for the live list
    pollLive();
    live.timer = setInterval(pollLive, 30_000);
  }

  // ------------------------------------------------------------------ tiles and main graph
  const view = { metric: new URLSearchParams(location.search).get('metric') || 'visitors', data: null, ctx: null };
  function drawTiles(main) {
    const host = $('#tiles');
    host.innerHTML = '';
    if (main.tiles.error) { el('p', { class: 'msg error' }, host, main.tiles.error); return; }
    const prev = main.periods.previous;
    for (const t of main.tiles) {
      const b = el('button', { type: 'button', class: 'tile', role: 'tab', 'data-metric': t.id, 'aria-selected': String(t.id === view.metric) }, host);
      el('span', { class: 'tile-label' }, b, t.label);
      el('span', { class: 'tile-value', 'data-value': t.value ?? '' }, b, fmt(t.value, t.format));
      const good = t.change === null ? 'none' : (t.id === 'bounce_rate' ? -t.change : t.change) > 0 ? 'up' : (t.id === 'bounce_rate' ? -t.change : t.change) < 0 ? 'down' : 'flat';
      const ch = el('span', { class: `tile-change ${good}`, 'data-change': t.change ?? '', 'data-previous': t.previous ?? '' }, b, changeText(t.change, t.change_kind));
      ch.title = `${fmt(t.previous, t.format)} in ${prev.from} to ${prev.to}${prev.until ? ` (up to ${prev.until.slice(11, 16)} UTC)` : ''}`;
      b.addEventListener('click', () => { view.metric = t.id; view.ctx.setParam('metric', t.id); drawTiles(main); drawGraph(main); });
    }
  }
  function drawGraph(main) {
    const host = $('#graph');
    host.innerHTML = '';
    const tile = Array.isArray(main.tiles) ? main.tiles.find((t) => t.id === view.metric) || main.tiles[0] : null;
    if (!tile || main.daily.error) { el('p', { class: 'msg error' }, host, main.daily.error || 'no data'); return; }
    view.metric = tile.id;
    $('#graph-title').textContent = tile.label;
    $('#overview').dataset.metric = tile.id;
    const p = main.periods;
    $('#prev-label').textContent = `${dayLabel(p.previous.from)} – ${dayLabel(p.previous.to)}`;
    // one slot per day of the shown period; the previous period is aligned day by day
    const days = [];
    for (let t = Date.parse(`${p.current.from}T00:00:00Z`); t <= Date.parse(`${p.current.to}T00:00:00Z`); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
    const byDay = Object.fromEntries(main.daily.map((r) => [r.day, r[tile.id]]));
    const prevDays = days.map((_, i) => new Date(Date.parse(`${p.previous.from}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10));
    const prevBy = Array.isArray(main.daily_previous) ? Object.fromEntries(main.daily_previous.map((r) => [r.day, r[tile.id]])) : {};
    const counts = tile.format === 'integer';
    const cur = days.map((d) => (d > p.today ? null : byDay[d] ?? (counts ? 0 : null)));
    const prev = prevDays.map((d) => prevBy[d] ?? (counts ? 0 : null));
    const showPrev = $('#compare').checked;
    const W = Math.max(280, host.clientWidth), H = host.clientHeight || 260, M = { l: 52, r: 28, t: 12, b: 30 };
    const svg = el('svg:svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${tile.label} per day` }, host);
    const values = [...cur, ...(showPrev ? prev : [])].filter((v) => v !== null);
    const ticks = niceTicks(Math.max(tile.format === 'percent' ? 0.01 : 1, ...values));
    const max = ticks[ticks.length - 1];
    const X = (i) => M.l + (days.length === 1 ? (W - M.l - M.r) / 2 : (i / (days.length - 1)) * (W - M.l - M.r));
    const Y = (v) => M.t + (H - M.t - M.b) * (1 - v / max);
    for (const v of ticks) {
      el('svg:line', { class: 'gridline', x1: M.l, x2: W - M.r, y1: Y(v), y2: Y(v) }, svg);
      el('svg:text', { x: M.l - 8, y: Y(v) + 4, 'text-anchor': 'end' }, svg, fmt(v, tile.format === 'integer' ? 'decimal' : tile.format));
    }
    const legend = $('#graph-legend');
    legend.innerHTML = '';
    const key = (cls, text) => el('span', { class: cls }, legend, text);
    key('cur', `${dayLabel(p.current.from)} – ${dayLabel(p.current.to)}`);
    if (showPrev) key('prev', `${dayLabel(p.previous.from)} – ${dayLabel(p.previous.to)}`);
    if (p.current.until) key('part', 'today so far');
    const every = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor((W - M.l) / 64))));
    days.forEach((d, i) => { if (i % every === 0 || i === days.length - 1) el('svg:text', { x: X(i), y: H - 8, 'text-anchor': 'middle' }, svg, dayLabel(d)); });
    const series = (vals, name, color, dash) => {
      let d = '', dPartial = '';
      vals.forEach((v, i) => {
        if (v === null) return;
        const partial = name === 'current' && days[i] === p.today && p.current.until;
        const cmd = `${X(i).toFixed(1)},${Y(v).toFixed(1)}`;
        if (partial && i > 0 && vals[i - 1] !== null) dPartial = `M${X(i - 1).toFixed(1)},${Y(vals[i - 1]).toFixed(1)}L${cmd}`;
        else if (!partial) d += `${d ? 'L' : 'M'}${cmd}`;
      });
      if (name === 'current') {
        el('svg:path', { d: `${d}L${X(vals.filter((v) => v !== null).length - 1).toFixed(1)},${Y(0)}L${X(0)},${Y(0)}Z`, fill: color, 'fill-opacity': 0.07, stroke: 'none' }, svg);
      }
      el('svg:path', { d, fill: 'none', stroke: color, 'stroke-width': name === 'current' ? 2.5 : 1.8, 'stroke-dasharray': dash, 'stroke-linejoin': 'round' }, svg);
      if (dPartial) el('svg:path', { d: dPartial, fill: 'none', stroke: color, 'stroke-width': 2.5, 'stroke-dasharray': '4 4', class: 'partial' }, svg);
      vals.forEach((v, i) => {
        if (v === null) return;
        const partial = name === 'current' && days[i] === p.today && !!p.current.until;
        const day = name === 'current' ? days[i] : prevDays[i];
        const c = el('svg:circle', { class: `point${partial ? ' partial' : ''}`, cx: X(i), cy: Y(v), r: name === 'current' ? 3.5 : 2.5,
          fill: partial ? '#fff' : color, stroke: color, 'stroke-width': 2, 'data-series': name, 'data-x': day, 'data-value': v }, svg);
        el('svg:title', {}, c, `${dayLabel(day)}${partial ? ' (today so far)' : ''} · ${tile.label}: ${fmt(v, tile.format)}`);
      });
    };
    if (showPrev) series(prev, 'previous', PREV, '5 4');
    series(cur, 'current', ACCENT, 'none');
    const note = [];
    if (p.current.until) note.push(`The last day is still running: drawn dashed, compared with the previous period up to ${p.previous.until.slice(0, 16).replace('T', ' ')} UTC.`);
    note.push(`Changes compare ${dayLabel(p.current.from)} – ${dayLabel(p.current.to)} with ${dayLabel(p.previous.from)} – ${dayLabel(p.previous.to)} (${p.days} days each); bounce rate in percentage points.`);
    $('#graph-note').textContent = note.join(' ');
  }

  // ------------------------------------------------------------------ lists, details, map
  function drawList(card, id, list, active) {
    card.innerHTML = '';
    card.dataset.state = list.error ? 'error' : 'ready';
    const head = el('div', { class: 'list-head' }, card);
    el('h2', {}, head, list.title || id);
    if (list.error) { el('p', { class: 'msg error' }, card, list.error); return; }
    el('small', {}, head, list.value_label);
    const ol = el('ol', { class: 'bars' }, card);
    const top = Math.max(1, ...list.rows.map((r) => r[1] || 0));
    const none = id === 'sources' ? 'Direct / none' : '(none)';
    const label = (k) => (k === null || k === '' || k === '(none)' ? none : id === 'countries' ? countryName(k) : String(k));
    for (const [k, v] of list.rows.slice(0, 9)) {
      const li = el('li', { 'data-key': k ?? '(none)', 'data-value': v, style: `--w:${(100 * (v || 0)) / top}%` }, ol);
      const b = el('button', { type: 'button', title: `Filter the dashboard: ${list.filter} is ${label(k)}` }, li);
      el('span', { class: 'k' }, b, label(k));
      el('span', { class: 'v' }, b, fmt(v, 'integer'));
      b.addEventListener('click', () => view.ctx.setFilter(list.filter, k ?? '(none)'));
    }
    if (!list.rows.length) el('li', { class: 'empty' }, ol, active ? 'Nothing for these filters' : 'No data');
    if (list.rows.length > 9) {
      const more = el('button', { type: 'button', class: 'details-btn' }, card, `Details (${list.rows.length})`);
      more.addEventListener('click', () => openDetails(list, label));
    }
  }
  function openDetails(list, label) {
    const d = $('#details');
    $('h2', d).textContent = list.title;
    $('thead', d).innerHTML = '';
    const tr = el('tr', {}, $('thead', d));
    el('th', {}, tr, list.title.replace(/^Top /, ''));
    el('th', { class: 'num' }, tr, list.value_label);
    const tb = $('tbody', d);
    tb.innerHTML = '';
    for (const [k, v] of list.rows) {
      const row = el('tr', { 'data-key': k ?? '(none)', 'data-value': v }, tb);
      const a = el('td', {}, row);
      const b = el('button', { type: 'button', class: 'link' }, a, label(k));
      b.addEventListener('click', () => { d.close(); view.ctx.setFilter(list.filter, k ?? '(none)'); });
      el('td', { class: 'num' }, row, fmt(v, 'integer'));
    }
    d.showModal();
  }
  async function loadWorld() {
    if (!world) world = await (await fetch('/dashboard/static/world.json')).json();
    return world;
  }
  function drawMap(list) {
    const host = $('#map');
    host.innerHTML = '';
    if (!world || list.error) return;
    const counts = Object.fromEntries(list.rows.filter((r) => r[0]).map((r) => [r[0], r[1]]));
    const max = Math.max(1, ...Object.values(counts));
    const shade = (n) => (n ? `rgba(79,70,229,${(0.18 + 0.82 * Math.sqrt(n / max)).toFixed(3)})` : '#e8ebf0');
    const svg = el('svg:svg', { viewBox: `0 0 ${world.width} ${world.height}`, role: 'img', 'aria-label': 'visitors by country', preserveAspectRatio: 'xMidYMid meet' }, host);
    const clickable = (node, cc) => {
      node.dataset.country = cc;
      node.dataset.value = counts[cc] || 0;
      el('svg:title', {}, node, `${countryName(cc)}: ${fmt(counts[cc] || 0, 'integer')} visitors`);
      if (counts[cc]) node.addEventListener('click', () => view.ctx.setFilter('country', cc));
    };
    for (const [cc, c] of Object.entries(world.countries)) clickable(el('svg:path', { d: c.d, fill: shade(counts[cc]), class: counts[cc] ? 'land hit' : 'land' }, svg), cc);
    for (const [cc, c] of Object.entries(world.dots)) {
      if (!counts[cc]) continue; // small places without visitors stay out of the way
      clickable(el('svg:circle', { cx: c.x, cy: c.y, r: 5, fill: shade(counts[cc]), stroke: '#fff', 'stroke-width': 1.5, class: 'land hit dot' }, svg), cc);
    }
    $('#map-legend').textContent = `${Object.keys(counts).length} countries · darker = more visitors`;
  }

  async function render(data, ctx) {
    view.ctx = ctx;
    const main = data.main;
    $('#overview').dataset.state = main.error ? 'error' : 'ready';
    if (main.error) { $('#tiles').textContent = main.error; return; }
    await loadWorld().catch(() => null);
    drawTiles(main);
    drawGraph(main);
    view.data = main;
    for (const card of document.querySelectorAll('[data-list]')) drawList(card, card.dataset.list, main.lists[card.dataset.list], Object.keys(data.filters || {}).length);
    drawMap(main.lists.countries);
  }
  $('#compare').addEventListener('change', () => view.data && drawGraph(view.data));
  addEventListener('resize', () => view.data && drawGraph(view.data));

  window.Home = { render, startLive, fmt, countryName };
})();
