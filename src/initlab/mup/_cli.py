"""``initlab coordcheck MODEL --widths ...``: the μP coordinate check (presentation only)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from torch import nn

from initlab._modelspec import load_factory
from initlab.doctor._cli import _add_probe_arguments, _probe_spec
from initlab.mup._coord import OPTIMIZERS, CoordCheck, CoordConfig, coord_check

__all__ = ["register"]

CHOICES = ("mup", "sp", "both")


def register(subparsers: Any) -> None:
    """Add the ``coordcheck`` sub-command."""
    p = subparsers.add_parser(
        "coordcheck",
        help="μP coordinate check: is each layer's activation size flat in width?",
        description="Build MODEL at several widths, train a few steps on one probe batch, "
        "and report per layer whether mean |x| stays flat in width (μP) or grows/shrinks "
        "(standard parametrization). MODEL is a factory taking the width.",
    )
    p.add_argument("model", metavar="MODEL", help="package.module:factory or file.py:factory")
    p.add_argument("--widths", required=True, metavar="W1,W2,...", help="e.g. 64,128,256,512")
    p.add_argument("--parametrization", choices=CHOICES, default="both")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--lr", type=float, default=1e-2, help="global learning rate (default 1e-2)")
    p.add_argument("--steps", type=int, default=3, help="training steps (default 3)")
    p.add_argument("--seeds", type=int, default=2, help="seeds averaged (default 2)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--base-width", type=int, default=None, help="μP base (default: smallest)")
    p.add_argument("--tolerance", type=float, default=0.25, help="largest |slope| (0.25)")
    _add_probe_arguments(p)
    p.add_argument("--plot", metavar="FILE", help="write the plot (FILE_<parametrization>.png)")
    p.add_argument("--records", metavar="FILE", help="write the tidy records (.json or .csv)")
    p.add_argument("--json", action="store_true", help="print verdicts as JSON")
    p.add_argument(
        "--show-plan", action="store_true", help="print the μP plan of the widest model first"
    )
    p.set_defaults(func=_run)


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--widths {text!r} must be integers separated by commas") from None
    return widths


def _factory(spec: str) -> Any:
    factory = load_factory(spec)

    def build(width: int) -> nn.Module:
        model = factory(width)  # type: ignore[call-arg]
        if not isinstance(model, nn.Module):
            raise ValueError(f"MODEL={spec!r} returned {type(model).__name__}, not an nn.Module")
        return model

    return build


def _checks(args: argparse.Namespace) -> list[CoordCheck]:
    from rich.progress import Progress

    factory = _factory(args.model)
    kinds = ("sp", "mup") if args.parametrization == "both" else (args.parametrization,)
    configs = [
        CoordConfig(
            widths=_widths(args.widths),
            parametrization=kind,
            optimizer=args.optimizer,
            lr=args.lr,
            steps=args.steps,
            seeds=args.seeds,
            seed=args.seed,
            batch_size=args.batch_size,
            base_width=args.base_width,
            tolerance=args.tolerance,
        )
        for kind in kinds
    ]
    probe = _probe_spec(args)
    results = []
    with Progress(transient=True) as bar:
        total = sum(len(c.widths) * c.seeds for c in configs)
        task = bar.add_task("coordcheck", total=total)

        def advance(label: str) -> None:
            bar.update(task, description=label)
            bar.advance(task)

        for config in configs:
            results.append(coord_check(factory, config, probe=probe, progress=advance))
    return results


def _print_plan(args: argparse.Namespace) -> None:
    import torch

    from initlab.mup._plan import mup_plan

    factory, widths = _factory(args.model), sorted(_widths(args.widths))
    base_width = args.base_width if args.base_width is not None else widths[0]
    with torch.device("meta"):
        model, base = factory(widths[-1]), factory(base_width)
    print(mup_plan(model, base))
    print("(the coordinate check makes the readout change itself with initlab.mup.apply_readout)")


def _run(args: argparse.Namespace) -> int:
    if args.show_plan:
        _print_plan(args)
    results = _checks(args)
    if args.records:
        from initlab.mup._plot import write_coord_records

        write_coord_records([r for c in results for r in c.records], args.records)
    if args.plot:
        from initlab.mup._plot import plot_coord_check

        stem = Path(args.plot)
        for check in results:
            name = f"{stem.stem}_{check.config.parametrization}{stem.suffix or '.png'}"
            plot_coord_check(check, stem.with_name(name))
    if args.json:
        print(json.dumps([_payload(c) for c in results], indent=2))
    else:
        for check in results:
            print(check.summary())
            for note in check.notes:
                print(f"  μP not claimed: {note}")
    mup = [c for c in results if c.config.parametrization == "mup"]
    return int(any(not c.passed or c.notes for c in mup))


def _payload(check: CoordCheck) -> dict[str, Any]:
    return {
        "parametrization": check.config.parametrization,
        "passed": check.passed,
        "summary": check.summary(),
        "layers": [v.to_record() for v in check.layers],
        "notes": list(check.notes),
    }
