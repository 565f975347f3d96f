/**
 * The clocked sync loop (the I/O around the pure estimator and schedule): one exchange at a time
 * with POST /api/v1/clock/sync, each aborted after the policy's timeout, the next one scheduled by
 * PollSchedule. Listeners hear about every change (React subscribes via useSyncExternalStore).
 */

import { OffsetEstimator, offsetAt, type EstimatorOptions } from "./estimator";
import type { LocalClock } from "./localClock";
import { PollSchedule, type PollPolicy } from "./schedule";

export interface SyncSnapshot {
  synchronized: boolean;
  offsetNs: number | null;
  rttNs: number | null;
  uncertaintyNs: number | null;
  /** null until the drift is fitted (see driftSpan) */
  driftPpm: number | null;
  /** before the drift is fitted: how long the samples span and how long a fit needs (ns) */
  driftSpan: { haveNs: number; needNs: number } | null;
  lastSyncNs: number | null;
  samples: number;
  failures: number;
  lastError: string | null;
  /** exchanges timed by the network stack (Resource Timing) rather than the script */
  wireTimed: number;
}

/** The network stack's own send/receive times of one request, ms on the page's timeline (Resource Timing). */
export interface WireTiming {
  startTime: number;
  requestStart: number;
  responseStart: number;
}

/**
 * Resource Timing for a URL: when the request left and the first byte of the reply came back,
 * stamped by the network stack rather than by a script waiting its turn on a busy main thread.
 * Null where the browser does not give it (then the script's own reads are used).
 */
export function resourceTiming(url: string): WireTiming | null {
  if (typeof performance === "undefined" || typeof performance.getEntriesByName !== "function"
      || typeof location === "undefined") return null;
  const abs = new URL(url, location.href).href;
  const list = performance.getEntriesByName(abs, "resource") as PerformanceResourceTiming[];
  const e = list[list.length - 1];
  if (performance.getEntriesByType("resource").length > 200) performance.clearResourceTimings();
  if (!e || !(e.requestStart > 0) || !(e.responseStart >= e.requestStart) || !(e.requestStart >= e.startTime)) return null;
  return { startTime: e.startTime, requestStart: e.requestStart, responseStart: e.responseStart };
}

export interface EngineDeps {
  /** wire timing of a finished request (default: Resource Timing); return null to use the script's reads */
  wireTiming?: (url: string) => WireTiming | null;
  clock: LocalClock;
  fetchFn?: typeof fetch;
  endpoint?: string;
  estimator?: Partial<EstimatorOptions>;
  policy?: Partial<PollPolicy>;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

const EMPTY: SyncSnapshot = {
  synchronized: false, offsetNs: null, rttNs: null, uncertaintyNs: null, driftPpm: null, driftSpan: null,
  lastSyncNs: null, samples: 0, failures: 0, lastError: null, wireTimed: 0,
};

export class ClockSyncEngine {
  readonly clock: LocalClock;
  readonly estimator: OffsetEstimator;
  readonly schedule: PollSchedule;
  private readonly fetchFn: typeof fetch;
  private readonly endpoint: string;
  private readonly wireTiming: (url: string) => WireTiming | null;
  private seq = 0;
  /** exchanges whose t0/t3 came from the network stack's timing, and from the script's reads */
  wire = { used: 0, fallback: 0 };
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private timer: unknown = null;
  private running = false;
  private inFlight = false;
  private snap: SyncSnapshot = EMPTY;
  private listeners = new Set<() => void>();

