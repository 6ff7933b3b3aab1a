"""Print the per-family results table of docs/models.md (markdown) for the HF zoo.

    PYTHONPATH=src python -m tests.zoo.results_table

Columns: ``auto`` and ``torch-default`` plan and apply (or the parameters PyTorch has no
default for); ``native torch`` equals a normal build bit for bit; ``native keyed`` the
largest |sample std / author's std - 1| over random tensors of >= 128 elements; ``hf``
the largest |hf preset std / native std - 1| over weights; ``meta`` buffers equal to a
normal build's and the forward runs (``initlab.build``; the plain ``torch.device("meta")``
path in brackets).
"""

from __future__ import annotations

import warnings

import torch
from tests.zoo.hf_models import ZOO

from initlab.rules import build, init_model


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    state = dict(model.named_parameters())
    state.update(model.named_buffers())
    return state


def _try(fn, *args) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(fn(*args))
    except Exception as exc:  # a table cell, not a crash
        return f"error: {str(exc).splitlines()[-1][:60]}"


def _auto(factory, preset: str) -> str:  # type: ignore[no-untyped-def]
    plan = init_model(factory(), preset, seed=0, dry_run=True)
    if not plan.errors:
        kept = sum(1 for e in plan if e.scheme == "keep")
        return f"ok ({kept} kept)" if kept else "ok"
    return f"n/a: {len(plan.uncovered)} custom"


def _native_torch(factory) -> str:  # type: ignore[no-untyped-def]
    model, _ = build(factory, seed=11)
    torch.manual_seed(11)
    reference = _state(factory())
    built = _state(model)
    same = all(torch.equal(reference[n], built[n]) for n in reference)
    return "bit-identical" if same else "DIFFERS"


def _native_keyed(factory) -> str:  # type: ignore[no-untyped-def]
    model, plan = build(factory, rng="keyed", seed=11)
    state = _state(model)
    worst = 0.0
    for entry in plan:
        if entry.tied_to is None and entry.scheme in ("normal", "uniform", "truncated_normal"):
            tensor = state[entry.name].float()
            if tensor.numel() >= 128 and entry.std:
                worst = max(worst, abs(tensor.std().item() / entry.std - 1))
    return f"{worst:.3f}"


def _hf(factory) -> str:  # type: ignore[no-untyped-def]
    native = {e.name: e.std for e in build(factory, seed=0)[1]}
    plan = init_model(factory(), "hf", seed=0, dry_run=True)
    worst = 0.0
    for entry in plan:
        if entry.role == "weight" and entry.std and native.get(entry.name):
            worst = max(worst, abs(entry.std / native[entry.name] - 1))
    return f"{worst:.3f}"


def _meta(factory, inputs) -> str:  # type: ignore[no-untyped-def]
    model, _ = build(factory, "auto", seed=0)
    reference = dict(factory().named_buffers())
    same = all(torch.equal(v, dict(model.named_buffers())[k]) for k, v in reference.items())
    model.eval()
    with torch.no_grad():
        model(**inputs)
    with torch.device("meta"):
        plain = factory()
    plain_cell = _try(lambda: bool(init_model(plain, "auto", seed=0, device="cpu").applied))
    plain_cell = "ok" if plain_cell == "True" else "names " + plain_cell.split(":")[-2][-30:]
    return f"{'ok' if same else 'BUFFERS DIFFER'} [{plain_cell}]"


def main() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    warnings.simplefilter("ignore")
    header = ["family", "auto", "torch-default", "native torch", "native keyed", "hf", "meta"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for family, (factory, inputs) in ZOO.items():
        cells = [
            family,
            _try(_auto, factory, "auto"),
            _try(_auto, factory, "torch-default"),
            _try(_native_torch, factory),
            _try(_native_keyed, factory),
            _try(_hf, factory),
            _try(_meta, factory, inputs),
        ]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
