"""The state file that lets ``stack down``/``status`` find what ``stack up`` started.

Each run writes ``<run dir>/stack.json``; ``reports/stack/current.json`` points at the latest one.
Every process is recorded with its pid AND its start time, so a pid the OS has since given to
another program is never signalled.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.rundir import ROOT

# ``CLOCKBENCH_STATE_DIR`` moves the pointer (the test suite keeps it out of the user's checkout).
POINTER = Path(os.environ.get("CLOCKBENCH_STATE_DIR") or ROOT / "reports" / "stack") / "current.json"


@dataclass
class ProcessRecord:
    role: str  # "worker-0", "nginx", ...
    pid: int
    create_time: float  # psutil's process start time, to recognise the same process later
    url: str
    log: str


@dataclass
class StackState:
    run_dir: str
    url: str
    nginx_url: str | None
    worker_urls: list[str]
    build_map: dict[str, str]
    clock: str
    start_time_ns: int | None
    postgres_url: str | None
    redis_url: str | None
    processes: list[ProcessRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    access_log: str | None = None
    db_schema: str | None = None  # the run's own PostgreSQL schema (dropped at stop), if the stack made it
    redis_prefix: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "StackState":
        data = json.loads(text)
        data["processes"] = [ProcessRecord(**p) for p in data.get("processes", [])]
        return cls(**data)


def save(state: StackState, pointer: Path | None = POINTER) -> Path:
    path = Path(state.run_dir) / "stack.json"
    path.write_text(state.to_json())
    if pointer is not None:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(state.to_json())
    return path


def load(path: Path = POINTER) -> StackState | None:
    try:
        return StackState.from_json(Path(path).read_text())
    except FileNotFoundError:
        return None


def clear(path: Path = POINTER) -> None:
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass
