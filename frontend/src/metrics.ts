/**
 * What the page measures about itself, kept in bounded rings and readable at
 * window.__clockbench (the headless-browser measurements read their own instruments too; these
 * are shown on the page so a person watching sees the same figures).
 */

export class Ring {
  private values: number[] = [];
  constructor(readonly size = 512) {}
  push(v: number): void {
    this.values.push(v);
    if (this.values.length > this.size) this.values.shift();
  }
  all(): number[] {
    return [...this.values];
  }
  median(): number | null {
    if (this.values.length === 0) return null;
    const s = [...this.values].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }
}

export const pageMetrics = {
  /** WebSocket message received -> React commit showing it, ms */
  quoteToDomMs: new Ring(),
  /** submit click -> acknowledged order committed to the DOM, ms */
  clickToAckMs: new Ring(),
};

/**
 * Called with each order's id and stamp right after the stamp is read. A measuring harness sets it
 * (window.__clockbench.setStampHook) to read its own true clock at that very moment: read later,
 * at the order's fetch(), a loaded machine's scheduler could put milliseconds in between.
 */
export const stampHook: { fn: ((clientOrderId: string, stampNs: number) => void) | null } = { fn: null };
