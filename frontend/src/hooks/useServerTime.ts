/**
 * useServerTime (the plan's frontend/src/hooks/useServerTime.ts): the server's time as the chosen
 * clock build believes it, re-read every `periodMs` for display. Stamping never goes through this
 * (it would be up to a period old): call view.nowNs() at the moment of the event instead.
 */

import { useEffect, useState } from "react";

import type { ClockView } from "../clock/view";

export function useServerTime(view: ClockView, periodMs = 250): number {
  const [now, setNow] = useState(() => view.nowNs());
  useEffect(() => {
    setNow(view.nowNs());
    const id = setInterval(() => setNow(view.nowNs()), periodMs);
    return () => clearInterval(id);
  }, [view.nowNs, periodMs]);
  return now;
}