  constructor(deps: EngineDeps) {
    this.clock = deps.clock;
    this.fetchFn = deps.fetchFn ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
    this.endpoint = deps.endpoint ?? "/api/v1/clock/sync";
    this.wireTiming = deps.wireTiming ?? resourceTiming;
    this.estimator = new OffsetEstimator(deps.estimator);
    this.schedule = new PollSchedule(deps.policy);
    this.setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = deps.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.arm(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  snapshot = (): SyncSnapshot => this.snap;

  /** The server's time now as this engine estimates it (the local clock until the first sync). */
  nowNs = (): number => {
    const local = this.clock.nowNs();
    return this.estimator.serverTimeNs(local) ?? local;
  };

  private arm(ms: number): void {
    if (!this.running) return;
    this.timer = this.setTimer(() => {
      this.timer = null;
      void this.tick();
    }, ms);
  }

  /** One exchange; never two at once, whatever calls it. */
  async tick(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    let delay: number;
    try {
      delay = await this.exchange();
    } finally {
      this.inFlight = false;
    }
    this.arm(delay);
  }

  private async exchange(): Promise<number> {
    const abort = new AbortController();
    const guard = this.setTimer(() => abort.abort(), this.schedule.policy.timeoutMs);
    const predicted = this.estimator.estimate();
    try {
      this.seq += 1;
      const url = `${this.endpoint}?n=${this.seq}`; // a name of its own, to find its timing entry
      const t0 = this.clock.nowNs();
      const res = await this.fetchFn(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ t0: Math.round(t0) }),
        signal: abort.signal,
        cache: "no-store",
      });
      const t3 = this.clock.nowNs(); // headers are in: the reply has arrived
      if (!res.ok) throw new Error(`clock sync answered ${res.status}`);
      const body = (await res.json()) as { t1?: unknown; t2?: unknown };
      if (typeof body.t1 !== "number" || typeof body.t2 !== "number") throw new Error("clock sync reply lacks t1/t2");
      // The script read t0 before fetch() and t3 after its promise resolved: both include the
      // main thread's queueing (and the hop to the network process). The network stack's own
      // stamps are taken instead where the browser gives them.
      let wire = this.wireTiming(url);
      if (wire === null) {
        // The entry is queued as a task after the body completes: give it one turn.
        await new Promise<void>((resolve) => this.setTimer(resolve, 0));
        wire = this.wireTiming(url);
      }
      let x = { t0, t1: body.t1, t2: body.t2, t3 };
      if (wire !== null) {
        // On the same clock as t0/t3: the entry's stamps are on the page's performance timeline.
        x = { ...x, t0: this.clock.fromPerfMs(wire.requestStart), t3: this.clock.fromPerfMs(wire.responseStart) };
        this.wire.used += 1;
      } else {
        this.wire.fallback += 1;
      }
      const sample = this.estimator.add(x);
      if (sample === null) throw new Error("clock sync reply has impossible timestamps");
      // How far the new offset is from the prediction beyond what its own round trip allows.
      const surpriseNs = predicted === null ? 0
        : Math.max(0, Math.abs(sample.offsetNs - offsetAt(predicted, sample.atNs)) - sample.delayNs / 2);
      if (predicted !== null && surpriseNs > Math.max(5_000_000, this.schedule.policy.jumpFactor * predicted.uncertaintyNs)) {
        // A clock stepped (server's or ours): the history describes another clock. Start over.
        this.estimator.reset();
        this.estimator.add(x);
      }
      const e = this.estimator.estimate()!;
      this.publish({
        // "synced" once the first burst has filled the filter; the estimate is used before that too
        synchronized: this.snap.synchronized || e.samples >= this.schedule.policy.burst, offsetNs: e.offsetNs, rttNs: e.rttNs,
        uncertaintyNs: this.estimator.uncertaintyAt(t3),
        // Shown only once fitted: an unfitted 0 would read as "no drift" (it means "not known yet").
        driftPpm: e.driftFitted ? e.driftPpm : null,
        driftSpan: e.driftFitted ? null : { haveNs: this.estimator.spanNs(), needNs: this.estimator.options.minDriftSpanNs },
        lastSyncNs: body.t2, samples: e.samples, failures: 0, lastError: null, wireTimed: this.wire.used,
      });
      return this.schedule.next({ kind: "ok", surpriseNs, boundNs: predicted?.uncertaintyNs ?? e.uncertaintyNs });
    } catch (err) {
      const next = this.schedule.next({ kind: "failed" });
      this.publish({ ...this.snap, failures: this.schedule.consecutiveFailures, lastError: String(err) });
      return next;
    } finally {
      this.clearTimer(guard);
    }
  }

  private publish(s: SyncSnapshot): void {
    this.snap = s;
    for (const fn of this.listeners) fn();
  }
}
