"""Cost of ``initlab doctor`` as a multiple of a plain forward+backward of the same model.

Run: ``python benchmarks/bench_doctor.py``. Prints, per model, the median time of a
plain forward+backward on the probe batch, of ``diagnose`` without the Jacobian
estimate and weight SVDs (target: within 3×), then with the weight spectra, then
with 24 Lanczos steps for the Jacobian.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from initlab.doctor import DoctorConfig, ProbeSpec, diagnose

REPEATS = 5


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


def median_seconds(fn: Callable[[], object]) -> float:
    fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(name: str, model: nn.Module, spec: ProbeSpec) -> None:
    x = torch.randn(spec.shape, generator=torch.Generator().manual_seed(0))

    def plain() -> None:
        model(x).square().mean().backward()
        model.zero_grad(set_to_none=True)

    base = median_seconds(plain)
    print(f"{name}: plain forward+backward {base * 1e3:.1f} ms")
    for label, config in (
        ("statistics only", DoctorConfig(jacobian_steps=0, weight_spectra=False)),
        ("+ weight spectra", DoctorConfig(jacobian_steps=0)),
        ("+ Jacobian (24 steps)", DoctorConfig(jacobian_steps=24)),
    ):
        seconds = median_seconds(lambda config=config: diagnose(model, x, config=config))
        print(f"  {label:<22} {seconds * 1e3:8.1f} ms = {seconds / base:5.2f}x")


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    for name, factory in (("mlp", mlp), ("cnn", cnn)):
        model, spec = factory()
        bench(name, model, spec)


if __name__ == "__main__":
    main()
