/**
 * Entry point. The clock build comes from the address (?clock=clocked|baseline|plan); without it,
 * from the service's build map (component "frontend"), else clocked.
 */

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

async function chooseBuild(): Promise<ClockBuild> {
  const fromUrl = parseBuild(new URLSearchParams(location.search).get("clock"));
  if (fromUrl) return fromUrl;
  try {
    const res = await fetch("/api/v1/build");
    const body = (await res.json()) as { components?: Record<string, string> };
    return parseBuild(body.components?.frontend) ?? "clocked";
  } catch {
    return "clocked";
  }
}

void chooseBuild().then((build) => {
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <TradingDashboard useClock={HOOKS[build]} />
    </StrictMode>,
  );
});
