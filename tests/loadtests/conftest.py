"""Fixtures for the load-test tests: the synthetic slot service (tests/loadtests/synthetic.py) as a
real server process on a loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@contextmanager
def synthetic(slots: int, service_ms: float, mode: str = "queue", refuse_ms: float = 0.0) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "synthetic.py"), "--slots", str(slots), "--service-ms", str(service_ms), "--mode", mode,
         "--refuse-ms", str(refuse_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"synthetic service did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def synthetic_service():
    return synthetic
