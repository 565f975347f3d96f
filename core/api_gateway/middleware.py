"""The gateway as pure ASGI middleware, shared by both builds; each build supplies its time source,
its limiters and its timeout manager (``targets``/``baselines`` ``api_gateway.middleware``).

Per request: stamp the arrival; pick the route's policy; read the budget header (400 if unusable);
ask the route's limiter (429 with the rate-limit headers and ``Retry-After``; 503 if the shared
limiter is down, never let through unmetered); run the app under the request's budget
(``current_budget`` is set for the code below; 504 at the deadline). Every answer carries
``Server-Timing`` (stages ``limit``, ``app``, ``total`` and the ``budget``, in ms) and
``X-Request-Received-Ns``; every request is reported to ``sink`` as a ``GatewayRecord`` (metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BudgetHeaderError, DeadlineExceeded, LimiterUnavailable
from .http import (
    BAD_BUDGET_STATUS,
    BUDGET_HEADER,
    DEADLINE_STATUS,
    LIMITED_STATUS,
    LIMITER_DOWN_STATUS,
    error_body,
    parse_budget,
    ratelimit_headers,
    server_timing,
)
from .policy import GatewayConfig
from .protocols import RateLimiter, TimeoutManager, current_budget
from .units import NS_PER_MS

_BUDGET_KEY = BUDGET_HEADER.lower().encode()


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each of its ten fields through object.__setattr__
class GatewayRecord:
    """One request as the gateway saw it (ns). ``outcome``: ok, limited, timeout, bad_budget, limiter_down, error.
    Made once per request and handed to the sink, which only reads it."""

    method: str
    route: str
    status: int
    outcome: str
    received_ns: int
    limit_ns: int
    app_ns: int
    total_ns: int
    budget_ns: int
    late: bool  # answered after its deadline (a write that had started is always answered)


def client_key(scope: Mapping[str, Any], headers: Mapping[bytes, bytes], clients: str = "named-or-address") -> str | None:
    """Whom a limit applies to: ``X-Client-Id``; else (unless the policy limits named clients only, then
    None: not limited) the address nginx forwarded, else the peer."""
    named = headers.get(b"x-client-id")
    if named:
        return "id:" + named.decode("latin-1")
    if clients == "named":
        return None
    real = headers.get(b"x-real-ip")
    if real:
        return real.decode("latin-1")
    fwd = headers.get(b"x-forwarded-for")
    if fwd:
        return fwd.decode("latin-1").split(",")[0].strip()
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class GatewayCore:
    def __init__(
        self,
        app: Any,
        *,
        config: GatewayConfig,
        limiters: Mapping[str, RateLimiter],
        timeouts: TimeoutManager,
        sink: Callable[[GatewayRecord], None] | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.limiters = dict(limiters)
        self.timeouts = timeouts
        self.sink = sink

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = self.timeouts.now_ns
        t0 = now()
        method = scope["method"]
        policy = self.config.match(method, scope["path"])
        headers = dict(scope.get("headers") or ())
        rec = {"method": method, "route": policy.name, "received_ns": t0, "limit_ns": 0, "app_ns": 0,
               "budget_ns": policy.budget_ns, "late": False}  # fmt: skip
        try:
            raw = headers.get(_BUDGET_KEY)
            budget_ns = parse_budget(None if raw is None else raw.decode("latin-1"), policy.budget_ns, policy.max_budget_ns)
        except BudgetHeaderError as exc:
            await self._answer(send, BAD_BUDGET_STATUS, error_body("invalid request", exc.header, exc.reason), [], t0, rec,
                               "bad_budget")  # fmt: skip
            return
        rec["budget_ns"] = budget_ns
        budget = self.timeouts.open(budget_ns, t0, policy.commit_reserve_ns)
        extra: list[tuple[bytes, bytes]] = []
        limiter = self.limiters.get(policy.name)
        who = client_key(scope, headers, policy.clients) if limiter is not None else None
        if who is not None:
            try:
                d = await budget.call(limiter.check(f"{policy.name}|{who}"))
            except DeadlineExceeded as exc:
                await self._timeout(send, exc, [], t0, rec)
                return
            except LimiterUnavailable as exc:
                await self._answer(send, LIMITER_DOWN_STATUS, error_body("rate limiter unavailable", "rate", str(exc)),
                                   [], t0, rec, "limiter_down")  # fmt: skip
                return
            extra = ratelimit_headers(d)
            rec["limit_ns"] = now() - t0
            if not d.allowed:
                reason = (f"over the limit of {policy.rate.describe() if policy.rate else '?'} for this client; "
                          f"retry after {d.retry_after_ns} ns")  # fmt: skip
                await self._answer(send, LIMITED_STATUS, error_body("rate limited", "rate", reason), extra, t0, rec,
                                   "limited")  # fmt: skip
                return
        t1 = now()
        state = {"status": 500, "started": False}

        async def send_timed(message: dict) -> None:
            if message["type"] == "http.response.start":
                t2 = now()
                state["status"] = message["status"]
                state["started"] = True
                rec["app_ns"] = t2 - t1
                rec["total_ns"] = t2 - t0
                hs = list(message.get("headers") or ()) + extra + self._timing(rec)
                message = {**message, "headers": hs}
            await send(message)

        token = current_budget.set(budget)
        try:
            async with budget.scope():
                await self.app(scope, receive, send_timed)
        except DeadlineExceeded as exc:
            if state["started"]:
                raise  # the answer was already on its way: nothing else can be said
            await self._timeout(send, exc, extra, t0, rec)
            return
        except Exception:
            if self.sink is not None:  # counted, then left to the app's last-resort handler (a 500)
                rec.setdefault("total_ns", now() - t0)
                self.sink(GatewayRecord(outcome="error", status=500, **{**rec, "late": rec["total_ns"] > budget_ns}))
            raise
        finally:
            current_budget.reset(token)
        if self.sink is not None:
            rec.setdefault("total_ns", now() - t0)
            rec["late"] = budget.late_commit or rec["total_ns"] > budget_ns
            self.sink(GatewayRecord(outcome="ok", status=int(state["status"]), **rec))

    def _timing(self, rec: dict) -> list[tuple[bytes, bytes]]:
        stages = [("limit", rec["limit_ns"]), ("app", rec["app_ns"]), ("total", rec["total_ns"]), ("budget", rec["budget_ns"])]
        return [(b"server-timing", server_timing(stages)), (b"x-request-received-ns", str(rec["received_ns"]).encode())]

    async def _timeout(self, send: Any, exc: DeadlineExceeded, extra: list, t0: int, rec: dict) -> None:
        reason = (f"the budget of {exc.budget_ns / NS_PER_MS:g} ms ran out ({exc.stage}); the request was not carried "
                  "out, it is safe to retry")  # fmt: skip
        await self._answer(send, DEADLINE_STATUS, error_body("deadline exceeded", BUDGET_HEADER, reason), extra, t0, rec,
                           "timeout")  # fmt: skip

    async def _answer(self, send: Any, status: int, body: bytes, extra: list, t0: int, rec: dict, outcome: str) -> None:
        total = self.timeouts.now_ns() - t0
        rec["total_ns"] = total
        if outcome == "timeout":
            rec["app_ns"] = total - rec["limit_ns"]
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers + extra + self._timing(rec)})
        await send({"type": "http.response.body", "body": body})
        if self.sink is not None:
            self.sink(GatewayRecord(outcome=outcome, status=status, **{**rec, "late": total > rec["budget_ns"]}))
