/**
 * useClockSync as the plan writes it (frontend/src/hooks/useClockSync.ts), measured beside the
 * two builds for information. One GET per interval; offset = server time - Date.now() taken
 * before the request, so it is off by the whole request leg (about the one-way delay) and rounded
 * to milliseconds; a new request starts every interval whether the last one answered or not.
 *
 * Kept as written except one word: the plan reads `server_time_ns`, which
 * /api/v1/clock/server-time does not send (it sends `timestamp_ns`); as written the offset would be
 * NaN, so the field is read under either name.
 */

import { useCallback, useEffect, useState } from "react";

import type { ClockView } from "../../clock/view";

interface ClockSync {
  serverTime: number;
  clientOffset: number;
  synchronized: boolean;
}

export const usePlanClockSync = (updateInterval = 30000) => {
  const [clockSync, setClockSync] = useState<ClockSync>({
    serverTime: 0,
    clientOffset: 0,
    synchronized: false,
  });

  const synchronizeClock = useCallback(async () => {
    const clientTime = Date.now();
    const response = await fetch("/api/v1/clock/server-time");
    const body = await response.json();
    const server_time_ns: number = body.server_time_ns ?? body.timestamp_ns;
    const serverTime = Math.floor(server_time_ns / 1_000_000);

    setClockSync({
      serverTime,
      clientOffset: serverTime - clientTime,
      synchronized: true,
    });
  }, []);

  useEffect(() => {
    synchronizeClock();
    const interval = setInterval(synchronizeClock, updateInterval);
    return () => clearInterval(interval);
  }, [synchronizeClock, updateInterval]);

  return clockSync;
};

/** The plan's dashboard calls it with 5000 and stamps with Date.now() + clientOffset. */
export function useClockSync(): ClockView {
  const s = usePlanClockSync(5000);
  const nowNs = useCallback(
    () => (s.synchronized ? Date.now() + s.clientOffset : Date.now()) * 1_000_000,
    [s],
  );
  return {
    build: "plan", synchronized: s.synchronized, offsetNs: s.synchronized ? s.clientOffset * 1e6 : null,
    rttNs: null, uncertaintyNs: null, driftPpm: null,
    lastSyncNs: s.synchronized ? s.serverTime * 1e6 : null, samples: 0, failures: 0, nowNs,
  };
}
