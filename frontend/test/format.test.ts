import assert from "node:assert/strict";
import { test } from "node:test";

import { decimal } from "../src/format";

test("prices are shown to a few places, exact short ones untouched", () => {
  assert.equal(decimal("190.003333333333333333"), "190.0033");
  assert.equal(decimal("190.12"), "190.12");
  assert.equal(decimal(null), "—");
  assert.equal(decimal("-114007.7", 2), "-114007.7");
});

import { browserClock } from "../src/clock/localClock";

test("the local clock is Date.now() once, then performance.now(); Resource Timing stamps map onto it", () => {
  let perf = 1000.25;
  let wall = 1_700_000_000_000;
  const c = browserClock(() => wall, () => perf);
  assert.equal(c.nowNs(), 1_700_000_000_000 * 1e6);
  perf += 5.5;
  wall += 9_999; // a wall-clock step does not move it
  assert.equal(c.nowNs(), 1_700_000_000_000 * 1e6 + 5.5e6);
  assert.equal(c.fromPerfMs(1000.25 + 2), 1_700_000_000_000 * 1e6 + 2e6);
});
