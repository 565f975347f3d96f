"""TEST DOUBLE of Grafana's HTTP API (no Grafana server can be had on these machines: none in
Debian's archive, on PyPI or on npm). It implements only the documented contract the updaters use,
and checks requests against it the way Grafana does:

- ``POST /api/dashboards/db``: JSON body with a ``dashboard`` object that has a ``title`` (and
  ``uid``); answers ``{"id", "uid", "url", "status": "success", "version"}``; the version goes up
  on each overwrite; a missing title is 400 ``{"message": "Dashboard title cannot be empty"}``.
- ``POST /api/annotations``: JSON with ``time`` (epoch ms, int), ``text`` (required) and optional
  ``dashboardUID``, ``tags``; answers ``{"message": "Annotation added", "id": n}``.
- a configured token must come as ``Authorization: Bearer <token>``, else 401.

It records each request with the instant it arrived (``time.time_ns()``), which the measurement
uses as the publish instant. It is a stand-in, not Grafana: rendering and Grafana's own queries are
not reproduced (each panel's PromQL is run against the real Prometheus instead).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class GrafanaDouble:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        self.token = token
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.annotations: list[dict[str, Any]] = []  # each with "received_ns" and "id"
        self.requests: list[tuple[str, int]] = []  # (path, status)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> GrafanaDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, path: str, headers: dict[str, str], raw: bytes, received_ns: int) -> tuple[int, dict[str, Any]]:
        """The contract, as a pure-ish function (status, answer)."""
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Unauthorized"}
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return 400, {"message": "bad request data"}
        if not isinstance(body, dict):
            return 400, {"message": "bad request data"}
        with self._lock:
            if path == "/api/dashboards/db":
                dash = body.get("dashboard")
                if not isinstance(dash, dict) or not dash.get("title"):
                    return 400, {"message": "Dashboard title cannot be empty"}
                uid = dash.get("uid") or f"auto{len(self.dashboards) + 1}"
                old = self.dashboards.get(uid)
                if old is not None and not body.get("overwrite"):
                    return 412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
                version = (old["version"] + 1) if old else 1
                self.dashboards[uid] = {"dashboard": dash, "version": version, "received_ns": received_ns}
                ident = list(self.dashboards).index(uid) + 1
                return 200, {"id": ident, "uid": uid, "url": f"/d/{uid}/{dash['title'].lower().replace(' ', '-')}",
                             "status": "success", "version": version}
            if path == "/api/annotations":
                if not isinstance(body.get("text"), str) or not body["text"]:
                    return 400, {"message": "Failed to save annotation: text is required"}
                if "time" in body and not isinstance(body["time"], int):
                    return 400, {"message": "bad request data: time must be epoch milliseconds"}
                uid = body.get("dashboardUID")
                if uid is not None and uid not in self.dashboards:
                    return 404, {"message": "Dashboard not found"}
                ident = len(self.annotations) + 1
                self.annotations.append(dict(body, id=ident, received_ns=received_ns))
                return 200, {"message": "Annotation added", "id": ident}
        return 404, {"message": "Not found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                received = time.time_ns()
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, answer = double.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, raw, received)
                double.requests.append((self.path, status))
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (an updater stopped mid-request): nothing to answer

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
