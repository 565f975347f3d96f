"""The frontend's sources built in a scratch copy (npm ci from the lockfile), once per session.

Node and npm are needed: on a laptop without them the tests skip, under CI=true they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
SHIPPED = ROOT / "harness" / "app" / "static" / "dashboard"
SKIP = {"node_modules", ".test-build", "dist"}


def npm() -> str:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            missing(tool, f"{tool!r} is not on PATH (the dashboard's sources are TypeScript built by npm)")
    return shutil.which("npm")  # type: ignore[return-value]


def run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed (exit {proc.returncode}) in {cwd}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def frontend_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """frontend/ copied without node_modules, then `npm ci` from package-lock.json."""
    exe = npm()
    dest = tmp_path_factory.mktemp("frontend") / "frontend"
    shutil.copytree(FRONTEND, dest, ignore=lambda d, names: [n for n in names if n in SKIP])
    run([exe, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], dest)
    return dest
