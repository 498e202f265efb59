// The committed world map (clickstream/dashboard/static/world.json) is what the build script
// makes from the pinned world-atlas, and covers every country code the API can store.
//
//   node --test tests/e2e/world_map.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const world = JSON.parse(readFileSync(`${ROOT}clickstream/dashboard/static/world.json`, 'utf8'));

test('world.json is up to date with its build script', () => {
  execFileSync(process.execPath, [`${ROOT}clickstream/dashboard/build_world.mjs`, '--check'], { stdio: 'pipe' });
});

test('every ISO country has a shape or a dot, except Antarctica', () => {
  const placed = new Set([...Object.keys(world.countries), ...Object.keys(world.dots)]);
  const missing = Object.keys(world.names).filter((cc) => !placed.has(cc) && cc !== 'AQ');
  assert.deepEqual(missing, []);
  for (const cc of ['DE', 'US', 'BR', 'XK']) assert.ok(world.countries[cc], `${cc} is a shape`);
  for (const cc of ['SG', 'MT', 'MC', 'GI', 'TV']) assert.ok(world.dots[cc], `${cc} is a dot`);
  for (const d of Object.values(world.dots)) assert.ok(d.x >= 0 && d.x <= world.width && d.y >= 0 && d.y <= world.height, JSON.stringify(d));
});
