"""A C accelerator built from another _cclock.c is refused (targets/clock/_source_hash.py, _impl.py).

Why: an in-place _cclock*.so left from an older source loads without complaint and runs the old
code; last session its old coarse-timer loop silently broke WebSocket heartbeats.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from harness.commands.doctor import render_text
from targets.clock import _source_hash
from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_module_is_a_build_of_the_source_beside_it():
    """The real build, nothing faked: its compiled-in hash is the hash of today's _cclock.c."""
    try:
        from targets.clock import _cclock
    except ImportError as exc:
        missing("the clock's C accelerator", f"not built ({exc}); pip install -e . builds it")
    assert _cclock.SOURCE_HASH == _source_hash.source_hash(), (
        f"targets/clock/_cclock*.so is stale; rebuild: {_source_hash.REBUILD}")


def test_mismatch_says_why_and_is_silent_when_it_cannot_compare(tmp_path):
    src = tmp_path / "_cclock.c"
    src.write_text("/* one version */\n")
    h = _source_hash.source_hash(src)
    assert len(h) == 16 and _source_hash.mismatch(h, src) is None
    src.write_text("/* the next version */\n")
    assert h in _source_hash.mismatch(h, src) and _source_hash.source_hash(src) in _source_hash.mismatch(h, src)
    assert "no SOURCE_HASH" in _source_hash.mismatch(None, src)
    assert _source_hash.mismatch("anything", tmp_path / "absent.c") is None  # an installed wheel ships no .c


def test_a_stale_module_is_refused_with_a_warning_and_pure_python_serves():
    """FAKED (nothing is built): a module with another SOURCE_HASH stands in for targets.clock._cclock
    before the package is imported, in a fresh interpreter."""
    code = textwrap.dedent("""
        import sys, types, warnings
        fake = types.ModuleType("targets.clock._cclock")
        fake.SOURCE_HASH = "0000000000000000"
        fake.__file__ = "_cclock.fake.so"
        sys.modules["targets.clock._cclock"] = fake
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from targets.clock import LiveClock, _impl
        d = _impl.describe()
        assert d["implementation"] == "python" and d["c_stale"] and d["c_built"], d
        assert "STALE" in d["reason"] and "0000000000000000" in d["reason"] and d["fix"], d
        assert _impl.available() == ["python"]
        try:
            _impl.use("c")
        except ValueError as exc:
            assert "stale" in str(exc)
        else:
            raise AssertionError("use('c') accepted a stale build")
        assert any(issubclass(w.category, RuntimeWarning) and "stale" in str(w.message) for w in caught), caught
        assert LiveClock().timestamp_ns() > 0
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr


def test_doctor_shows_a_stale_build_with_the_fix():
    facts = {"python": {"version": "3.11", "implementation": "CPython", "executable": "python"},
             "platform": {"system": "Linux", "release": "6", "machine": "x86_64"}, "cpu": {"count": 2, "usable": 2},
             "clock": {"implementation": "python", "reason": "the C accelerator is STALE, not used: ...",
                       "c_stale": True, "fix": _source_hash.REBUILD},
             "services": {}, "tools": {}}
    text = render_text(facts)
    assert "STALE" in text and f"fix: {_source_hash.REBUILD}" in text
