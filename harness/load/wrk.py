"""The load generator's ceiling: ``wrk`` (C, epoll, no interpreter) against one route of a running stack.

wrk's figures are what the stack serves when the client costs next to nothing; Locust's on the same
route with as many connections say how much of that a Python load generator reaches. wrk is closed
loop (each connection sends its next request when the answer arrives), like Locust's closed mode.

Each run writes a Lua script into the run directory: for ``POST /api/v1/orders`` a ``request()``
that makes every body's ``client_order_id`` unique (run id, wrk thread, counter), and for every
route a ``done()`` that prints wrk's own summary as one JSON line (``CBWRK {...}``) with latencies
as integer microseconds straight from wrk's histogram. The parser reads that line when present
and the human-readable text otherwise (and always, as a cross-check); figures come out as integer
nanoseconds and requests per second.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from core.units import NS_PER_HOUR, NS_PER_MIN, NS_PER_MS, NS_PER_S, NS_PER_US

ROUTES = {
    "server-time": ("GET", "/api/v1/clock/server-time"),
    "orders": ("POST", "/api/v1/orders"),
}
JSON_TAG = "CBWRK "
PERCENTILES = {"p50": 50.0, "p75": 75.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
_UNIT_NS = {"us": NS_PER_US, "ms": NS_PER_MS, "s": NS_PER_S, "m": NS_PER_MIN, "h": NS_PER_HOUR}
_NUM_UNIT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-z]+)$")


class WrkError(RuntimeError):
    """wrk missing, failed, or printed something that is not its report; the message says which."""


# --- the Lua script ------------------------------------------------------------------------------

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({50, 75, 90, 99, 99.9}) do
    pct[#pct + 1] = string.format('"%s": %d', tostring(p), latency:percentile(p))
  end
  io.write(string.format(
    'CBWRK {"requests": %d, "bytes": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "latency_us": {"min": %d, "max": %d, "mean": %.3f, ' ..
    '"stdev": %.3f, "percentiles": {%s}}}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(pct, ", ")))
end
"""

_POST_ORDERS = """
local run_id = "%(run_id)s"
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
request = function()
  counter = counter + 1
  local side = (counter %% 2 == 0) and "SELL" or "BUY"
  local body = string.format(
    '{"client_order_id": "%%s-t%%d-%%d", "instrument": "AAPL", "side": "%%s", "order_type": "LIMIT", ' ..
    '"quantity": %%d, "limit_price": "%%d.%%02d", "time_in_force": "GTC"}',
    run_id, tid or 0, counter, side, 10 * (1 + counter %% 20), 95 + counter %% 10, counter %% 100)
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end
"""


def lua_script(route: str, run_id: str) -> str:
    """The script for a route: unique order bodies for ``orders``; the JSON summary for every route."""
    if route not in ROUTES:
        raise WrkError(f"unknown route {route!r}; choose one of {', '.join(ROUTES)}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", run_id):
        raise WrkError(f"run id {run_id!r}: letters, digits, '_', '.', '-' only (it goes into order ids)")
    method, path = ROUTES[route]
    head = _POST_ORDERS % {"run_id": run_id, "path": path} if method == "POST" else ""
    return head + _DONE


# --- parsing --------------------------------------------------------------------------------------


def duration_ns(text: str) -> int:
    """wrk's latency text (``950.00us``, ``1.40ms``, ``2.01s``, ``1.00m``) as integer nanoseconds."""
    m = _NUM_UNIT.match(text.strip())
    if not m or m.group(2) not in _UNIT_NS:
        raise WrkError(f"not a wrk duration: {text!r}")
    # Decimal-free exact scaling: wrk prints two decimals, so scale the digits as an integer
    whole, _, frac = m.group(1).partition(".")
    scale = _UNIT_NS[m.group(2)]
    return int(whole) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)


def _count(text: str) -> int:
    """wrk's counts (``7508``, ``3.77k``, ``1.2M``) as an int (approximate when abbreviated)."""
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kMG]?)", text.strip())
    if not m:
        raise WrkError(f"not a wrk count: {text!r}")
    return int(round(float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]))


