/** What every build of the clock hook gives the dashboard: the status to show and the clock to stamp with. */

export type ClockBuild = "clocked" | "baseline" | "plan";

export const CLOCK_BUILDS: readonly ClockBuild[] = ["clocked", "baseline", "plan"];

export interface ClockView {
  build: ClockBuild;
  synchronized: boolean;
  /** server - client, ns (null: not measured by this build) */
  offsetNs: number | null;
  rttNs: number | null;
  uncertaintyNs: number | null;
  driftPpm: number | null;
  /** clocked, before its drift is fitted: how long its samples span and how long a fit needs, ns */
  driftSpan?: { haveNs: number; needNs: number } | null;
  /** server time of the last successful sync, ns */
  lastSyncNs: number | null;
  samples: number;
  failures: number;
  /** clocked: exchanges timed by the network stack (Resource Timing) */
  wireTimed?: number;
  /** the time this build believes the server's clock shows now, ns since the UNIX epoch */
  nowNs: () => number;
}

export function parseBuild(raw: string | null | undefined): ClockBuild | null {
  return raw != null && (CLOCK_BUILDS as readonly string[]).includes(raw) ? (raw as ClockBuild) : null;
}
