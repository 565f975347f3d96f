"""Measures the dashboard (frontend/, served at /dashboard/) in headless Chromium driven by Playwright.

What is measured, per clock build of the page (clocked: four-timestamp sync; baseline: Date.now();
plan: the plan's single-fetch hook, for information):

* ``ui.clock_sync_error`` (ns, signed): the page's estimate of the server's time minus the true
  server time, read together in the page once the hook says it is synchronized: every 50 ms on the
  responsiveness pages, about every 1.3 ms on the clock-sync pages (three staggered 4 ms timers).
* ``ui.client_timestamp_error`` (ns, signed): an order's ``client_timestamp_ns`` minus the true
  server time read right after the dashboard read the stamp (it calls a stamp hook the harness
  sets, window.__clockbench.setStampHook; see stamp_errors()). The true time at the start
  of the click event is recorded too: the page's own work before its handler runs (form
  submission, React) put up to ~200 ms between the two under load, which is latency, not clock
  error (``stamp_lags``).
  On the clock-sync pages the orders are many (500 per page in a quick run): the order entry's
  submit button is clicked by script in the page (HTMLElement.click(): the dashboard's own click,
  submit and React handler stamp and send each one), at most 4 in flight, after the clock readings.
* ``ui.order_roundtrip`` (ns): a real click on the submit button (Playwright's mouse) to the DOM
  commit that shows the acknowledged order (a MutationObserver; paint is not included: headless
  Chromium's frames are not a display's).
* ``ui.quote_to_dom`` (ns): a quote's server timestamp to the DOM commit that shows it.
* ``ui.page_cpu`` (ppm of one core): main-thread busy time of the page (CDP Performance
  TaskDuration) over a window while it streams quotes.

How the truth is known. The service runs LiveClock on this machine, so the true server time is the
machine's clock. Before any page script, an init script keeps the page's real clocks
(``performance.timeOrigin`` + the real ``performance.now()``, 5-100 us resolution) and then moves
the page's clock by a known offset and drift: ``Date`` and ``performance.now()`` are replaced by
versions running ``offset`` ahead at rate ``1 + drift`` (Resource Timing stamps scaled alike). Playwright's ``page.clock`` can set an
offset too, but its fake ``performance.now()`` returns whole milliseconds (``Math.ceil`` in its
injected clock, v1.45..1.65), which would put up to 1 ms of quantization into the very
timestamps being judged at 1 ms, and it has no rate; so the harness skews the clock itself and
says so. The truth's own consistency is checked: the real ``Date.now()`` minus the kept clock
should average -0.5 ms (its truncation); ``truth_bias_ms`` reports the difference.

The network path is the harness's delay proxy (harness/measure/delay_proxy.py): a loopback TCP
relay adding a known one-way delay per direction, with jitter; the delays that actually happened
are recorded and reported beside the nominal ones.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.units import NS_PER_MS, NS_PER_S
from harness import results
from harness.builds import BUILDS as COMPONENT_BUILDS

BUILDS = (*COMPONENT_BUILDS, "plan")  # the page's clock: the two builds, and the plan's own hook
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "harness" / "app" / "static" / "dashboard"
SOURCE = "harness/measure/frontend.py (headless Chromium via Playwright)"


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is missing; the message says which and how to get it."""


def find_chromium() -> str:
    """The Chromium to drive: $CLOCKBENCH_CHROMIUM, else Debian's chromium on PATH."""
    env = os.environ.get("CLOCKBENCH_CHROMIUM")
    if env:
        if not os.access(env, os.X_OK):
            raise BrowserUnavailable(f"CLOCKBENCH_CHROMIUM={env} is not an executable")
        return env
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    raise BrowserUnavailable("no chromium on PATH (apt-get install chromium, or set CLOCKBENCH_CHROMIUM)")


