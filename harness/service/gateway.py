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
    if config.build_of("gateway") == "clocked":
        from targets.api_gateway import GatewayMiddleware

        kwargs["clock"] = components.clock
    else:
        from baselines.api_gateway import GatewayMiddleware  # type: ignore[assignment]
    app.add_middleware(GatewayMiddleware, **kwargs)
