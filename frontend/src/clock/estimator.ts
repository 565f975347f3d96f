/**
 * Offset of the server's clock from the browser's, from NTP-style exchanges (pure logic, no I/O).
 *
 * One exchange gives four timestamps in ns: t0 client send, t1 server receive, t2 server send,
 * t3 client receive (t0/t3 on the client's clock, t1/t2 on the server's). Then
 *   round-trip delay  d = (t3 - t0) - (t2 - t1)
 *   offset            θ = ((t1 - t0) + (t2 - t3)) / 2      (server = client + θ)
 * θ is exact only when the request and the response took equally long; otherwise it is off by
 * half the difference of the two one-way delays, and since the four timestamps only reveal their
 * sum, no estimator built on them can tell (the true offset lies in θ ± d/2). Jitter adds delay to
 * one leg at random, so the sample with the smallest round trip is the most trustworthy (the
 * minimum filter, over the kept history, each sample's round trip aged by the drift's doubt). Drift (the two oscillators' rate difference) is the slope of the offsets
 * over time, each weighted by its round trip's excess over the fastest, so the offset is
 * extrapolated between syncs instead of held; it is fitted once the samples span a minute.
 *
 * Times are JS numbers of ns since the UNIX epoch (~1.8e18: a double keeps them to 256 ns, far
 * below the millisecond this is judged at); differences are taken before any sum.
 */

export interface Exchange {
  t0: number;
  t1: number;
  t2: number;
  t3: number;
}

export interface Sample {
  offsetNs: number;
  delayNs: number;
  /** the client-clock midpoint of the exchange: the instant the offset refers to */
  atNs: number;
}

export interface Estimate {
  offsetNs: number;
  /** rate of the server clock relative to the client's, minus 1, in parts per million (0 until fitted) */
  driftPpm: number;
  /** whether driftPpm comes from a fit: false until the filtered points span minDriftSpanNs */
  driftFitted: boolean;
  /** round trip of the sample the offset comes from */
  rttNs: number;
  /** half that round trip, plus what the drift may have added since: the true offset's bound */
  uncertaintyNs: number;
  /** client-clock instant the offset refers to */
  atNs: number;
  samples: number;
}

export interface EstimatorOptions {
  /** the fewest samples (at least 4) a drift fit takes */
  window: number;
  /** samples kept (the minimum filter and the drift fit look at all of them) */
  history: number;
  /** a drift beyond this is not believed (clamped): a browser's oscillator is not that bad */
  maxDriftPpm: number;
  /** the drift is fitted only once the filtered points span this long */
  minDriftSpanNs: number;
  /** assumed doubt on a fitted drift, ppm: how fast an old sample's offset may have gone stale */
  driftUncertaintyPpm: number;
  /** the same before the drift is fitted (two machines' crystals rarely differ by more) */
  unfittedDriftPpm: number;
}

export const DEFAULT_ESTIMATOR: EstimatorOptions = {
  window: 8,
  history: 64,
  maxDriftPpm: 200,
  // A filtered offset is good to a fraction of a ms; over 10 s that is still tens of ppm of
  // slope error, worse than no drift correction at all. A minute makes it a few ppm.
  minDriftSpanNs: 60_000_000_000,
  driftUncertaintyPpm: 20,
  unfittedDriftPpm: 100,
};

/** One exchange as a sample, or null when its timestamps are impossible (reply before request). */
export function sampleOf(x: Exchange): Sample | null {
  const local = x.t3 - x.t0;
  const remote = x.t2 - x.t1;
  if (!Number.isFinite(local) || !Number.isFinite(remote) || local < 0 || remote < 0) return null;
  // A server slower than the round trip (clock rounding) would give a negative delay: clamp it.
  const delayNs = Math.max(0, local - remote);
  const offsetNs = ((x.t1 - x.t0) + (x.t2 - x.t3)) / 2;
  return { offsetNs, delayNs, atNs: x.t0 + local / 2 };
}

/** The minimum-delay sample of a non-empty list (the first one on a tie: older is not worse). */
export function minDelay(samples: readonly Sample[]): Sample {
  let best = samples[0];
  for (const s of samples) if (s.delayNs < best.delayNs) best = s;
  return best;
}

/**
 * Least-squares slope of offset over time of the points (weighted by `weights` when given), or
 * null when they are too few or span too little.
 */
export function fitDrift(points: readonly Sample[], minSpanNs: number, minPoints = 4,
                         weights?: readonly number[]): number | null {
  if (points.length < Math.max(2, minPoints)) return null;
  const t0 = points[0].atNs;
  const o0 = points[0].offsetNs;
  let n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  let lo = Infinity, hi = -Infinity;
  points.forEach((p, i) => {
    const w = weights ? weights[i] : 1;
    const x = p.atNs - t0;
    const y = p.offsetNs - o0;
    n += w; sx += w * x; sy += w * y; sxx += w * x * x; sxy += w * x * y;
    lo = Math.min(lo, x); hi = Math.max(hi, x);
  });
  if (hi - lo < minSpanNs) return null;
  const den = n * sxx - sx * sx;
  if (den <= 0) return null;
  return (n * sxy - sx * sy) / den; // ns of offset per ns of time
}

