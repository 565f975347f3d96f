"""Small dependency-free SVG charts, inline in the report (readable offline, no scripts)."""

from __future__ import annotations

import math
from html import escape

COLORS = {"baseline": "#7a7a7a", "clocked": "#1f6fd1", "aa": "#b07cd8", "reference": "#d98c1f"}
VERDICT_COLORS = {"PASS": "#1a8f3c", "FAIL": "#c62828", "INCONCLUSIVE": "#e0a100", "INVALID": "#6a1b9a",
                  "NOT MEASURED": "#9e9e9e"}
_PALETTE = ["#1f6fd1", "#7a7a7a", "#d98c1f", "#b07cd8", "#1a8f3c", "#c62828"]


def color(label: str, i: int = 0) -> str:
    return COLORS.get(label, _PALETTE[i % len(_PALETTE)])


def human(x: float, unit: str) -> str:
    """A figure in the unit a reader expects: ns become µs, ms or s; shares become percentages."""
    if unit in ("ns", "ns/op", "ns/event"):
        suffix = unit[2:]
        for u, sc in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
            if abs(x) >= sc:
                return f"{x / sc:.3g} {u}{suffix}"
        return f"{x:.3g} ns{suffix}"
    if unit == "share":
        return f"{x * 100:.3g}%"
    return f"{_nice(x)} {unit}".strip()


def _nice(x: float) -> str:
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1e9:
        return f"{x / 1e9:.3g}G"
    if a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if a >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"


