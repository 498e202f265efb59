// Size budget for the browser tracker: web/tracker.js minified (terser) and gzipped
// must stay at or under 5,120 bytes. Exit 1 above the budget, 2 when it cannot measure.
//
//   node web/size-check.mjs
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

const BUDGET = 5120;
const source = await readFile(new URL('./tracker.js', import.meta.url), 'utf8');

let minify;
try {
  ({ minify } = await import('terser'));
} catch {
  console.error('size-check: the dev dependency "terser" is not installed (npm install); cannot measure.');
  process.exit(2);
}

const { code } = await minify(source, {
  compress: { passes: 2 },
  mangle: true,
  format: { comments: /^!/ },
});
const gzipped = gzipSync(code, { level: 9 }).length;
const line = `tracker.js: ${source.length} B source, ${code.length} B minified, ${gzipped} B min+gzip (budget ${BUDGET} B)`;

if (gzipped > BUDGET) {
  console.error(`${line}: OVER BUDGET by ${gzipped - BUDGET} B`);
  process.exit(1);
}
console.log(`${line}: ok`);