def check_available() -> str:
    """Raise BrowserUnavailable unless Playwright, Chromium and the built dashboard are all here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise BrowserUnavailable(f"Playwright for Python is not installed ({exc}); pip install -r requirements.lock") from None
    if not (DASHBOARD / "index.html").exists():
        raise BrowserUnavailable(f"the dashboard is not built ({DASHBOARD} is empty): cd frontend && npm ci && npm run build")
    return find_chromium()


@contextmanager
def browser() -> Iterator[Any]:
    """One headless Chromium (Debian's, never a downloaded one)."""
    path = check_available()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


# --- what the harness puts into every page before the page's own scripts ---------------------------
INSTRUMENT_JS = r"""
(() => {
  const CFG = __CFG__;
  const P = performance, realPerf = P.now.bind(P), origin = P.timeOrigin;
  const RealDate = Date, realDateNow = Date.now.bind(Date);
  const truthNowNs = () => (origin + realPerf()) * 1e6;
  const T = window.__truth = { cfg: CFG, nowNs: truthNowNs, samples: [], stamps: [], clicks: [], acks: [],
                               quotes: [], dateCheck: [], syncReplies: [], syncWire: [], planLegs: [], sampleRtt: [], clickTruth: [],
                               pendingClick: null, inflight: 0, orderRun: null, stampTruth: new Map(), hooked: false };
  // The true time right after the dashboard reads an order's stamp (its stamp hook, set once the
  // dashboard is up): one function call after the stamp, where nothing can come in between.
  const hook = () => {
    const cb = window.__clockbench;
    if (T.hooked || !cb || !cb.setStampHook) return;
    cb.setStampHook((id) => { if (T.stampTruth.size < 200000) T.stampTruth.set(id, truthNowNs()); });
    T.hooked = true;
  };
  // Every clock-sync exchange as it really went: the network stack's send/receive stamps on the
  // real timeline (the observer gets the browser's own entries, not the skewed copies the page
  // reads) and the server's t1/t2 from the reply, so each exchange's two one-way delays are known.
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.name.includes("/api/v1/clock/sync") && T.syncWire.length < 20000) {
          T.syncWire.push({ name: e.name, requestStart: e.requestStart, responseStart: e.responseStart });
        }
      }
    }).observe({ type: "resource", buffered: true });
  } catch (e) { /* no Resource Timing: the exchanges are not broken down */ }
  if (CFG.offsetMs || CFG.driftPpm) {
    const rate = 1 + CFG.driftPpm * 1e-6, p0 = realPerf();
    const fakePerf = () => p0 + (realPerf() - p0) * rate;
    const fakeWall = () => origin + CFG.offsetMs + fakePerf();
    P.now = fakePerf;
    // Resource Timing is on the same (skewed) timeline as performance.now(): scale its stamps too.
    const scale = (t) => (t > 0 ? p0 + (t - p0) * rate : t);
    const wrap = (fn) => function (...a) {
      return fn.apply(P, a).map((e) => e.entryType !== "resource" ? e : ({
        name: e.name, entryType: e.entryType, startTime: scale(e.startTime), fetchStart: scale(e.fetchStart),
        requestStart: scale(e.requestStart), responseStart: scale(e.responseStart), responseEnd: scale(e.responseEnd),
        duration: e.duration * rate }));
    };
    P.getEntriesByName = wrap(P.getEntriesByName);
    P.getEntriesByType = wrap(P.getEntriesByType);
    class SkewDate extends RealDate {
      constructor(...a) { if (a.length === 0) super(fakeWall()); else super(...a); }
      static now() { return Math.floor(fakeWall()); }
    }
    window.Date = SkewDate;
  }
  const every = (ms, fn) => setInterval(fn, ms);
  every(37, () => { if (T.dateCheck.length < 4000) T.dateCheck.push(realDateNow() - (origin + realPerf())); });
  // The page's server time against the truth, read together. CFG.samplers timers of CFG.sampleMs
  // each, started 1 ms apart: Chromium clamps a repeating timer to >= 4 ms, so a reading every
  // ~1.3 ms (3 timers of 4 ms) takes staggered timers; each reading is a task of its own (~10 us).
  const sample = () => {
    const cb = window.__clockbench;
    if (!cb || T.samples.length >= 200000) return;
    const v = cb.clock();
    if (v.build !== "baseline" && !v.synchronized) return;
    T.samples.push(cb.nowNs() - truthNowNs());
    T.sampleRtt.push(v.rttNs ?? null);  // which exchange the estimate came from (its round trip names it)
  };
  for (let k = 0; k < CFG.samplers; k++) setTimeout(() => every(CFG.sampleMs, sample), k);
  const realFetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    try {
      if (init && init.method === "POST" && String(input).endsWith("/api/v1/orders")) {
        const b = JSON.parse(init.body);
        // The click that led here (the dashboard stamps and calls fetch inside that click's event).
        const c = T.pendingClick;
        T.pendingClick = null;
        const at = truthNowNs();
        const st = { id: b.client_order_id, client: b.client_timestamp_ns, truth: at,
                     stampTruth: T.stampTruth.has(b.client_order_id) ? T.stampTruth.get(b.client_order_id) : null,
                     clickTruth: c ? c.truth : null, clickAt: c ? c.at : null,
                     submitTruth: c && c.submit ? c.submit : null, status: null };
        T.stamps.push(st);
        T.inflight += 1;
        const p = realFetch(input, init);
        p.then((res) => { st.status = res.status; }, () => { st.status = 0; })
         .finally(() => { T.inflight -= 1; if (T.orderRun) setTimeout(T.orderRun.pump, 0); });
        return p;
      }
    } catch (e) { /* not an order */ }
    const called = truthNowNs();
    const p = realFetch(input, init);
    if (String(input).includes("/api/v1/clock/server-time")) {
      // The plan's hook: its offset is the server's stamp minus Date.now() read at this call.
      p.then((res) => res.clone().json().then((b) => {
        if (T.planLegs.length < 20000) T.planLegs.push({ called, server: b.server_time_ns ?? b.timestamp_ns });
      })).catch(() => {});
    }
    if (String(input).includes("/api/v1/clock/sync")) {
      const name = new URL(String(input), location.href).href;
      p.then((res) => res.clone().json().then((b) => {
        if (T.syncReplies.length < 20000) T.syncReplies.push({ name, t1: b.t1, t2: b.t2 });
      })).catch(() => {});
    }
    return p;
  };
  document.addEventListener("click", (e) => {
    const t = e.target;
    if (t && t.closest && t.closest('[data-testid="submit-order"]')) {
      // The click's start (its order's stamp comes later in this event: form submission, then
      // React's handler, which stamps and calls fetch in one synchronous run; the truth judged is
      // read at that fetch, this one measures the page's lag before it).
      hook();
      const c = { at: realPerf(), truth: truthNowNs() };
      T.clicks.push(c.at);
      T.clickTruth.push(c.truth);
      T.pendingClick = c;
    }
  }, true);
  document.addEventListener("submit", () => { if (T.pendingClick) T.pendingClick.submit = truthNowNs(); }, true);
  // Many orders through the dashboard's own order entry, quickly: the submit button is clicked by
  // script (HTMLElement.click(): the same click event, form submit and React handler as a person's
  // click, so the order is stamped from the page's clock in that event and sent by the page's
  // code), `n` in all, at most `limit` in flight; each settled order frees its slot.
  T.placeOrders = (n, limit) => new Promise((resolve) => {
    let clicked = 0;
    const done = (error) => { T.orderRun = null; resolve({ clicked, error: error || null }); };
    const pump = () => {
      if (T.orderRun === null) return;
      while (clicked < n && T.inflight < limit) {
        const btn = document.querySelector('[data-testid="submit-order"]');
        if (!btn || btn.disabled) return done("the submit button is missing or disabled");
        const before = T.stamps.length;
        btn.click();
        if (T.stamps.length === before) return done("a click on the submit button sent no order");
        clicked += 1;
      }
      if (clicked >= n && T.inflight === 0) done();
    };
    T.orderRun = { pump };
    pump();
  });
  const seen = new Set(), lastQuote = new Map();
  new MutationObserver(() => {
    const at = realPerf(), wall = truthNowNs();
    for (const r of document.querySelectorAll('tr[data-ack="1"]')) {
      const id = r.getAttribute("data-client-order-id");
      if (!seen.has(id)) { seen.add(id); T.acks.push({ id, at }); }
    }
    for (const r of document.querySelectorAll("tr[data-quote-ts]")) {
      const ts = r.getAttribute("data-quote-ts"), inst = r.getAttribute("data-instrument");
      if (lastQuote.get(inst) !== ts) {
        if (lastQuote.has(inst) && T.quotes.length < 200000) T.quotes.push(wall - Number(ts));
        lastQuote.set(inst, ts);
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-ack", "data-quote-ts"] });
})();
"""


def instrument_js(offset_ms: float = 0.0, drift_ppm: float = 0.0, *, sample_ms: int = 50, samplers: int = 1) -> str:
    """The init script; the clock-error readings come from ``samplers`` timers of ``sample_ms`` each."""
    cfg = {"offsetMs": offset_ms, "driftPpm": drift_ppm, "sampleMs": sample_ms, "samplers": samplers}
    return INSTRUMENT_JS.replace("__CFG__", json.dumps(cfg))


# The sync pages read their clock's error about every 1.3 ms (3 timers of 4 ms, Chromium's floor
# for a repeating timer): thousands of readings in a few seconds, for a share judged at 99.9%.
DENSE_SAMPLING = {"sample_ms": 4, "samplers": 3}


@dataclass
class PageRun:
    """One dashboard page and what its instruments recorded."""

    build: str
    page: Any
    context: Any
    data: dict[str, Any] = field(default_factory=dict)

    def collect(self) -> dict[str, Any]:
        self.data = self.page.evaluate(
            "() => { const T = window.__truth; return {samples: T.samples, stamps: T.stamps, clicks: T.clicks,"
            " acks: T.acks, quotes: T.quotes, dateCheck: T.dateCheck, clock: window.__clockbench.clock(),"
            " origin: performance.timeOrigin, syncReplies: T.syncReplies, syncWire: T.syncWire, planLegs: T.planLegs,"
            " sampleRtt: T.sampleRtt, clickTruth: T.clickTruth}; }")
        return self.data


def open_dashboard(b: Any, base_url: str, build: str, *, offset_ms: float = 0.0, drift_ppm: float = 0.0,
                   viewport: tuple[int, int] = (1366, 768), sampling: dict[str, int] | None = None,
                   loaded: bool = True) -> PageRun:
    """A new page of the dashboard in ``build``'s clock, instrumented; with ``loaded=False`` it returns
    once the navigation is under way (``page_loaded`` waits for it), so several pages load together."""
    if build not in BUILDS:
        raise ValueError(f"unknown clock build {build!r}; known: {', '.join(BUILDS)}")
    ctx = b.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    ctx.add_init_script(instrument_js(offset_ms, drift_ppm, **(sampling or {})))
    page = ctx.new_page()
    page.goto(f"{base_url}/dashboard/?clock={build}", wait_until="load" if loaded else "commit")
    run = PageRun(build, page, ctx)
    if loaded:
        page_loaded(run)
    return run


def page_loaded(run: PageRun) -> None:
    """Until the page has loaded and its dashboard is up."""
    run.page.wait_for_load_state("load")
    run.page.wait_for_function("() => window.__clockbench !== undefined", timeout=15_000)


def open_dashboards(b: Any, pages: dict[str, str], **kw: Any) -> dict[str, PageRun]:
    """One page per build (``pages``: build -> base URL), loading side by side (one after the other,
    three pages took 11-14 s at load 14 before the first could be waited for)."""
    runs: dict[str, PageRun] = {}
    try:
        for build, url in pages.items():
            runs[build] = open_dashboard(b, url, build, loaded=False, **kw)
        for r in runs.values():
            page_loaded(r)
    except BaseException:
        for r in runs.values():
            r.context.close()
        raise
    return runs


def wait_ready(run: PageRun, timeout_ms: int = 20_000) -> None:
    """Until the feed is live, a quote is shown and (clocked/plan) the clock says synced."""
    run.page.wait_for_selector('[data-testid="feed-state"]:text("live")', timeout=timeout_ms)
    run.page.wait_for_selector("tr[data-quote-ts]", timeout=timeout_ms)
    if run.build != "baseline":
        run.page.wait_for_selector('[data-testid="clock-status"][data-state="synced"]', timeout=timeout_ms)


def place_order(run: PageRun, timeout_ms: int = 10_000) -> None:
    """One real click on the submit button; returns once the acknowledged order is shown."""
    before = run.page.locator('tr[data-ack="1"]').count()
    run.page.click('[data-testid="submit-order"]')
    run.page.wait_for_function(f"() => document.querySelectorAll('tr[data-ack=\"1\"]').length > {before}",
                               timeout=timeout_ms)


def place_orders(run: PageRun, n: int, limit: int = 4) -> None:
    """Start ``n`` orders through the page's order entry (T.placeOrders, at most ``limit`` in flight);
    returns at once: wait_orders() waits for them."""
    run.page.evaluate("([n, limit]) => { window.__truth.orderResult = null;"
                      " window.__truth.placeOrders(n, limit).then((r) => { window.__truth.orderResult = r; }); }", [n, limit])


def wait_orders(run: PageRun, timeout_ms: int) -> dict[str, Any]:
    """Until the orders started by place_orders() have all been answered; raises if the page could not send one."""
    run.page.wait_for_function("() => window.__truth.orderResult !== null", timeout=timeout_ms, polling=200)
    r = run.page.evaluate("() => window.__truth.orderResult")
    if r.get("error"):
        raise RuntimeError(f"{run.build} page: {r['error']} (after {r['clicked']} orders)")
    return r


def acknowledged(stamps: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The orders the service accepted (2xx), where the page recorded the answer; all of them otherwise."""
    return [s for s in stamps if s.get("status") is None or 200 <= s["status"] < 300]


def stamp_errors(data: dict[str, Any]) -> list[int]:
    """client_timestamp_ns minus the true time read right after the dashboard read the stamp (its
    stamp hook: one function call later), over the acknowledged orders; where the hook was not
    seen, the true time at the order's fetch() call, in the same synchronous handler (between the
    two, only React's queued state updates, but on a loaded machine the OS may preempt the page
    there: that put up to 16 ms into 1-2% of orders at load 11-18). Read at the start of the click
    event instead, it took in the page's own work before the handler ran (form submission, React),
    up to ~200 ms under load with 4 orders in flight: the page's latency, not its clock's error
    (stamp_lags() gives it)."""
    return [int(round(s["client"] - (s["stampTruth"] if s.get("stampTruth") is not None else s["truth"])))
            for s in acknowledged(data["stamps"])]


def stamp_lags(data: dict[str, Any]) -> dict[str, Any]:
    """How long after the click event started the order was stamped (the true time at fetch() -
    at the click's capture listener; the submit event's share of it), ms: p50, p99, max."""
    def q(v: list[float]) -> dict[str, Any]:
        if not v:
            return {"n": 0}
        v = sorted(v)
        return {"n": len(v), "p50_ms": v[len(v) // 2], "p99_ms": v[min(len(v) - 1, int(0.99 * len(v)))], "max_ms": v[-1]}
    st = [s for s in data.get("stamps") or [] if s.get("clickTruth") is not None]
    return {"click_to_stamp": q([(s["truth"] - s["clickTruth"]) / NS_PER_MS for s in st]),
            "click_to_submit_event": q([(s["submitTruth"] - s["clickTruth"]) / NS_PER_MS for s in st
                                        if s.get("submitTruth") is not None])}


def click_to_ack(data: dict[str, Any]) -> list[int]:
    """Each order's click to the DOM commit that showed it acknowledged (ns)."""
    acks = {a["id"]: a["at"] for a in data["acks"]}
    out = []
    for i, stamp in enumerate(data["stamps"]):
        clicked = stamp.get("clickAt")
        if clicked is None and i < len(data["clicks"]):
            clicked = data["clicks"][i]
        at = acks.get(stamp["id"])
        if at is not None and clicked is not None:
            out.append(int(round((at - clicked) * NS_PER_MS)))
    return out


def truth_bias_ms(data: dict[str, Any]) -> float | None:
    """Mean of (real Date.now() - kept clock) + 0.5 ms: ~0 when the truth agrees with the system clock."""
    d = data.get("dateCheck") or []
    return None if len(d) < 20 else statistics.fmean(d) + 0.5


def page_cpu(runs: dict[str, PageRun], seconds: float) -> dict[str, float]:
    """Share of one core each page's main thread was busy over the same `seconds` (CDP
    Performance.TaskDuration): the pages stream side by side, as their clicks ran (one after the
    other, the windows took `seconds` per page)."""
    cdps = {k: r.context.new_cdp_session(r.page) for k, r in runs.items()}
    for cdp in cdps.values():
        cdp.send("Performance.enable")

    def task_s(cdp: Any) -> float:
        ms = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return float(ms.get("TaskDuration", 0.0))

    a = {k: (task_s(c), time.monotonic()) for k, c in cdps.items()}
    time.sleep(seconds)
    b = {k: (task_s(c), time.monotonic()) for k, c in cdps.items()}
    return {k: (b[k][0] - a[k][0]) / (b[k][1] - a[k][1]) for k in cdps}


# --- scenarios --------------------------------------------------------------------------------------
def estimates_read(sample_rtt: Sequence[Any], readings: int) -> int:
    """How many sync estimates the window's readings came from (pure): readings between two
    exchanges repeat one estimate, named by its exchange's round trip (``sampleRtt``), so a new
    estimate starts wherever that changes. The page keeps its best exchange until a better one
    comes (4 estimates in one quick run's 10 s window), so the readings are that many independent
    outcomes, not thousands (harness/results.py: INDEPENDENT); two exchanges in a row with the same
    round trip count as one, which only errs towards fewer units (a wider interval)."""
    rtts = list(sample_rtt[:readings])
    if not rtts:
        return max(1, readings)
    return 1 + sum(1 for a, b in zip(rtts, rtts[1:]) if a != b)


@dataclass
class SyncResult:
    build: str
    sync_errors_ns: list[int]
    stamp_errors_ns: list[int]
    truth_bias_ms: float | None
    clock: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # what the page's instruments recorded
    paths: dict[str, Any] = field(default_factory=dict)  # path_summary() of its exchanges, when known
    order_phase_errors_ns: list[int] = field(default_factory=list)  # readings while the page sent its orders
    order_phase_estimates: int | None = None  # the sync estimates in force while it sent them (estimates_read)

    def summary(self) -> dict[str, Any]:
        def stats(v: list[int]) -> dict[str, Any]:
            if not v:
                return {"n": 0}
            a = sorted(abs(x) for x in v)
            return {"n": len(v), "median_ms": statistics.median(v) / NS_PER_MS,
                    "abs_p99_ms": a[min(len(a) - 1, int(0.99 * len(a)))] / NS_PER_MS,
                    "abs_max_ms": a[-1] / NS_PER_MS,
                    "share_within_1ms": sum(1 for x in a if x <= NS_PER_MS) / len(a)}
        return {"build": self.build, "sync_error": stats(self.sync_errors_ns), "stamp_error": stats(self.stamp_errors_ns),
                "sync_error_while_ordering": stats(self.order_phase_errors_ns),
                "truth_bias_ms": self.truth_bias_ms, "clock": self.clock, "click_lag": stamp_lags(self.raw), **({"exchanges": self.paths} if self.paths else {}),
                **({"request_legs_ms": [x / NS_PER_MS for x in plan_legs(self.raw)]} if self.build == "plan" else {})}  # fmt: skip


def sync_scenario(b: Any, proxy_url: str, builds: Sequence[str], *, offset_ms: float, drift_ppm: float,
                  seconds: float, orders: int | dict[str, int], log: Callable[[str], None] = lambda s: None,
                  screenshot: Path | None = None, in_flight: int = 4,
                  sampling: dict[str, int] | None = None) -> dict[str, SyncResult]:
    """Pages of each build side by side behind the same delayed path. First ``seconds`` of clock
    readings against the truth (every ~1.3 ms by default) with the pages only syncing and showing
    quotes: the sync errors. Then each page sends its ``orders`` (a count, or one per build)
    through its own order entry, ``in_flight`` at a time: the stamps. The readings taken while
    orders were sent are kept apart (``order_phase_errors_ns``): the order stream shares the path
    and the service with the sync exchanges (12 in flight queued their replies by ~2.5 ms under
    load), a load the sync criteria do not define; the stamps are read under it."""
    sampling = DENSE_SAMPLING if sampling is None else sampling
    per_build = orders if isinstance(orders, dict) else {build: orders for build in builds}
    t_open = time.monotonic()
    runs = list(open_dashboards(b, {build: proxy_url for build in builds}, offset_ms=offset_ms, drift_ppm=drift_ppm,
                                sampling=sampling).values())
    try:
        for r in runs:
            wait_ready(r)
        log(f"    pages ready ({', '.join(builds)}) in {time.monotonic() - t_open:.1f} s; sampling {seconds:.0f} s, then orders per page "
            f"({', '.join(f'{b_} {per_build.get(b_, 0)}' for b_ in builds)}; {in_flight} in flight)")
        time.sleep(seconds)
        marks = {r.build: r.page.evaluate("() => window.__truth.samples.length") for r in runs}
        t0 = time.monotonic()
        for r in runs:
            if per_build.get(r.build, 0):
                place_orders(r, per_build[r.build], in_flight)
        for r in runs:  # 0.25 s per order at worst: a stalled stack fails here rather than hangs
            if per_build.get(r.build, 0):
                wait_orders(r, timeout_ms=int(max(60.0, 0.25 * per_build[r.build]) * 1000))
        took = time.monotonic() - t0
        t_shot = time.monotonic()
        if screenshot is not None:
            runs[0].page.screenshot(path=str(screenshot))
        out = {}
        for r in runs:
            d = r.collect()
            d["window_s"], d["orders_s"] = seconds, took
            samples = [int(round(x)) for x in d["samples"]]
            m = marks[r.build]
            ordering = estimates_read(d["sampleRtt"][m:], len(samples) - m) if len(samples) > m else None
            d["samples"], d["sampleRtt"] = d["samples"][:m], d["sampleRtt"][:m]  # error_breakdown() pairs them
            out[r.build] = SyncResult(r.build, samples[:m], stamp_errors(d), truth_bias_ms(d), d["clock"], d,
                                      order_phase_errors_ns=samples[m:], order_phase_estimates=ordering)
        log(f"    screenshot and collection in {time.monotonic() - t_shot:.1f} s")
        return out
    finally:
        for r in runs:
            r.context.close()


@dataclass
class UiResult:
    build: str
    click_to_ack_ns: list[int]
    quote_to_dom_ns: list[int]
    cpu_share: float


def ui_scenario(b: Any, urls: dict[str, str], *, clicks: int, cpu_seconds: float,
                shots: Path | None = None, log: Callable[[str], None] = lambda s: None) -> dict[str, UiResult]:
    """Real clicks, each page build against its own stack build (``urls``: build -> stack URL), the
    pages open side by side and clicked in turn (ABBA: the order flips every round), so a machine
    whose load changes during the run slows both builds alike; then each page's CPU."""
    t0 = time.monotonic()
    runs = open_dashboards(b, urls)
    try:
        for r in runs.values():
            wait_ready(r)
        t1 = time.monotonic()
        order = list(runs)
        for i in range(clicks):
            for build in (order if i % 2 == 0 else order[::-1]):
                place_order(runs[build])
                time.sleep(0.05)
        t2 = time.monotonic()
        cpu = page_cpu(runs, cpu_seconds)
        out = {}
        for build, r in runs.items():
            if shots is not None:
                r.page.screenshot(path=str(shots / f"dashboard-{build}.png"))
            d = r.collect()
            out[build] = UiResult(build, click_to_ack(d), [int(round(q)) for q in d["quotes"]], cpu[build])
        log(f"  frontend: pages ready in {t1 - t0:.1f} s, {clicks} clicks each in {t2 - t1:.1f} s, then page CPU, "
            f"screenshots and collection in {time.monotonic() - t2:.1f} s")
        return out
    finally:
        for r in runs.values():
            r.context.close()


def chunk_delays(chunks: Sequence[Any]) -> dict[str, Any]:
    """Mean real delay per direction of what the proxy relayed (ms)."""
    out: dict[str, Any] = {}
    for direction in ("up", "down"):
        d = [c.delay_ns for c in chunks if c.direction == direction]
        out[direction] = {"n": len(d), "mean_ms": statistics.fmean(d) / NS_PER_MS if d else None,
                          "min_ms": min(d) / NS_PER_MS if d else None}
    return out


@dataclass(frozen=True)
class ExchangePath:
    """One clock-sync exchange broken down on the true timeline (ns). ``up``/``down``: the whole
    one-way delays (browser's send stamp -> server's t1, server's t2 -> browser's first byte back);
    ``proxy_up``/``proxy_down``: what the delay proxy held the request's and the reply's bytes
    (None when its records do not show them). The exchange's offset is off by exactly
    (up - down) / 2; the part of that the proxy put there is (proxy_up - proxy_down) / 2."""

    name: str
    up: int
    down: int
    proxy_up: int | None
    proxy_down: int | None
    # Outside the proxy, per side (None without its records): the server's part of each leg (proxy's
    # delivery -> t1, t2 -> the proxy reading the reply) and the browser's (its send stamp -> the
    # proxy reading the request, the proxy's delivery -> its first-byte stamp).
    server_in: int | None = None
    server_out: int | None = None
    browser_out: int | None = None
    browser_in: int | None = None

    @property
    def rtt(self) -> int:
        return self.up + self.down

    @property
    def error(self) -> float:
        return (self.up - self.down) / 2

    @property
    def proxy_error(self) -> float | None:
        return None if self.proxy_up is None or self.proxy_down is None else (self.proxy_up - self.proxy_down) / 2


def exchange_paths(data: dict[str, Any], chunks: Sequence[Any] = ()) -> list[ExchangePath]:
    """Each clock-sync exchange of one page (its ``collect()``) with the one-way delays it really had,
    and, from the proxy's records, how long the proxy itself held its request and its reply."""
    origin = float(data.get("origin") or 0.0)
    replies = {r["name"]: r for r in data.get("syncReplies") or [] if isinstance(r.get("t1"), (int, float))}
    by_conn: dict[int, list[Any]] = {}
    for c in sorted(chunks, key=lambda c: c.arrived_ns):
        by_conn.setdefault(c.conn, []).append(c)
    requests: dict[str, tuple[int, int]] = {}  # path?query -> (conn, index of its first chunk)
    for conn, cs in by_conn.items():
        for i, c in enumerate(cs):
            if c.direction == "up" and c.head.startswith(b"POST /api/v1/clock/sync?"):
                requests[c.head.split(b" ", 2)[1].decode("latin-1")] = (conn, i)
    out = []
    for w in data.get("syncWire") or []:
        r = replies.get(w["name"])
        if r is None or not w.get("requestStart") or not w.get("responseStart"):
            continue
        sent = (origin + w["requestStart"]) * 1e6
        back = (origin + w["responseStart"]) * 1e6
        pu = pd = None
        key = "/" + w["name"].split("/", 3)[3]
        if key in requests:
            conn, i = requests[key]
            cs = by_conn[conn]
            ups, j = [], i
            while j < len(cs) and cs[j].direction == "up" and (j == i or not cs[j].head.startswith((b"GET ", b"POST "))):
                ups.append(cs[j])
                j += 1
            down = next((c for c in cs[j:] if c.direction == "down"), None)
            pu = max(c.delivered_ns for c in ups) - ups[0].arrived_ns
            pd = None if down is None else down.delay_ns
            sides = (int(round(r["t1"] - max(c.delivered_ns for c in ups))),
                     None if down is None else int(round(down.arrived_ns - r["t2"])),
                     int(round(ups[0].arrived_ns - sent)),
                     None if down is None else int(round(back - down.delivered_ns)))
        else:
            sides = (None, None, None, None)
        out.append(ExchangePath(w["name"], int(round(r["t1"] - sent)), int(round(back - r["t2"])), pu, pd, *sides))
    return out


def error_breakdown(data: dict[str, Any], paths: Sequence[ExchangePath]) -> dict[str, Any]:
    """The clocked page's error samples set against the exchange each estimate came from: how much
    of the error the proxy's path put there (its applied delays, jitter included), how much the
    machine added outside the proxy (browser, loopback, the service's queueing before t1), and the
    rest (drift since the exchange, the truth's own error). ms, medians over the samples."""
    samples, rtts = data.get("samples") or [], data.get("sampleRtt") or []
    proxied = [p for p in paths if p.proxy_error is not None]
    if not proxied or len(rtts) != len(samples):
        return {"n": 0}
    raw, proxy, machine, rest = [], [], [], []
    for err, rtt in zip(samples, rtts):
        if rtt is None:
            continue
        ex = min(proxied, key=lambda p: abs(p.rtt - rtt))
        if abs(ex.rtt - rtt) > 50_000:  # not this page's exchange (or not seen by the proxy)
            continue
        raw.append(err)
        proxy.append(ex.proxy_error)
        machine.append(ex.error - ex.proxy_error)  # type: ignore[operator]
        rest.append(err - ex.error)
    if not raw:
        return {"n": 0}
    med = lambda v: statistics.median(v) / NS_PER_MS  # noqa: E731
    net = [r - m for r, m in zip(raw, machine)]
    return {"n": len(raw), "error_ms": med(raw), "proxy_part_ms": med(proxy), "machine_part_ms": med(machine),
            "rest_ms": med(rest), "error_without_machine_ms": med(net),
            "share_within_1ms_without_machine": sum(1 for x in net if abs(x) <= NS_PER_MS) / len(net)}


def plan_legs(data: dict[str, Any]) -> list[int]:
    """The plan hook's fetches: the server's stamp minus the true time the hook called fetch (ns).
    Its offset is off by exactly this (to its millisecond rounding): the whole request leg."""
    return [int(round(x["server"] - x["called"])) for x in data.get("planLegs") or [] if isinstance(x.get("server"), (int, float))]


def path_summary(paths: Sequence[ExchangePath]) -> dict[str, Any]:
    """What the exchanges' paths allowed: the cleanest exchange's error, and how much of the paths'
    asymmetry the proxy made (its applied delays against the nominal ones)."""
    if not paths:
        return {"n": 0}
    best = min(paths, key=lambda p: p.rtt)
    proxied = [p for p in paths if p.proxy_error is not None]
    ms = NS_PER_MS

    def med(v: list[float]) -> float | None:
        return statistics.median(v) / ms if v else None

    return {
        "n": len(paths),
        "min_rtt_ms": best.rtt / ms,
        "min_rtt_error_ms": best.error / ms,
        "min_rtt_proxy_error_ms": None if best.proxy_error is None else best.proxy_error / ms,
        "median_error_ms": med([p.error for p in paths]),
        "median_up_ms": med([p.up for p in paths]),
        "median_down_ms": med([p.down for p in paths]),
        "median_proxy_up_ms": med([p.proxy_up for p in proxied]),  # type: ignore[misc]
        "median_proxy_down_ms": med([p.proxy_down for p in proxied]),  # type: ignore[misc]
        "median_outside_proxy_up_ms": med([p.up - p.proxy_up for p in proxied]),  # type: ignore[operator]
        "median_outside_proxy_down_ms": med([p.down - p.proxy_down for p in proxied]),  # type: ignore[operator]
        # where the machine's own delay sits: in the service (before t1 / after t2) or in the browser
        "median_server_in_ms": med([p.server_in for p in proxied if p.server_in is not None]),
        "median_server_out_ms": med([p.server_out for p in proxied if p.server_out is not None]),
        "median_browser_out_ms": med([p.browser_out for p in proxied if p.browser_out is not None]),
        "median_browser_in_ms": med([p.browser_in for p in proxied if p.browser_in is not None]),
    }


def _fmt(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms:+.3f} ms"


def _ms(v: Sequence[int]) -> str:
    return _fmt(statistics.median(v) / NS_PER_MS if v else None)


ASYMMETRY_NOTE = (
    "Why no four-timestamp method can beat half the asymmetry: an exchange yields t0..t3, from which only "
    "the round trip (t3 - t0) - (t2 - t1) = up + down is known, never up and down apart. A true offset "
    "theta with delays (up, down) and a true offset theta + e with delays (up - e, down + e) produce "
    "exactly the same four timestamps, for any e in [-down, up]. So any estimator (minimum filter, "
    "averaging, regression) must pick a split; picking the symmetric one, as NTP does, errs by "
    "(up - down) / 2, and a different split only moves the error to other paths. With 20 ms up and 2 ms "
    "down that is 9 ms; only a third timing source (GPS, PTP hardware stamps, a known path) can remove it."
)


# --- the producer for `clockbench run` --------------------------------------------------------------
@contextmanager
def stacks_and_browser(makers: dict[str, Callable[[], Any]], log: Callable[[str], None] = lambda s: None
                       ) -> Iterator[tuple[dict[str, Any], Any]]:
    """The stacks (``makers``: key -> context manager, all entered at once on threads: measure.enter_all)
    and one browser, started together: nothing is measured while they start, and one after the other
    they took 2.3 s + 1.0 s (stacks, then Playwright's driver and Chromium; load 6), at once 2.0 s (load 2;
    on a saturated machine the two compete for the CPU and little is won). The browser runs on
    this thread (Playwright's sync API keeps its event loop here) and is closed before the stacks
    stop: a stack's clean-up runs an event loop of its own, which it cannot do on a thread where
    Playwright's is running."""
    from concurrent.futures import ThreadPoolExecutor

    from . import StartFailed, enter_all

    t0 = time.monotonic()
    up: dict[str, float] = {}
    with contextlib.ExitStack() as es, ThreadPoolExecutor(max_workers=1, thread_name_prefix="stacks") as pool:
        # the pool's exit waits for the stacks to have started (so the ExitStack holds them all
        # before it stops them) also when the browser failed
        def start() -> dict[str, Any]:
            started = enter_all(es, makers)
            up["stacks"] = time.monotonic()
            return started

        starting = pool.submit(start)
        with browser() as b:
            up["browser"] = time.monotonic()
            try:
                stacks = starting.result()
            except StartFailed as exc:
                raise exc.error from None
            log(f"  frontend: stacks up in {up['stacks'] - t0:.1f} s, browser in {up['browser'] - t0:.1f} s (at once)")
            yield stacks, b


@dataclass(frozen=True)
class Sizes:
    """How much the producer measures: clicks per build, page-CPU window, sampling per sync path, orders per page."""

    clicks: int
    cpu_s: float
    sync_s: float
    orders: int


# 30 clicks: the responsiveness criteria judge a median, whose bootstrap interval needs 30 values.
# Orders on the symmetric path's clocked page: EI-DASHBOARD-SYNC judges a p99 over the sync
# estimates in force while they were sent (its independent units, 1-4 in a quick run), which cannot
# reach the 500 a p99's bootstrap needs (harness/stats.py min_samples) in any quick run: 100 stamps
# show the figure in 2.5 s where 500 took 9.3 s. The full run sends 1,000 over its longer window. The
# sync windows are 4 s per path in --quick (10 s, then 6 s, before): their criteria are judged over estimates
# too (SC3-CLOCK-SYNC, TS3-FRONTEND-SYNC), of which a quick window holds 1-4 either way. With both
# changes the step went from 56 to 44 s (2026-11-30); 4 s since.
# The page-CPU window is 1 s in --quick: ui.page_cpu is one figure per build that no criterion
# judges (10 quote updates at the service's 100 ms); 5 s, then 2 s, were most of the step's wait.
QUICK = Sizes(clicks=30, cpu_s=1.0, sync_s=4.0, orders=100)
FULL = Sizes(clicks=60, cpu_s=60.0, sync_s=60.0, orders=1000)
ASYMMETRIC_ORDERS = 5  # only the symmetric path's stamps are judged; a few here show on its screenshot
# The criterion judges the clocked page; the baseline's and the plan's stamps are shown beside it
# (5 s and tens of ms off, for information): 30 each keeps the order phase short. On this 2-core
# machine at load 17 the stack acknowledged ~10 orders a second through the proxy (at load 2-4, ~40
# a second: 100 in 2.5 s).
OTHER_ORDERS = 30


def produce(out: Path, quick: bool, log: Callable[[str], None] = print, *,
            postgres_url: str | None = None, redis_url: str | None = None, nginx: bool = True,
            sizes: Sizes | None = None) -> list[results.MetricRecord]:
    """Both builds' stacks, the three clock builds, the two network paths; records for the six criteria.
    Without nginx (``run --no-nginx``) the page talks to one worker directly."""
    from harness.stack import running

    from .delay_proxy import DelayProxyProcess as DelayProxy

    out.mkdir(parents=True, exist_ok=True)
    z = sizes or (QUICK if quick else FULL)
    clicks, cpu_s, sync_s, orders = z.clicks, z.cpu_s, z.sync_s, z.orders
    records: list[results.MetricRecord] = []
    summary: dict[str, Any] = {"quick": quick, "chromium": find_chromium()}
    service_args = ["--quote-ms", "100"]

    def stack(build: str) -> Any:
        return running(build=build, workers=2 if nginx else 1, nginx=nginx, postgres_url=postgres_url, redis_url=redis_url,
                       service_args=service_args, write_pointer=False, run_dir=out / f"stack-{build}")

    # Responsiveness: each page build against its own stack build (clocked vs baseline), both stacks
    # up together and their pages clicked in turn, no added delay (measured one after the other, a
    # load that changed between the two showed as a -58%..+23% "difference" over three runs); then,
    # on the clocked stack, the clock-sync paths: the page's clock 5 s ahead and 20 ppm fast, behind
    # 10 ms +- jitter each way, then 20/2 ms. The browser starts while the stacks do (stacks_and_browser).
    ui: dict[str, UiResult] = {}
    paths = {"symmetric": (10 * NS_PER_MS, 10 * NS_PER_MS, 2 * NS_PER_MS), "asymmetric": (20 * NS_PER_MS, 2 * NS_PER_MS, 0)}
    sync: dict[str, dict[str, SyncResult]] = {}
    log(f"  frontend: baseline and clocked stacks, each with its own page build: {clicks} clicks each, in turn; "
        f"page CPU over the same {cpu_s:.0f} s")
    with stacks_and_browser({build: functools.partial(stack, build) for build in ("baseline", "clocked")}, log) as (stacks, b):
        sb, s = stacks["baseline"], stacks["clocked"]
        ui.update(ui_scenario(b, {"baseline": sb.url, "clocked": s.url}, clicks=clicks, cpu_seconds=cpu_s, shots=out,
                              log=log))
        # the sync paths, on the clocked stack
        host, port = s.url.split("//", 1)[1].rsplit(":", 1)
        for name, (up, down, jitter) in paths.items():
            log(f"  frontend: clock sync, 5 s offset, 20 ppm drift, {name} path {up / NS_PER_MS:g}/{down / NS_PER_MS:g} ms"
                f" (+0..{jitter / NS_PER_MS:g} ms jitter), pages {', '.join(BUILDS)}")
            with DelayProxy(host, int(port), up_ns=up, down_ns=down, jitter_ns=jitter) as proxy:
                try:
                    n_orders = ({b_: orders if b_ == "clocked" else min(orders, OTHER_ORDERS) for b_ in BUILDS}
                                if name == "symmetric" else min(orders, ASYMMETRIC_ORDERS))
                    sync[name] = sync_scenario(b, proxy.url, BUILDS, offset_ms=5000.0, drift_ppm=20.0, seconds=sync_s,
                                               orders=n_orders, log=log, screenshot=out / f"dashboard-sync-{name}.png")
                    chunks = proxy.records()
                except Exception as exc:
                    dead = s.dead()
                    raise RuntimeError(f"clock sync on the {name} path failed: {exc}\n({proxy.describe()}; the stack's "
                                       + (f"{', '.join(dead)} had exited" if dead else "processes were running")
                                       + ")") from exc
                paths_seen = exchange_paths(sync[name]["clocked"].raw, chunks)
                sync[name]["clocked"].paths = {**path_summary(paths_seen),
                                               "breakdown": error_breakdown(sync[name]["clocked"].raw, paths_seen)}
                summary.setdefault("paths", {})[name] = {
                    "nominal_ms": [up / NS_PER_MS, down / NS_PER_MS, jitter / NS_PER_MS], "actual": chunk_delays(chunks),
                    "proxy_priority": proxy.priority, "clocked_exchanges": sync[name]["clocked"].paths}  # fmt: skip
                for b_, r_ in sync[name].items():
                    log(f"    {b_}: {len(r_.sync_errors_ns)} clock readings in {r_.raw.get('window_s', 0):.0f} s; then "
                        f"{len(r_.raw.get('stamps') or [])} orders sent, {len(r_.stamp_errors_ns)} acknowledged, "
                        f"in {r_.raw.get('orders_s', 0):.1f} s")
                bd = sync[name]["clocked"].paths["breakdown"]
                log(f"    clocked: median error {_ms(sync[name]['clocked'].sync_errors_ns)} (the proxy's path "
                    f"{_fmt(bd.get('proxy_part_ms'))}, this machine outside the proxy {_fmt(bd.get('machine_part_ms'))}); "
                    f"plan {_ms(sync[name]['plan'].sync_errors_ns)}")
                ps = sync[name]["clocked"].paths
                log(f"    outside the proxy (medians): service {_fmt(ps.get('median_server_in_ms'))} in, "
                    f"{_fmt(ps.get('median_server_out_ms'))} out; browser {_fmt(ps.get('median_browser_out_ms'))} out, "
                    f"{_fmt(ps.get('median_browser_in_ms'))} in")
    for build, r in ui.items():
        records.append(results.MetricRecord("ui.order_roundtrip", build, "ns", r.click_to_ack_ns, source=SOURCE,
                                            extra={"what": "real click -> acknowledged order in the DOM"}))
        records.append(results.MetricRecord("ui.quote_to_dom", build, "ns", r.quote_to_dom_ns, source=SOURCE))
        records.append(results.MetricRecord("ui.page_cpu", build, "ppm", [int(r.cpu_share * 1e6)], source=SOURCE,
                                            extra={"window_s": cpu_s}))
    summary["ui"] = {k: {"click_to_ack_p50_ms": statistics.median(v.click_to_ack_ns) / NS_PER_MS if v.click_to_ack_ns else None,
                         "quote_to_dom_p50_ms": statistics.median(v.quote_to_dom_ns) / NS_PER_MS if v.quote_to_dom_ns else None,
                         "page_cpu_share": v.cpu_share} for k, v in ui.items()}  # fmt: skip
    for name, per_build in sync.items():
        summary.setdefault("sync", {})[name] = {b_: r.summary() for b_, r in per_build.items()}
    summary["asymmetry_note"] = ASYMMETRY_NOTE
    for build, r in sync["symmetric"].items():
        # "plan" is a third line, for information: the criteria read clocked (and baseline).
        extra = {"path": "10 ms each way + 0..2 ms jitter", "offset_s": 5, "drift_ppm": 20, "truth_bias_ms": r.truth_bias_ms,
                 "median_signed_ms": statistics.median(r.sync_errors_ns) / NS_PER_MS if r.sync_errors_ns else None,
                 **({"exchanges": r.paths} if r.paths else {})}
        window = r.raw.get("window_s")
        records.append(results.MetricRecord(
            "ui.clock_sync_error", build, "ns", [abs(x) for x in r.sync_errors_ns], source=SOURCE,
            extra={**extra, "readings": len(r.sync_errors_ns), "window_s": window,
                   results.INDEPENDENT: estimates_read(r.raw.get("sampleRtt") or [], len(r.sync_errors_ns)),
                   "what": "the page's server time minus the true one, read ~every 1.3 ms once synced, before the orders",
                   "while_ordering": r.summary()["sync_error_while_ordering"]}))
        records.append(results.MetricRecord(
            "ui.client_timestamp_error", build, "ns", [abs(x) for x in r.stamp_errors_ns], source=SOURCE,
            extra={**extra, "orders_sent": len(r.raw.get("stamps") or []), "acknowledged": len(r.stamp_errors_ns),
                   **({results.INDEPENDENT: r.order_phase_estimates} if r.order_phase_estimates else {}),
                   "click_lag": stamp_lags(r.raw),
                   "what": "client_timestamp_ns - true time read at the order's fetch() call, in the same synchronous "
                           "handler as the stamp; the order entry's submit clicked by script in the page, 4 in flight"}))
    for build, r in sync["asymmetric"].items():
        records.append(results.MetricRecord(
            "ui.clock_sync_error.asymmetric", build, "ns", [abs(x) for x in r.sync_errors_ns], source=SOURCE,
            extra={"path": "20 ms up, 2 ms down", "note": ASYMMETRY_NOTE,
                   results.INDEPENDENT: estimates_read(r.raw.get("sampleRtt") or [], len(r.sync_errors_ns)),
                   "median_signed_ms": statistics.median(r.sync_errors_ns) / NS_PER_MS if r.sync_errors_ns else None}))
    (out / "frontend.json").write_text(json.dumps(summary, indent=2, default=str))
    log(f"  frontend: figures in {out / 'frontend.json'}, screenshots dashboard-*.png beside it")
    return records


def produce_frontend(ctx: Any) -> list[results.MetricRecord]:
    """``clockbench run``'s producer: the dashboard in headless Chromium (ctx: the run's Context)."""
    from harness.measure import Unavailable

    if not any(m.startswith("ui.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs the browser")
    try:
        check_available()
    except BrowserUnavailable as exc:
        raise Unavailable(str(exc)) from None
    ctx.build_flags["frontend"] = ("page clock build = stack build (baseline page on a baseline stack, clocked on "
                                   "clocked, both up together and clicked in turn) for responsiveness; the sync paths run "
                                   "the three page builds on a clocked stack")
    return produce(ctx.out / "frontend", ctx.quick, ctx.log, nginx=getattr(ctx, "nginx", True))