def _frame(w: int, h: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">'
            f'<title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _legend(labels: list[tuple[str, str]], x0: float, y: float) -> list[str]:
    """A one-row legend above the plot area (never drawn over the data)."""
    out, x = [], x0
    for text, c in labels:
        out.append(f'<rect x="{x:.1f}" y="{y - 9}" width="10" height="10" fill="{c}"/>'
                   f'<text x="{x + 14:.1f}" y="{y}">{escape(text)}</text>')
        x += 24 + 6.2 * len(text)
    return out


def ecdf(series: dict[str, list[float]], title: str, unit: str, log_x: bool = True, w: int = 460, h: int = 250) -> str:
    """Cumulative distributions of several builds overlaid (x: value, y: share at or below).
    The caller draws it only where there are enough points for a curve (see ``MIN_CURVE_POINTS``)."""
    pad_l, pad_r, pad_t, pad_b = 44, 12, 36, 34
    vals = [v for s in series.values() for v in s if v > 0 or not log_x]
    if not vals:
        return _frame(w, 40, [f'<text x="4" y="20">{escape(title)}: no data</text>'], title)
    lo, hi = min(vals), max(vals)
    if log_x:
        lo, hi = math.log10(max(lo, 1e-12)), math.log10(max(hi, 1e-12))
    if hi <= lo:
        hi = lo + 1
    pw, ph = w - pad_l - pad_r, h - pad_t - pad_b

    def x_of(v: float) -> float:
        t = math.log10(max(v, 1e-12)) if log_x else v
        return pad_l + (t - lo) / (hi - lo) * pw

    body = [f'<text x="{pad_l}" y="14" font-weight="bold">{escape(title)}</text>',
            f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>']
    n_min = min((len(s) for s in series.values() if s), default=0)
    for q in (0.5, 0.99) if n_min >= 100 else (0.5,):  # a p99 line only where n supports a p99
        y = pad_t + (1 - q) * ph
        body.append(f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                    f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#666">p{int(q * 100)}</text>')
    for k in range(5):
        t = lo + (hi - lo) * k / 4
        v = 10 ** t if log_x else t
        x = pad_l + pw * k / 4
        body.append(f'<text x="{x:.1f}" y="{pad_t + ph + 14}" text-anchor="middle" fill="#666">{escape(human(v, unit))}</text>')
    body.append(f'<text x="{pad_l + pw / 2}" y="{h - 4}" text-anchor="middle" fill="#444">{"log scale" if log_x else ""}</text>')
    legend = []
    for i, (label, s) in enumerate(series.items()):
        pts = sorted(v for v in s if v > 0 or not log_x)
        if not pts:
            continue
        n = len(pts)
        step = max(1, n // 400)  # at most ~400 points per line
        coords = [(x_of(pts[j]), pad_t + (1 - (j + 1) / n) * ph) for j in range(0, n, step)]
        coords.append((x_of(pts[-1]), pad_t))
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        c = color(label, i)
        body.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        legend.append((f"{label} (n={n})", c))
    body.extend(_legend(legend, pad_l, 30))
    return _frame(w, h, body, title)


def lines(series: dict[str, tuple[list[float], list[float]]], title: str, x_unit: str, y_unit: str,
          w: int = 460, h: int = 240, markers: bool = False) -> str:
    """Line chart of (x, y) series, e.g. throughput over time or a capacity curve. Whole-number x
    (rounds, users) gets whole-number ticks."""
    pad_l, pad_r, pad_t, pad_b = 60, 12, 36, 34
    xs = [x for a, _ in series.values() for x in a]
    ys = [y for _, b in series.values() for y in b]
    if not xs:
        return _frame(w, 40, [f'<text x="4" y="20">{escape(title)}: no data</text>'], title)
    x0, x1 = min(xs), max(xs)
    y0, y1 = 0.0, max(ys) * 1.05 or 1.0
    if x1 <= x0:
        x1 = x0 + 1
    pw, ph = w - pad_l - pad_r, h - pad_t - pad_b

    def pt(x: float, y: float) -> tuple[float, float]:
        return pad_l + (x - x0) / (x1 - x0) * pw, pad_t + (1 - (y - y0) / (y1 - y0)) * ph

    body = [f'<text x="{pad_l}" y="14" font-weight="bold">{escape(title)}</text>',
            f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>']
    integral = all(float(x).is_integer() for x in xs)
    if integral and x1 - x0 <= 12:
        x_ticks = [float(v) for v in range(int(x0), int(x1) + 1)]
    else:
        x_ticks = [x0 + (x1 - x0) * k / 4 for k in range(5)]
        if integral:
            x_ticks = sorted({float(round(v)) for v in x_ticks})
    for xv in x_ticks:
        body.append(f'<text x="{pt(xv, y0)[0]:.1f}" y="{pad_t + ph + 14}" text-anchor="middle" fill="#666">{_nice(xv)}</text>')
    for k in range(5):
        yv = y0 + (y1 - y0) * k / 4
        body.append(f'<text x="{pad_l - 4}" y="{pad_t + ph * (1 - k / 4) + 4:.1f}" text-anchor="end" fill="#666">{escape(human(yv, y_unit) if y_unit in ("ns", "ns/op") else _nice(yv))}</text>')
    body.append(f'<text x="{pad_l + pw / 2}" y="{h - 4}" text-anchor="middle" fill="#444">{escape(x_unit)}; y: {escape(y_unit)}</text>')
    legend = []
    for i, (label, (a, b)) in enumerate(series.items()):
        c = color(label, i)
        pts = [pt(x, y) for x, y in sorted(zip(a, b))]
        if pts:
            body.append('<path d="M' + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + f'" fill="none" stroke="{c}" stroke-width="2"/>')
            if markers:
                body.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}"/>' for x, y in pts)
        legend.append((label, c))
    body.extend(_legend(legend, pad_l, 30))
    return _frame(w, h, body, title)


def ci_strip(low: float | None, high: float | None, point: float | None, threshold: float | None,
             verdict: str, w: int = 200, h: int = 26, pct: bool = True) -> str:
    """One criterion at a glance: its CI as a bar, the estimate as a dot, the threshold as a line."""
    c = VERDICT_COLORS.get(verdict, "#999")
    if low is None or high is None or threshold is None:
        return _frame(w, h, [f'<rect x="0" y="{h / 2 - 1}" width="{w}" height="2" fill="#eee"/>'], verdict)
    lo_v, hi_v = min(low, threshold), max(high, threshold)
    span = hi_v - lo_v or max(abs(threshold), 1e-9)
    lo_v -= span * 0.15
    hi_v += span * 0.15

    def x(v: float) -> float:
        return 6 + (v - lo_v) / (hi_v - lo_v) * (w - 12)

    body = [f'<line x1="6" x2="{w - 6}" y1="{h / 2}" y2="{h / 2}" stroke="#ddd"/>',
            f'<rect x="{x(low):.1f}" y="{h / 2 - 5}" width="{max(2.0, x(high) - x(low)):.1f}" height="10" fill="{c}" opacity="0.55"/>',
            f'<line x1="{x(threshold):.1f}" x2="{x(threshold):.1f}" y1="2" y2="{h - 2}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>']
    if point is not None:
        body.append(f'<circle cx="{x(point):.1f}" cy="{h / 2}" r="3.5" fill="{c}" stroke="#000" stroke-width="0.5"/>')
    return _frame(w, h, body, f"{verdict}: CI [{low:.3g}, {high:.3g}] vs threshold {threshold:.3g}")


def verdict_bar(counts: dict[str, int], w: int = 320, h: int = 22) -> str:
    """A stacked bar of verdict counts (one phase)."""
    total = sum(counts.values()) or 1
    x = 0.0
    body = []
    for v in ("PASS", "FAIL", "INCONCLUSIVE", "INVALID", "NOT MEASURED"):
        n = counts.get(v, 0)
        if not n:
            continue
        bw = w * n / total
        body.append(f'<rect x="{x:.1f}" y="0" width="{bw:.1f}" height="{h}" fill="{VERDICT_COLORS[v]}"><title>{v}: {n}</title></rect>')
        if bw > 18:
            body.append(f'<text x="{x + bw / 2:.1f}" y="{h / 2 + 4}" text-anchor="middle" fill="#fff" font-weight="bold">{n}</text>')
        x += bw
    return _frame(w, h, body, ", ".join(f"{k}: {v}" for k, v in counts.items()))


# --- forest plot: every judged criterion of a phase on one common axis ----------------------------
FOREST_PANELS = {
    # compare kind -> (axis title, clip range in the panel's unit, tick values, tick format)
    "relative": ("change, clocked vs baseline (%; right is better for the plan)", (-1.0, 1.0),
                 (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0), lambda v: f"{v * 100:+.0f}%" if v else "0"),
    "points": ("difference, clocked - baseline (percentage points)", (-0.05, 0.05),
               (-0.05, -0.025, 0.0, 0.025, 0.05), lambda v: f"{v * 100:+.1f}" if v else "0"),
    "share_vs_threshold": ("clocked share minus the plan's threshold (percentage points; the threshold is 0)", (-0.05, 0.05),
                           (-0.05, -0.025, 0.0, 0.025, 0.05), lambda v: f"{v * 100:+.1f}" if v else "0"),
    "vs_threshold": ("clocked figure relative to the plan's threshold (%; the threshold is 0)", (-1.0, 1.0),
                     (-1.0, -0.5, 0.0, 0.5, 1.0), lambda v: f"{v * 100:+.0f}%" if v else "0"),
}


def forest(rows: list[dict], title: str, w: int = 1000) -> str:
    """One phase's criteria as a forest plot: a row per criterion, the 95% CI as a bar and the estimate
    as a dot, on an axis shared by every row of a panel (so widths compare), the plan's threshold as a
    dashed tick on each row, and an arrow where an interval runs off the axis.

    ``rows``: dicts with id, verdict, kind (a FOREST_PANELS key), low, high, point, threshold, label
    (all in the panel's unit; vs_threshold rows already expressed relative to their threshold).
    """
    panels = [(k, [r for r in rows if r["kind"] == k]) for k in FOREST_PANELS]
    panels = [(k, rs) for k, rs in panels if rs]
    if not panels:
        return ""
    row_h, label_w, pad_r, head, axis_h = 18, 230, 24, 24, 34
    h = 20 + sum(head + len(rs) * row_h + axis_h for _, rs in panels)
    body = [f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>']
    y = 20
    pw = w - label_w - pad_r
    for kind, rs in panels:
        axis_title, (lo, hi), ticks, tick_fmt = FOREST_PANELS[kind]

        def x_of(v: float, lo: float = lo, hi: float = hi) -> float:
            return label_w + (min(max(v, lo), hi) - lo) / (hi - lo) * pw

        top = y + head
        bottom = top + len(rs) * row_h
        body.append(f'<text x="{label_w}" y="{y + 16}" fill="#444">{escape(axis_title)}</text>')
        for t in ticks:
            tx = x_of(t)
            body.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{bottom}" stroke="{"#999" if t == 0 else "#eee"}"/>'
                        f'<text x="{tx:.1f}" y="{bottom + 13}" text-anchor="middle" fill="#666">{tick_fmt(t)}</text>')
        body.append(f'<text x="{label_w + pw:.1f}" y="{bottom + 27}" text-anchor="end" fill="#888">'
                    f'axis clipped at {tick_fmt(lo)} and {tick_fmt(hi)}: an arrow means the interval goes on</text>')
        for i, r in enumerate(rs):
            cy = top + i * row_h + row_h / 2
            c = VERDICT_COLORS.get(r["verdict"], "#999")
            if i % 2:
                body.append(f'<rect x="0" y="{cy - row_h / 2:.1f}" width="{w}" height="{row_h}" fill="#fafafa"/>')
            body.append(f'<text x="4" y="{cy + 4:.1f}"><tspan fill="{c}" font-weight="bold">{escape(r["verdict"][:5])}</tspan>'
                        f' {escape(r["id"])}</text>')
            low, high, point = r["low"], r["high"], r.get("point")
            x1, x2 = x_of(low), x_of(high)
            body.append(f'<rect x="{x1:.1f}" y="{cy - 4:.1f}" width="{max(2.0, x2 - x1):.1f}" height="8" fill="{c}" opacity="0.6">'
                        f'<title>{escape(r["id"])}: {escape(r.get("label", ""))}</title></rect>')
            if low < lo:
                body.append(f'<path d="M{label_w - 1:.1f},{cy:.1f} l7,-5 l0,10 z" fill="{c}"/>')
            if high > hi:
                body.append(f'<path d="M{label_w + pw + 1:.1f},{cy:.1f} l-7,-5 l0,10 z" fill="{c}"/>')
            if point is not None and lo <= point <= hi:
                body.append(f'<circle cx="{x_of(point):.1f}" cy="{cy:.1f}" r="3" fill="{c}" stroke="#000" stroke-width="0.5"/>')
            if r.get("threshold") is not None and lo <= r["threshold"] <= hi:
                tx = x_of(r["threshold"])
                body.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{cy - 7:.1f}" y2="{cy + 7:.1f}" stroke="#000" '
                            f'stroke-width="2" stroke-dasharray="2,2"/>')
        y = bottom + axis_h
    return _frame(w, h, body, title)


def strip(series: dict[str, list[float]], title: str, unit_fmt, w: int = 460, row_h: int = 22) -> str:
    """Every point of a few small samples (too few for a distribution curve), one row per build,
    on a shared axis: the honest picture of n = 3."""
    vals = [v for s in series.values() for v in s]
    if not vals:
        return _frame(w, 40, [f'<text x="4" y="20">{escape(title)}: no data</text>'], title)
    lo, hi = min(vals), max(vals)
    if hi <= lo:
        lo, hi = lo * 0.95 if lo else -1.0, hi * 1.05 if hi else 1.0
    pad_l, pad_r, pad_t = 110, 16, 22
    pw = w - pad_l - pad_r
    h = pad_t + row_h * len(series) + 22

    def x_of(v: float) -> float:
        return pad_l + (v - lo) / (hi - lo) * pw

    body = [f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>']
    for i, (label, s) in enumerate(series.items()):
        cy = pad_t + i * row_h + row_h / 2
        c = color(label, i)
        body.append(f'<text x="4" y="{cy + 4:.1f}" fill="{c}">{escape(label)} (n={len(s)})</text>'
                    f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{cy:.1f}" y2="{cy:.1f}" stroke="#eee"/>')
        body.extend(f'<circle cx="{x_of(v):.1f}" cy="{cy:.1f}" r="4" fill="{c}" opacity="0.7"><title>{escape(unit_fmt(v))}</title></circle>'
                    for v in s)
    yb = pad_t + row_h * len(series) + 14
    for k in range(3):
        v = lo + (hi - lo) * k / 2
        body.append(f'<text x="{pad_l + pw * k / 2:.1f}" y="{yb}" text-anchor="middle" fill="#666">{escape(unit_fmt(v))}</text>')
    return _frame(w, h, body, title)
