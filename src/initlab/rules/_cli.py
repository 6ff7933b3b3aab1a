"""``initlab plan``: show (and optionally apply and save) a model's init plan.

Every argument is checked before the model is loaded or anything is computed, so a
mistyped device, seed or output path costs nothing and leaves no file behind.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from initlab._cli_inputs import add_input_arguments, spec_input

__all__ = ["register"]

#: Seeds are unsigned 64-bit integers everywhere in initlab.
SEED_LIMIT = 2**64


def _seed(text: str) -> int:
    """``--seed``: an integer in [0, 2**64) (argparse reports the error with exit code 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer; a seed is an integer in [0, 2**64)"
        ) from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} is outside [0, 2**64), the range of seeds")
    return value


def register(subparsers: Any) -> None:
    """Add the ``plan`` sub-command."""
    from initlab.rules._presets import PRESETS

    parser = subparsers.add_parser(
        "plan",
        help="show how every parameter of a model would be initialized",
        description="Resolve a preset or a rules file against MODEL and print the plan "
        "(a dry run unless --apply). An example input (--input-shape, or --input for "
        "keyword inputs) lets the activation after each layer be found on models "
        "torch.fx cannot trace.",
    )
    parser.add_argument("model", metavar="MODEL", help="package.module:factory or file.py:factory")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), help="preset name (default: auto)")
    source.add_argument("--rules", metavar="FILE", help="rules as .json, .yaml or .yml")
    parser.add_argument(
        "--preset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the preset, e.g. std=0.01 or, for mup, base=file.py:small "
        "(repeatable; VALUE is read as JSON when it parses: numbers, true/false, lists; "
        "else as text)",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as a JSON list")
    parser.add_argument(
        "--all-rows",
        action="store_true",
        help="list every running statistic (default: one row per normalization layer)",
    )
    parser.add_argument(
        "--default",
        choices=("error", "keep", "torch"),
        default="error",
        help="tensors no rule covers: error (default), keep (leave their values) or torch "
        "(draw PyTorch's default for their module)",
    )
    parser.add_argument("--apply", action="store_true", help="initialize the weights")
    parser.add_argument(
        "--seed", type=_seed, default=None, help="seed for --apply, in [0, 2**64) (default: random)"
    )
    parser.add_argument(
        "--rng",
        choices=("torch", "keyed"),
        default="torch",
        help="with --apply: torch (a torch.Generator per tensor, seeded from (seed, name)) or "
        "keyed (initlab's counter-based sampler: the same weights on any device and sharding)",
    )
    parser.add_argument(
        "--device", default=None, help="materialize a meta model on DEVICE (cpu, cuda, cuda:N)"
    )
    parser.add_argument(
        "--save",
        metavar="FILE.safetensors",
        help="with --apply: write the weights keyed by qualified name",
    )
    parser.add_argument(
        "--pretrained",
        metavar="FILE",
        help="take tensors that match by name and shape from this checkpoint "
        "(.safetensors, or a torch.save file read with weights_only=True)",
    )
    parser.add_argument(
        "--prefix-map",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="with --pretrained: rename checkpoint keys starting with OLD, e.g. 'module.=' "
        "(repeatable; the first matching prefix wins)",
    )
    add_input_arguments(parser, keywords=True)
    parser.set_defaults(func=_run)


def _pairs(items: list[str], flag: str, example: str) -> dict[str, str]:
    """``KEY=VALUE`` items of a repeatable flag (VALUE may be empty, KEY may not)."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} {item!r} must look like {example}")
        pairs[key] = value
    return pairs


def _prefix_map(items: list[str], pretrained: str | None) -> dict[str, str] | None:
    if items and pretrained is None:
        raise ValueError("--prefix-map needs --pretrained")
    return _pairs(items, "--prefix-map", "OLD=NEW, e.g. 'module.='") or None


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _preset_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.preset_option and args.rules:
        raise ValueError("--preset-option sets options of --preset, not of --rules")
    pairs = _pairs(args.preset_option, "--preset-option", "KEY=VALUE, e.g. 'std=0.01'")
    return {key: _option_value(value) for key, value in pairs.items()}


def _rules(args: argparse.Namespace) -> Any:
    options = _preset_options(args)
    if args.rules:
        from initlab.rules._rules import load_rules

        return load_rules(args.rules)
    from initlab.rules._presets import Preset

    return Preset(name=args.preset or "auto", options=options)  # checks the option names


def _check_save(save: str | None, apply: bool) -> Path | None:
    """The --save path, refused now (not after the work) when it cannot be written."""
    if save is None:
        return None
    if not apply:
        raise ValueError("--save needs --apply (a dry run writes no weights)")
    path = Path(save)
    if path.suffix != ".safetensors":
        raise ValueError(f"--save={save!r} must end in .safetensors")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"--save={save!r}: folder {str(folder)!r} does not exist; create it first")
    if path.is_dir():
        raise ValueError(f"--save={save!r} is a folder; give a file name ending in .safetensors")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"--save={save!r}: no permission to write in {str(folder)!r}")
    return path


def _example_input(model: Any, args: argparse.Namespace) -> Any:
    """The example input for activation detection: a tensor, or keyword inputs passed to
    ``model.forward`` by name (HF models: ``input_ids``, ``decoder_input_ids``, ...)."""
    example = spec_input(args)
    # On the model's device (meta included: a meta model runs a meta forward).
    device = next((t.device for t in model.parameters()), None)
    if device is not None and device.type != "cpu":
        if isinstance(example, dict):
            example = {k: v.to(device) for k, v in example.items()}
        elif example is not None:
            example = example.to(device)
    if isinstance(example, dict):
        _check_keywords(model, example)
    return example


def _check_keywords(model: Any, example: dict) -> None:
    """Names ``forward`` cannot take are refused with the names it can."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # no signature to read: the forward itself will tell
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    named = [
        name
        for name, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = [name for name in example if name not in named]
    if unknown:
        cls = type(model).__name__
        raise ValueError(
            f"--input {', '.join(unknown)}: {cls}.forward does not take these inputs "
            f"{unknown}; its inputs are {named}"
        )


def _run(args: argparse.Namespace) -> int:
    from initlab._modelspec import load_model
    from initlab.rules._apply import check_target_device, init_model
    from initlab.rules._meta import has_meta

    save = _check_save(args.save, args.apply)
    prefix_map = _prefix_map(args.prefix_map, args.pretrained)
    device = None
    if args.device is not None:
        device = check_target_device("--device", args.device, dry_run=not args.apply)
    rules = _rules(args)
    model = load_model(args.model)
    if device is None and has_meta(model):
        raise ValueError(
            f"MODEL={args.model!r} has tensors on the meta device: pass --device cpu (or "
            "cuda) to materialize it there"
        )
    example = _example_input(model, args)
    try:
        plan = init_model(
            model,
            rules,
            seed=args.seed,
            rng=args.rng,
            device=device,
            dry_run=not args.apply,
            default=args.default,
            example_input=example,
            pretrained=args.pretrained,
            prefix_map=prefix_map,
        )
    except ValueError as exc:  # name the flag that made the example input
        message = str(exc)
        if example is None or not message.startswith("example_input"):
            raise
        flag = "--input" if args.input else "--input-shape"
        raise ValueError(flag + message.removeprefix("example_input")) from None
    plan.check()  # a dry run fails exactly where --apply would
    if save is not None:
        _save(model, save)
    _print(plan, as_json=args.json, all_rows=args.all_rows)
    return 0


def _file_mode(path: Path) -> int:
    """The mode a plain ``open(path, 'w')`` would give: the old file's, else 0o666 & ~umask."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
    # Write to a temporary file first so a failure leaves no partial output; mkstemp
    # creates it 0600 (and save_file may recreate it), so set the mode the file would
    # have had just before the rename.
    try:
        handle, temp = tempfile.mkstemp(suffix=".safetensors", dir=path.parent)
    except OSError as exc:
        raise ValueError(f"--save={str(path)!r}: cannot write there ({exc.strerror})") from None
    os.close(handle)
    try:
        save_file(tensors, temp)
        os.chmod(temp, _file_mode(path))
        os.replace(temp, path)
    except OSError as exc:
        raise ValueError(f"--save={str(path)!r}: writing failed ({exc.strerror})") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _print(plan: Any, *, as_json: bool, all_rows: bool) -> None:
    if as_json:
        sys.stdout.write(plan.to_json() + "\n")
        return
    from rich.console import Console

    Console(width=max(120, Console().width)).print(plan.table(fold_running_stats=not all_rows))
