"""``python -m initlab.bench``: parse the flags, run the benchmarks, print the table.

All printing lives here; :mod:`initlab.bench` itself only returns records and strings.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict

import torch

import initlab.bench as bench
from initlab.bench import BenchConfig, render, run

__all__ = ["main"]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m initlab.bench", description=bench.__doc__)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", action="store_true", help="print records as JSON")
    parser.add_argument("--quick", action="store_true", help="small sizes (< 1 min on 2 cores)")
    parser.add_argument("--sizes", type=int, nargs="+", help="log2 element counts, e.g. 24 26")
    parser.add_argument(
        "--model",
        type=int,
        nargs=2,
        metavar=("DIM", "LAYERS"),
        help="whole-model benchmark shape, e.g. 2048 18 (about 1 B parameters)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    cfg = BenchConfig.quick(args.device) if args.quick else BenchConfig.full(args.device)
    if args.sizes:
        cfg = BenchConfig(**{**asdict(cfg), "sizes": tuple(1 << s for s in args.sizes)})
    if args.model:
        if min(args.model) < 1:
            raise SystemExit(f"--model {args.model}: DIM and LAYERS must be positive")
        cfg = BenchConfig(
            **{**asdict(cfg), "model_dim": args.model[0], "model_layers": args.model[1]}
        )
    records = run(cfg)
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=1))
    else:
        print(render(records))
    return 0
