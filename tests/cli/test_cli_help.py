"""Every subcommand's --help renders, and the top-level help lists every registered command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.cli import COMMAND_MODULES, build_parser


def _names() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sorted(sub.choices)


def test_every_registered_module_has_a_command() -> None:
    assert len(_names()) == len(COMMAND_MODULES)


@pytest.mark.parametrize("name", _names())
def test_help_renders(name: str) -> None:
    out = subprocess.run([sys.executable, "-m", "harness", name, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usage: clockbench" in out.stdout and "Traceback" not in out.stderr
    assert "%%" not in out.stdout, "a description printed a doubled percent sign (descriptions are not %-formatted)"


def test_no_command_prints_help_and_exits_2() -> None:
    out = subprocess.run([sys.executable, "-m", "harness"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "COMMAND" in out.stdout


def test_a_typo_in_a_subcommand_option_prints_that_subcommands_usage() -> None:
    out = subprocess.run([sys.executable, "-m", "harness", "run", "--quik"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "usage: clockbench run" in out.stderr and "unrecognized arguments: --quik" in out.stderr
