"""This machine's measured run-to-run noise, kept as a calibration file (``clockbench calibrate``
writes it; ``compare`` and ``gate`` read it).

Whole runs shift on a shared machine (a busy neighbour for the whole run, another CPU frequency,
another cache layout), so the same commit measured twice differs by more than either run's own
interval says. The calibration records, per metric and build (and per clocked/baseline ratio), the
variance of the run-level log estimate over K same-commit runs: comparing two runs then takes
twice that variance with K - 1 degrees of freedom (tests/report/test_stats_coverage.py checks the
interval covers). A calibration belongs to the machine it was measured on: it names it, and a
file measured elsewhere is used only when asked for explicitly, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path

from harness.rundir import ROOT

CALIBRATION_DIR = ROOT / "reports" / "calibration"
FORMAT = 1


# The least run-to-run spread compare and gate allow an instruction count (instr.*), as the sd of
# its run-level log estimate. One commit's counts are not identical between runs: they move with
# the process's memory layout. Measured on the OMS submit/cancel benchmark under callgrind
# (2026-11-30): padding the environment by 100 or 700 bytes moved the clocked build from 73,963 to
# 74,600 instructions per operation (+0.86%; sd over 4 paddings 0.48%); over 6 same-commit
# calibrate trials the baseline build's first trial sat 0.90% below the other five, which were
# identical to the instruction (sd 0.37%), while the clocked one held (sd 0.005%). A warm-up trial
# would have hidden that one jump, not the layout's: two real runs (another commit, directory,
# environment) differ in layout. A calibration of a few runs that happened to hold still allowed almost no spread, and
# compare flagged 9 of 30 same-commit rows. The floor is the largest per-build sd measured (0.48%),
# rounded up: with it the 95% band of a two-run difference (t_21 * sqrt(2) * 0.5% = 1.5%) holds
# the largest jump seen. FLOOR_DF: the degrees of freedom of those measurements pooled (26
# run-level values in 5 groups, pooled sd 0.26%), used where the floor, not a calibration, sets
# the interval. Wall-time metrics have no floor: their calibrated spread is several percent.
INSTRUCTION_FLOOR_SD = 0.005
FLOOR_DF = 21
INSTRUCTION_PREFIX = "instr."


def floor_sd(metric: str) -> float:
    """The least run-level sd (log scale) a metric's comparison allows (0: no floor)."""
    return INSTRUCTION_FLOOR_SD if metric.startswith(INSTRUCTION_PREFIX) else 0.0


def machine() -> dict:
    """What identifies this machine for a calibration: host, CPU model and count, OS."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    info = {"host": socket.gethostname(), "cpu": model, "cpus": os.cpu_count() or 0,
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version()}
    info["id"] = hashlib.sha256(f"{info['host']}|{info['cpu']}|{info['cpus']}".encode()).hexdigest()[:12]
    return info


def default_path() -> Path:
    return CALIBRATION_DIR / f"{machine()['id']}.json"


@dataclass
class Calibration:
    machine: dict
    runs: int
    # "<metric>|<build>" -> {"var": variance of the run-level log estimate, "k": runs, "mean": ...}
    metrics: dict[str, dict] = field(default_factory=dict)
    created: str = ""
    commit: str = ""
    path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def variance(self, metric: str, build: str) -> tuple[float, int] | None:
        e = self.metrics.get(f"{metric}|{build}")
        if not e or e.get("k", 0) < 2:
            return None
        return float(e["var"]), int(e["k"])

    def same_machine(self) -> bool:
        return self.machine.get("id") == machine()["id"]

    def describe(self) -> str:
        where = "this machine" if self.same_machine() else f"ANOTHER machine ({self.machine.get('host')}, {self.machine.get('cpu')})"
        return f"{self.path} ({self.runs} same-commit runs on {where}, {self.created}, commit {self.commit or '?'})"

    def to_dict(self) -> dict:
        return {"format": FORMAT, "machine": self.machine, "runs": self.runs, "created": self.created,
                "commit": self.commit, "notes": self.notes, "metrics": self.metrics}


class CalibrationError(ValueError):
    """A calibration file that cannot be read; the message says why."""


def load(path: Path | None = None) -> Calibration | None:
    """The calibration at ``path``, or this machine's default one; None when there is none."""
    p = Path(path) if path is not None else default_path()
    if not p.exists():
        if path is not None:
            raise CalibrationError(f"no calibration file at {p}")
        return None
    try:
        d = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{p} is not JSON: {exc}") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT or "metrics" not in d:
        raise CalibrationError(f"{p} is not a clockbench calibration file (format {FORMAT})")
    return Calibration(d.get("machine", {}), int(d.get("runs", 0)), d["metrics"], d.get("created", ""),
                       d.get("commit", ""), p, list(d.get("notes", [])))


def save(cal: Calibration, path: Path | None = None) -> Path:
    p = Path(path) if path is not None else default_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(cal.to_dict(), indent=1))
    cal.path = p
    return p
