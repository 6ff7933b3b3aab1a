"""Offline datasets: scikit-learn's digits, circles and moons, or a user's tensor file.

Every split is deterministic given ``data_seed``; features are standardized with
the training set's statistics (circles and moons are already O(1) and kept raw,
as in the original assignment).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from initlab._validation import check_positive, unknown_name_error
from initlab.experiments._base import Spec, check_int

__all__ = ["DATASETS", "DataSpec", "Dataset", "load_dataset"]

DATASETS = ("digits", "circles", "moons")


@dataclass(frozen=True, kw_only=True)
class DataSpec(Spec):
    """Which data an experiment trains on: a name from :data:`DATASETS` or a ``.pt`` path,
    the split seed, split sizes and noise (None: the dataset's own default)."""

    dataset: str = "digits"
    data_seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    noise: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str):
            raise TypeError(f"dataset={self.dataset!r} must be a dataset name or a .pt path")
        if self.dataset not in DATASETS and not self.dataset.endswith(".pt"):
            raise unknown_name_error("dataset", self.dataset, [*DATASETS, "<path to a .pt file>"])
        check_int("data_seed", self.data_seed, minimum=0)
        for arg in ("n_train", "n_test"):
            if getattr(self, arg) is not None:
                check_int(arg, getattr(self, arg), minimum=2)
        if self.noise is not None:
            check_positive("noise", self.noise, allow_zero=True)

    def load(self, *, binary: bool = False) -> Dataset:
        """The dataset (see :func:`load_dataset`)."""
        return load_dataset(
            self.dataset,
            data_seed=self.data_seed,
            n_train=self.n_train,
            n_test=self.n_test,
            noise=self.noise,
            binary=binary,
        )


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """Train and test tensors; ``y`` holds class indices (float 0/1 for ``binary``)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def binary(self) -> bool:
        return self.n_classes == 2 and self.y_train.dtype.is_floating_point

    @property
    def n_features(self) -> int:
        return int(self.x_train[0].numel())

    def to(self, device: torch.device) -> Dataset:
        return Dataset(
            name=self.name,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
            n_classes=self.n_classes,
        )

    def as_images(self) -> Dataset:
        """Digits as (N, 1, 8, 8) images for the small CNN."""
        side = round(self.n_features**0.5)
        if side * side != self.n_features:
            raise ValueError(
                f"dataset={self.name!r} has {self.n_features} features, not a square image; "
                "use model kind 'mlp'"
            )
        return Dataset(
            name=self.name,
            x_train=self.x_train.reshape(-1, 1, side, side),
            y_train=self.y_train,
            x_test=self.x_test.reshape(-1, 1, side, side),
            y_test=self.y_test,
            n_classes=self.n_classes,
        )


def load_dataset(
    name: str,
    *,
    data_seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    noise: float | None = None,
    binary: bool = False,
) -> Dataset:
    """Load ``name`` (one of :data:`DATASETS`, or a path to a ``.pt`` tensor file).

    A tensor file holds a dict with ``x_train, y_train, x_test, y_test`` (or ``x, y``,
    split 75/25 with ``data_seed``); ``y`` are integer class labels.
    ``binary=True`` returns float 0/1 targets for a one-logit model (two classes only).
    """
    if name == "digits":
        data = _digits(data_seed, n_train, n_test)
    elif name in ("circles", "moons"):
        data = _two_d(name, data_seed, n_train or 300, n_test or 100, noise)
    elif name.endswith(".pt") or Path(name).is_file():
        data = _tensor_file(Path(name), data_seed)
    else:
        raise unknown_name_error("dataset", name, [*DATASETS, "<path to a .pt file>"])
    return _binary(data) if binary else data


def _split(n: int, n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[:n_train], order[n_train : n_train + n_test]


def _digits(seed: int, n_train: int | None, n_test: int | None) -> Dataset:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    n_test = n_test if n_test is not None else 450
    n_train = n_train if n_train is not None else len(x) - n_test
    if n_train < 1 or n_test < 1 or n_train + n_test > len(x):
        raise ValueError(
            f"n_train={n_train}, n_test={n_test}: digits has {len(x)} samples; "
            "both must be >= 1 and sum to at most that"
        )
    train, test = _split(len(x), n_train, n_test, seed)
    return _standardized("digits", x[train], y[train], x[test], y[test], 10)


def _two_d(name: str, seed: int, n_train: int, n_test: int, noise: float | None) -> Dataset:
    from sklearn.datasets import make_circles, make_moons

    if name == "circles":
        noise = 0.05 if noise is None else noise
        x_tr, y_tr = make_circles(n_samples=n_train, noise=noise, random_state=seed)
        x_te, y_te = make_circles(n_samples=n_test, noise=noise, random_state=seed + 1)
    else:
        noise = 0.2 if noise is None else noise
        x_tr, y_tr = make_moons(n_samples=n_train, noise=noise, random_state=seed)
        x_te, y_te = make_moons(n_samples=n_test, noise=noise, random_state=seed + 1)
    return Dataset(
        name=name,
        x_train=torch.as_tensor(x_tr, dtype=torch.float32),
        y_train=torch.as_tensor(y_tr, dtype=torch.long),
        x_test=torch.as_tensor(x_te, dtype=torch.float32),
        y_test=torch.as_tensor(y_te, dtype=torch.long),
        n_classes=2,
    )


def _standardized(
    name: str, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, k: int
) -> Dataset:
    mean = x_tr.mean(axis=0)
    std = x_tr.std(axis=0)
    std[std == 0] = 1.0
    return Dataset(
        name=name,
        x_train=torch.as_tensor((x_tr - mean) / std, dtype=torch.float32),
        y_train=torch.as_tensor(y_tr, dtype=torch.long),
        x_test=torch.as_tensor((x_te - mean) / std, dtype=torch.float32),
        y_test=torch.as_tensor(y_te, dtype=torch.long),
        n_classes=k,
    )


def _tensor_file(path: Path, seed: int) -> Dataset:
    if not path.is_file():
        raise FileNotFoundError(f"dataset={str(path)!r}: no such file")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict):
        raise ValueError(f"dataset={str(path)!r} must hold a dict of tensors")
    if {"x_train", "y_train", "x_test", "y_test"} <= set(blob):
        parts = [blob[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    elif {"x", "y"} <= set(blob):
        x, y = blob["x"], blob["y"]
        n_test = max(1, len(x) // 4)
        train, test = _split(len(x), len(x) - n_test, n_test, seed)
        parts = [x[train], y[train], x[test], y[test]]
    else:
        raise ValueError(
            f"dataset={str(path)!r} has keys {sorted(blob)}; expected "
            "x_train, y_train, x_test, y_test (or x, y)"
        )
    x_tr, y_tr, x_te, y_te = (torch.as_tensor(p) for p in parts)
    if y_tr.dtype.is_floating_point or y_tr.ndim != 1:
        raise ValueError(f"dataset={str(path)!r}: y must be a 1-D tensor of integer class labels")
    n_classes = int(max(y_tr.max().item(), y_te.max().item())) + 1
    return Dataset(
        name=path.stem,
        x_train=x_tr.float(),
        y_train=y_tr.long(),
        x_test=x_te.float(),
        y_test=y_te.long(),
        n_classes=n_classes,
    )


def _binary(data: Dataset) -> Dataset:
    if data.n_classes != 2:
        raise ValueError(
            f"dataset={data.name!r} has {data.n_classes} classes; a one-logit model needs 2"
        )
    return Dataset(
        name=data.name,
        x_train=data.x_train,
        y_train=data.y_train.float(),
        x_test=data.x_test,
        y_test=data.y_test.float(),
        n_classes=2,
    )
