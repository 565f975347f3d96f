"""The container family's build-neutral parts: interfaces, records, shared logic, real-engine adapters."""

from .protocols import ContainerEngine, ContainerLifecycle, HealthChecker, HealthProbe
from .records import Check, EngineEvent, RestartResult, StartResult, StopResult, Transition
from .supervisor import ContainerSupervisor, Replacement

__all__ = [
    "Check",
    "ContainerEngine",
    "ContainerLifecycle",
    "ContainerSupervisor",
    "EngineEvent",
    "HealthChecker",
    "HealthProbe",
    "Replacement",
    "RestartResult",
    "StartResult",
    "StopResult",
    "Transition",
]
