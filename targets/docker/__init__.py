"""Docker health checks and container lifecycle on the clock (the plan's docker/ files).

``ContainerHealthChecker``: one clock timer per container at absolute deadlines; ``ContainerLifecycle``:
readiness gate, graceful stop with a deadline, restart with backoff, all on the clock. The
supervisor that joins them (the plan's docker_clock_integration.py) is build-neutral: core.docker.
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
