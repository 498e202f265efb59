// Projects the world map once, at build time, into static/world.json, so the dashboard page
// draws it with plain SVG and no dependency (the page may be offline).
//
//   npm run build:world        (node clickstream/dashboard/build_world.mjs [--check])
//
// Shapes: world-atlas 2.0.2 (ISC; Natural Earth data, public domain), countries-110m. Its 110m
// cut lacks 61 small countries and territories (Singapore, Malta, Monaco, Andorra, Bahrain, ...):
// those are drawn as dots at the centroid of their 50m shape. A few are in neither cut (Gibraltar,
// Tuvalu, Tokelau, the French overseas regions, ...): dots at the coordinates in EXTRA below.
// Kosovo has no ISO numeric id in world-atlas; it is matched by name (XK). Antarctica is left out.
// Codes: ISO 3166-1 numeric -> alpha-2 and English names from i18n-iso-countries (MIT).
// Projection: Equal Earth (Šavrič, Patterson, Jenny 2018), written out below.
// --check exits 1 when the committed file differs from what this script builds (tests run it).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { feature } = require('topojson-client');
const iso = require('i18n-iso-countries');
iso.registerLocale(require('i18n-iso-countries/langs/en.json'));

const OUT = fileURLToPath(new URL('./static/world.json', import.meta.url));
const atlas = (res) => JSON.parse(readFileSync(require.resolve(`world-atlas/countries-${res}.json`), 'utf8'));
// [lon, lat] of places in neither cut (their main island or town).
const EXTRA = {
  GI: [-5.35, 36.14], TV: [179.2, -8.52], TK: [-171.85, -9.2], CX: [105.69, -10.45], CC: [96.87, -12.16],
  BV: [3.41, -54.42], GP: [-61.55, 16.25], MQ: [-61.02, 14.64], YT: [45.15, -12.83], RE: [55.53, -21.13],
  GF: [-53.1, 3.93], SJ: [15.6, 78.2], UM: [166.65, 19.3], BQ: [-68.26, 12.2],
};

const A1 = 1.340264, A2 = -0.081106, A3 = 0.000893, A4 = 0.003796, M = Math.sqrt(3) / 2;
function equalEarth([lon, lat]) {
  const l = (lon * Math.PI) / 180, p = (lat * Math.PI) / 180;
  const t = Math.asin(M * Math.sin(p)), t2 = t * t, t6 = t2 * t2 * t2;
  const x = (l * Math.cos(t)) / (M * (A1 + 3 * A2 * t2 + t6 * (7 * A3 + 9 * A4 * t2)));
  const y = t * (A1 + A2 * t2 + t6 * (A3 + A4 * t2));
  return [x, -y];
}
const WIDTH = 1000;
const XMAX = equalEarth([180, 0])[0];
const S = WIDTH / (2 * XMAX);
const TOP = equalEarth([0, 84])[1], BOTTOM = equalEarth([0, -58])[1];
const project = (pt) => {
  const [x, y] = equalEarth(pt);
  return [(x + XMAX) * S, (y - TOP) * S];
};
const HEIGHT = Math.round((BOTTOM - TOP) * S);
const r1 = (v) => Math.round(v * 10) / 10;

function ringPath(ring) {
  let d = '', last = '';
  ring.forEach((pt, i) => {
    const [x, y] = project(pt).map(r1);
    const cur = `${x},${y}`;
    if (cur === last) return; // drop points that round onto the previous one
    d += `${i ? 'L' : 'M'}${cur}`;
    last = cur;
  });
  return `${d}Z`;
}
const polygons = (geom) => (geom.type === 'Polygon' ? [geom.coordinates] : geom.type === 'MultiPolygon' ? geom.coordinates : []);

function centroid(geom) {
  // Area-weighted centre of the largest polygon's outer ring, in lon/lat (small shapes: flat is fine).
  let best = null, bestArea = -1;
  for (const poly of polygons(geom)) {
    const ring = poly[0];
    let a = 0, cx = 0, cy = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const f = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
      a += f; cx += (ring[j][0] + ring[i][0]) * f; cy += (ring[j][1] + ring[i][1]) * f;
    }
    const area = Math.abs(a / 2);
    const c = a ? [cx / (3 * a), cy / (3 * a)] : ring[0];
    if (area > bestArea) { best = c; bestArea = area; }
  }
  return best;
}

const code = (f) => (f.properties.name === 'Kosovo' ? 'XK' : iso.numericToAlpha2(f.id));
const countries = {};
for (const f of feature(atlas('110m'), atlas('110m').objects.countries).features) {
  const cc = code(f);
  if (!cc || cc === 'AQ') continue;
  countries[cc] = { n: iso.getName(cc, 'en') || f.properties.name, d: polygons(f.geometry).map((p) => p.map(ringPath).join('')).join('') };
}
const dots = {};
for (const f of feature(atlas('50m'), atlas('50m').objects.countries).features) {
  const cc = code(f);
  if (!cc || countries[cc] || cc === 'AQ') continue;
  const [x, y] = project(centroid(f.geometry)).map(r1);
  dots[cc] = { n: iso.getName(cc, 'en') || f.properties.name, x, y };
}
for (const [cc, pt] of Object.entries(EXTRA)) {
  if (countries[cc] || dots[cc]) continue;
  const [x, y] = project(pt).map(r1);
  dots[cc] = { n: iso.getName(cc, 'en') || cc, x, y };
}
const names = Object.fromEntries(Object.keys(iso.getAlpha2Codes()).sort().map((cc) => [cc, iso.getName(cc, 'en')]));
const sorted = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
const text = `${JSON.stringify({
  source: 'world-atlas 2.0.2 countries-110m (+ 50m centroids as dots), Natural Earth; Equal Earth projection; built by clickstream/dashboard/build_world.mjs',
  width: WIDTH, height: HEIGHT, countries: sorted(countries), dots: sorted(dots), names,
})}\n`;

if (process.argv.includes('--check')) {
  const same = (() => { try { return readFileSync(OUT, 'utf8') === text; } catch { return false; } })();
  if (!same) { console.error(`${OUT} is out of date: run npm run build:world`); process.exit(1); }
  console.log(`${OUT} is up to date`);
} else {
  writeFileSync(OUT, text);
  console.log(`wrote ${OUT}: ${Object.keys(countries).length} shapes, ${Object.keys(dots).length} dots, ${text.length} bytes`);
}
