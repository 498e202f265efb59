// ES module entry: import { init, track } from '/web/tracker.mjs'.
// tracker.js is a classic script (for the one-tag install), so this file imports it for
// its side effect and re-exports the API it built: in a browser tracker.js sets
// globalThis.clickstream; under node it is a CommonJS module (loaded.default).
import * as loaded from './tracker.js';

const clickstream = globalThis.clickstream || loaded.default;

export const {
  init,
  track,
  page,
  identify,
  reset,
  setConsent,
  flush,
  stats,
  createTracker,
  backoff,
  retryable,
  propsOf,
  browserEnv,
  uuid,
} = clickstream;
export default clickstream;
