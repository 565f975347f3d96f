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

/** A decimal string from the service shown to at most `dp` places (the service keeps exact values). */
export function decimal(s: string | null | undefined, dp = 4): string {
  if (s == null) return "—";
  const [whole, frac = ""] = s.split(".");
  if (frac.length <= dp) return s;
  const n = Number(s);
  return Number.isFinite(n) ? n.toFixed(dp) : `${whole}.${frac.slice(0, dp)}`;
}
