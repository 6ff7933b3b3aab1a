"""The ``initlab`` command line.

Each capability contributes its sub-commands through a ``register(subparsers)``
function in its own module (listed in ``_COMMAND_MODULES``); the handler it
sets as ``func`` returns an exit code. Errors from the library (ValueError,
TypeError, KeyError) and from the file system (OSError: a missing folder, no
permission) become a one-line message on stderr and exit code 2, like argparse's
own usage errors; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from initlab._report import MissingDependencyError

__all__ = ["build_parser", "main"]

# Modules exposing ``register(subparsers) -> None``.
_COMMAND_MODULES = (
    "initlab._cli_gains",
    "initlab.doctor._cli",
    "initlab.rules._cli",
    "initlab.experiments._cli",
    "initlab.rng._cli",
    "initlab.datadep._cli",
    "initlab.mup._cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="initlab",
        description="Neural-network weight initialization made correct, visible and fast.",
    )
    from initlab import __version__

    parser.add_argument("--version", action="version", version=f"initlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    _describe_subcommands(subparsers)
    return parser


def _describe_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """A sub-command registered without a description shows its one-line help in
    ``initlab COMMAND --help`` rather than nothing."""
    for choice in subparsers._choices_actions:
        command = subparsers.choices[choice.dest]
        if not command.description and choice.help:
            command.description = choice.help[:1].upper() + choice.help[1:] + "."


def _message(exc: Exception) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``initlab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.formatwarning = _warning_format(args.command)
            return int(args.func(args) or 0)
    except (ValueError, TypeError, KeyError, OSError, MissingDependencyError) as exc:
        print(f"initlab {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2


def _warning_format(command: str) -> Any:
    """Warnings as one line each, like errors: the library's stack levels point at the
    caller's line, which on the command line is runpy's, not the user's. (The format, not
    the printer, is replaced, so ``pytest.warns`` and ``-W error`` still see them.)"""

    def format_warning(message: Any, category: type, *_: Any, **__: Any) -> str:
        return f"initlab {command}: warning: {category.__name__}: {message}\n"

    return format_warning


if __name__ == "__main__":
    sys.exit(main())
