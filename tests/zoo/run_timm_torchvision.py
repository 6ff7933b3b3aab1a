"""The zoo checks on timm and torchvision models, where those libraries import.

Not part of CI: PyPI's torchvision wheel (and the one the CPU index served here, the same
file) is built against CUDA PyTorch, so with PyTorch's CPU build its ``_C.so`` fails to
load (``operator torchvision::nms does not exist``), and timm imports torchvision. On a
machine where both import (CUDA PyTorch, or a matching ``+cpu`` torchvision wheel):

    PYTHONPATH=src python -m tests.zoo.run_timm_torchvision

For each model: ``auto`` and ``torch-default`` plans, ``native`` with ``rng="torch"`` equal
to ``torch.manual_seed(s); factory()`` bit for bit, ``rng="keyed"`` per-tensor std against
the recorded scheme, and ``initlab.build`` on meta (buffers equal, forward runs). Exits 1
when any check fails. No weights are downloaded (``pretrained=False``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
from torch import nn

from initlab.rules import build, init_model

TIMM = (
    "resnet18",
    "efficientnet_b0",
    "convnext_atto",
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "swin_tiny_patch4_window7_224",
    "maxvit_tiny_tf_224",
    "coatnet_0_rw_224",
    "fastvit_t8",
    "poolformer_s12",
    "levit_128s",
    "mobilenetv3_small_100",
    "regnetx_002",
    "cait_xxs24_224",
)
TORCHVISION = (
    "resnet18",
    "resnet50",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
    "swin_t",
    "maxvit_t",
    "regnet_y_400mf",
    "densenet121",
    "squeezenet1_0",
    "shufflenet_v2_x0_5",
    "mnasnet0_5",
    "googlenet",
    "inception_v3",
    "alexnet",
    "vgg11",
    "wide_resnet50_2",
)


def factories() -> dict[str, Callable[[], nn.Module]]:
    import timm
    import torchvision

    found: dict[str, Callable[[], nn.Module]] = {}
    for name in TIMM:
        found[f"timm/{name}"] = lambda n=name: timm.create_model(n, pretrained=False)
    for name in TORCHVISION:
        extra = (
            {"aux_logits": False, "init_weights": True}
            if name in ("googlenet", "inception_v3")
            else {}
        )
        found[f"torchvision/{name}"] = lambda n=name, e=extra: torchvision.models.get_model(
            n, weights=None, **e
        )
    return found


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def check(name: str, factory: Callable[[], nn.Module]) -> list[str]:
    problems = []
    size = 299 if "inception" in name else 224
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    for preset in ("auto", "torch-default"):
        plan = init_model(factory(), preset, seed=0, dry_run=True, example_input=x)
        problems += [f"{preset}: {e[:200]}" for e in plan.errors]
    model, _ = build(factory, seed=3)
    torch.manual_seed(3)
    reference = _state(factory())
    problems += [
        f"native torch differs: {n}"
        for n, t in _state(model).items()
        if not torch.equal(t, reference[n])
    ]
    keyed, plan = build(factory, rng="keyed", seed=3)
    state = _state(keyed)
    for entry in plan:
        if (
            entry.tied_to is None
            and entry.scheme in ("normal", "uniform", "truncated_normal")
            and entry.std
        ):
            tensor = state[entry.name].float()
            if tensor.numel() >= 1024 and abs(tensor.std().item() / entry.std - 1) > 5 / math.sqrt(
                2 * tensor.numel()
            ):
                problems.append(f"keyed std off: {entry.name}")
    meta, _ = build(factory, "auto", seed=0, example_input=x)
    buffers = dict(meta.named_buffers())
    problems += [
        f"meta buffer differs: {n}"
        for n, b in factory().named_buffers()
        if not torch.equal(b, buffers[n])
    ]
    with torch.no_grad():
        meta.eval()(x)
    return problems


def main() -> int:
    failed = 0
    for name, factory in factories().items():
        try:
            problems = check(name, factory)
        except Exception as exc:  # report and go on: this is a survey script
            problems = [f"{type(exc).__name__}: {exc}"]
        failed += bool(problems)
        print(f"{name}: {'ok' if not problems else '; '.join(problems[:5])}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
