// The local dashboard: panels from /dashboard/api/spec, data from /dashboard/api/panels.
// Plain SVG, no dependencies (the machine may be offline). Every drawn number carries a
// data-value attribute and is also visible as text, so tests can read what a person sees.
(() => {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  const COLORS = ['#2563eb', '#16a34a', '#f59e0b', '#db2777', '#7c3aed'];
  const $ = (sel, root = document) => root.querySelector(sel);

  // ------------------------------------------------------------ formatting
  // One formatter for the whole page: home.js (loaded first) defines it.
  const fmt = window.Home.fmt;
  const decFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
  const short = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
  // A dimension whose values are positions in a list filter (funnel step k = the k-th step).
  const dimText = (field, value, params) =>
    field.labels && Array.isArray(params[field.labels]) ? `${value}. ${params[field.labels][value - 1] ?? ''}` : String(value);

  // ------------------------------------------------------------ svg helpers
  function el(name, attrs = {}, parent = null, text = null) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function svgIn(body) {
    const { width, height } = body.getBoundingClientRect();
    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
    body.appendChild(svg);
    return { svg, width, height };
  }
  function niceTicks(max, count = 4) {
    if (!(max > 0)) return [0, 1];
    const raw = max / count;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const ticks = [];
    for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(+v.toFixed(10));
    if (ticks[ticks.length - 1] < max) ticks.push(+(ticks[ticks.length - 1] + step).toFixed(10));
    return ticks;
  }
  const tickText = (v) => (Math.abs(v) >= 1000 ? `${decFmt.format(v / 1000)}k` : decFmt.format(v));
  const titled = (node, text) => el('title', {}, node, text);

  // ------------------------------------------------------------ visuals
  function kpi(body, panel, data) {
    const m = panel.measures[0];
    const value = data.rows.length ? data.rows[0][0] : null;
    body.innerHTML = '';
    const v = document.createElement('div');
    v.className = 'kpi-value';
    v.dataset.value = value;
    v.textContent = fmt(value, m.format);
    const l = document.createElement('div');
    l.className = 'kpi-label';
    l.textContent = m.label.toLowerCase() === panel.title.toLowerCase() ? '' : m.label;
    body.append(v, l);
  }

  function line(body, panel, data) {
    const legend = document.createElement('div');
    legend.className = 'legend';
    panel.measures.forEach((m, i) => {
      const s = document.createElement('span');
      s.style.setProperty('--c', COLORS[i % COLORS.length]);
      if (i === 1) s.className = 'dashed';
      s.textContent = m.label;
      legend.appendChild(s);
    });
    body.appendChild(legend);
    const plot = document.createElement('div');
    plot.style.cssText = 'position:absolute;inset:18px 0 0 0';
    body.appendChild(plot);
    const { svg, width, height } = svgIn(plot);
    const M = { l: 46, r: 12, t: 8, b: 38 };
    const w = width - M.l - M.r, h = height - M.t - M.b;
    const xs = data.rows.map((r) => Date.parse(`${r[0]}T00:00:00Z`));
    const x0 = Math.min(...xs), x1 = Math.max(...xs);
    const X = (t) => M.l + (x1 === x0 ? w / 2 : ((t - x0) / (x1 - x0)) * w);
    const max = Math.max(0, ...data.rows.flatMap((r) => r.slice(1)));
    const ticks = niceTicks(max);
    const top = ticks[ticks.length - 1];
    const Y = (v) => M.t + h - (v / top) * h;
    for (const t of ticks) {
      el('line', { class: 'gridline', x1: M.l, x2: M.l + w, y1: Y(t), y2: Y(t) }, svg);
      el('text', { x: M.l - 6, y: Y(t) + 4, 'text-anchor': 'end' }, svg, tickText(t));
    }
    el('line', { class: 'axisline', x1: M.l, x2: M.l + w, y1: M.t + h, y2: M.t + h }, svg);
    const every = Math.max(1, Math.ceil(xs.length / Math.max(2, Math.floor(w / 70))));
    xs.forEach((t, i) => {
      if (i % every) return;
      el('text', { x: X(t), y: M.t + h + 15, 'text-anchor': 'middle' }, svg, data.rows[i][0].slice(5));
    });
    el('text', { class: 'axis-title', x: M.l + w / 2, y: height - 4, 'text-anchor': 'middle' }, svg, panel.dimensions[0].label);
    el('text', { class: 'axis-title', transform: `translate(11 ${M.t + h / 2}) rotate(-90)`, 'text-anchor': 'middle' }, svg,
      panel.measures.length === 1 ? panel.measures[0].label : 'Count');
    // Drawn last to first, so the first series is on top; the second is dashed, so equal
    // series (WAU = MAU in a young app) still show both.
    [...panel.measures.entries()].reverse().forEach(([i, m]) => {
      const color = COLORS[i % COLORS.length];
      const d = data.rows.map((r, j) => `${j ? 'L' : 'M'}${X(xs[j]).toFixed(1)},${Y(r[i + 1] ?? 0).toFixed(1)}`).join('');
      el('path', { d, fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-linejoin': 'round', 'stroke-dasharray': i === 1 ? '6 4' : 'none' }, svg);
      data.rows.forEach((r, j) => {
        const c = el('circle', { class: 'point', cx: X(xs[j]), cy: Y(r[i + 1] ?? 0), r: 3, fill: color,
          'data-series': m.column, 'data-x': r[0], 'data-value': r[i + 1] }, svg);
        titled(c, `${r[0]} · ${m.label}: ${fmt(r[i + 1], m.format)}`);
      });
    });
  }

  function bar(body, panel, data) {
    const { svg, width, height } = svgIn(body);
    const m = panel.measures[0];
    const labelW = Math.min(170, Math.max(70, width * 0.34));
    const M = { l: labelW + 8, r: 56, t: 18, b: 30 };
    const w = width - M.l - M.r, h = height - M.t - M.b;
    const rows = data.rows;
    const band = Math.min(28, h / Math.max(rows.length, 1));
    const max = Math.max(0, ...rows.map((r) => r[1] ?? 0));
    const ticks = niceTicks(max, Math.max(2, Math.floor(w / 80)));
    const top = ticks[ticks.length - 1];
    const X = (v) => M.l + (v / top) * w;
    for (const t of ticks) {
      el('line', { class: 'gridline', x1: X(t), x2: X(t), y1: M.t, y2: M.t + band * rows.length }, svg);
      el('text', { x: X(t), y: M.t + band * rows.length + 14, 'text-anchor': 'middle' }, svg, tickText(t));
    }
    el('text', { class: 'axis-title', x: M.l + w / 2, y: M.t + band * rows.length + 28, 'text-anchor': 'middle' }, svg, m.label);
    rows.forEach((r, i) => {
      const label = r[0] === null || r[0] === '' ? '(none)' : String(r[0]);
      const g = el('g', { class: 'bar', 'data-label': label, 'data-value': r[1] }, svg);
      const y = M.t + i * band;
      titled(g, `${label}: ${fmt(r[1], m.format)}`);
      el('text', { class: 'label', x: M.l - 8, y: y + band / 2 + 4, 'text-anchor': 'end' }, g, short(label, Math.floor(labelW / 6.2)));
      el('rect', { x: M.l, y: y + band * 0.15, width: Math.max(1, X(r[1] ?? 0) - M.l), height: band * 0.7, rx: 3, fill: COLORS[0] }, g);
      el('text', { class: 'value', x: X(r[1] ?? 0) + 5, y: y + band / 2 + 4 }, g, fmt(r[1], m.format));
    });
    el('line', { class: 'axisline', x1: M.l, x2: M.l, y1: M.t, y2: M.t + band * rows.length }, svg);
    el('text', { class: 'axis-title', x: M.l - 8, y: 10, 'text-anchor': 'end' }, svg, panel.dimensions[0].label);
  }

  function table(body, panel, data) {
    const fields = [...panel.dimensions, ...panel.measures];
    const nums = new Set(panel.measures.map((m) => m.column));
    const wrap = document.createElement('div');
    wrap.className = 'scroll';
    const t = document.createElement('table');
    t.className = 'data';
    t.innerHTML = `<thead><tr>${fields.map((f) => `<th class="${nums.has(f.column) ? 'num' : ''}"></th>`).join('')}</tr></thead><tbody></tbody>`;
    fields.forEach((f, i) => { t.tHead.rows[0].cells[i].textContent = f.label; });
    for (const r of data.rows) {
      const tr = t.tBodies[0].insertRow();
      fields.forEach((f, i) => {
        const td = tr.insertCell();
        if (nums.has(f.column)) td.className = 'num';
        td.dataset.value = r[i];
        td.textContent = nums.has(f.column) ? fmt(r[i], f.format) : (r[i] ?? '(none)');
      });
    }
    wrap.appendChild(t);
    body.appendChild(wrap);
  }

  function funnel(body, panel, data, params) {
    const { svg, width, height } = svgIn(body);
    const m = panel.measures[0];
    const rows = data.rows;
    const first = rows.length ? rows[0][1] || 0 : 0;
    const band = Math.min(44, (height - 6) / Math.max(rows.length, 1));
    const labelW = Math.min(150, width * 0.3);
    const w = width - labelW - 120;
    rows.forEach((r, i) => {
      const share = first ? (r[1] ?? 0) / first : 0;
      const y = i * band;
      const bw = Math.max(2, w * share);
      const x = labelW + (w - bw) / 2;
      const label = dimText(panel.dimensions[0], r[0], params);
      const g = el('g', { class: 'step', 'data-label': label, 'data-value': r[1] }, svg);
      titled(g, `${label}: ${fmt(r[1], m.format)} ${m.label.toLowerCase()} (${fmt(share, 'percent')} of the first step)`);
      el('text', { class: 'label', x: labelW - 10, y: y + band / 2 + 4, 'text-anchor': 'end' }, g, short(label, 24));
      el('rect', { x, y: y + band * 0.12, width: bw, height: band * 0.76, rx: 4, fill: COLORS[0], 'fill-opacity': 1 - i * 0.12 }, g);
      el('text', { class: 'value', x: labelW + w + 10, y: y + band / 2 }, g, fmt(r[1], m.format));
      el('text', { x: labelW + w + 10, y: y + band / 2 + 13 }, g, i ? `${fmt(share, 'percent')} of step 1` : m.label);
    });
  }

  function heatmap(body, panel, data) {
    const { svg, width, height } = svgIn(body);
    const m = panel.measures[0];
    const rowsK = [...new Set(data.rows.map((r) => r[0]))];
    const colsK = [...new Set(data.rows.map((r) => r[1]))].sort((a, b) => a - b);
    const M = { l: 104, r: 8, t: 32, b: 4 };
    const cw = Math.min(90, (width - M.l - M.r) / Math.max(colsK.length, 1));
    const ch = Math.min(30, (height - M.t - M.b) / Math.max(rowsK.length, 1));
    const max = Math.max(1e-9, ...data.rows.map((r) => r[2] ?? 0));
    el('text', { class: 'axis-title', x: M.l + (cw * colsK.length) / 2, y: 10, 'text-anchor': 'middle' }, svg, panel.dimensions[1].label);
    el('text', { class: 'axis-title', x: M.l - 8, y: M.t - 6, 'text-anchor': 'end' }, svg, panel.dimensions[0].label);
    colsK.forEach((c, j) => el('text', { x: M.l + j * cw + cw / 2, y: M.t - 6, 'text-anchor': 'middle' }, svg, String(c)));
    rowsK.forEach((r, i) => el('text', { x: M.l - 8, y: M.t + i * ch + ch / 2 + 4, 'text-anchor': 'end' }, svg, String(r)));
    for (const r of data.rows) {
      const i = rowsK.indexOf(r[0]), j = colsK.indexOf(r[1]);
      const v = r[2] ?? 0;
      const g = el('g', { class: 'cell', 'data-row': r[0], 'data-col': r[1], 'data-value': r[2] }, svg);
      titled(g, `${panel.dimensions[0].label} ${r[0]}, ${panel.dimensions[1].label.toLowerCase()} ${r[1]}: ${fmt(r[2], m.format)}`);
      el('rect', { x: M.l + j * cw + 1, y: M.t + i * ch + 1, width: cw - 2, height: ch - 2, rx: 3, fill: COLORS[0], 'fill-opacity': 0.12 + 0.88 * (v / max) }, g);
      el('text', { x: M.l + j * cw + cw / 2, y: M.t + i * ch + ch / 2 + 4, 'text-anchor': 'middle', style: `fill:${v / max > 0.55 ? '#fff' : '#1f2933'}` }, g, fmt(r[2], m.format));
    }
  }

  function geo(body, panel, data) {
    const { svg, width, height } = svgIn(body);
    const m = panel.measures[0];
    const pts = data.rows.filter((r) => r[0] !== null && r[1] !== null);
    const lats = pts.map((r) => r[0]), lons = pts.map((r) => r[1]);
    // Zoom to the data (at least 20 degrees across), snapped to the graticule step.
    const span = Math.max(20, Math.max(...lons, 0) - Math.min(...lons, 0), (Math.max(...lats, 0) - Math.min(...lats, 0)) * 2);
    const step = span > 120 ? 30 : span > 50 ? 15 : span > 20 ? 10 : 5;
    const cx = pts.length ? (Math.max(...lons) + Math.min(...lons)) / 2 : 0, cy = pts.length ? (Math.max(...lats) + Math.min(...lats)) / 2 : 20;
    const lo0 = Math.max(-180, Math.floor((cx - span / 2 - step / 2) / step) * step), lo1 = Math.min(180, Math.ceil((cx + span / 2 + step / 2) / step) * step);
    const la0 = Math.max(-90, Math.floor((cy - span / 4 - step / 2) / step) * step), la1 = Math.min(90, Math.ceil((cy + span / 4 + step / 2) / step) * step);
    const M = { l: 54, r: 10, t: 6, b: 32 };
    const w = width - M.l - M.r, h = height - M.t - M.b;
    const X = (lon) => M.l + ((lon - lo0) / (lo1 - lo0)) * w, Y = (lat) => M.t + h - ((lat - la0) / (la1 - la0)) * h;
    el('rect', { x: M.l, y: M.t, width: w, height: h, fill: '#f3f7fb', stroke: '#d9e2ea' }, svg);
    for (let lon = lo0; lon <= lo1; lon += step) {
      el('line', { class: 'gridline', x1: X(lon), x2: X(lon), y1: M.t, y2: M.t + h, stroke: '#dde5ed' }, svg);
      el('text', { x: X(lon), y: M.t + h + 14, 'text-anchor': 'middle' }, svg, `${Math.abs(lon)}°${lon < 0 ? 'W' : lon > 0 ? 'E' : ''}`);
    }
    for (let lat = la0; lat <= la1; lat += step) {
      el('line', { class: 'gridline', x1: M.l, x2: M.l + w, y1: Y(lat), y2: Y(lat), stroke: '#dde5ed' }, svg);
      el('text', { x: M.l - 5, y: Y(lat) + 4, 'text-anchor': 'end' }, svg, `${Math.abs(lat)}°${lat < 0 ? 'S' : lat > 0 ? 'N' : ''}`);
    }
    el('text', { class: 'axis-title', x: M.l + w / 2, y: height - 2, 'text-anchor': 'middle' }, svg, panel.dimensions[1].label);
    el('text', { class: 'axis-title', transform: `translate(10 ${M.t + h / 2}) rotate(-90)`, 'text-anchor': 'middle' }, svg, panel.dimensions[0].label);
    const max = Math.max(1, ...pts.map((r) => r[2] ?? 0));
    for (const r of [...pts].sort((a, b) => b[2] - a[2])) {
      const g = el('g', { class: 'dot', 'data-lat': r[0], 'data-lon': r[1], 'data-value': r[2] }, svg);
      titled(g, `${r[0]}, ${r[1]}: ${fmt(r[2], m.format)} ${m.label.toLowerCase()}`);
      el('circle', { cx: X(r[1]), cy: Y(r[0]), r: 5 + 11 * Math.sqrt((r[2] ?? 0) / max), fill: COLORS[3], 'fill-opacity': 0.55, stroke: COLORS[3] }, g);
      el('text', { class: 'value', x: X(r[1]), y: Y(r[0]) + 4, 'text-anchor': 'middle' }, g, fmt(r[2], m.format));
    }
  }

  const VISUALS = { kpi, line, bar, table, funnel, heatmap, geo };

  // ------------------------------------------------------------ page
  const state = { spec: null, data: null };

  function buildFilters(spec, apps, params) {
    const form = $('#filters');
    form.innerHTML = '';
    for (const p of spec.parameters) {
      const label = document.createElement('label');
      let input;
      if (p.name === 'app_id') {
        input = document.createElement('select');
        for (const app of [...new Set([...apps, params.app_id])].sort()) input.add(new Option(app, app));
      } else {
        input = document.createElement('input');
        input.type = p.type === 'date' ? 'date' : p.type === 'boolean' ? 'checkbox' : 'text';
      }
      input.name = p.name;
      input.id = `f-${p.name}`;
      if (p.type === 'boolean') {
        label.className = 'check';
        input.checked = !!params[p.name];
        label.append(input, document.createTextNode(p.label));
      } else {
        input.value = Array.isArray(params[p.name]) ? params[p.name].join(', ') : params[p.name] ?? '';
        label.append(document.createTextNode(p.label), input);
      }
      form.appendChild(label);
    }
    const go = document.createElement('button');
    go.type = 'submit';
    go.textContent = 'Apply';
    form.appendChild(go);
  }

  // Click-to-filter: these ride in the URL beside the spec's parameters, so a view can be shared.
  const FILTERS = { page: 'Page', source: 'Source', country: 'Country', browser: 'Browser' };
  const KEEP = ['metric', ...Object.keys(FILTERS)];

  function query() {
    const q = new URLSearchParams();
    for (const p of state.spec.parameters) {
      const input = $(`#f-${p.name}`);
      if (!input) continue;
      q.set(p.name, p.type === 'boolean' ? String(input.checked) : input.value.replace(/\s*,\s*/g, ','));
    }
    const now = new URLSearchParams(location.search);
    for (const name of KEEP) if (now.get(name)) q.set(name, now.get(name));
    return q;
  }

  const ctx = {
    setFilter(name, value) {
      const q = query();
      q.set(name, value);
      refresh(q);
    },
    setParam(name, value) {
      const q = new URLSearchParams(location.search);
      q.set(name, value);
      history.replaceState(null, '', `?${q}${location.hash}`);
    },
  };

  function drawChips(filters) {
    const host = $('#chips');
    host.innerHTML = '';
    for (const [name, value] of Object.entries(filters || {})) {
      const chip = document.createElement('span');
      chip.className = 'chip';
      chip.dataset.filter = name;
      chip.textContent = `${FILTERS[name]} is ${name === 'country' ? window.Home.countryName(value) : value}`;
      const x = document.createElement('button');
      x.type = 'button';
      x.textContent = '×';
      x.setAttribute('aria-label', `Remove the ${FILTERS[name].toLowerCase()} filter`);
      x.addEventListener('click', () => { const q = query(); q.delete(name); refresh(q); });
      chip.appendChild(x);
      host.appendChild(chip);
    }
    if (Object.keys(filters || {}).length > 1) {
      const all = document.createElement('button');
      all.type = 'button';
      all.className = 'chip clear';
      all.textContent = 'Clear filters';
      all.addEventListener('click', () => { const q = query(); Object.keys(FILTERS).forEach((n) => q.delete(n)); refresh(q); });
      host.appendChild(all);
    }
  }

  function buildGrid(spec) {
    const grid = $('#grid');
    grid.innerHTML = '';
    // Some spec panels live at the top of the page, so rows of the grid can have holes: the
    // last panel of a row takes what its row leaves.
    const shown = spec.panels.filter(shownInGrid);
    const span = new Map(shown.map((p) => [p.id, p.width]));
    let used = 0, last = null;
    for (const p of shown) {
      if (used + p.width > 12 && last) { span.set(last.id, span.get(last.id) + 12 - used); used = 0; }
      used += p.width;
      last = p;
    }
    if (last && used < 12) span.set(last.id, span.get(last.id) + 12 - used);
    for (const p of shown) {
      const card = document.createElement('section');
      card.className = 'panel';
      card.dataset.panel = p.id;
      card.dataset.visual = p.visual;
      card.dataset.state = 'loading';
      card.style.gridColumn = `span ${span.get(p.id)}`;
      card.style.gridRow = `span ${p.height}`;
      card.innerHTML = '<h2></h2><div class="body"><div class="msg">Loading…</div></div>';
      $('h2', card).textContent = p.title;
      if (p.description) {
        const d = document.createElement('p');
        d.className = 'desc';
        d.textContent = p.description;
        $('h2', card).after(d);
      }
      grid.appendChild(card);
    }
  }

  // The KPI panels are the tiles at the top now, and four bar charts are its compact lists
  // (with their details view); every other panel stays below.
  const AT_THE_TOP = new Set(['top_pages', 'referrers', 'browsers', 'countries', 'country_map']);
  const shownInGrid = (p) => p.visual !== 'kpi' && !AT_THE_TOP.has(p.id);

  function draw() {
    for (const p of state.spec.panels.filter(shownInGrid)) {
      const card = $(`[data-panel="${p.id}"]`);
      const body = $('.body', card);
      body.innerHTML = '';
      const data = state.data.panels[p.id];
      const msg = (text, st) => {
        body.innerHTML = '<div class="msg"></div>';
        $('.msg', body).textContent = text;
        card.dataset.state = st;
      };
      if (!data) msg('No data', 'empty');
      else if (data.error) msg(data.error, 'error');
      else if (!data.rows.length) msg('No data for these filters', 'empty');
      else {
        VISUALS[p.visual](body, p, data, state.data.params);
        card.dataset.state = 'ready';
      }
    }
  }

  async function getJSON(url) {
    const res = await fetch(url);
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
    return body;
  }

  async function show(data, started) {
    state.data = data;
    draw();
    drawChips(data.filters);
    await window.Home.render(data, ctx);
    const p = data.params;
    $('#status').className = 'status';
    $('#status').textContent = `${p.app_id} · ${p.date_from} to ${p.date_to}${p.include_bots ? ' · bots included' : ''} · ${Math.round(performance.now() - started)} ms`;
    $('#coverage').textContent = coverageText(data.coverage);
  }

  // Which days hold data: retention removes old partitions, so say what is there.
  function coverageText(c) {
    if (!c) return '';
    const kept = c.retention_days ? `kept ${c.retention_days} days` : 'kept forever';
    const n = c.waiting_events || 0;
    const waiting = n ? `${n.toLocaleString('en')} event${n === 1 ? '' : 's'} waiting for the next export ` +
      `(it runs every ${c.export_every_s} s and takes events once they are ${c.settle_s} s old)` : '';
    if (!c.first_day) return waiting ? `No data in the lake for this app yet: ${waiting}.` : `No data in the lake for this app yet (${kept}).`;
    return `Data held: ${c.first_day} to ${c.last_day} (${kept}).` + (waiting ? ` ${waiting}.` : '');
  }

  async function refresh(q) {
    const status = $('#status');
    status.className = 'status';
    status.textContent = 'Loading…';
    document.body.dataset.ready = 'false';
    const started = performance.now();
    try {
      const data = await getJSON(`/dashboard/api/panels?${q}`);
      const app = new URLSearchParams(location.search).get('app_id');
      history.replaceState(null, '', `?${q}${location.hash}`);
      await show(data, started);
      if (data.params.app_id !== app) window.Home.startLive(data.params.app_id);
    } catch (err) {
      status.className = 'status error';
      status.textContent = `Could not load the panels: ${err.message}`;
    }
    document.body.dataset.ready = 'true';
  }

  async function main() {
    const started = performance.now();
    try {
      const [spec, apps] = await Promise.all([getJSON('/dashboard/api/spec'), getJSON('/dashboard/api/apps').catch(() => ({ apps: [] }))]);
      state.spec = spec;
      $('#title').textContent = spec.title;
      document.title = `${spec.title} dashboard`;
      buildGrid(spec);
      // The server fills in the filters the URL leaves out; the form then shows what was used.
      const data = await getJSON(`/dashboard/api/panels${location.search}`);
      buildFilters(spec, apps.apps, data.params);
      history.replaceState(null, '', `?${query()}${location.hash}`);
      window.Home.startLive(data.params.app_id);
      await show(data, started);
      $('#filters').addEventListener('submit', (e) => { e.preventDefault(); refresh(query()); });
      $('#filters').addEventListener('change', (e) => { if (e.target.type !== 'text') refresh(query()); });
      let timer = 0;
      addEventListener('resize', () => { clearTimeout(timer); timer = setTimeout(() => state.data && draw(), 150); });
    } catch (err) {
      $('#status').className = 'status error';
      $('#status').textContent = `Could not load the dashboard: ${err.message}`;
    }
    document.body.dataset.ready = 'true';
  }

  main();
})();
