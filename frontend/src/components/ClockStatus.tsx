/** ClockStatus (the plan's components/ClockStatus.tsx): which clock the page stamps with, and how far to trust it. */

import type { ClockView } from "../clock/view";
import { ms, signedMs, utcClock } from "../format";
import { useServerTime } from "../hooks/useServerTime";

const LABEL: Record<ClockView["build"], string> = {
  clocked: "four-timestamp sync",
  baseline: "browser clock, unsynchronized",
  plan: "the plan's single-fetch hook",
};

export function ClockStatus({ view }: { view: ClockView }) {
  const now = useServerTime(view);
  const state = view.synchronized ? "synced" : view.build === "baseline" ? "unsynced" : "syncing";
  const age = view.lastSyncNs == null ? null : Math.max(0, now - view.lastSyncNs);
  return (
    <section className="panel clock" aria-label="Clock status" data-testid="clock-status" data-state={state}>
      <h2>
        Clock <span className={`badge ${state}`}>{state}</span>
      </h2>
      <div className="clock-now" data-testid="server-time" title="server time as this page estimates it (UTC)">
        {utcClock(now)} <small>UTC</small>
      </div>
      <dl className="kv">
        <dt>build</dt>
        <dd data-testid="clock-build">{view.build} <small>({LABEL[view.build]})</small></dd>
        <dt>offset</dt>
        <dd data-testid="clock-offset">{signedMs(view.offsetNs)}</dd>
        <dt>round trip</dt>
        <dd data-testid="clock-rtt">{ms(view.rttNs)}</dd>
        <dt>uncertainty</dt>
        <dd data-testid="clock-uncertainty">{view.uncertaintyNs == null ? "—" : `± ${ms(view.uncertaintyNs)}`}</dd>
        <dt>drift</dt>
        <dd data-testid="clock-drift" title="rate of the server's clock against this browser's; fitted once the syncs span a minute">
          {driftText(view)}
        </dd>
        <dt>last sync</dt>
        <dd data-testid="clock-last-sync">
          {age == null ? "never" : `${(age / 1e9).toFixed(1)} s ago`}
          {view.samples ? ` · ${view.samples} samples` : ""}
          {view.failures ? ` · ${view.failures} failed` : ""}
        </dd>
      </dl>
    </section>
  );
}

/** The drift as fitted, or how far the fit is (before it, the clock runs on the offset alone). */
export function driftText(view: Pick<ClockView, "driftPpm" | "driftSpan">): string {
  if (view.driftPpm != null) return `${view.driftPpm >= 0 ? "+" : ""}${view.driftPpm.toFixed(1)} ppm`;
  const s = view.driftSpan;
  if (s) return `fitting (${Math.floor(s.haveNs / 1e9)} of ${Math.round(s.needNs / 1e9)} s of syncs)`;
  return "—";
}
