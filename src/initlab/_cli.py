"""The ``initlab`` command line.

Each capability contributes its sub-commands through a ``register(subparsers)``
function in its own module (listed in ``_COMMAND_MODULES``); the handler it
sets as ``func`` returns an exit code. Errors from the library (ValueError,
TypeError) become a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

# Modules exposing ``register(subparsers) -> None``.
_COMMAND_MODULES = (
    "initlab._cli_gains",
    "initlab.doctor._cli",
    "initlab.rules._cli",
    "initlab.experiments._cli",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``initlab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"initlab {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
