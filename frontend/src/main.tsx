/** Entry point. The clock build comes from the address (?clock=clocked|baseline|plan), clocked by default. */

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { useClockSync as useBaselineClock } from "./baseline/hooks/useClockSync";
import { parseBuild, type ClockBuild, type ClockView } from "./clock/view";
import { TradingDashboard } from "./components/TradingDashboard";
import { useClockSync as useClockedClock } from "./hooks/useClockSync";
import { useClockSync as usePlanClock } from "./plan/hooks/useClockSync";

const HOOKS: Record<ClockBuild, () => ClockView> = {
  clocked: useClockedClock,
  baseline: useBaselineClock,
  plan: usePlanClock,
};

/** The page's clock build: the service has no build flag for the page (it is TypeScript, not a row of harness/builds.py). */
function chooseBuild(): ClockBuild {
  return parseBuild(new URLSearchParams(location.search).get("clock")) ?? "clocked";
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <TradingDashboard useClock={HOOKS[chooseBuild()]} />
  </StrictMode>,
);
