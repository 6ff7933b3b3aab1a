"""Print the timm/torchvision results table of docs/models.md (markdown), where they import.

    PYTHONPATH=src build/zoo-venv/bin/python -m tests.zoo.timm_tv.results_table

(``make test-zoo`` builds that venv.) The columns are those of the HF table
(``tests/zoo/results_table.py``, whose cells this reuses) less ``hf``, plus the parameter
count and the layers whose activation detection left undetermined on the example input.
"""

from __future__ import annotations

import re
import warnings

import torch
from tests.zoo.results_table import _auto, _native_keyed, _native_torch, _try
from tests.zoo.timm_tv.models import ZOO, ZooModel

from initlab.rules import build, detect_activations, init_model


def _undetermined(zoo: ZooModel) -> str:
    found = detect_activations(zoo.factory(), zoo.example_input(batch=1))
    return f"{sum(a.name is None for a in found.values())}/{len(found)}"


def _meta(zoo: ZooModel) -> str:
    model, _ = build(zoo.factory, "auto", seed=0)
    reference = dict(zoo.factory().named_buffers())
    buffers = dict(model.named_buffers())
    same = all(torch.equal(v, buffers[k]) for k, v in reference.items())
    with torch.no_grad():
        model.eval()(zoo.example_input())
    try:
        with torch.device("meta"):
            plain = zoo.factory()
    except Exception:  # the library's constructor reads values (.tolist())
        return f"{'ok' if same else 'BUFFERS DIFFER'} [constructor needs values]"
    try:
        init_model(plain, "auto", seed=0, device="cpu")
        cell = "ok"
    except ValueError as exc:  # the plan names a tensor: "  blocks.0.gamma: meta parameter ..."
        named = re.search(r"([\w.]+): meta (?:parameter|buffer)", str(exc))
        cell = f"names `{named.group(1).rsplit('.', 1)[-1]}`" if named else "error"
    return f"{'ok' if same else 'BUFFERS DIFFER'} [{cell}]"


def main() -> None:
    warnings.simplefilter("ignore")
    header = ["model", "params", "auto", "undetermined", "torch-default"]
    header += ["native torch", "native keyed", "meta"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key, zoo in ZOO.items():
        params = sum(p.numel() for p in zoo.factory().parameters())
        cells = [
            key,
            f"{params / 1e6:.1f} M",
            _try(_auto, zoo.factory, "auto"),
            _try(_undetermined, zoo),
            _try(_auto, zoo.factory, "torch-default"),
            _try(_native_torch, zoo.factory),
            _try(_native_keyed, zoo.factory),
            _try(_meta, zoo),
        ]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
