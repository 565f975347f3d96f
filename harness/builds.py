"""The switchboard: every build choice in clockbench is made here, and only here.

One table (``ROWS``) names, for each component of the service, its family, its clocked factory
(``targets/<family>``, takes ``clock=``) and its baseline factory (``baselines/<family>``, reads
system time), as lazy ``"module:attr"`` strings so importing this table imports no component.
``make(component, build, clock=..., **kwargs)`` builds one; ``order_stack`` wires the order flow
from the table's parts. The service, the measurement producers, ``db-skew`` and the test kits
build through it; nothing else compares a build name.

The build map (pure logic, no I/O) lives here too: ``--build`` sets every component,
``--component NAME=BUILD`` (repeatable) overrides one, as the plan's per-component feature flags.
Bad input raises ``BuildMapError`` naming the problem, so the CLI and the service print one line.

Adding a component: a Protocol in ``core/<family>/protocols.py``, a clocked class in
``targets/<family>`` and a baseline class of the same name in ``baselines/<family>`` (each family's
``__init__`` exports it), one ``Row`` below, and a conformance suite parametrised over ``BUILDS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.order_management.stack import OrderStack
    from targets.clock import Clock

BUILDS: tuple[str, ...] = ("clocked", "baseline")


@dataclass(frozen=True)
class Row:
    """One component: where each build's factory is (``"module:attr"``) and what it is."""

    component: str
    family: str
    clocked: str
    baseline: str
    doc: str
    flag: str = ""  # the build-map component whose build this part follows ("" = its own name)

    @property
    def follows(self) -> str:
        return self.flag or self.component


# fmt: off
ROWS: tuple[Row, ...] = (
    Row("oms", "order_management", "targets.order_management:OMS", "baselines.order_management:OMS",
        "order management: receive stamp, sequencing, expiry"),
    Row("ems", "order_management", "targets.order_management:EMS", "baselines.order_management:EMS",
        "execution algorithms: TWAP/VWAP/POV slice scheduling"),
    Row("pms", "order_management", "targets.order_management:PMS", "baselines.order_management:PMS",
        "positions, P&L and cash from fills"),
    Row("settlement", "order_management", "targets.order_management:SettlementController",
        "baselines.order_management:SettlementController", "T+N settlement (built with the pms)", flag="pms"),
    Row("order_timing", "order_management", "targets.order_management:OrderTimingController",
        "baselines.order_management:OrderTimingController", "per-stage order latency (the plan's order_clock_controller)"),
    Row("postgres", "database", "targets.database:PostgresAdapter", "baselines.database:PostgresAdapter",
        "asyncpg adapter (the plan's postgres_clock_adapter)"),
    Row("redis", "database", "targets.database:RedisManager", "baselines.database:RedisManager",
        "Redis cache manager (the plan's redis_clock_manager)"),
    Row("coordinator", "database", "targets.database:DatabaseCoordinator", "baselines.database:DatabaseCoordinator",
        "write-through / cache-aside coordinator (the plan's database_clock_coordinator)"),
    Row("connection_tracker", "load_balancing", "targets.load_balancing:IdleConnectionTracker",
        "baselines.load_balancing:IdleConnectionTracker", "idle keep-alive / WebSocket closer (the plan's nginx_clock_controller)"),
    Row("websocket", "websocket", "targets.websocket:WebSocketManager", "baselines.websocket:WebSocketManager",
        "WebSocket heartbeat manager (the plan's WebSocketClockManager)"),
    Row("containers", "docker", "targets.docker:ContainerHealthChecker", "baselines.docker:ContainerHealthChecker",
        "container health checks (the plan's docker/health_check_clock)"),
    Row("container_lifecycle", "docker", "targets.docker:ContainerLifecycle", "baselines.docker:ContainerLifecycle",
        "container start/stop/restart (the plan's container_lifecycle_clock; follows containers)", flag="containers"),
    Row("gateway", "api_gateway", "targets.api_gateway:GatewayMiddleware", "baselines.api_gateway:GatewayMiddleware",
        "rate limits, request budgets and timing in front of every route (the plan's api_clock_middleware)"),
    Row("rate_limiter", "api_gateway", "targets.api_gateway:RedisRateLimiter", "baselines.api_gateway:RedisRateLimiter",
        "the rate limit shared by the workers through Redis (the plan's rate_limiter_clock)", flag="gateway"),
    Row("local_rate_limiter", "api_gateway", "targets.api_gateway:LocalRateLimiter",
        "baselines.api_gateway:LocalRateLimiter", "the rate limit of one process", flag="gateway"),
    Row("request_timeouts", "api_gateway", "targets.api_gateway:TimeoutManager", "baselines.api_gateway:TimeoutManager",
        "request budgets handed down to every call (the plan's clock_timeout_manager)", flag="gateway"),
    Row("monitoring", "monitoring", "targets.monitoring:PrometheusCollector", "baselines.monitoring:PrometheusCollector",
        "Prometheus collector behind /metrics (the plan's prometheus_clock_collector)"),
    Row("monitoring_sync", "monitoring", "targets.monitoring:MonitoringSync", "baselines.monitoring:MonitoringSync",
        "collection, scrape and dashboard refresh on one schedule (the plan's monitoring_clock_sync)",
        flag="monitoring"),
    Row("grafana_updater", "monitoring", "targets.monitoring:GrafanaUpdater", "baselines.monitoring:GrafanaUpdater",
        "Grafana dashboard updates (the plan's grafana_clock_updater)", flag="monitoring"),
    Row("ws_connections", "websocket", "targets.websocket:ConnectionController", "baselines.websocket:ConnectionController",
        "WebSocket peer/idle deadlines (the plan's connection_clock_controller)", flag="websocket"),
)
# fmt: on

