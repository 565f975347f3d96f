"""The API gateway in front of the service's routes, built per the build map (``--component gateway=``).

Its policy (rate limit, budget and commit reserve per route) is the file named by
``CLOCKBENCH_GATEWAY_POLICY`` (TOML or JSON, see ``core/api_gateway/policy.py``), else
``DEFAULT_POLICY``. Rate limits are shared by every worker through the stack's Redis (keys under
the stack's prefix + ``gateway:``). Installed as the app's outermost user middleware, inside
Starlette's last-resort error handler, so a deadline raised anywhere below is answered 504.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.api_gateway.policy import DEFAULT_POLICY, GatewayConfig, parse_policy_text
from harness import builds

POLICY_ENV = "CLOCKBENCH_GATEWAY_POLICY"


def load_policy(path: str | None) -> GatewayConfig:
    if not path:
        return GatewayConfig.from_mapping(DEFAULT_POLICY)
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{POLICY_ENV}={path}: no such file")
    return parse_policy_text(p.read_text(), p.name)


def install(app: Any, components: Any) -> None:
    """Add the gateway middleware of the configured build to ``app`` (its Redis client on ``components``)."""
    from redis.asyncio import Redis

    config = components.config
    policy = load_policy(config.gateway_policy)
    components.gateway_redis = Redis.from_url(config.redis_url) if config.redis_url else None
    kwargs: dict[str, Any] = {"config": policy, "redis": components.gateway_redis,
                              "prefix": config.redis_prefix + "gateway:", "sink": components.metrics.observe_gateway}  # fmt: skip
    build = config.build_of("gateway")
    clock = builds.clock_for(build, components.clock)
    if clock is not None:
        kwargs["clock"] = clock
    # A middleware class: Starlette instantiates it with the app below it, so the switchboard gives the class.
    app.add_middleware(builds.factory("gateway", build), **kwargs)
