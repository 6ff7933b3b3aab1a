"""``initlab schemes`` and ``initlab gains``: what each scheme and activation implies."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from initlab._schemes_table import DEFAULT_SCHEMES, gain_rows, relative_difference, scheme_rows

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``schemes`` and ``gains`` sub-commands."""
    schemes = subparsers.add_parser(
        "schemes",
        help="std and bound each scheme gives typical layers (no sampling)",
        description="For each scheme, the fans, standard deviation and bound it gives a few "
        "typical Linear and Conv2d weights (PyTorch layout), computed from the formulas "
        "without drawing any values.",
    )
    schemes.add_argument(
        "--scheme",
        action="append",
        metavar="NAME",
        help="scheme to show (repeatable; default: a representative set)",
    )
    schemes.add_argument("--json", action="store_true", help="print JSON rows")
    schemes.set_defaults(func=_run_schemes)
    gains = subparsers.add_parser(
        "gains",
        help="gains derived for every activation beside PyTorch's calculate_gain",
        description="The gain 1/sqrt(E[phi(z)^2]), z ~ N(0, 1), that keeps the second moment "
        "through each activation phi, beside the value in PyTorch's calculate_gain table "
        "where it has one.",
    )
    gains.add_argument("--json", action="store_true", help="print JSON rows")
    gains.set_defaults(func=_run_gains)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _run_schemes(args: argparse.Namespace) -> int:
    rows = scheme_rows(tuple(args.scheme) if args.scheme else DEFAULT_SCHEMES)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="What each scheme gives typical layers (PyTorch layout)")
    for column in ("scheme", "layer", "fan_in", "fan_out", "std", "bound"):
        table.add_column(column, justify="left" if column in ("scheme", "layer") else "right")
    previous = None
    for row in rows:
        if previous is not None and row["scheme"] != previous:
            table.add_section()
        previous = row["scheme"]
        table.add_row(
            *(_fmt(row[c]) for c in ("scheme", "layer", "fan_in", "fan_out", "std", "bound"))
        )
    Console(width=max(Console().width, 100)).print(table)
    return 0


def _run_gains(args: argparse.Namespace) -> int:
    rows = gain_rows()
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return 0
    table = Table(title="Gain = 1/sqrt(E phi(z)²), z ~ N(0,1), beside torch.nn.init.calculate_gain")
    for column in ("activation", "derived gain", "PyTorch table", "difference"):
        table.add_column(column, justify="left" if column == "activation" else "right")
    for row in rows:
        diff = relative_difference(row)
        table.add_row(
            row.activation,
            f"{row.derived:.4f}",
            "-" if row.torch_table is None else f"{row.torch_table:.4f}",
            "-" if diff is None else f"{diff:+.1%}",
        )
    Console(width=max(Console().width, 100)).print(table)
    return 0
