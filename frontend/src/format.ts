/** Display helpers: times are ns ints everywhere, shown in ms or as UTC clock time. */

export function ms(ns: number | null | undefined, digits = 3): string {
  if (ns == null || !Number.isFinite(ns)) return "—";
  return `${(ns / 1e6).toFixed(digits)} ms`;
}

export function signedMs(ns: number | null | undefined, digits = 3): string {
  if (ns == null || !Number.isFinite(ns)) return "—";
  const v = ns / 1e6;
  return `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(digits)} ms`;
}

export function utcClock(ns: number): string {
  if (!Number.isFinite(ns)) return "—";
  const d = new Date(Math.floor(ns / 1e6));
  return d.toISOString().slice(11, 23);
}
