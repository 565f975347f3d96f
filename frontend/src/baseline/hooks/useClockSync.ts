/**
 * useClockSync, baseline build: the browser as it is before the plan. Its clock is Date.now(),
 * unsynchronized; nothing is fetched. Whatever the machine's clock is off by, orders carry it.
 */

import type { ClockView } from "../../clock/view";

const nowNs = (): number => Date.now() * 1e6;

export function useClockSync(): ClockView {
  return {
    build: "baseline", synchronized: false, offsetNs: null, rttNs: null, uncertaintyNs: null,
    driftPpm: null, lastSyncNs: null, samples: 0, failures: 0, nowNs,
  };
}
