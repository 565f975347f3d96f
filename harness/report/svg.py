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


def ecdf(series: dict[str, list[float]], title: str, unit: str, log_x: bool = True, w: int = 460, h: int = 240) -> str:
    """Cumulative distributions of several builds overlaid (x: value, y: share at or below)."""
    pad_l, pad_r, pad_t, pad_b = 44, 12, 22, 34
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
    for q in (0.5, 0.99):
        y = pad_t + (1 - q) * ph
        body.append(f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                    f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#666">p{int(q * 100)}</text>')
    for k in range(5):
        t = lo + (hi - lo) * k / 4
        v = 10 ** t if log_x else t
        x = pad_l + pw * k / 4
        body.append(f'<text x="{x:.1f}" y="{pad_t + ph + 14}" text-anchor="middle" fill="#666">{_nice(v)}</text>')
    body.append(f'<text x="{pad_l + pw / 2}" y="{h - 4}" text-anchor="middle" fill="#444">{escape(unit)}{" (log scale)" if log_x else ""}</text>')
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
        body.append(f'<rect x="{pad_l + 8}" y="{pad_t + 6 + i * 14}" width="10" height="10" fill="{c}"/>'
                    f'<text x="{pad_l + 22}" y="{pad_t + 15 + i * 14}">{escape(label)} (n={n})</text>')
    return _frame(w, h, body, title)


def lines(series: dict[str, tuple[list[float], list[float]]], title: str, x_unit: str, y_unit: str,
          w: int = 460, h: int = 240, markers: bool = False) -> str:
    """Line chart of (x, y) series, e.g. throughput over time or a capacity curve."""
    pad_l, pad_r, pad_t, pad_b = 50, 12, 22, 34
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
    for k in range(5):
        xv, yv = x0 + (x1 - x0) * k / 4, y0 + (y1 - y0) * k / 4
        body.append(f'<text x="{pad_l + pw * k / 4:.1f}" y="{pad_t + ph + 14}" text-anchor="middle" fill="#666">{_nice(xv)}</text>')
        body.append(f'<text x="{pad_l - 4}" y="{pad_t + ph * (1 - k / 4) + 4:.1f}" text-anchor="end" fill="#666">{_nice(yv)}</text>')
    body.append(f'<text x="{pad_l + pw / 2}" y="{h - 4}" text-anchor="middle" fill="#444">{escape(x_unit)}; y: {escape(y_unit)}</text>')
    for i, (label, (a, b)) in enumerate(series.items()):
        c = color(label, i)
        pts = [pt(x, y) for x, y in sorted(zip(a, b))]
        if pts:
            body.append('<path d="M' + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + f'" fill="none" stroke="{c}" stroke-width="2"/>')
            if markers:
                body.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}"/>' for x, y in pts)
        body.append(f'<rect x="{pad_l + 8}" y="{pad_t + 6 + i * 14}" width="10" height="10" fill="{c}"/>'
                    f'<text x="{pad_l + 22}" y="{pad_t + 15 + i * 14}">{escape(label)}</text>')
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
