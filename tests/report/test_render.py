"""The report renders from a small real run: its HTML parses and names every criterion, report.json
carries the fields, and headless Chromium takes a screenshot of it."""

from __future__ import annotations

import json
import subprocess
from html.parser import HTMLParser

import pytest

from harness.cli import build_parser
from harness.commands import run as run_cmd
from harness.report import criteria as crit
from harness.report.render import report_from_run
from harness.results import MetricRecord, load, save
from tests.conftest import require_tool

REQUIRED = {"id", "phase", "statement", "baseline", "clocked", "change", "ci_low", "ci_high", "verdict", "reason"}


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href") and v and v.startswith(("http:", "https:", "//")):
                self.external.append(v)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A real run of the cheap producers (the static scan) over every phase's criteria."""
    out = tmp_path_factory.mktemp("run")
    argv = ["run", "--phase", "all", "--quick", "--out", str(out)]
    for producer in [name for name, _, _ in run_cmd.PRODUCERS if name != "static"]:
        argv += ["--skip", producer]
    args = build_parser().parse_args(argv)  # the real defaults (services, criteria file)
    assert run_cmd.run(args) == 0
    return out


def test_html_parses_and_names_every_criterion(small_run):
    html = (small_run / "report.html").read_text()
    p = Collector()
    p.feed(html)
    p.close()
    text = " ".join(p.text)
    for c in crit.load():
        assert c.id in text, c.id
    assert "svg" in p.tags and not p.external, "the report must be self-contained"
    for section in ("Summary", "Criteria", "Environment", "Raw data"):
        assert section in text


def test_report_json_has_a_verdict_or_reason_for_every_criterion(small_run):
    report = json.loads((small_run / "report.json").read_text())
    ids = {c.id for c in crit.load()}
    assert {e["id"] for e in report["criteria"]} == ids
    for e in report["criteria"]:
        assert REQUIRED <= set(e), e["id"]
        assert e["verdict"] in {"PASS", "FAIL", "INCONCLUSIVE", "INVALID", "NOT MEASURED"}
        assert e["reason"], e["id"]
    by_id = {e["id"]: e for e in report["criteria"]}
    assert by_id["CS-SYSTEM-TIME-CALLS"]["verdict"] in {"PASS", "FAIL"}  # measured for real by the scan
    assert by_id["SC3-USER-EXPERIENCE"]["verdict"] == "NOT MEASURED"
    assert report["environment"]["cpu_count"] >= 1 and report["environment"]["commit"]


def test_rerender_with_constructed_measurements_draws_charts(small_run, tmp_path):
    # the same run plus two builds' samples of one metric: the component section gets its chart
    records = load(small_run) + [
        MetricRecord("bench.orders.pipeline", "baseline", "ns/op", [10_000 + 7 * i for i in range(50)]),
        MetricRecord("bench.orders.pipeline", "clocked", "ns/op", [4_000 + 5 * i for i in range(50)]),
    ]
    target = tmp_path / "r"
    target.mkdir()
    (target / "run.json").write_text((small_run / "run.json").read_text())
    save(records, target)
    html_path, json_path, js = report_from_run(target, "all", resamples=300)
    j = next(x for x in js if x.id == "PM-ORDER-PIPELINE")
    assert j.verdict == "PASS" and j.ci_low is not None
    assert "bench.orders.pipeline" in html_path.read_text() and "<path" in html_path.read_text()


def test_chromium_screenshot(small_run, tmp_path):
    chromium = require_tool("chromium")
    png = tmp_path / "report.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1300,1000",
           (small_run / "report.html").as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.exists(), f"no screenshot (exit {out.returncode}): {out.stderr[-2000:]}"
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (width, height) == (1300, 1000)
    assert png.stat().st_size > 20_000  # a rendered page, not a blank one


def test_each_phase_has_one_forest_plot_on_a_common_axis(small_run, tmp_path):
    """Judged criteria of a phase share one axis (clipped at ±100% with arrows), not a private scale each."""
    from harness.report import svg

    rows = [{"id": "A", "verdict": "PASS", "kind": "relative", "low": 0.6, "high": 0.9, "point": 0.7, "threshold": 0.5},
            {"id": "B", "verdict": "FAIL", "kind": "relative", "low": -30.6, "high": -0.2, "point": -3.0, "threshold": 0.5}]
    out = svg.forest(rows, "Phase 1")
    assert "change, clocked vs baseline" in out
    assert out.count("<path") == 1  # B runs off the left end: one arrow; A fits
    assert "axis clipped" in out
    assert "%%" not in (small_run / "report.html").read_text()


