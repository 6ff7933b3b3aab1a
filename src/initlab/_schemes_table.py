"""Tables of what each scheme gives typical layers: the data behind ``initlab schemes``.

Pure data (rows of plain values); the CLI renders them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from initlab._gains import ACTIVATIONS, calculate_gain, gain
from initlab._registry import get

__all__ = ["TYPICAL_LAYERS", "GainRow", "gain_rows", "scheme_rows"]

# (label, weight shape in PyTorch layout)
TYPICAL_LAYERS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Linear(784, 256)", (256, 784)),
    ("Linear(4096, 1024)", (1024, 4096)),
    ("Conv2d(64, 128, 3)", (128, 64, 3, 3)),
    ("Conv2d(3, 64, 7)", (64, 3, 7, 7)),
)

DEFAULT_SCHEMES = (
    "glorot_uniform",
    "glorot_normal",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "kaiming_normal",
    "lecun_normal",
    "orthogonal",
)


def scheme_rows(
    schemes: tuple[str, ...] = DEFAULT_SCHEMES,
    layers: tuple[tuple[str, tuple[int, ...]], ...] = TYPICAL_LAYERS,
) -> list[dict[str, object]]:
    """One row per (scheme, layer): fans, std and bound, computed without sampling.

    A layer whose shape the scheme cannot take (sparse on a conv kernel) has no row.
    """
    rows: list[dict[str, object]] = []
    for name in schemes:
        init = get(name, seed=0)
        for label, shape in layers:
            try:
                spec = init.spec(shape)
            except ValueError:
                continue
            rows.append(
                {
                    "scheme": name,
                    "layer": label,
                    "fan_in": spec.fans.fan_in if spec.fans else None,
                    "fan_out": spec.fans.fan_out if spec.fans else None,
                    "std": spec.std,
                    "bound": spec.bound,
                }
            )
    return rows


@dataclass(frozen=True)
class GainRow:
    """Derived gain of one activation beside PyTorch's table entry (None when it has none)."""

    activation: str
    derived: float
    torch_table: float | None


_TABLE_NAMES = {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"}


def gain_rows() -> list[GainRow]:
    """Derived gain of every named activation, with PyTorch's value where it has one."""
    rows = []
    for name in ACTIVATIONS:
        table = float(calculate_gain(name)) if name in _TABLE_NAMES else None
        rows.append(GainRow(name, gain(name), table))
    return rows


def relative_difference(row: GainRow) -> float | None:
    """(derived - table) / table, or None without a table entry."""
    if row.torch_table is None:
        return None
    return (row.derived - row.torch_table) / row.torch_table if row.torch_table else math.nan
