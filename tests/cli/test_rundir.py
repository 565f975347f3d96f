"""The test suite leaves the user's reports/ folder as it found it: runs and stack state go to the
temporary folder tests/conftest.py sets up."""

from __future__ import annotations

from harness import rundir
from harness.stack import state


def test_runs_made_by_tests_go_to_a_temporary_folder() -> None:
    path = rundir.new_run_dir("rundir-check")
    try:
        assert path.exists()
        assert not path.is_relative_to(rundir.ROOT / "reports"), path
    finally:
        path.rmdir()


def test_the_stack_pointer_is_outside_the_checkout() -> None:
    assert not state.POINTER.is_relative_to(rundir.ROOT / "reports"), state.POINTER
