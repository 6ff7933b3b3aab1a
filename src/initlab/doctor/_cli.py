"""``initlab doctor MODEL``: the diagnosis on the command line (presentation only)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from initlab._cli_inputs import add_input_arguments, spec_input
from initlab._cli_inputs import parse_shape as _parse_shape  # noqa: F401 (tests use it)
from initlab._cli_inputs import probe_spec as _probe_spec
from initlab._modelspec import load_model
from initlab._report import check_output_dir, check_records_path
from initlab.doctor._compare import apply_rules, compare
from initlab.doctor._config import DoctorConfig, Thresholds
from initlab.doctor._diagnose import diagnose
from initlab.doctor._records import (
    Diagnosis,
    write_records,
)

__all__ = ["register"]

FAIL_ON = ("never", "warning", "error")


def register(subparsers: Any) -> None:
    """Add the ``doctor`` sub-command."""
    p = subparsers.add_parser(
        "doctor",
        help="layer-by-layer signal propagation at initialization, with verdicts",
        description="Diagnose a model at initialization: activation and gradient statistics "
        "per layer, symmetry, spectra and the Jacobian, with findings and recommendations.",
    )
    p.add_argument("model", metavar="MODEL", help="package.module:factory or path/file.py:factory")
    init = p.add_mutually_exclusive_group()
    init.add_argument("--preset", metavar="NAME", help="initialize with an initlab.rules preset")
    init.add_argument("--rules", metavar="FILE", help="initialize with a JSON/YAML rules file")
    init.add_argument(
        "--compare",
        metavar="A,B,...",
        help="compare candidates side by side: 'as-is', initializer names, presets",
    )
    _add_probe_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="probe, loss and init seed (default 0)")
    p.add_argument(
        "--jacobian-steps",
        type=int,
        default=0,
        help="estimate the input-output Jacobian's singular values with this many Lanczos "
        "steps (default 0: off; each step costs about 3 forward+backward passes of 8 examples; "
        "24 is a good choice)",
    )
    p.add_argument(
        "--model-mode",
        action="store_true",
        help="run the probe in the modes the model is in (default: training mode, as the "
        "first step sees it, with dropout and drop-path off)",
    )
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a threshold, e.g. vanish_warning=1e-3 (repeatable)",
    )
    p.add_argument("--report", metavar="DIR", help="write DIR/index.html and the records")
    p.add_argument("--records", metavar="FILE", help="write the tidy records (.json or .csv)")
    p.add_argument("--json", action="store_true", help="print the layers and findings as JSON")
    p.add_argument(
        "--fail-on", choices=FAIL_ON, default="never", help="exit 1 on findings this severe"
    )
    p.set_defaults(func=_run)


def _add_probe_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p, keywords=True)
    p.add_argument("--batch-size", type=int, default=64, help="inferred probe's batch size")


def _thresholds(items: list[str]) -> Thresholds:
    values: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--threshold {item!r} must look like NAME=NUMBER")
    try:
        return Thresholds.from_dict(values)
    except ValueError as exc:
        raise ValueError(f"--threshold: {exc}") from None


def _config(args: argparse.Namespace) -> DoctorConfig:
    # Checked here too so the message names the flag, not the DoctorConfig field.
    if args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size} must be >= 1")
    if args.jacobian_steps < 0:
        raise ValueError(f"--jacobian-steps {args.jacobian_steps} must be >= 0 (0 skips it)")
    return DoctorConfig(
        seed=args.seed,
        batch_size=args.batch_size,
        jacobian_steps=args.jacobian_steps,
        train_mode=not args.model_mode,
        thresholds=_thresholds(args.threshold),
    )


def _diagnoses(args: argparse.Namespace) -> list[Diagnosis]:
    model = load_model(args.model)
    config = _config(args)
    probe = _probe_spec(args)
    # Keyword inputs (--input input_ids=2x16:int64:32000) are drawn here, seeded by --seed.
    inputs = spec_input(args, seed=args.seed) if args.input else None
    if args.compare:
        candidates = [c.strip() for c in args.compare.split(",") if c.strip()]
        return compare(model, candidates, inputs, probe=probe, config=config)
    run = "as-is"
    if args.preset or args.rules:
        run = args.preset or args.rules
        model = apply_rules(model, run, seed=args.seed)
    return [diagnose(model, inputs, probe=probe, config=config, run=run)]


def _run(args: argparse.Namespace) -> int:
    # Outputs are checked before the model is even loaded: no work is lost to a bad path.
    if args.report:
        check_output_dir("--report", args.report)
    if args.records:
        check_records_path("--records", args.records)
    diagnoses = _diagnoses(args)
    if args.records:
        write_records(args.records, [r for d in diagnoses for r in d.records])
    if args.report:
        from initlab.doctor._render import write_html

        write_html(args.report, diagnoses)
    if args.json:
        payload: Any = (
            diagnoses[0].to_dict()
            if len(diagnoses) == 1
            else {"runs": [d.to_dict() for d in diagnoses]}
        )
        print(json.dumps(payload, indent=2))
    else:
        _print_tables(diagnoses, args.report)
    return _exit_code(diagnoses, args.fail_on)


def _print_tables(diagnoses: list[Diagnosis], report: str | None) -> None:
    from rich.console import Console

    from initlab.doctor._render import render_findings, render_table

    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # piped output: wide enough for the table
    for d in diagnoses:
        console.print(render_table(d))
        console.print(render_findings(d))
    if report:
        console.print(f"report written to {Path(report) / 'index.html'}")


def _exit_code(diagnoses: list[Diagnosis], fail_on: str) -> int:
    if fail_on == "never":
        return 0
    failing = ("error",) if fail_on == "error" else ("warning", "error")
    return int(any(f.severity in failing for d in diagnoses for f in d.findings))