def parse_text(out: str) -> dict:
    """The human-readable report: requests, duration, throughput, latency distribution, errors."""
    res: dict = {"latency_ns": {}, "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}}
    m = re.search(r"^\s*(\d+) requests in ([0-9.]+[a-z]+), ([0-9.]+[A-Z]?B) read", out, re.M)
    if not m:
        raise WrkError("wrk's output has no 'N requests in T' line (did it run?):\n" + out[-600:])
    res["requests"] = int(m.group(1))
    res["duration_ns"] = duration_ns(m.group(2))
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if not m:
        raise WrkError("wrk's output has no 'Requests/sec' line")
    res["requests_per_s_reported"] = float(m.group(1))
    m = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+", out, re.M)
    if m:
        res["latency_ns"].update(mean=duration_ns(m.group(1)), stdev=duration_ns(m.group(2)), max=duration_ns(m.group(3)))
    for key, pct in PERCENTILES.items():
        label = f"{pct:g}%"
        m = re.search(rf"^\s*{re.escape(label)}\s+(\S+)\s*$", out, re.M)
        if m:
            res["latency_ns"][key] = duration_ns(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"].update(connect=int(m.group(1)), read=int(m.group(2)), write=int(m.group(3)), timeout=int(m.group(4)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["errors"]["status"] = int(m.group(1))
    m = re.search(r"(\d+) threads and (\d+) connections", out)
    if m:
        res["threads"], res["connections"] = int(m.group(1)), int(m.group(2))
    return res


def parse_json_line(out: str) -> dict | None:
    """The ``CBWRK {...}`` line the Lua ``done()`` printed, as integer-ns figures (None if absent)."""
    for line in out.splitlines():
        if line.startswith(JSON_TAG):
            try:
                raw = json.loads(line[len(JSON_TAG):])
            except ValueError as exc:
                raise WrkError(f"wrk's summary line is not JSON ({exc}): {line[:200]!r}") from None
            lat = raw["latency_us"]
            pct = {k: int(v) for k, v in lat["percentiles"].items()}
            by_key = {key: pct[f"{p:g}"] * 1_000 for key, p in PERCENTILES.items() if f"{p:g}" in pct}
            return {
                "requests": int(raw["requests"]), "bytes": int(raw["bytes"]),
                "duration_ns": int(raw["duration_us"]) * 1_000,
                "errors": {k: int(v) for k, v in raw["errors"].items()},
                "latency_ns": {"min": int(lat["min"]) * 1_000, "max": int(lat["max"]) * 1_000,
                               "mean": int(round(float(lat["mean"]) * 1_000)),
                               "stdev": int(round(float(lat["stdev"]) * 1_000)), **by_key},
            }
    return None


def parse(out: str) -> dict:
    """wrk's report as figures: the JSON line's exact values when present, else the text's (2 decimals).

    ``throughput_rps`` counts answered requests without a socket or status error per second."""
    text = parse_text(out)
    exact = parse_json_line(out)
    res = {**text, **exact, "source": "lua-summary"} if exact else {**text, "source": "text"}
    errs = res["errors"]
    failed = errs.get("status", 0) + errs.get("read", 0) + errs.get("write", 0) + errs.get("timeout", 0)
    res["failed"] = failed
    res["error_rate"] = failed / res["requests"] if res["requests"] else 0.0
    secs = res["duration_ns"] / 1e9
    res["throughput_rps"] = (res["requests"] - min(failed, res["requests"])) / secs if secs else 0.0
    return res


# --- running --------------------------------------------------------------------------------------


def find_wrk() -> str:
    exe = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if exe is None:
        raise WrkError("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    return exe


def command(exe: str, url: str, route: str, script: Path, *, duration_s: int, connections: int, threads: int,
            timeout_s: int = 10) -> list[str]:
    if duration_s < 1:
        raise WrkError(f"wrk's duration is whole seconds, at least 1 (got {duration_s})")
    if connections < threads or threads < 1:
        raise WrkError(f"wrk needs 1 <= threads ({threads}) <= connections ({connections})")
    return [exe, f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", f"--timeout={timeout_s}s", "--latency",
            "-s", str(script), url.rstrip("/") + ROUTES[route][1]]


def run(url: str, route: str, out: Path, *, duration_s: int = 10, connections: int = 10, threads: int = 1,
        run_id: str = "wrk") -> dict:
    """Run wrk against ``url``'s route for ``duration_s``; write its script, raw output and JSON into ``out``."""
    if not url.startswith("http://127.0.0.1") and not url.startswith("http://localhost"):
        raise WrkError(f"wrk runs only against a loopback stack (http://127.0.0.1:...), not {url!r}")
    exe = find_wrk()
    out.mkdir(parents=True, exist_ok=True)
    script = out / f"wrk-{route}.lua"
    script.write_text(lua_script(route, run_id))
    cmd = command(exe, url, route, script, duration_s=duration_s, connections=connections, threads=threads)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        text, _ = proc.communicate(timeout=duration_s + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise WrkError(f"wrk did not finish within {duration_s + 30}s") from None
    finally:
        if proc.poll() is None:  # interrupted: never leave wrk running
            proc.kill()
            proc.wait()
    (out / f"wrk-{route}.txt").write_text(text)
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with code {proc.returncode}:\n{text[-600:]}")
    res = parse(text)
    res.update(route=route, method=ROUTES[route][0], path=ROUTES[route][1], url=url, command=cmd,
               threads=threads, connections=connections, duration_s=duration_s)
    (out / f"wrk-{route}.json").write_text(json.dumps(res, indent=1))
    return res
