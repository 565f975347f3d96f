"""Per-route gateway policies: which rate limit and which time budget a route gets.

A policy file (TOML or JSON, same shape) names routes as ``"METHOD /path/prefix"`` (``*`` for any
method); a request takes the policy of the longest matching prefix (at a path-segment boundary),
else ``default``::

    [default]
    budget = "1s"
    max_budget = "10s"

    [routes."POST /api/v1/orders"]
    rate = "20/1s burst 10"     # per client
    clients = "named"           # limit only requests naming their client (X-Client-Id); the default,
                                # "named-or-address", limits the rest by X-Real-IP / the peer address
    budget = "250ms"
    commit_reserve = "20ms"     # a write starts only with this much budget left

Bad entries raise ``PolicyError`` naming the route and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PolicyError
from .rates import Rate, parse_duration_ns
from .units import NS_PER_S


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    name: str
    rate: Rate | None = None
    budget_ns: int = NS_PER_S
    max_budget_ns: int = 10 * NS_PER_S
    commit_reserve_ns: int = 0
    clients: str = "named-or-address"  # who is limited: "named" (X-Client-Id only) or "named-or-address"

    def __post_init__(self) -> None:
        if self.clients not in CLIENTS:
            raise PolicyError(f"route {self.name!r}: clients must be one of {', '.join(CLIENTS)}, got {self.clients!r}")
        if self.budget_ns <= 0 or self.max_budget_ns < self.budget_ns:
            raise PolicyError(f"route {self.name!r}: need 0 < budget <= max_budget, got {self.budget_ns} / {self.max_budget_ns} ns")
        if not 0 <= self.commit_reserve_ns < self.max_budget_ns:
            raise PolicyError(f"route {self.name!r}: commit_reserve must be >= 0 and below max_budget")


_FIELDS = {"rate", "budget", "max_budget", "commit_reserve", "clients"}
CLIENTS = ("named", "named-or-address")


def _policy(name: str, raw: Any, base: RoutePolicy | None) -> RoutePolicy:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"route {name!r}: expected a table of {', '.join(sorted(_FIELDS))}")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise PolicyError(f"route {name!r}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_FIELDS))}")

    def dur(key: str, fallback: int) -> int:
        if key not in raw:
            return fallback
        try:
            return parse_duration_ns(str(raw[key]), f"route {name!r} {key}")
        except ValueError as exc:
            raise PolicyError(str(exc)) from None

    try:
        rate = Rate.parse(raw["rate"]) if raw.get("rate") else (base.rate if base and "rate" not in raw else None)
    except ValueError as exc:
        raise PolicyError(f"route {name!r}: {exc}") from None
    budget = dur("budget", base.budget_ns if base else NS_PER_S)
    return RoutePolicy(
        name=name,
        rate=rate,
        budget_ns=budget,
        max_budget_ns=dur("max_budget", max(budget, base.max_budget_ns if base else 10 * NS_PER_S)),
        commit_reserve_ns=dur("commit_reserve", base.commit_reserve_ns if base else 0),
        clients=str(raw.get("clients", base.clients if base else "named-or-address")),
    )


@dataclass(frozen=True)
class GatewayConfig:
    default: RoutePolicy = field(default_factory=lambda: RoutePolicy("default"))
    routes: tuple[tuple[str, str, RoutePolicy], ...] = ()  # (method or "*", path prefix, policy), longest first

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GatewayConfig:
        unknown = set(data) - {"default", "routes"}
        if unknown:
            raise PolicyError(f"unknown top-level key(s) {', '.join(sorted(unknown))}; expected default and routes")
        default = _policy("default", data.get("default", {}), None)
        routes = []
        for key, raw in (data.get("routes") or {}).items():
            parts = str(key).split()
            if len(parts) != 2 or not parts[1].startswith("/"):
                raise PolicyError(f"route {key!r}: expected 'METHOD /path', e.g. 'POST /api/v1/orders'")
            method, prefix = parts[0].upper(), parts[1].rstrip("/") or "/"
            routes.append((method, prefix, _policy(str(key), raw, default)))
        routes.sort(key=lambda r: (-len(r[1]), r[0] == "*"))
        return cls(default, tuple(routes))

    def match(self, method: str, path: str) -> RoutePolicy:
        for m, prefix, policy in self.routes:
            if (m == "*" or m == method) and (path == prefix or path.startswith(prefix + "/") or prefix == "/"):
                return policy
        return self.default

    def policies(self) -> list[RoutePolicy]:
        return [self.default] + [p for _, _, p in self.routes]


# The service's default policy. Only clients that name themselves (X-Client-Id, as the gateway Locust
# profile's users do) are rate limited: behind the stack's nginx every other client is one address, and
# the other profiles must not be throttled as one client. The default budget is generous (10 s), so only
# requests that bring their own X-Request-Budget-Ms are held to a tight one; a write starts only with
# 2 ms of budget left.
DEFAULT_POLICY: dict[str, Any] = {
    "default": {"budget": "10s", "max_budget": "30s", "clients": "named"},
    "routes": {
        # bursts equal to the limit: the baseline's sliding log has no separate burst
        "POST /api/v1/orders": {"rate": "4/1s", "commit_reserve": "2ms"},
        "DELETE /api/v1/orders": {"commit_reserve": "2ms"},
        "GET /api/v1/clock": {"rate": "4/1s"},
    },
}  # fmt: skip


def parse_policy_text(text: str, name: str) -> GatewayConfig:
    """A policy file's text (TOML, or JSON when ``name`` ends in .json) -> GatewayConfig; PolicyError names the file."""
    import json
    import tomllib

    try:
        data = json.loads(text) if name.endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{name}: not valid {'JSON' if name.endswith('.json') else 'TOML'}: {exc}") from None
    try:
        return GatewayConfig.from_mapping(data)
    except PolicyError as exc:
        raise PolicyError(f"{name}: {exc}") from None
