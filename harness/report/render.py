"""Render a run directory into report.html (one self-contained file) and report.json."""

from __future__ import annotations

import html as html_mod
import json
import math
import statistics
import time
from collections import Counter
from pathlib import Path

import jinja2
import pandas as pd

from harness import results
from harness.report import criteria as crit
from harness.report import svg
from harness.report.template import PAGE
from harness.report.verdict import MARGINAL, NOT_MEASURED, VERDICTS, Judgement, _blank, chance_summary, fmt, judge_all, value_kind

RUN_FILE = "run.json"  # written by `clockbench run`: phase, quick, producers, environment
PHASE_TITLES = {1: "Phase 1: critical path", 2: "Phase 2: infrastructure", 3: "Phase 3: frontend & UX",
                0: "Whole system", "F": "Foundation: the Clock's own goals (not plan claims)"}
FOUNDATION = "clock"  # criteria of this component are the foundation issue's goals, summarised apart
MIN_CURVE_POINTS = 20  # fewer points are drawn as a strip of the points, not as a distribution curve
MIN_P99_POINTS = 100  # a p99 is printed only where at least 100 values stand behind it
BUILD_NAMES = {
    "baseline": "the components as teams write them before the plan, reading system time directly (baselines/)",
    "clocked": "the same components on the injected Clock, as the plan proposes (targets/)",
    "aa": "a second, identical baseline stack run beside the first (A/A): its difference from the baseline is the "
          "noise floor of the load measurements",
    "reference": "a point of comparison that is neither build: a third-party clock (NautilusTrader) or the raw "
                 "client library with no component around it (the ceiling)",
    "plan": "the dashboard page with the plan's own clock hook as written (one fetch, offset = server time - "
            "Date.now() before it): measured beside the two builds for information, judged by no criterion",
}


def group_of(j: Judgement) -> int | str:
    """The summary card a criterion counts in: its phase, or "F" for the foundation goals."""
    return "F" if j.component == FOUNDATION else j.phase


def _group_order(g: int | str) -> tuple:
    return (g == "F", g == 0, str(g))
COMPONENT_TITLES = {
    "order_management": "Order management (OMS, EMS, PMS)", "database": "Databases (PostgreSQL, Redis)",
    "load_balancing": "Load balancer (nginx)", "capacity": "Capacity (concurrent users)",
    "system": "Whole system", "monitoring": "Monitoring (Prometheus, Grafana)", "containers": "Containers",
    "websocket": "WebSocket heartbeats", "frontend": "Frontend", "api_gateway": "API gateway",
    "clock": "The Clock library (foundation goals, not plan claims)",
}


def judge_run(run_dir: Path, phase: str = "all", criteria_file: Path = crit.CRITERIA_FILE,
              resamples: int = 2000) -> tuple[list[Judgement], list[results.MetricRecord], dict]:
    """Judge the selected criteria against a run directory's records."""
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / RUN_FILE).read_text()) if (run_dir / RUN_FILE).exists() else {}
    records = results.load(run_dir) if (run_dir / results.METRICS_FILE).exists() else []
    chosen = crit.select(crit.load(criteria_file), phase)
    notes = {p["prefix"]: (p["detail"] if p.get("status") != "ok" else
                           f"{p['name']} ran but wrote no record of it (no benchmark or measurement by that name yet)")
             for p in meta.get("producers", []) if p.get("prefix")}
    missing = meta.get("missing_tools", {})  # tool -> how to get it, recorded by `clockbench run`
    lacking = {c.id: [t for t in c.needs if t in missing] for c in chosen}
    judged = {j.id: j for j in judge_all([c for c in chosen if not lacking[c.id]], results.index(records),
                                         notes=notes, resamples=resamples)}
    js = [judged[c.id] if not lacking[c.id] else
          _blank(c, NOT_MEASURED, "; ".join(f"needs {t}: {missing[t]}" for t in lacking[c.id]))
          for c in chosen]
    return js, records, meta