def test_few_points_are_a_strip_many_points_a_curve(small_run, tmp_path):
    records = load(small_run) + [
        # microbenchmark records are per-pair medians, paired by position (kind "rounds")
        MetricRecord("bench.orders.pipeline", "baseline", "ns/op", [10_000, 10_400, 10_900], kind="rounds"),
        MetricRecord("bench.orders.pipeline", "clocked", "ns/op", [9_000, 9_300, 9_800], kind="rounds"),
        MetricRecord("sim.ems.slice_lateness", "clocked", "ns", [1_000_000 + 1000 * i for i in range(200)]),
        MetricRecord("sim.ems.slice_lateness", "baseline", "ns", [2_000_000 + 1000 * i for i in range(200)]),
    ]
    target = tmp_path / "r"
    target.mkdir()
    (target / "run.json").write_text((small_run / "run.json").read_text())
    save(records, target)
    html_path, _, _ = report_from_run(target, "all", resamples=300)
    html = html_path.read_text()
    assert "bench.orders.pipeline (every value)" in html  # n = 3: the points, no distribution curve
    assert "schedule lateness: sim.ems.slice_lateness" in html  # n = 200: a curve
    assert 'class="forest"' in html and "PM-ORDER-PIPELINE" in html  # a judged relative criterion is plotted
    assert "e+0" not in html  # no scientific notation: human units
    assert "10.4 µs/op" in html or "10.4 µs" in html


def test_chromium_screenshot_at_laptop_width(small_run, tmp_path):
    chromium = require_tool("chromium")
    png = tmp_path / "laptop.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1366,768",
           (small_run / "report.html").as_uri()]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.exists() and png.stat().st_size > 20_000


def test_without_nginx_the_load_balancer_criteria_are_not_measured_with_the_fix(small_run, tmp_path):
    """A run on a machine without nginx records it; the criteria that need nginx say so and name the fix,
    the notice is at the top of the report, and the other criteria are judged as usual."""
    target = tmp_path / "r"
    target.mkdir()
    meta = json.loads((small_run / "run.json").read_text())
    meta["missing_tools"] = {"nginx": "this machine lacks it (apt-get install nginx-light, then run again)"}
    meta["notices"] = ["nginx is not installed: measured straight against the workers"]
    meta["producers"] = meta.get("producers", []) + [  # a producer that could not run for the same reason
        {"name": "websocket", "prefix": "ws", "status": "unavailable",
         "detail": "websocket not available: nginx is needed in front of the service: nginx is not installed"}]
    (target / "run.json").write_text(json.dumps(meta))
    save(load(small_run), target)
    html_path, json_path, js = report_from_run(target, "all", resamples=300)
    by_id = {j.id: j for j in js}
    for cid in ("PM-LB-ROUTING", "SC1-LB-EFFICIENCY"):
        assert by_id[cid].verdict == "NOT MEASURED"
        assert "needs nginx" in by_id[cid].reason and "apt-get install nginx-light" in by_id[cid].reason
    assert "nginx" not in by_id["TO-ORDER-LATENCY"].reason
    html = html_path.read_text()
    assert html.count("nginx is not installed") == 1  # one notice at the top, no repeated error text


def test_the_clock_section_shows_the_reads_side_by_side_with_ratios(small_run, tmp_path):
    """time.time_ns(), the C clock, its pure-Python twin and NautilusTrader's, paired: one table
    with each build's ratio to the baseline and the clocked build's to it."""
    pairs = list(range(6))

    def rec(build: str, ns: int, name: str) -> MetricRecord:
        return MetricRecord("bench.clock.timestamp_ns", build, "ns/op", [ns + p for p in pairs], kind="rounds",
                            extra={"pairs": pairs, "name": name, "paired": True})

    records = load(small_run) + [rec("baseline", 60, "test_timestamp_ns_baseline"),
                                 rec("clocked", 62, "test_timestamp_ns_clocked"),
                                 rec("clocked (pure Python)", 400, "test_timestamp_ns_clocked_pure"),
                                 rec("reference", 75, "test_timestamp_ns_nautilus")]
    target = tmp_path / "r"
    target.mkdir()
    (target / "run.json").write_text((small_run / "run.json").read_text())
    save(records, target)
    html = report_from_run(target, "all", resamples=300)[0].read_text()
    p = Collector()
    p.feed(html.split("Side by side in this run", 1)[1].split("</table>", 1)[0])
    text = " ".join(t.strip() for t in p.text if t.strip())
    for label in ("baseline", "clocked", "clocked (pure Python)", "reference (timestamp_ns_nautilus)", "x baseline"):
        assert label in text, text
    assert "1.03x" in text and "0.83x" in text  # clocked/baseline, clocked/NautilusTrader (geometric means)
