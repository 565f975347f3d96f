/**
 * The browser's own clock as the sync sees it: Date.now() read once as the anchor, then
 * performance.now() (monotonic, sub-millisecond) for everything after. A wall-clock step on the
 * machine cannot move it, and the anchor's millisecond rounding is a constant that the measured
 * offset absorbs (the same clock stamps the exchanges and the orders).
 */

export interface LocalClock {
  nowNs(): number;
  /** this clock's reading at an instant of the page's performance timeline (ms), e.g. a Resource Timing stamp */
  fromPerfMs(perfMs: number): number;
}

export function browserClock(
  dateNow: () => number = () => Date.now(),
  perfNow: () => number = () => performance.now(),
): LocalClock {
  const anchorWallMs = dateNow();
  const anchorPerfMs = perfNow();
  const fromPerfMs = (ms: number): number => anchorWallMs * 1e6 + (ms - anchorPerfMs) * 1e6;
  return { nowNs: () => fromPerfMs(perfNow()), fromPerfMs };
}
