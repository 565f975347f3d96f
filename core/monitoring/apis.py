"""Thin async clients of the two HTTP APIs monitoring talks to: Prometheus (queries, targets) and
Grafana (dashboards, annotations). Build-neutral I/O, no time reading: callers pass every instant.

Prometheus: ``GET /api/v1/query``, ``/api/v1/query_range``, ``/api/v1/targets`` (documented at
prometheus.io/docs/prometheus/latest/querying/api/). Grafana: ``POST /api/dashboards/db`` and
``POST /api/annotations`` (grafana.com/docs/grafana/latest/developers/http_api/).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx

NS_PER_S = 1_000_000_000


class MonitoringAPIError(RuntimeError):
    """A Prometheus or Grafana call that failed; the message names the call and the answer."""


def _seconds(ns: int) -> str:
    """An instant as the API's decimal seconds, exact to the nanosecond."""
    return f"{ns // NS_PER_S}.{ns % NS_PER_S:09d}"


def rfc3339_to_ns(text: str) -> int:
    """Prometheus's RFC 3339 times (up to nanosecond fractions) to int ns, without float rounding."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if m is None:
        raise MonitoringAPIError(f"not an RFC 3339 time: {text!r}")
    head, frac, tz = m.groups()
    whole = int(datetime.fromisoformat(head + ("+00:00" if tz == "Z" else tz)).timestamp())
    return whole * NS_PER_S + int(((frac or "") + "000000000")[:9])


class PrometheusAPI:
    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._own = client is None

    async def close(self) -> None:
        if self._own:
            await self._client.aclose()

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        try:
            r = await self._client.get(self.base_url + path, params=params)
        except httpx.HTTPError as exc:
            raise MonitoringAPIError(f"Prometheus {path}: {type(exc).__name__}: {exc}") from None
        try:
            body = r.json()
        except ValueError:
            raise MonitoringAPIError(f"Prometheus {path}: HTTP {r.status_code}, not JSON: {r.text[:200]}") from None
        if r.status_code != 200 or body.get("status") != "success":
            raise MonitoringAPIError(f"Prometheus {path} {params}: HTTP {r.status_code}: {body.get('error', body)}")
        return body["data"]

    async def query(self, expr: str, at_ns: int | None = None) -> dict[str, Any]:
        """An instant query; ``data`` as Prometheus returns it (resultType + result)."""
        params = {"query": expr}
        if at_ns is not None:
            params["time"] = _seconds(at_ns)
        return await self._get("/api/v1/query", params)

    async def query_range(self, expr: str, start_ns: int, end_ns: int, step_ns: int) -> list[dict[str, Any]]:
        data = await self._get("/api/v1/query_range", {"query": expr, "start": _seconds(start_ns),
                                                        "end": _seconds(end_ns), "step": _seconds(step_ns)})
        return data["result"]

    async def raw_samples(self, selector: str, start_ns: int, end_ns: int) -> list[dict[str, Any]]:
        """Every stored sample of ``selector`` in (start, end], with its stored timestamp: a range
        vector selector evaluated at ``end`` returns the raw samples (``values``: [[ts_s, "v"], ...])."""
        span_ms = max(1, (end_ns - start_ns) // 1_000_000)
        data = await self.query(f"{selector}[{span_ms}ms]", end_ns)
        if data.get("resultType") != "matrix":
            raise MonitoringAPIError(f"Prometheus: {selector}[...] gave {data.get('resultType')}, expected a matrix")
        return data["result"]

    async def targets(self) -> list[dict[str, Any]]:
        data = await self._get("/api/v1/targets", {"state": "active"})
        return data["activeTargets"]


class GrafanaAPI:
    """Grafana's HTTP API for dashboards and annotations (a service-account token, if any, as Bearer)."""

    def __init__(self, base_url: str, token: str | None = None, client: httpx.AsyncClient | None = None,
                 timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.AsyncClient(timeout=timeout_s, headers=headers)
        self._own = client is None

    async def close(self) -> None:
        if self._own:
            await self._client.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = await self._client.post(self.base_url + path, json=body)
        except httpx.HTTPError as exc:
            raise MonitoringAPIError(f"Grafana {path}: {type(exc).__name__}: {exc}") from None
        try:
            answer = r.json()
        except ValueError:
            answer = {"message": r.text[:200]}
        if r.status_code != 200:
            raise MonitoringAPIError(f"Grafana {path}: HTTP {r.status_code}: {answer.get('message', answer)}")
        return answer

    async def save_dashboard(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/dashboards/db``; Grafana answers id, uid, url, status, version."""
        return await self._post("/api/dashboards/db", payload)

    async def annotate(self, payload: dict[str, Any]) -> int:
        """``POST /api/annotations``; Grafana answers ``{"message": "Annotation added", "id": n}``."""
        answer = await self._post("/api/annotations", payload)
        if "id" not in answer:
            raise MonitoringAPIError(f"Grafana /api/annotations: no id in the answer {answer}")
        return int(answer["id"])
