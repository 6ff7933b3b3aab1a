"""``initlab lsuv MODEL``: LSUV on a batch from a file or a seeded random batch (presentation)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from initlab._cli_inputs import add_input_arguments, spec_input

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``lsuv`` sub-command."""
    p = subparsers.add_parser(
        "lsuv",
        help="LSUV data-dependent init: every layer's output to unit variance on a batch",
        description="Layer-sequential unit-variance init (Mishkin & Matas 2016) of MODEL on a "
        "batch, in one hooked forward pass (O(L) layer evaluations); prints the per-layer report.",
    )
    p.add_argument("model", metavar="MODEL", help="package.module:factory or path/file.py:factory")
    p.add_argument("--data", metavar="FILE", help="the batch: a .pt tensor/dict/tuple or .npy")
    # Or a seeded random batch, described as for `initlab doctor` and `initlab plan`:
    # --input-shape (+ --input-dtype/--input-dist/--input-high) or --input NAME=SHAPE:DTYPE:HIGH.
    add_input_arguments(p, keywords=True)
    p.add_argument("--seed", type=int, default=0, help="pre-init and random batch seed")
    p.add_argument("--rng", choices=("torch", "keyed"), default="torch", help="pre-init RNG")
    p.add_argument("--target-std", type=float, default=1.0, help="target output std (1.0)")
    p.add_argument("--tol", type=float, default=0.1, help="tolerance on the std (0.1)")
    p.add_argument("--max-attempts", type=int, default=10, help="rescales per layer (10)")
    p.add_argument("--no-orthonormal", action="store_true", help="skip the orthonormal pre-init")
    p.add_argument("--center", action="store_true", help="center each output with the bias")
    p.add_argument(
        "--mode", choices=("auto", "full"), default="auto", help="full: reference O(L²) procedure"
    )
    p.add_argument("--json", action="store_true", help="print the report records as JSON")
    p.add_argument("--save", metavar="FILE.safetensors", help="write the initialized weights")
    p.set_defaults(func=_run)


def _load_batch(args: argparse.Namespace) -> Any:
    import torch

    described = args.input_shape is not None or bool(args.input)
    if described == (args.data is not None):
        raise ValueError(
            "give the batch as one of --data FILE, --input-shape N,D,... or "
            "--input NAME=SHAPE[:DTYPE[:HIGH]] (e.g. input_ids=8x16:int64:32000)"
        )
    if described:
        return spec_input(args, seed=args.seed)  # seeded, never the global RNG
    path = Path(args.data)
    if not path.is_file():
        raise FileNotFoundError(f"--data {str(path)!r} does not exist")
    if path.suffix == ".npy":
        import numpy as np

        return torch.from_numpy(np.load(path, allow_pickle=False))
    if path.suffix == ".pt":
        batch = torch.load(path, weights_only=True)
        if isinstance(batch, (torch.Tensor, dict, tuple, list)):
            return batch
        raise ValueError(f"--data {str(path)!r} holds a {type(batch).__name__}, not a batch")
    raise ValueError(f"--data {str(path)!r} must end in .pt or .npy")


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from initlab._modelspec import load_model
    from initlab.datadep._lsuv import LSUVConfig, lsuv_
    from initlab.rules._cli import _save

    if args.save and not str(args.save).endswith(".safetensors"):
        raise ValueError(f"--save={args.save!r} must end in .safetensors")
    config = LSUVConfig(
        target_std=args.target_std,
        tol=args.tol,
        max_attempts=args.max_attempts,
        orthonormal=not args.no_orthonormal,
        center=args.center,
        mode=args.mode,
    )
    model = load_model(args.model)
    batch = _load_batch(args)
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("LSUV", total=None)

        def on_layer(name: str, index: int, total: int) -> None:
            progress.update(task, total=total, advance=1, description=f"LSUV {name}")

        report = lsuv_(model, batch, config, seed=args.seed, rng=args.rng, on_layer=on_layer)
    if args.save:
        _save(model, Path(args.save))
    if args.json:
        sys.stdout.write(json.dumps(report.to_records(), indent=2) + "\n")
    else:
        _print(report)
    return 0 if report.converged else 1


def _print(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=report.summary())
    for column in ("layer", "std before", "std after", "attempts", "scale", "evaluations", "note"):
        table.add_column(column, overflow="fold")
    for r in report.layers:
        table.add_row(
            r.name,
            "-" if r.std_before is None else f"{r.std_before:.4g}",
            "-" if r.std_after is None else f"{r.std_after:.4g}",
            str(r.attempts),
            f"{r.scale:.4g}",
            str(r.evaluations),
            r.note,
        )
    Console(width=max(120, Console().width)).print(table)
