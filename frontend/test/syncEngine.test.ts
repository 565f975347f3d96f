import assert from "node:assert/strict";
import { test } from "node:test";

import { ClockSyncEngine } from "../src/clock/syncEngine";

const MS = 1_000_000;

/**
 * A simulated world on one virtual timeline (ns): the client's clock is off by `offset`, the
 * network adds `up`/`down` plus a deterministic jitter, and timers fire in order. Nothing real.
 */
function world(offset: number, up: number, down: number, fail = () => false, lag = 0, clientPpm = 0) {
  const wires = new Map<string, { startTime: number; requestStart: number; responseStart: number }>();
  const shift = { server: 0 }; // a step of the server's clock, set by a test
  const start = 1_700_000_000_000 * MS;
  let now = start; // true (server) time
  // the client's clock: `offset` behind and `clientPpm` fast (its timeline and its clock alike)
  const client = (t: number) => t - offset + (t - start) * clientPpm * 1e-6;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  let requests = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let k = 0;
  const jitter = () => ((k++ * 7919) % 7) * 0.3 * MS;
  const setTimer = (fn: () => void, ms: number) => {
    const id = ++ids;
    timers.push({ at: now + ms * MS, fn, id });
    return id;
  };
  const clearTimer = (h: unknown) => {
    const i = timers.findIndex((t) => t.id === h);
    if (i >= 0) timers.splice(i, 1);
  };
  const perfMs = () => client(now) / MS; // the page's timeline, ms
  const fetchFn = ((url: string, init: RequestInit) => {
    const startTime = perfMs();
    requests += 1;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const goUp = up + jitter();
    const goDown = down + jitter();
    return new Promise((resolve, reject) => {
      setTimer(() => {
        if (fail()) {
          setTimer(() => { inFlight -= 1; reject(new Error("network down")); }, goDown / MS);
          return;
        }
        const t1 = now + shift.server;
        const t2 = t1 + 0.05 * MS;
        const { t0 } = JSON.parse(String(init.body));
        const requestStart = startTime + 0.2; // the network stack sent it 0.2 ms after fetch()
        setTimer(() => {
          wires.set(url, { startTime, requestStart, responseStart: perfMs() });
          // the script hears about it `lag` ms later (a busy main thread)
          setTimer(() => {
            inFlight -= 1;
            resolve({ ok: true, status: 200, json: async () => ({ t0, t1, t2 }) } as Response);
          }, lag);
        }, (goDown - 0.2 * MS) / MS + 0.05);
      }, goUp / MS);
    });
  }) as unknown as typeof fetch;
  const clock = { nowNs: () => client(now), fromPerfMs: (ms: number) => ms * MS };
  async function runFor(ms: number) {
    const end = now + ms * MS;
    for (;;) {
      await new Promise((r) => setImmediate(r)); // let promise chains settle
      timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const t = timers[0];
      if (!t || t.at > end) break;
      timers.shift();
      now = Math.max(now, t.at);
      t.fn();
    }
    now = end;
  }
  const wireTiming = (url: string) => wires.get(url) ?? null;
  return { wireTiming, shift, fetchFn, clock, setTimer, clearTimer, runFor, now: () => now, stats: () => ({ requests, maxInFlight }) };
}

test("converges to the true offset within half the jitter on a symmetric path", async () => {
  const w = world(5_000 * MS, 10 * MS, 10 * MS);
  const e = new ClockSyncEngine({ clock: w.clock, fetchFn: w.fetchFn, wireTiming: () => null, setTimer: w.setTimer, clearTimer: w.clearTimer });
  let changes = 0;
  e.subscribe(() => changes++);
  e.start();
  await w.runFor(5_000);
  const s = e.snapshot();
  assert.equal(s.synchronized, true);
  assert.ok(s.samples >= 8);
  const err = e.nowNs() - w.now();
  assert.ok(Math.abs(err) < 1 * MS, `error ${err / MS} ms`);
  assert.ok(changes >= 8);
  assert.equal(w.stats().maxInFlight, 1);
  e.stop();
});

test("an asymmetric path leaves half the asymmetry, as it must", async () => {
  const w = world(5_000 * MS, 20 * MS, 2 * MS);
  const e = new ClockSyncEngine({ clock: w.clock, fetchFn: w.fetchFn, wireTiming: () => null, setTimer: w.setTimer, clearTimer: w.clearTimer });
  e.start();
  await w.runFor(5_000);
  const err = e.nowNs() - w.now();
  assert.ok(Math.abs(err - 9 * MS) < 1 * MS, `error ${err / MS} ms (half of 18 ms expected)`);
  e.stop();
});

