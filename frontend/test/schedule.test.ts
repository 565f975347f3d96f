import assert from "node:assert/strict";
import { test } from "node:test";

import { DEFAULT_POLICY, PollSchedule } from "../src/clock/schedule";

const ok = { kind: "ok" as const, surpriseNs: 0, boundNs: 1_000_000 };

test("a burst fills the window, a few settle at the shortest interval, then it doubles to its ceiling", () => {
  const s = new PollSchedule({}, () => 0.5);
  const delays = Array.from({ length: 48 }, () => s.next(ok));
  const p = DEFAULT_POLICY;
  assert.ok(p.settle > 0);
  assert.deepEqual(delays.slice(0, p.burst - 1), Array(p.burst - 1).fill(p.burstGapMs));
  assert.deepEqual(delays.slice(p.burst - 1, p.burst + p.settle), Array(p.settle + 1).fill(p.minIntervalMs));
  assert.equal(delays[p.burst + p.settle], p.minIntervalMs * 2);
  assert.equal(Math.max(...delays), p.maxIntervalMs);
  assert.ok(delays.every((d) => d >= p.burstGapMs && d <= p.maxIntervalMs));
});

test("a jump in the offset starts a new burst", () => {
  const s = new PollSchedule({ burst: 2 }, () => 0.5);
  s.next(ok); s.next(ok); s.next(ok); s.next(ok);
  assert.equal(s.next({ kind: "ok", surpriseNs: 50_000_000, boundNs: 1_000_000 }), DEFAULT_POLICY.burstGapMs);
  // small surprises within the bound do not
  const t = new PollSchedule({ burst: 1, settle: 0 }, () => 0.5);
  t.next(ok);
  assert.ok(t.next({ kind: "ok", surpriseNs: 2_000_000, boundNs: 1_000_000 }) > DEFAULT_POLICY.minIntervalMs);
});

test("failures back off exponentially, with jitter, up to the cap; a success resets", () => {
  const lo = new PollSchedule({}, () => 0);
  const hi = new PollSchedule({}, () => 1);
  const a = Array.from({ length: 10 }, () => lo.next({ kind: "failed" }));
  const b = Array.from({ length: 10 }, () => hi.next({ kind: "failed" }));
  assert.deepEqual(b.slice(0, 4), [1000, 2000, 4000, 8000]);
  assert.deepEqual(a.slice(0, 4), [500, 1000, 2000, 4000]);
  assert.equal(Math.max(...b), DEFAULT_POLICY.maxBackoffMs);
  assert.equal(hi.consecutiveFailures, 10);
  hi.next(ok);
  assert.equal(hi.consecutiveFailures, 0);
});

test("an inconsistent policy is refused", () => {
  assert.throws(() => new PollSchedule({ burst: 0 }), RangeError);
  assert.throws(() => new PollSchedule({ settle: -1 }), RangeError);
  assert.throws(() => new PollSchedule({ minIntervalMs: 10, burstGapMs: 100 }), RangeError);
  assert.throws(() => new PollSchedule({ timeoutMs: 0 }), RangeError);
});
