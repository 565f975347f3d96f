"""Run directories: ``reports/runs/<timestamp>-<commit>/``, one per run, ignored by git.

``CLOCKBENCH_RUNS_DIR`` moves them elsewhere (the test suite points it at a temporary folder, so
running the tests never fills a user's ``reports/runs/``).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "reports" / "runs"


def runs_root() -> Path:
    """Where new run folders go: ``$CLOCKBENCH_RUNS_DIR`` if set, else ``reports/runs``."""
    override = os.environ.get("CLOCKBENCH_RUNS_DIR")
    return Path(override) if override else RUNS


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
    path = runs_root() / f"{stamp}-{commit()}-{kind}"
    path.mkdir(parents=True, exist_ok=True)
    return path
