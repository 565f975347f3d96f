import assert from "node:assert/strict";
import { test } from "node:test";

import { OffsetEstimator, fitDrift, minDelay, sampleOf, type Exchange } from "../src/clock/estimator";

const S = 1_000_000_000;
const MS = 1_000_000;
const BASE = 1_800_000_000 * S; // a 2027 instant: the magnitude real timestamps have

/** One exchange through a path with the given one-way delays, server = client + offset (+ drift). */
function exchange(clientSend: number, offset: number, up: number, down: number, serverWork = 50_000, driftPerNs = 0): Exchange {
  const server = (client: number) => client + offset + driftPerNs * (client - BASE);
  const t1 = server(clientSend + up);
  const t2 = t1 + serverWork;
  const t3 = clientSend + up + serverWork + down;
  return { t0: clientSend, t1, t2, t3 };
}

test("symmetric path: the offset is exact and the delay is the network round trip", () => {
  const s = sampleOf(exchange(BASE, 5 * S, 10 * MS, 10 * MS))!;
  assert.ok(Math.abs(s.offsetNs - 5 * S) < 512, `offset ${s.offsetNs}`);
  assert.ok(Math.abs(s.delayNs - 20 * MS) < 512);
});

test("asymmetric path: the error is half the asymmetry, and the delay cannot tell", () => {
  const s = sampleOf(exchange(BASE, 5 * S, 20 * MS, 2 * MS))!;
  assert.ok(Math.abs(s.offsetNs - 5 * S - 9 * MS) < 512, `error ${(s.offsetNs - 5 * S) / MS} ms`);
  // The same four timestamps come from offset 5 s + 9 ms over a symmetric 11/11 ms path:
  const t = sampleOf(exchange(BASE, 5 * S + 9 * MS, 11 * MS, 11 * MS))!;
  assert.ok(Math.abs(t.offsetNs - s.offsetNs) < 512 && Math.abs(t.delayNs - s.delayNs) < 512);
});

test("impossible timestamps are rejected", () => {
  assert.equal(sampleOf({ t0: BASE, t1: BASE, t2: BASE, t3: BASE - MS }), null);
  assert.equal(sampleOf({ t0: BASE, t1: BASE + 5 * MS, t2: BASE, t3: BASE + 10 * MS }), null);
  assert.equal(sampleOf({ t0: NaN, t1: 1, t2: 2, t3: 3 }), null);
});

test("the minimum filter keeps the least-delayed sample, and forgets it once it is too old", () => {
  const est = new OffsetEstimator({ window: 4, history: 4 });
  const jitter = [7, 0.2, 5, 3]; // ms of extra delay on the request leg
  jitter.forEach((j, i) => est.add(exchange(BASE + i * S, 5 * S, 10 * MS + j * MS, 10 * MS)));
  const e = est.estimate()!;
  assert.ok(Math.abs(e.offsetNs - 5 * S - 0.1 * MS) < 1000, `error ${(e.offsetNs - 5 * S) / MS} ms`);
  assert.ok(Math.abs(e.rttNs - 20.2 * MS) < 1000);
  assert.equal(e.uncertaintyNs, e.rttNs / 2);
  // Out of the history, an old good sample no longer counts.
  for (let i = 4; i < 8; i++) est.add(exchange(BASE + i * S, 5 * S, 14 * MS, 10 * MS));
  assert.ok(Math.abs(est.estimate()!.offsetNs - 5 * S - 2 * MS) < 1000);
  // Aged by the drift's doubt (100 ppm unfitted), a clean sample 100 s old loses to a fresh one
  // 4 ms slower (bound 5 ms + 2 ms < 0 + 10 ms).
  const aged = new OffsetEstimator({ window: 4, history: 8, minDriftSpanNs: 1000 * S });
  aged.add(exchange(BASE, 5 * S, 10 * MS, 10 * MS));
  aged.add(exchange(BASE + 100 * S, 5 * S, 14 * MS, 10 * MS));
  assert.ok(Math.abs(aged.estimate()!.offsetNs - 5 * S - 2 * MS) < 1000);
});

test("minDelay prefers the older sample on a tie", () => {
  const a = { offsetNs: 1, delayNs: 5, atNs: 1 };
  const b = { offsetNs: 2, delayNs: 5, atNs: 2 };
  assert.equal(minDelay([a, b]), a);
});

test("drift is fitted from the filtered points and extrapolated between syncs", () => {
  const drift = 50e-6; // 50 ppm
  const est = new OffsetEstimator({ window: 4, history: 64, minDriftSpanNs: 5 * S });
  let t = BASE;
  for (let i = 0; i < 40; i++) {
    const j = (i * 7919) % 5; // deterministic jitter, 0..4 ms on one leg
    est.add(exchange(t, 5 * S, 10 * MS + j * MS, 10 * MS, 50_000, drift));
    t += S;
  }
  const e = est.estimate()!;
  assert.ok(Math.abs(e.driftPpm - 50) < 2, `drift ${e.driftPpm} ppm`);
  // 30 s after the last exchange the extrapolated server time is still within 0.1 ms.
  const later = t + 30 * S;
  const truth = later + 5 * S + drift * (later - BASE);
  const err = est.serverTimeNs(later)! - truth;
  assert.ok(Math.abs(err) < 0.1 * MS, `error ${err / MS} ms`);
  assert.ok(est.uncertaintyAt(later)! > e.uncertaintyNs, "the bound grows with the extrapolation");
});

test("an implausible drift is clamped, a short span gives none", () => {
  const two = [{ offsetNs: 0, delayNs: 1, atNs: 0 }, { offsetNs: 1, delayNs: 1, atNs: 10 }];
  assert.equal(fitDrift(two, 100), null); // too short
  assert.equal(fitDrift(two, 5), null); // too few points
  assert.equal(fitDrift(two, 5, 2), 0.1);
  const est = new OffsetEstimator({ window: 1, history: 8, minDriftSpanNs: S, maxDriftPpm: 500 });
  for (let i = 0; i < 4; i++) {
    const t = BASE + i * S; // 10 000 ppm
    est.add({ t0: t, t1: t + i * 10 * MS, t2: t + i * 10 * MS, t3: t });
  }
  assert.equal(est.estimate()!.driftPpm, 500);
});

test("options are checked and reset forgets", () => {
  assert.throws(() => new OffsetEstimator({ window: 0 }), RangeError);
  assert.throws(() => new OffsetEstimator({ window: 8, history: 4 }), RangeError);
  const est = new OffsetEstimator();
  assert.equal(est.estimate(), null);
  assert.equal(est.serverTimeNs(BASE), null);
  est.add(exchange(BASE, S, MS, MS));
  assert.equal(est.count, 1);
  est.reset();
  assert.equal(est.estimate(), null);
});
