"""The probe batch: the user's own, or a synthetic one from a :class:`ProbeSpec`.

Without a spec, the input is inferred from the first parameterized layer when
that is unambiguous (Linear ``in_features``, Conv ``in_channels`` with a default
spatial size, Embedding vocabulary); otherwise the caller must give a shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from initlab.doctor._config import ProbeSpec
from initlab.rng import seeded_generator

__all__ = ["Probe", "build_probe", "infer_spec", "make_input"]

# Default spatial size of an inferred conv input, per spatial rank.
DEFAULT_SPATIAL = {1: (128,), 2: (32, 32), 3: (16, 16, 16)}
DEFAULT_SEQUENCE_LENGTH = 32


@dataclass(frozen=True)
class Probe:
    """Positional and keyword inputs of the probe pass, and how they were made."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    description: str


def _first_layer(model: nn.Module) -> tuple[str, nn.Module] | None:
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            return name, module
    return None


def infer_spec(model: nn.Module, *, batch_size: int = 64) -> tuple[ProbeSpec, str]:
    """Infer a probe from the first parameterized layer; return it and an explanation."""
    found = _first_layer(model)
    hint = "pass input_shape (CLI: --input-shape 64,128) or your own batch"
    if found is None:
        raise ValueError(f"cannot infer the probe input: the model has no parameters; {hint}")
    name, layer = found
    label = f"{name or '(model)'!r} ({type(layer).__name__}"
    if isinstance(layer, nn.Linear):
        spec = ProbeSpec(shape=(batch_size, layer.in_features))
        return spec, f"inferred from {label} in_features={layer.in_features})"
    if isinstance(layer, nn.modules.conv._ConvNd):
        rank = len(layer.kernel_size)
        spatial = DEFAULT_SPATIAL[rank]
        spec = ProbeSpec(shape=(batch_size, layer.in_channels, *spatial))
        return spec, f"inferred from {label} in_channels={layer.in_channels}, default size)"
    if isinstance(layer, nn.Embedding):
        spec = ProbeSpec(
            shape=(batch_size, DEFAULT_SEQUENCE_LENGTH),
            dtype="int64",
            distribution="randint",
            high=layer.num_embeddings,
        )
        return spec, f"inferred from {label} num_embeddings={layer.num_embeddings})"
    raise ValueError(
        f"cannot infer the probe input from the first layer {label}): only Linear, Conv "
        f"and Embedding first layers are unambiguous; {hint}"
    )


def make_input(
    spec: ProbeSpec, *, seed: int, device: torch.device, key: object = 0
) -> torch.Tensor:
    """Draw the synthetic probe from a seeded generator (never the global RNG)."""
    generator = seeded_generator(seed, "doctor-probe", key)
    dtype = getattr(torch, spec.dtype)
    if spec.distribution == "randint":
        data = torch.randint(0, spec.high, spec.shape, generator=generator, dtype=dtype)
    elif spec.distribution == "uniform":
        bound = math.sqrt(3.0)  # U(-√3, √3) has unit variance
        data = torch.rand(spec.shape, generator=generator).mul_(2 * bound).sub_(bound).to(dtype)
    else:
        data = torch.randn(spec.shape, generator=generator).to(dtype)
    return data.to(device)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def build_probe(
    model: nn.Module,
    inputs: Any = None,
    spec: ProbeSpec | tuple[ProbeSpec, ...] | None = None,
    *,
    seed: int = 0,
    batch_size: int = 64,
) -> Probe:
    """Resolve the probe: ``inputs`` (tensor, tuple of args or dict of kwargs) or a spec."""
    if inputs is not None and spec is not None:
        raise ValueError("give either inputs or spec (input_shape), not both")
    if inputs is not None:
        return _user_probe(inputs)
    device = _model_device(model)
    explanation = "from the given input spec"
    if spec is None:
        inferred, explanation = infer_spec(model, batch_size=batch_size)
        spec = inferred
    specs = spec if isinstance(spec, tuple) else (spec,)
    args = tuple(make_input(s, seed=seed, device=device, key=i) for i, s in enumerate(specs))
    described = "; ".join(s.describe() for s in specs)
    return Probe(args, {}, f"synthetic {described}, seed {seed} ({explanation})")


def _user_probe(inputs: Any) -> Probe:
    if isinstance(inputs, torch.Tensor):
        args: tuple[Any, ...] = (inputs,)
        kwargs: dict[str, Any] = {}
    elif isinstance(inputs, Mapping):
        args, kwargs = (), dict(inputs)
    elif isinstance(inputs, (tuple, list)):
        args, kwargs = tuple(inputs), {}
    else:
        raise TypeError(
            f"inputs of type {type(inputs).__name__} is not supported; pass a tensor, "
            "a tuple of positional inputs or a dict of keyword inputs"
        )
    shapes = [tuple(t.shape) for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)]
    return Probe(args, kwargs, f"user batch, tensor shapes {shapes}")
