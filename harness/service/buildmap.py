"""The per-component build map: which build (clocked or baseline) each component of the service runs.

Pure logic, no I/O: ``--build`` sets every component, ``--component NAME=BUILD`` (repeatable)
overrides one, as the plan's per-component feature flags. Bad input raises ``BuildMapError``
naming the problem, so the CLI and the service can print it as one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BUILDS: tuple[str, ...] = ("clocked", "baseline")

# The service's components, each with a clocked class in targets/ and a baseline in baselines/.
COMPONENTS: tuple[str, ...] = (
    "oms",  # order management: receive stamp, sequencing, expiry (targets/order_management)
    "ems",  # execution algorithms: TWAP/VWAP/POV slice scheduling
    "pms",  # positions and the settlement controller
    "order_timing",  # per-stage order latency (order_clock_controller)
    "postgres",  # asyncpg adapter (targets/database)
    "redis",  # Redis cache manager (targets/database)
    "coordinator",  # write-through / cache-aside coordinator (targets/database)
    "connection_tracker",  # idle keep-alive / WebSocket closer (targets/load_balancing)
    "websocket",  # WebSocket heartbeat manager (targets/websocket)
    "monitoring",  # Prometheus collector + monitoring sync behind /metrics (targets/monitoring)
)


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
