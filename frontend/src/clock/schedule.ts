/**
 * When to sync next (pure logic): a burst of quick exchanges to fill the filter window, then
 * `settle` exchanges at the shortest interval, then an interval that doubles while the estimate
 * holds (up to a ceiling), back to a burst when it jumps,
 * and exponential backoff with jitter when exchanges fail. Bounded on every path: never more than
 * one exchange in flight (the engine's job), never sooner than `burstGapMs`, never later than the
 * ceilings, so a dead server costs one request per `maxBackoffMs` and a live one a few per minute.
 */

export interface PollPolicy {
  /** exchanges in the initial burst (fills the minimum filter) */
  burst: number;
  burstGapMs: number;
  /**
   * exchanges at minIntervalMs after the burst, before the interval starts doubling. The burst
   * runs while the page itself starts up (parsing, first render, the feed connecting): its
   * exchanges wait in queues on one leg more than the other, and the minimum filter can only
   * pick the cleanest exchange it has seen. A few more, spread over the next seconds, give it
   * clean ones (measured on a loaded 2-core machine: the best of the burst alone was off by
   * 0.5-2 ms; see harness/measure/frontend.py's exchange breakdown).
   */
  settle: number;
  /** the interval after the burst, doubled while stable */
  minIntervalMs: number;
  maxIntervalMs: number;
  /** first retry delay after a failure, doubled per consecutive failure */
  backoffMs: number;
  maxBackoffMs: number;
  /** an exchange that takes longer is aborted and counts as a failure */
  timeoutMs: number;
  /** an offset that moved more than this many times the bound (or 5 ms) is a jump: burst again */
  jumpFactor: number;
}

export const DEFAULT_POLICY: PollPolicy = {
  burst: 16,
  burstGapMs: 50,
  settle: 12,
  minIntervalMs: 1_000,
  maxIntervalMs: 64_000,
  backoffMs: 1_000,
  maxBackoffMs: 60_000,
  timeoutMs: 2_000,
  jumpFactor: 3,
};

export type Outcome =
  | { kind: "ok"; /** |new offset - predicted| in ns */ surpriseNs: number; /** current bound in ns */ boundNs: number }
  | { kind: "failed" };

export class PollSchedule {
  readonly policy: PollPolicy;
  private inBurst: number;
  private inSettle: number;
  private intervalMs: number;
  private failures = 0;
  private readonly random: () => number;

  constructor(policy: Partial<PollPolicy> = {}, random: () => number = Math.random) {
    this.policy = { ...DEFAULT_POLICY, ...policy };
    const p = this.policy;
    if (p.burst < 1 || !(p.settle >= 0) || p.burstGapMs <= 0 || p.minIntervalMs < p.burstGapMs || p.maxIntervalMs < p.minIntervalMs
        || p.backoffMs <= 0 || p.maxBackoffMs < p.backoffMs || p.timeoutMs <= 0) {
      throw new RangeError("inconsistent poll policy");
    }
    this.inBurst = p.burst;
    this.inSettle = p.settle;
    this.intervalMs = p.minIntervalMs;
    this.random = random;
  }

  /** Delay in ms before the next exchange, given how the last one went. */
  next(outcome: Outcome): number {
    const p = this.policy;
    if (outcome.kind === "failed") {
      this.failures += 1;
      const ceiling = Math.min(p.maxBackoffMs, p.backoffMs * 2 ** (this.failures - 1));
      // Half fixed, half random: retries of many tabs do not arrive together.
      return Math.round(ceiling / 2 + (ceiling / 2) * this.random());
    }
    this.failures = 0;
    const jump = outcome.surpriseNs > Math.max(5_000_000, p.jumpFactor * outcome.boundNs);
    if (jump && this.inBurst === 0) {
      this.inBurst = p.burst;
      this.inSettle = p.settle;
      this.intervalMs = p.minIntervalMs;
    }
    if (this.inBurst > 0) {
      this.inBurst -= 1;
      if (this.inBurst > 0) return p.burstGapMs;
      return p.minIntervalMs;
    }
    if (this.inSettle > 0) {
      this.inSettle -= 1;
      return p.minIntervalMs;
    }
    this.intervalMs = Math.min(p.maxIntervalMs, this.intervalMs * 2);
    return this.intervalMs;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}
