"""Command-line options that describe a model's input, shared by ``doctor`` and ``plan``.

``--input-shape 64,3,32,32`` (with ``--input-dtype``, ``--input-dist``,
``--input-high``) describes one positional input; ``--input NAME=SHAPE[:DTYPE[:HIGH]]``
(repeatable) describes keyword inputs such as a Hugging Face model's
``input_ids=2x16:int64:32000``. Both become :class:`~initlab.doctor._config.ProbeSpec`
values; drawing the tensors is :func:`initlab.doctor._probe.make_input`'s job.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from initlab.doctor._config import DISTRIBUTIONS, DTYPES, ProbeSpec

__all__ = [
    "SHAPE_FORM",
    "add_input_arguments",
    "keyword_specs",
    "parse_shape",
    "probe_spec",
    "spec_input",
]

SHAPE_FORM = "positive integers separated by commas, e.g. 64,3,32,32 (or 64x3x32x32)"
_KEYWORD_FORM = "NAME=SHAPE[:DTYPE[:HIGH]], e.g. input_ids=2x16:int64:32000"


def add_input_arguments(p: argparse.ArgumentParser, *, keywords: bool = False) -> None:
    """``--input-shape`` and its companions; with ``keywords``, also ``--input``."""
    p.add_argument(
        "--input-shape", metavar="N,D,...", help="input shape with batch axis, e.g. 64,3,32,32"
    )
    p.add_argument("--input-dtype", choices=DTYPES, default=None, help="input dtype")
    p.add_argument("--input-dist", choices=DISTRIBUTIONS, default=None, help="input values")
    p.add_argument("--input-high", type=int, default=0, help="token ids are in [0, HIGH)")
    if keywords:
        p.add_argument(
            "--input",
            action="append",
            default=[],
            metavar="NAME=SHAPE[:DTYPE[:HIGH]]",
            help="a keyword input, e.g. input_ids=2x16:int64:32000 (repeatable; integer "
            "dtypes draw token ids in [0, HIGH), float dtypes N(0, 1))",
        )


def parse_shape(text: str, flag: str = "--input-shape") -> tuple[int, ...]:
    """``64,3,32,32`` or ``64x3x32x32``; an empty, non-integer or non-positive part is an error."""
    # 'x' separates sizes only between digits, so '4,x' or 'x4' stay malformed.
    parts = re.split(r"(?<=\d)\s*x\s*(?=\d)|,", text)
    sizes = []
    for part in parts:
        piece = part.strip()
        if not (piece.isascii() and piece.isdigit()) or int(piece) <= 0:
            raise ValueError(
                f"{flag} {text!r}: part {piece!r} is not a positive integer; expected {SHAPE_FORM}"
            )
        sizes.append(int(piece))
    return tuple(sizes)


def probe_spec(args: argparse.Namespace) -> ProbeSpec | None:
    """The positional input described by ``--input-shape`` and companions (None without)."""
    if args.input_shape is None:
        if args.input_dtype or args.input_dist or args.input_high:
            raise ValueError("--input-dtype/--input-dist/--input-high need --input-shape")
        return None
    if args.input_high < 0:
        raise ValueError(f"--input-high {args.input_high} must be > 0 (the vocabulary size)")
    if args.input_high > 0 and (args.input_dtype or "int").startswith("float"):
        raise ValueError(
            f"--input-high {args.input_high} is for integer (token id) probes; drop it, "
            "or use --input-dtype int64"
        )
    integer = args.input_high > 0 or (args.input_dtype or "").startswith("int")
    dtype = args.input_dtype or ("int64" if integer else "float32")
    dist = args.input_dist or ("randint" if integer else "normal")
    if dist == "randint" and args.input_high == 0:
        raise ValueError(
            f"--input-dtype {dtype} --input-dist randint draws token ids in [0, HIGH): "
            "set --input-high to the vocabulary size, e.g. --input-high 32000"
        )
    if dtype.startswith("int") != (dist == "randint"):
        raise ValueError(
            f"--input-dtype {dtype} does not fit --input-dist {dist}: integer dtypes go with "
            "randint (and --input-high), float dtypes with normal or uniform"
        )
    return ProbeSpec(
        shape=parse_shape(args.input_shape), dtype=dtype, distribution=dist, high=args.input_high
    )


def keyword_specs(items: list[str]) -> dict[str, ProbeSpec]:
    """``--input NAME=SHAPE[:DTYPE[:HIGH]]`` values as ``{name: spec}``."""
    specs: dict[str, ProbeSpec] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(f"--input {item!r} must look like {_KEYWORD_FORM}")
        if name in specs:
            raise ValueError(f"--input {item!r}: {name!r} is given twice")
        shape, _, tail = rest.partition(":")
        dtype, _, high = tail.partition(":")
        dtype = dtype.strip() or ("int64" if high else "float32")
        if dtype not in DTYPES:
            raise ValueError(f"--input {item!r}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        integer = dtype.startswith("int")
        if integer != bool(high.strip()):
            raise ValueError(
                f"--input {item!r}: integer dtypes need HIGH (token ids in [0, HIGH)), "
                f"float dtypes take none; expected {_KEYWORD_FORM}"
            )
        if integer and not (high.strip().isascii() and high.strip().isdigit() and int(high)):
            raise ValueError(f"--input {item!r}: HIGH {high!r} must be a positive integer")
        specs[name] = ProbeSpec(
            shape=parse_shape(shape, f"--input {name}="),
            dtype=dtype,
            distribution="randint" if integer else "normal",
            high=int(high) if integer else 0,
        )
    return specs


def spec_input(args: argparse.Namespace, *, seed: int = 0) -> Any:
    """The example input the options describe: a tensor, a dict of keyword tensors, or None.

    Drawn on the CPU from a generator seeded by ``seed`` (never the global RNG).
    """
    import torch

    from initlab.doctor._probe import make_input

    positional = probe_spec(args)
    keywords = keyword_specs(getattr(args, "input", []) or [])
    if positional is not None and keywords:
        raise ValueError("give either --input-shape or --input NAME=..., not both")
    cpu = torch.device("cpu")
    if positional is not None:
        return make_input(positional, seed=seed, device=cpu)
    if keywords:
        return {
            name: make_input(spec, seed=seed, device=cpu, key=name)
            for name, spec in keywords.items()
        }
    return None
