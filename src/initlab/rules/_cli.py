"""``initlab plan``: show (and optionally apply and save) a model's init plan."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``plan`` sub-command."""
    from initlab.rules._presets import PRESETS

    parser = subparsers.add_parser(
        "plan",
        help="show how every parameter of a model would be initialized",
        description="Resolve a preset or a rules file against MODEL and print the plan "
        "(a dry run unless --apply).",
    )
    parser.add_argument("model", metavar="MODEL", help="package.module:factory or file.py:factory")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), help="preset name (default: auto)")
    source.add_argument("--rules", metavar="FILE", help="rules as .json, .yaml or .yml")
    parser.add_argument("--json", action="store_true", help="print the plan as a JSON list")
    parser.add_argument(
        "--default",
        choices=("error", "torch"),
        default="error",
        help="uncovered parameters: error (default) or keep PyTorch's default",
    )
    parser.add_argument("--apply", action="store_true", help="initialize the weights")
    parser.add_argument("--seed", type=int, default=None, help="seed for --apply")
    parser.add_argument("--device", default=None, help="materialize a meta model on DEVICE")
    parser.add_argument(
        "--save",
        metavar="FILE.safetensors",
        help="with --apply: write the weights keyed by qualified name",
    )
    parser.set_defaults(func=_run)


def _rules(args: argparse.Namespace) -> Any:
    if args.rules:
        from initlab.rules._rules import load_rules

        return load_rules(args.rules)
    return args.preset or "auto"


def _run(args: argparse.Namespace) -> int:
    from initlab._modelspec import load_model
    from initlab.rules._apply import init_model

    if args.save and not args.apply:
        raise ValueError("--save needs --apply (a dry run writes no weights)")
    if args.save and not str(args.save).endswith(".safetensors"):
        raise ValueError(f"--save={args.save!r} must end in .safetensors")
    model = load_model(args.model)
    plan = init_model(
        model,
        _rules(args),
        seed=args.seed,
        device=args.device,
        dry_run=not args.apply,
        default=args.default,
    )
    plan.check()  # a dry run fails exactly where --apply would
    if args.save:
        _save(model, Path(args.save))
    _print(plan, as_json=args.json)
    return 0


def _save(model: Any, path: Path) -> None:
    from safetensors.torch import save_file

    tensors = {}
    seen: set[tuple[int, int]] = set()
    for name, tensor in [*model.named_parameters(), *model.state_dict(keep_vars=True).items()]:
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if key in seen or name in tensors:
            continue
        seen.add(key)
        tensors[name] = tensor.detach().contiguous().clone()
    # Write to a temporary file first so a failure leaves no partial output.
    handle, temp = tempfile.mkstemp(suffix=".safetensors", dir=path.parent or ".")
    os.close(handle)
    try:
        save_file(tensors, temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _print(plan: Any, *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(plan.to_json() + "\n")
        return
    from rich.console import Console

    Console(width=max(120, Console().width)).print(plan)