def _s(x: float | None, unit: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if unit == "share":
        return f"{x * 100:.2f}%"
    if unit == "ppm":  # a share in parts per million (results.py)
        return f"{x / 1e4:.2f}%"
    if unit in ("ns", "ns/op"):
        for u, sc in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
            if abs(x) >= sc:
                return f"{x / sc:.3g} {u}{'/op' if unit == 'ns/op' else ''}"
        return f"{x:.3g} {unit}"
    if unit == "ppm":  # a share in parts per million, read as a percentage
        return f"{x / 1e4:.2f}%"
    if abs(x) >= 1e4:  # no scientific notation: 1,000,000 bytes, not 1e+06 bytes
        return f"{x:,.0f} {unit}".strip()
    return f"{x:,.4g} {unit}".strip()


def _row(j: Judgement, measured_on: str = "") -> dict:
    c = crit.Criterion(j.id, j.phase, j.component, j.section, j.statement, statistic=j.statistic,
                       compare=j.compare, direction=j.direction, threshold=j.threshold or 0.0)
    return {
        "id": j.id, "verdict": j.verdict, "color": svg.VERDICT_COLORS[j.verdict],
        "phase_label": "all" if j.phase == 0 else str(j.phase), "statement": j.statement,
        "reason": j.reason, "definition": j.definition,
        "baseline_s": _s(j.baseline, j.unit), "clocked_s": _s(j.clocked, j.unit),
        "change_s": fmt(j.change, c, j.unit) if j.change is not None else "-",
        "ci_s": f"[{fmt(j.ci_low, c, j.unit)}, {fmt(j.ci_high, c, j.unit)}]" if j.ci_low is not None else "-",
        "threshold_s": f"{j.direction} {fmt(j.threshold, c, j.unit)}" if j.threshold is not None else "-",
        "measured_on": measured_on,
    }


def forest_row(j: Judgement) -> dict | None:
    """A judged criterion as a forest-plot row on its panel's common axis (None: nothing to draw)."""
    if j.ci_low is None or j.ci_high is None or j.threshold is None:
        return None
    if not all(math.isfinite(v) for v in (j.ci_low, j.ci_high)):
        return None
    kind = value_kind(j.compare, j.unit)
    base = {"id": j.id, "verdict": j.verdict, "label": f"{j.verdict}; see the criteria table"}
    if kind == "relative":
        return {**base, "kind": "relative", "low": j.ci_low, "high": j.ci_high, "point": j.change, "threshold": j.threshold}
    if kind == "points":
        return {**base, "kind": "points", "low": j.ci_low, "high": j.ci_high, "point": j.change, "threshold": j.threshold}
    if j.compare == "absolute" and kind == "share":
        t = j.threshold
        return {**base, "kind": "share_vs_threshold", "low": j.ci_low - t, "high": j.ci_high - t,
                "point": None if j.change is None else j.change - t, "threshold": 0.0}
    if j.compare == "absolute" and j.threshold:
        t = abs(j.threshold)
        rel = lambda v: (v - j.threshold) / t  # noqa: E731
        return {**base, "kind": "vs_threshold", "low": rel(j.ci_low), "high": rel(j.ci_high),
                "point": None if j.change is None else rel(j.change), "threshold": 0.0}
    return None


def _component_of(metric: str, js: list[Judgement]) -> str:
    for j in js:
        if metric in j.metrics:
            return j.component
    parts = metric.split(".")
    if parts[0] == "ws":  # real WebSocket connections (harness/measure/websocket.py)
        return "websocket"
    if len(parts) > 1 and parts[1] in ("clock", "heartbeats"):
        return "clock"
    return parts[1] if len(parts) > 1 else "other"


def _charts_for(metric: str, by_build: dict[str, results.MetricRecord]) -> list[str]:
    out = []
    valid = {b: r for b, r in by_build.items() if r.valid and r.values}
    unit = next((r.unit for r in valid.values()), "")
    sample = {b: r for b, r in valid.items() if r.kind in ("samples", "rounds") and r.n >= 2}
    if sample and unit in ("ns", "ns/op"):
        title = ("schedule lateness: " if "lateness" in metric else "") + metric
        values = {b: [float(v) for v in r.values] for b, r in sample.items()}
        if min(len(v) for v in values.values()) >= MIN_CURVE_POINTS:
            out.append(svg.ecdf(values, title, unit))
        else:  # a handful of repeats: show every point, not a curve that pretends to be a distribution
            out.append(svg.strip(values, title + " (every value)", lambda v: svg.human(v, unit)))
    rounds = {b: r for b, r in valid.items() if r.kind == "rounds" and r.n >= 1}
    if rounds:
        out.append(svg.lines({b: (list(range(1, r.n + 1)), [float(v) for v in r.values]) for b, r in rounds.items()},
                             f"{metric} per A/B round", "round", unit, markers=True))
    for key, xl in (("timeline", "seconds"), ("curve", "users")):
        series = {b: ([p[0] for p in r.extra[key]], [p[1] for p in r.extra[key]])
                  for b, r in by_build.items() if isinstance(r.extra.get(key), list) and r.extra[key]}
        if series:
            what = "throughput over time" if key == "timeline" else "capacity curve"
            ylab = next(r.extra.get(f"{key}_unit", "") for r in by_build.values() if r.extra.get(key))
            out.append(svg.lines(series, f"{what}: {metric}", xl, ylab or unit, markers=(key == "curve")))
    return out


def _metric_table(index: dict[str, dict[str, results.MetricRecord]], metrics: list[str]) -> str:
    rows = []
    for m in metrics:
        for b, r in sorted(index[m].items()):
            if not r.valid:
                rows.append({"metric": m, "build": b, "unit": r.unit, "n": 0, "median": None, "p99": None,
                             "note": f"INVALID: {r.reason}"})
                continue
            s = pd.Series(r.values, dtype="float64")
            p99 = s.quantile(0.99, interpolation="higher") if r.n >= MIN_P99_POINTS else None
            rows.append({"metric": m, "build": b, "n": r.n, "median": _s(float(s.median()), r.unit),
                         "p99": _s(float(p99), r.unit) if p99 is not None else "-", "note": r.source.split("/")[-1]})
    if not rows:
        return ""
    df = pd.DataFrame(rows)
    return df.to_html(index=False, na_rep="-", border=0, classes="metrics")


def side_by_side_html(index: dict[str, dict[str, results.MetricRecord]], metrics: list[str]) -> str:
    """The paired microbenchmarks measured in more builds than the two (the clock reads: time.time_ns(),
    the C clock, its pure-Python twin, NautilusTrader's clock): each build's ratio to the baseline and
    the clocked build's ratio to it, per-pair ratios with 95% intervals (harness/microbench.py)."""
    from harness import microbench

    wide = [r for m in metrics if len({b for b in index[m]}) > 2 for r in index[m].values()]
    rows = microbench.paired_rows(wide)
    if not rows:
        return ""
    table = pd.DataFrame(rows).to_html(index=False, border=0, classes="metrics")
    return f"<h3>Side by side in this run (paired, interleaved; ratios are geometric means of per-pair ratios)</h3>{table}"


def frontend_sync_html(run_dir: Path) -> str:
    """The clock-sync paths of the frontend producer (frontend/frontend.json) as a reader needs them:
    each page build's signed error per path (the criteria's tables show only its size), what part of
    the clocked error the proxy's path and the machine put there, the plan hook's request legs, and
    why no four-timestamp method beats half a path's asymmetry."""
    path = Path(run_dir) / "frontend" / "frontend.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    def signed(ms: float) -> str:  # the sign matters here: ahead of the server's time or behind it
        return f"{ms / 1000:+.4f} s" if abs(ms) >= 1000 else f"{ms:+.3f} ms"

    rows = []
    for name, per_build in (summary.get("sync") or {}).items():
        nominal = ((summary.get("paths") or {}).get(name) or {}).get("nominal_ms") or []
        label = name
        if len(nominal) == 3:
            jitter = f", +0..{nominal[2]:g} ms jitter" if nominal[2] else ", no jitter"
            label = f"{name} ({nominal[0]:g} ms up, {nominal[1]:g} ms down{jitter})"
        for build, r in per_build.items():
            e = r.get("sync_error") or {}
            if not e.get("n"):
                continue
            bd = (r.get("exchanges") or {}).get("breakdown") or {}
            legs = r.get("request_legs_ms") or []
            if bd.get("n"):
                why = (f"the proxy's path {bd['proxy_part_ms']:+.3f} ms, this machine outside the proxy "
                       f"{bd['machine_part_ms']:+.3f} ms, drift and truth {bd['rest_ms']:+.3f} ms")
            elif legs:
                why = f"its request legs (server stamp - its fetch call): median {statistics.median(legs):.1f} ms"
            else:
                why = ""
            rows.append({"path": label, "page build": build, "n": e["n"], "median error (signed)": signed(e["median_ms"]),
                         "|error| max": _s(e["abs_max_ms"] * 1e6, "ns"), "within 1 ms": f"{e['share_within_1ms'] * 100:.1f}%",
                         "where the error comes from": why})  # fmt: skip
    if not rows:
        return ""
    table = pd.DataFrame(rows).to_html(index=False, border=0, classes="metrics", escape=True)
    note = html_mod.escape(str(summary.get("asymmetry_note", "")))
    return (f"<h3>Clock sync by page build (5 s offset, 20 ppm drift, through the delay proxy)</h3>{table}"
            + (f'<p class="why">{note}</p>' if note else ""))


def _producer_rows(producers: list[dict]) -> list[dict]:
    """One row per producer (the run lists a producer once per metric prefix it serves)."""
    seen: dict[str, dict] = {}
    for p in producers:
        row = seen.setdefault(p["name"], {**p, "prefixes": []})
        if p.get("prefix"):
            row["prefixes"].append(p["prefix"])
    return list(seen.values())


def run_notices(meta: dict) -> list[str]:
    """What a reader must know before the verdicts: parts this run measured without, a busy machine."""
    notes = [str(n) for n in meta.get("notices", [])]
    clock = meta.get("environment", {}).get("clock_impl", {})
    if clock.get("c_stale"):  # the run measured the pure-Python clock, not the C one it was meant to
        notes.append(f"clock: {clock.get('reason')}; fix: {clock.get('fix')}")
    missing = meta.get("missing_tools", {})
    for p in _producer_rows(meta.get("producers", [])):
        detail = str(p.get("detail", ""))
        if any(tool in detail for tool in missing):  # said once already, by the missing tool's own notice
            continue
        if p.get("status") in ("unavailable", "failed") and "--skip" not in detail:
            notes.append(f"{p['name']}: {p.get('detail', p.get('status'))}")
    return notes


def render(run_dir: Path, js: list[Judgement], records: list[results.MetricRecord], meta: dict) -> tuple[Path, Path]:
    run_dir = Path(run_dir)
    env = meta.get("environment", {})
    index = results.index(records)
    df = pd.DataFrame([{"group": group_of(j), "verdict": j.verdict} for j in js])
    groups = sorted(set(df["group"]) if len(df) else [], key=_group_order)
    phases = []
    for p in groups:
        counts = Counter(df[df["group"] == p]["verdict"])
        ordered = {v: counts.get(v, 0) for v in VERDICTS}
        judged = ordered["PASS"] + ordered["FAIL"] + ordered["INCONCLUSIVE"]
        headline = (f"{ordered['PASS']} of {judged} judged claims hold, {ordered['FAIL']} do not"
                    if judged else "no claim could be judged yet")
        title = PHASE_TITLES.get(p, str(p))
        forest_rows = [r for j in sorted(js, key=lambda j: j.id) if group_of(j) == p for r in [forest_row(j)] if r]
        phases.append({"title": title, "counts": ordered, "bar": svg.verdict_bar(ordered),
                       "headline": headline, "forest": svg.forest(forest_rows, title)})
    order = {v: i for i, v in enumerate(VERDICTS)}
    js = sorted(js, key=lambda j: (_group_order(group_of(j)), order[j.verdict]))  # judged claims first
    try:
        sources = {c.id: c.measured_on for c in crit.load(meta.get("criteria_file") or crit.CRITERIA_FILE)}
    except crit.CriteriaError:
        sources = {}
    rows = [_row(j, sources.get(j.id, "")) for j in js]
    comps: dict[str, dict] = {}
    for j, r in zip(js, rows):
        comps.setdefault(j.component, {"rows": [], "metrics": []})["rows"].append(r)
    for m in index:
        comp = _component_of(m, js)
        comps.setdefault(comp, {"rows": [], "metrics": []})["metrics"].append(m)
    components = []
    for name, c in comps.items():
        charts = [ch for m in sorted(c["metrics"]) for ch in _charts_for(m, index[m])][:24]
        components.append({"name": name, "title": COMPONENT_TITLES.get(name, name), "rows": c["rows"],
                           "charts": charts, "table": _metric_table(index, c["metrics"]),
                           "extra": (frontend_sync_html(run_dir) if name == "frontend"
                                     else side_by_side_html(index, c["metrics"]) if name == "clock" else "")})
    doctor = env.get("doctor", {})
    env_rows = [("commit", f"{env.get('commit')}" + (" (uncommitted changes)" if env.get("dirty") else "")),
                ("machine", env.get("machine")), ("CPU", f"{env.get('cpu_model')} × {env.get('cpu_count')}"),
                ("Python", env.get("python")),
                ("packages", ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)),
                ("clock", "{implementation}: {reason}".format(**{"implementation": "?", "reason": "", **env.get("clock_impl", {})}))]
    for name, s in (doctor.get("services") or {}).items():
        env_rows.append((name, f"{s.get('version') or ''} at {s.get('url')} ({s.get('how')})" if s.get("ok") else f"missing: {s.get('reason')}"))
    for name, t in (doctor.get("tools") or {}).items():
        env_rows.append((name, f"{t.get('version') or ''} {t.get('path')}" if t.get("ok") else f"not available: {t.get('reason')}"))
    env_rows.append(("build flags", json.dumps(meta.get("build_flags", {}))))
    env_rows.append(("selection", f"phase {meta.get('phase', '?')}, {'quick' if meta.get('quick') else 'full'}, "
                                  f"{meta.get('resamples', '?')} bootstrap resamples"))
    notices = top_notices(js, meta) + run_notices(meta)
    raw = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                 if p.is_file() and p.name not in ("report.html",))
    html = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(PAGE).render(
        run_name=run_dir.name, env={"commit": env.get("commit", "?"), "dirty": env.get("dirty"),
                                    "cpu_count": env.get("cpu_count", "?")},
        generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), quick=bool(meta.get("quick")),
        verdict_colors=svg.VERDICT_COLORS, phases=phases, rows=rows, components=components,
        env_rows=env_rows, raw_files=raw, producers=_producer_rows(meta.get("producers", [])),
        builds=[(b, BUILD_NAMES[b]) for b in BUILD_NAMES if any(b in index[m] for m in index)],
        notices=notices,
    )
    html_path = run_dir / "report.html"
    html_path.write_text(html)
    report = {
        "run": run_dir.name, "environment": env, "phase": meta.get("phase"), "quick": meta.get("quick"),
        "build_flags": meta.get("build_flags", {}), "producers": meta.get("producers", []),
        "timings": meta.get("timings"),
        "summary": {PHASE_TITLES.get(p, str(p)): ph["counts"] for p, ph in zip(groups, phases)},
        "criteria": [j.to_dict() for j in js], "raw_files": raw, "notices": notices,
        "chance": chance_summary(js), "machine_state": meta.get("machine_state"),
    }
    json_path = run_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=1, default=str))
    return html_path, json_path