/**
 * The offset error a minimum-delay sample itself may carry (timestamp grain, queueing no exchange
 * escapes), ns: a sample's weight in the drift fit is 1 / (its excess delay / 2 + this)^2.
 */
const DRIFT_NOISE_NS = 100_000;

export class OffsetEstimator {
  readonly options: EstimatorOptions;
  private samples: Sample[] = [];

  constructor(options: Partial<EstimatorOptions> = {}) {
    this.options = { ...DEFAULT_ESTIMATOR, ...options };
    if (this.options.window < 1 || this.options.history < this.options.window) {
      throw new RangeError("window must be >= 1 and history >= window");
    }
  }

  /** Add one exchange; returns its sample, or null if it was rejected. */
  add(x: Exchange): Sample | null {
    const s = sampleOf(x);
    if (s === null) return null;
    this.samples.push(s);
    if (this.samples.length > this.options.history) this.samples.shift();
    return s;
  }

  get count(): number {
    return this.samples.length;
  }

  /** Forget everything (after the server's clock stepped, for instance). */
  reset(): void {
    this.samples = [];
  }

  /**
   * The drift from the history: the slope of the offsets over time, each sample weighted by how
   * much its round trip exceeds the fastest one's (its offset can be off by half the excess), so
   * queued exchanges hardly vote yet every sample keeps its place in time. (Runs of 8 samples and
   * their minima were fitted before: after a burst the minima were all early samples, and the
   * points spanned 14 s after 140 s of syncs, so the drift was never fitted.)
   */
  driftPerNs(): number {
    return this.driftFit() ?? 0;
  }

  /** The fitted drift per ns (clamped), or null while the history is too short to fit one. */
  driftFit(): number | null {
    if (this.samples.length === 0) return null;
    const floor = minDelay(this.samples).delayNs;
    const weights = this.samples.map((p) => 1 / ((p.delayNs - floor) / 2 + DRIFT_NOISE_NS) ** 2);
    const slope = fitDrift(this.samples, this.options.minDriftSpanNs, Math.max(4, this.options.window), weights);
    if (slope === null) return null;
    const max = this.options.maxDriftPpm * 1e-6;
    return Math.max(-max, Math.min(max, slope));
  }

  /**
   * The current estimate, or null before the first sample. The offset comes from the sample with
   * the smallest error bound now: half its round trip plus what the drift's doubt adds over its
   * age. So a clean exchange a few seconds old beats a fresh one that waited in a queue, and a
   * stale one loses to a fresh one once the drift could have moved it further.
   */
  estimate(): Estimate | null {
    if (this.samples.length === 0) return null;
    const latest = this.samples[this.samples.length - 1].atNs;
    const fit = this.driftFit();
    const drift = fit ?? 0;
    const doubt = this.driftDoubtPerNs(drift);
    let best = this.samples[0];
    let bound = Infinity;
    for (const s of this.samples) {
      const b = s.delayNs / 2 + Math.abs(latest - s.atNs) * doubt;
      if (b <= bound) {
        best = s;
        bound = b;
      }
    }
    return {
      offsetNs: best.offsetNs,
      driftPpm: drift * 1e6,
      driftFitted: fit !== null,
      rttNs: best.delayNs,
      uncertaintyNs: best.delayNs / 2,
      atNs: best.atNs,
      samples: this.samples.length,
    };
  }

  /** How far off the drift may be, per ns: the fit's assumed doubt once fitted, more before. */
  private driftDoubtPerNs(drift: number): number {
    const fitted = drift !== 0 || this.spanNs() >= this.options.minDriftSpanNs;
    return (fitted ? this.options.driftUncertaintyPpm : this.options.unfittedDriftPpm) * 1e-6;
  }

  /** How long the kept samples span (client clock, ns): the drift is fitted from minDriftSpanNs on. */
  spanNs(): number {
    return this.samples.length < 2 ? 0 : this.samples[this.samples.length - 1].atNs - this.samples[0].atNs;
  }

  /** The server's time at client-clock instant `localNs` (offset extrapolated with the drift). */
  serverTimeNs(localNs: number): number | null {
    const e = this.estimate();
    if (e === null) return null;
    return localNs + offsetAt(e, localNs);
  }

  /** Bound on the error of serverTimeNs(localNs): half the round trip plus the drift's doubt. */
  uncertaintyAt(localNs: number): number | null {
    const e = this.estimate();
    if (e === null) return null;
    return e.uncertaintyNs + Math.abs(localNs - e.atNs) * this.driftDoubtPerNs(e.driftPpm * 1e-6);
  }
}

/** The estimate's offset carried to client instant `localNs` along its drift. */
export function offsetAt(e: Estimate, localNs: number): number {
  return e.offsetNs + (e.driftPpm * 1e-6) * (localNs - e.atNs);
}
