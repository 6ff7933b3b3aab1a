"""Keyword-only configuration for the doctor: the probe, the thresholds, the run.

Every threshold the verdicts use lives in :class:`Thresholds`, with its default
documented in ``docs/doctor.md``; all three classes round-trip through plain
dicts (``dataclasses.asdict`` and ``from_dict``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DISTRIBUTIONS", "DTYPES", "DoctorConfig", "ProbeSpec", "Thresholds"]

DISTRIBUTIONS = ("normal", "uniform", "randint")
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32")


def _check_choice(argument: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{argument}={value!r} is not one of {', '.join(map(repr, allowed))}")


def _check_positive(argument: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{argument}={value!r} must be > 0")


@dataclass(frozen=True, kw_only=True)
class ProbeSpec:
    """A synthetic probe batch: ``shape`` includes the batch axis.

    ``distribution`` is ``normal`` (N(0, 1)), ``uniform`` (U(-√3, √3), unit
    variance) or ``randint`` (integers in ``[0, high)``: token ids).
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    distribution: str = "normal"
    high: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if not self.shape or any(s <= 0 for s in self.shape):
            raise ValueError(
                f"shape={self.shape!r} must be a non-empty tuple of positive sizes "
                "(batch axis first), e.g. (64, 128)"
            )
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("distribution", self.distribution, DISTRIBUTIONS)
        is_int = self.dtype.startswith("int")
        if is_int != (self.distribution == "randint"):
            raise ValueError(
                f"dtype={self.dtype!r} does not fit distribution={self.distribution!r}: "
                "integer dtypes go with 'randint', float dtypes with 'normal' or 'uniform'"
            )
        if self.distribution == "randint" and self.high <= 0:
            raise ValueError(
                f"high={self.high!r} must be > 0 for distribution='randint': token ids are "
                "drawn from [0, high), so set high to the vocabulary size"
            )

    def describe(self) -> str:
        """One line, e.g. ``float32 normal (64, 128)``."""
        extra = f" in [0, {self.high})" if self.distribution == "randint" else ""
        return f"{self.dtype} {self.distribution}{extra} {self.shape}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeSpec:
        """Inverse of ``dataclasses.asdict``."""
        return cls(**{**data, "shape": tuple(data["shape"])})


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The limits behind every verdict (see the table in ``docs/doctor.md``).

    Ratios compare a layer's activation std (or output-gradient norm) with the
    reference: the probe input's std for float inputs, else the first layer's.
    """

    vanish_warning: float = 1e-2
    vanish_error: float = 1e-4
    explode_warning: float = 1e2
    explode_error: float = 1e4
    grad_ratio_warning: float = 1e2
    grad_ratio_error: float = 1e4
    saturation_warning: float = 0.1
    saturation_error: float = 0.5
    dead_warning: float = 0.5
    dead_error: float = 0.9
    rank_fraction_warning: float = 0.1
    residual_growth_warning: float = 1e2
    jacobian_cond_warning: float = 1e3

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            _check_positive(item.name, getattr(self, item.name))
        pairs = [
            ("vanish_error", "vanish_warning"),
            ("explode_warning", "explode_error"),
            ("grad_ratio_warning", "grad_ratio_error"),
            ("saturation_warning", "saturation_error"),
            ("dead_warning", "dead_error"),
        ]
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(
                    f"{low}={getattr(self, low)!r} must not exceed {high}={getattr(self, high)!r}"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """Build from a dict; an unknown key raises naming the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown threshold(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class DoctorConfig:
    """How one diagnosis runs.

    ``seed`` fixes the synthetic probe, the default loss's random projection and
    the Jacobian start vector (all from explicit generators). ``jacobian_steps``
    bounds the Lanczos iterations; the default 0 skips the estimate, which costs
    about three forward+backward passes of ``jacobian_batch`` examples per step
    (24 is a good choice when you want it). ``hist_bins`` sets the histogram
    resolution. ``weight_spectra``: ``None`` (default) computes the singular values of
    the weights that fit in a quarter of a forward+backward pass by a flop estimate,
    cheapest first (the same weights on every run and machine); ``True`` all of them,
    ``False`` none. Weights with more
    than ``max_svd_numel`` elements never get a spectrum. Symmetric units are searched
    among the first ``max_duplicate_rows`` units of each weight. ``train_mode`` (default
    True) runs the probe as training will, minus the noise: every module in training
    mode (BatchNorm normalizes with the batch's statistics) except dropout and drop-path
    / stochastic depth, which are off; False runs the model in the modes
    it is in. Either way every module's mode and every buffer are restored.
    """

    seed: int = 0
    batch_size: int = 64
    jacobian_steps: int = 0
    jacobian_batch: int = 8
    hist_bins: int = 30
    weight_spectra: bool | None = None
    max_svd_numel: int = 4_000_000
    max_duplicate_rows: int = 512
    train_mode: bool = True
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} must be >= 1")
        if self.jacobian_steps < 0:
            raise ValueError(f"jacobian_steps={self.jacobian_steps!r} must be >= 0")
        for name in ("jacobian_batch", "hist_bins", "max_svd_numel", "max_duplicate_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DoctorConfig:
        """Inverse of ``dataclasses.asdict``."""
        data = dict(data)
        if "thresholds" in data:
            data["thresholds"] = Thresholds.from_dict(dict(data["thresholds"]))
        return cls(**data)
