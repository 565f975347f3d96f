"""Run directories: ``reports/runs/<timestamp>-<commit>/``, one per run, ignored by git."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "reports" / "runs"


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "nocommit"
    except (OSError, subprocess.SubprocessError):
        return "nocommit"


def new_run_dir(kind: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = RUNS / f"{stamp}-{commit()}-{kind}"
    path.mkdir(parents=True, exist_ok=True)
    return path
