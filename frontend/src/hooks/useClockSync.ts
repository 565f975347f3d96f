/**
 * useClockSync, clocked build (the plan's frontend/src/hooks/useClockSync.ts, done as NTP does it):
 * four timestamps per exchange through POST /api/v1/clock/sync, a minimum-round-trip filter,
 * drift between syncs, bounded polling with backoff, performance.now() for every interval.
 * One engine per page, shared by every component that asks.
 */

import { useEffect, useSyncExternalStore } from "react";

import { browserClock } from "../clock/localClock";
import { ClockSyncEngine } from "../clock/syncEngine";
import type { ClockView } from "../clock/view";

let engine: ClockSyncEngine | null = null;

export function sharedEngine(): ClockSyncEngine {
  if (engine === null) engine = new ClockSyncEngine({ clock: browserClock() });
  return engine;
}

export function useClockSync(): ClockView {
  const e = sharedEngine();
  useEffect(() => {
    e.start();
  }, [e]);
  const s = useSyncExternalStore(e.subscribe, e.snapshot);
  return {
    build: "clocked",
    synchronized: s.synchronized,
    offsetNs: s.offsetNs,
    rttNs: s.rttNs,
    uncertaintyNs: s.uncertaintyNs,
    driftPpm: s.driftPpm,
    driftSpan: s.driftSpan,
    lastSyncNs: s.lastSyncNs,
    samples: s.samples,
    failures: s.failures,
    wireTimed: s.wireTimed,
    nowNs: e.nowNs,
  };
}
