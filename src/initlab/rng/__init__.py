"""initlab's randomness: the Sampler seam and the keyed, counter-based generator.

Layers, bottom first (each module imports only those above it in this list):

* ``_bounds`` — truncation bounds: the CDF interval and a dtype's inward bounds (torch only).
* ``_seam`` — the :class:`Sampler` protocol, :class:`TorchSampler`, :func:`as_sampler`,
  :func:`derive_seed`, :func:`seeded_generator`, Floyd's column mask (torch only).
* ``_shards`` — DTensor geometry: which box of the global tensor a rank holds (torch only).
* ``_philox`` — Philox4x32-10 and the key of a parameter (the words of the contract).
* ``_fp32`` — fp32 ``ln``, ``sin``/``cos``, ``Φ⁻¹``, ``sqrt`` from correctly rounded operations.
* ``_draws`` — words → uniform / normal / truncated-normal fp32 values (:class:`Draw`).
* ``_torch_backend``, ``_numba_backend``, ``_triton_backend`` — three implementations of
  the same bits (reference, CPU cores, CUDA kernels).
* ``_dispatch`` — the one place that picks a backend (:func:`backend_for`).
* ``_sampler`` — :class:`KeyedSampler` and :func:`named_samplers`.
* ``_grouped`` — keyed fills held back for one Triton launch per (dtype, scheme)
  (:class:`~initlab.rng._grouped.GroupedFills`, used by ``init_model``).
* ``_trunc64`` — the pinned float64 truncated normal of ``TorchSampler`` (torch ops, and a
  fused numba route on CPU with the same bits); ``_seam`` imports it inside the method.
* ``_info`` and ``_cli`` — :func:`runtime_info` and ``initlab info`` (versions, routes).

>>> backend_for("cpu", numel=8)
'torch'
"""

from initlab.rng._dispatch import (
    BACKENDS,
    backend_for,
    keyed_runs,
    keyed_words,
    numba_available,
    triton_available,
)
from initlab.rng._draws import Draw
from initlab.rng._info import runtime_info
from initlab.rng._philox import derive_key
from initlab.rng._sampler import KeyedSampler, keyed_values, named_samplers
from initlab.rng._seam import (
    GeneratorLike,
    Sampler,
    TorchSampler,
    as_sampler,
    derive_seed,
    seeded_generator,
)

__all__ = [
    "BACKENDS",
    "Draw",
    "GeneratorLike",
    "KeyedSampler",
    "Sampler",
    "TorchSampler",
    "as_sampler",
    "backend_for",
    "derive_key",
    "derive_seed",
    "keyed_runs",
    "keyed_values",
    "keyed_words",
    "named_samplers",
    "numba_available",
    "runtime_info",
    "seeded_generator",
    "triton_available",
]