TABLE: dict[str, Row] = {r.component: r for r in ROWS}

# The service's build flags (``--component NAME=BUILD``): one per row, except parts that follow another's.
COMPONENTS: tuple[str, ...] = tuple(dict.fromkeys(r.follows for r in ROWS))

class BuildMapError(ValueError):
    """A build flag the service cannot honour; the message names the flag and the reason."""


def _check_build(value: str, where: str) -> str:
    if value not in BUILDS:
        raise BuildMapError(f"{where}: unknown build {value!r}; choose one of {', '.join(BUILDS)}")
    return value


def parse_component(spec: str) -> tuple[str, str]:
    """``"oms=baseline"`` -> ``("oms", "baseline")``, with a clear error for anything else."""
    if not isinstance(spec, str) or spec.count("=") != 1:
        raise BuildMapError(f"--component {spec!r}: expected NAME=BUILD, e.g. oms=baseline")
    name, build = (part.strip() for part in spec.split("="))
    if name not in COMPONENTS:
        raise BuildMapError(
            f"--component {spec!r}: unknown component {name!r}; known components: {', '.join(COMPONENTS)}"
        )
    return name, _check_build(build, f"--component {spec!r}")


def build_map(build: str = "clocked", components: Iterable[str] = ()) -> dict[str, str]:
    """The effective map: every component on ``build``, then each ``NAME=BUILD`` override applied.

    Naming one component twice with different builds is an error, not "last one wins".
    """
    _check_build(build, "--build")
    result = {name: build for name in COMPONENTS}
    seen: dict[str, str] = {}
    for spec in components:
        name, value = parse_component(spec)
        if name in seen and seen[name] != value:
            raise BuildMapError(f"--component {name} given twice, as {seen[name]} and as {value}")
        seen[name] = value
        result[name] = value
    check_constraints(result)
    return result


def check_constraints(mapping: Mapping[str, str]) -> None:
    """Combinations the components cannot run: the clocked coordinator hands the clock's time to the
    store and the cache, so both must be the clocked ones."""
    if mapping.get("coordinator") == "clocked":
        odd = [c for c in ("postgres", "redis") if mapping.get(c) != "clocked"]
        if odd:
            raise BuildMapError(
                "coordinator=clocked passes the clock's time to PostgreSQL and Redis, so it needs "
                f"postgres=clocked and redis=clocked (got {', '.join(f'{c}={mapping[c]}' for c in odd)}); "
                "use --component coordinator=baseline with them"
            )