def top_notices(js: list[Judgement], meta: dict) -> list[str]:
    """What a reader must know before the verdicts: a planted slowdown, a busy machine, and how
    many decisive verdicts chance alone would give."""
    out = []
    if meta.get("planted"):
        out.append(f"PLANTED SLOWDOWN {meta['planted']}: this run was made by `clockbench calibrate`; its figures are wrong on purpose.")
    ms = meta.get("machine_state") or {}
    if ms.get("busy"):
        shown = [b for b in ms["busy"] if not b.startswith("bench.")][:4]  # the steps; each benchmark's share is in report.json
        more = len(ms["busy"]) - len(shown)
        out.append("The machine was busy during this run: " + "; ".join(shown) + (f" (and {more} more parts, listed in "
                   "report.json under machine_state)" if more else "") +
                   ". Figures from those parts are noisier; paired ratios cancel the machine's drift, absolute figures do not.")
    ch = chance_summary(js)
    if ch["judged"]:
        same = "; ".join(" = ".join(ids) for ids in ch["same_measurement"])
        out.append(f"{ch['decisive']} decisive verdict(s) (PASS or FAIL) among {ch['judged']} criteria judged on "
                   f"{ch['distinct_measurements']} distinct measurements. If every true change sat exactly on its threshold, "
                   f"chance alone would make about {ch['expected_by_chance']:.1f} of them decisive (up to {ch['chance_up_to']} "
                   f"in 95% of runs)." + (f" Criteria judging the same measurement count once: {same}." if same else "")
                   + (f" Marginal (an interval end within {MARGINAL:.0%} of a half-width of the threshold, so a repeat run "
                      f"may judge otherwise): {', '.join(ch['marginal'])}." if ch.get("marginal") else ""))
    return out


def report_from_run(run_dir: Path, phase: str | None = None, resamples: int | None = None) -> tuple[Path, Path, list[Judgement]]:
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / RUN_FILE).read_text()) if (run_dir / RUN_FILE).exists() else {}
    js, records, meta = judge_run(run_dir, phase or meta.get("phase", "all"),
                                  resamples=resamples or meta.get("resamples", 2000))
    h, j = render(run_dir, js, records, meta)
    return h, j, js
