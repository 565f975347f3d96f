"""Docker health checks and container lifecycle as teams write them: a sleep loop per container,
``time.time_ns()``/``time.monotonic()`` and ``asyncio.sleep``/``wait_for`` (twins of targets/docker).
"""

from core.docker.protocols import ContainerEngine, HealthChecker, HealthProbe
from core.docker.protocols import ContainerLifecycle as ContainerLifecycleProtocol
from core.docker.supervisor import ContainerSupervisor

from .health_check import ContainerHealthChecker
from .lifecycle import ContainerLifecycle

__all__ = [
    "ContainerEngine",
    "ContainerHealthChecker",
    "ContainerLifecycle",
    "ContainerLifecycleProtocol",
    "ContainerSupervisor",
    "HealthChecker",
    "HealthProbe",
]
