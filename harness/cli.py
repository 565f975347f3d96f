"""The ``clockbench`` command. Each subcommand lives in its own module and registers itself here.

A subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (taking the parsed ``argparse.Namespace``, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Only subcommands that work are listed: add a module here when its command is real.
COMMAND_MODULES = [
    "harness.commands.doctor",
    "harness.commands.bench",
    "harness.commands.stack",
    "harness.commands.run",
    "harness.commands.compare",
    "harness.commands.gate",
    "harness.commands.calibrate",
    "harness.commands.simulate",
    "harness.commands.load",
    "harness.commands.ab",
    "harness.commands.capacity",
    "harness.commands.ceiling",
    "harness.commands.dbskew",
]


from harness.errors import UsageError  # noqa: E402  (commands import it from harness.errors too)

__all__ = ["COMMAND_MODULES", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clockbench",
        description=(
            "Measure what injecting one shared Clock (LiveClock/TestClock) does to a trading "
            "stack, component by component, against the same stack reading system time directly."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of ``command`` (so a typo in its options prints its usage, not the top level's)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices.get(command, parser) if command else parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _subparser(parser, getattr(args, "command", None)).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"clockbench {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("clockbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
