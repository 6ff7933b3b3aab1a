"""Cost of ``initlab doctor`` as a multiple of a plain forward+backward of the same model.

Run: ``python -m initlab.bench.doctor [--repeats N]``. Per model, it times a plain
forward+backward on the probe batch and ``diagnose`` in three configurations, interleaved
round by round so that load from other jobs hits all of them alike, and reports the
minimum over the rounds side by side:

* statistics only (``jacobian_steps=0, weight_spectra=False``; target: within 3×);
* with weight spectra (batched ``svdvals`` + duplicate-unit search), and their own cost;
* with the Jacobian estimate (24 Lanczos steps), and its own cost.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
from torch import nn

from initlab.doctor import DoctorConfig, ProbeSpec, diagnose

CONFIGS = {
    "stats": DoctorConfig(jacobian_steps=0, weight_spectra=False),
    "spectra": DoctorConfig(jacobian_steps=0),
    "jacobian": DoctorConfig(jacobian_steps=24),
}


def mlp() -> tuple[nn.Module, ProbeSpec]:
    layers: list[nn.Module] = []
    for _ in range(16):
        layers += [nn.Linear(512, 512), nn.ReLU()]
    return nn.Sequential(*layers), ProbeSpec(shape=(512, 512))


def cnn() -> tuple[nn.Module, ProbeSpec]:
    layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, padding=1), nn.ReLU()]
    for _ in range(6):
        layers += [nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)]
    return nn.Sequential(*layers), ProbeSpec(shape=(64, 3, 32, 32))


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(model: nn.Module, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Minimum seconds per configuration ("plain" and the keys of CONFIGS)."""

    def plain() -> None:
        model(x).square().mean().backward()
        model.zero_grad(set_to_none=True)

    def doctor(config: DoctorConfig) -> Callable[[], object]:
        return lambda: diagnose(model, x, config=config)

    runs: dict[str, Callable[[], object]] = {"plain": plain}
    runs.update((key, doctor(config)) for key, config in CONFIGS.items())
    best = {key: float("inf") for key in runs}
    for fn in runs.values():
        fn()  # warm-up
    for _ in range(repeats):
        for key, fn in runs.items():
            best[key] = min(best[key], seconds(fn))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, load {load:.1f}")
    print(f"minimum of {repeats} interleaved rounds; ratios to a plain forward+backward")
    header = f"{'model':<5} {'plain':>9} {'stats':>7} {'+spectra':>9} {'+Jacobian':>10}"
    print(header + f" {'spectra alone':>14} {'Jacobian alone':>15}")
    for name, factory in (("mlp", mlp), ("cnn", cnn)):
        model, spec = factory()
        x = torch.randn(spec.shape, generator=torch.Generator().manual_seed(0))
        t = bench(model, x, repeats)
        base = t["plain"]
        spectra_alone = max(t["spectra"] - t["stats"], 0.0) / base
        jacobian_alone = max(t["jacobian"] - t["spectra"], 0.0) / base
        print(
            f"{name:<5} {base * 1e3:7.0f}ms {t['stats'] / base:6.2f}x {t['spectra'] / base:8.2f}x "
            f"{t['jacobian'] / base:9.2f}x {spectra_alone:13.2f}x {jacobian_alone:14.2f}x"
        )


if __name__ == "__main__":
    main()