test("polling is bounded: a dead server gets backoff, never a flood", async () => {
  const w = world(0, MS, MS, () => true);
  const e = new ClockSyncEngine({ clock: w.clock, fetchFn: w.fetchFn, wireTiming: () => null, setTimer: w.setTimer, clearTimer: w.clearTimer });
  e.start();
  await w.runFor(600_000); // ten minutes
  const { requests, maxInFlight } = w.stats();
  assert.ok(requests <= 20, `${requests} requests in ten minutes`);
  assert.equal(maxInFlight, 1);
  assert.equal(e.snapshot().synchronized, false);
  assert.ok(e.snapshot().failures >= 5);
  e.stop();
});

test("a healthy server is polled a few times a minute once settled", async () => {
  const w = world(0, MS, MS);
  const e = new ClockSyncEngine({ clock: w.clock, fetchFn: w.fetchFn, wireTiming: () => null, setTimer: w.setTimer, clearTimer: w.clearTimer });
  e.start();
  await w.runFor(60_000);
  const first = w.stats().requests;
  await w.runFor(600_000);
  const perMinute = (w.stats().requests - first) / 10;
  assert.ok(perMinute <= 2, `${perMinute} requests per minute`);
  e.stop();
});

test("a stepped server clock is noticed and the estimate starts over", async () => {
  const w = world(0, 5 * MS, 5 * MS);
  const e = new ClockSyncEngine({ clock: w.clock, fetchFn: w.fetchFn, wireTiming: () => null, setTimer: w.setTimer, clearTimer: w.clearTimer });
  e.start();
  await w.runFor(30_000);
  w.shift.server = 1_000 * MS; // the server's clock jumps one second ahead
  await w.runFor(70_000); // at most one max interval until the next exchange, then a burst
  const err = e.nowNs() - (w.now() + w.shift.server);
  assert.ok(Math.abs(err) < 1 * MS, `error ${err / MS} ms after the step`);
  e.stop();
});

test("the network stack's timing removes a busy main thread's delay from the exchange", async () => {
  // The script hears of each reply 6 ms late: with its own reads the offset is off by ~3 ms,
  // with Resource Timing's stamps it is not.
  const run = async (useWire: boolean) => {
    const w = world(5_000 * MS, 10 * MS, 10 * MS, () => false, 6);
    const e = new ClockSyncEngine({ clock: w.clock, fetchFn: w.fetchFn, wireTiming: useWire ? w.wireTiming : () => null,
      setTimer: w.setTimer, clearTimer: w.clearTimer });
    e.start();
    await w.runFor(5_000);
    e.stop();
    return { err: e.nowNs() - w.now(), wire: e.wire };
  };
  const own = await run(false);
  const wire = await run(true);
  assert.ok(Math.abs(own.err) > 2 * MS, `script reads: error ${own.err / MS} ms`);
  assert.ok(Math.abs(wire.err) < 0.5 * MS, `wire timing: error ${wire.err / MS} ms`);
  assert.ok(wire.wire.used >= 8 && wire.wire.fallback === 0);
});

test("the drift is unknown (null, with how far the fit is) until the syncs span a minute, then fitted", async () => {
  // The client's clock runs 20 ppm fast: the server's runs 20 ppm slow against it.
  const w = world(5_000 * MS, 10 * MS, 10 * MS, () => false, 0, 20);
  const e = new ClockSyncEngine({ clock: w.clock, fetchFn: w.fetchFn, wireTiming: () => null, setTimer: w.setTimer, clearTimer: w.clearTimer });
  e.start();
  await w.runFor(15_000);
  let s = e.snapshot();
  assert.equal(s.synchronized, true);
  assert.equal(s.driftPpm, null, "an unfitted drift must not read as 0 ppm");
  assert.ok(s.driftSpan !== null && s.driftSpan.haveNs > 10_000 * MS && s.driftSpan.haveNs < s.driftSpan.needNs, JSON.stringify(s.driftSpan));
  await w.runFor(150_000);
  s = e.snapshot();
  assert.equal(s.driftSpan, null);
  assert.ok(s.driftPpm !== null && Math.abs(s.driftPpm + 20) < 5, `drift ${s.driftPpm} ppm (-20 expected)`);
  e.stop();
});