def validate_map(mapping: Mapping[str, str]) -> dict[str, str]:
    """Check a complete map (e.g. read back from JSON): every component present, every build known."""
    if not isinstance(mapping, Mapping):
        raise BuildMapError(f"a build map must be a mapping of component to build, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - set(COMPONENTS))
    if unknown:
        raise BuildMapError(f"unknown component(s) {', '.join(unknown)}; known: {', '.join(COMPONENTS)}")
    missing = [c for c in COMPONENTS if c not in mapping]
    if missing:
        raise BuildMapError(f"build map lacks component(s) {', '.join(missing)}")
    result = {c: _check_build(mapping[c], f"component {c}") for c in COMPONENTS}
    check_constraints(result)
    return result


def label(mapping: Mapping[str, str]) -> str:
    """One short string for the map: ``clocked``/``baseline`` when uniform, else ``mixed:oms=baseline,...``."""
    values = set(mapping.values())
    if len(values) == 1:
        return next(iter(values))
    majority = max(BUILDS, key=lambda b: sum(1 for v in mapping.values() if v == b))
    odd = ",".join(f"{c}={mapping[c]}" for c in COMPONENTS if mapping.get(c) != majority)
    return f"{majority}+{odd}"


def to_args(mapping: Mapping[str, str]) -> list[str]:
    """Command-line flags that rebuild ``mapping`` (for spawning workers)."""
    mapping = validate_map(mapping)
    values = set(mapping.values())
    if len(values) == 1:
        return ["--build", next(iter(values))]
    base = max(BUILDS, key=lambda b: sum(1 for v in mapping.values() if v == b))
    args = ["--build", base]
    for c in COMPONENTS:
        if mapping[c] != base:
            args += ["--component", f"{c}={mapping[c]}"]
    return args


# --- building components ---------------------------------------------------------------------------


def _row(component: str) -> Row:
    try:
        return TABLE[component]
    except KeyError:
        raise BuildMapError(f"unknown component {component!r}; known: {', '.join(TABLE)}") from None


def factory(component: str, build: str) -> Callable[..., Any]:
    """The class (or function) that builds ``component`` in ``build``, imported on first use."""
    row = _row(component)
    module, _, attr = getattr(row, _check_build(build, component)).partition(":")
    return getattr(importlib.import_module(module), attr)


def make(component: str, build: str, *, clock: Clock | None = None, **kwargs: Any) -> Any:
    """Build one component. The clocked build needs ``clock=``; the baseline has none to take."""
    cls = factory(component, build)
    if build == "clocked":
        if clock is None:
            raise TypeError(f"{component}: the clocked build needs clock=")
        return cls(clock=clock, **kwargs)
    if clock is not None:
        raise TypeError(f"{component}: the baseline build reads system time and takes no clock")
    return cls(**kwargs)


def needs_clock(build: str) -> bool:
    """Whether a component of ``build`` takes a clock (the clocked build) or reads system time."""
    return _check_build(build, "build") == "clocked"


def clock_for(build: str, clock: Clock) -> Clock | None:
    """What a component of ``build`` is given as its clock: ``clock`` if clocked, None for the baseline."""
    return clock if _check_build(build, "build") == "clocked" else None


def make_for(mapping: Mapping[str, str], component: str, clock: Clock, **kwargs: Any) -> Any:
    """Build ``component`` in the build the map gives it (a part follows its flag's build)."""
    build = mapping[_row(component).follows]
    return make(component, build, clock=clock_for(build, clock), **kwargs)


ORDER_PARTS = ("order_timing", "settlement", "pms", "oms", "ems")


def order_stack(builds: str | Mapping[str, str], clock: Clock | None = None, **kwargs: Any) -> OrderStack:
    """The order flow (venue, OMS, EMS, PMS, settlement, order timing) of one build or build map,
    wired by ``core.order_management.stack.build_order_stack``. ``kwargs`` go to that builder."""
    from core.order_management.stack import build_order_stack

    mapping = {c: builds for c in COMPONENTS} if isinstance(builds, str) else dict(builds)
    parts: dict[str, Callable[..., Any]] = {}
    for name in ORDER_PARTS:
        build = mapping[_row(name).follows]
        if build == "clocked" and clock is None:
            raise TypeError(f"{name}: the clocked build needs clock=")
        parts[name] = partial(make, name, build, clock=clock_for(build, clock) if clock is not None else None)
    return build_order_stack(parts, clock=clock, **kwargs)
