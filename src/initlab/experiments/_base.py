"""What every experiment shares: its config base, tidy records, source checks and results.

An experiment's ``run(config, tick)`` returns tidy :class:`Record` rows (one per
setting, seed, metric and index); its ``check`` compares them with what the
source states (:class:`SourceCheck`); aggregates, JSON and the HTML report are
all derived from those rows.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from initlab._validation import check_choice, check_positive, unknown_name_error

__all__ = [
    "MAX_SEEDS",
    "ExperimentConfig",
    "ExperimentResult",
    "Progress",
    "Record",
    "Source",
    "SourceCheck",
    "Spec",
    "Tick",
    "aggregate",
    "per_seed",
    "resolve_device",
]

# ``progress(experiment_name, completed_units, total_units)``; the CLI draws a bar from it.
Progress = Callable[[str, int, int], None]
# ``tick(completed_units, total_units)``: the progress of one running experiment.
Tick = Callable[[int, int], None]
Value = float | None | list[Any]
S = TypeVar("S", bound="Spec")


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when present), checked."""
    if not isinstance(device, str):
        raise TypeError(f"device={device!r} must be a string such as 'cpu', 'cuda' or 'auto'")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device={device!r} is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'auto'"
        ) from None
    check_choice("device type", parsed.type, ("cpu", "cuda"))
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = parsed.index or 0
        if index >= count:
            raise ValueError(
                f"device={device!r} is not available: this machine has {count} CUDA device(s); "
                "use device='cpu' or 'auto'"
            )
    return parsed


class Spec:
    """Plain-dict and JSON round trip for the keyword-only dataclasses of experiments.

    A field whose default is itself a :class:`Spec` (an experiment's ``train`` or
    ``data``) is read back from a nested dict; lists become tuples.
    """

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists, nested specs dicts)."""
        return json_ready(dataclasses.asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any]) -> S:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the known ones."""
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} must be built from a mapping, got {data!r}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs = {}
        for key, value in data.items():
            if key not in fields:
                raise unknown_name_error(f"{cls.__name__} field", key, fields)
            default = fields[key].default
            if isinstance(default, Spec) and isinstance(value, Mapping):
                value = type(default).from_dict(value)
            kwargs[key] = _tuplify(value)
        return cls(**kwargs)

    def replace(self: S, **changes: Any) -> S:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


#: Every seed is one more model in memory (the runs of a setting train as one stack).
MAX_SEEDS = 256


@dataclass(kw_only=True)
class ExperimentConfig(Spec):
    """Fields every experiment has: how many seeds, the first seed, and the device.

    Runs use seeds ``seed, seed + 1, ..., seed + seeds - 1``; each run's randomness
    comes from :func:`initlab.rng.seeded_generator` keyed by that seed.
    """

    seeds: int = 3
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_int("seeds", self.seeds, minimum=1)
        if self.seeds > MAX_SEEDS:
            raise ValueError(
                f"seeds={self.seeds} is more than {MAX_SEEDS}: every seed adds one model per "
                "setting to memory; run several experiments with different --seed instead"
            )
        check_int("seed", self.seed, minimum=0)
        resolve_device(self.device)
        self.validate()

    def validate(self) -> None:
        """Experiment-specific checks; subclasses override."""

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))

    @property
    def torch_device(self) -> torch.device:
        return resolve_device(self.device)


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``changes``; nested dicts (and specs) merge key by key."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Spec):
            value = value.to_dict()
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            value = merge(out[key], value)
        out[key] = value
    return out


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def json_ready(value: Any) -> Any:
    """Tuples to lists, non-finite floats to None, recursively (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_int(arg: str, value: object, *, minimum: int = 1) -> int:
    """``value`` as an integer >= ``minimum``; errors name ``arg`` and echo the value."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{arg}={value!r} must be an integer")
    if value < minimum:
        raise ValueError(f"{arg}={value!r} must be >= {minimum}")
    return value


def check_fields(
    config: object,
    *,
    at_least: Mapping[str, int] | None = None,
    positive: Iterable[str] = (),
    non_negative: Iterable[str] = (),
) -> None:
    """Check a config's numeric fields; every error names the field and echoes its value.

    ``at_least`` maps integer fields to their minimum (a tuple field must be non-empty
    and every entry is checked, e.g. ``hidden[1]=0``); ``positive`` names real fields
    that must be finite and > 0 (learning rates), ``non_negative`` finite and >= 0
    (noise, momentum).
    """
    for name, minimum in (at_least or {}).items():
        value = getattr(config, name)
        if isinstance(value, tuple):
            if not value:
                raise ValueError(f"{name}=() must list at least one entry")
            for i, entry in enumerate(value):
                check_int(f"{name}[{i}]", entry, minimum=minimum)
        else:
            check_int(name, value, minimum=minimum)
    for name in positive:
        check_positive(name, getattr(config, name))
    for name in non_negative:
        check_positive(name, getattr(config, name), allow_zero=True)


def check_names(arg: str, values: Sequence[str], known: Iterable[str]) -> None:
    """Every entry of ``values`` is one of ``known``; at least one entry."""
    known = list(known)
    if isinstance(values, str) or not values:
        raise ValueError(f"{arg}={values!r} must be a non-empty sequence of names")
    for value in values:
        check_choice(arg, value, known)


@dataclass(frozen=True, kw_only=True)
class Record:
    """One tidy observation: ``metric`` of ``setting`` for ``seed`` at ``index``.

    ``index`` is a training step, a layer or a depth (None for a scalar);
    ``value`` is a float, None (e.g. "never happened", or non-finite) or a
    list for array-valued observations such as histograms.
    """

    setting: str
    seed: int | None
    metric: str
    value: Value
    index: float | None = None


@dataclass(frozen=True, kw_only=True)
class Source:
    """A publication or course a reader can look up: who, when, what, and where."""

    citation: str
    url: str | None = None

    def __str__(self) -> str:
        return self.citation if self.url is None else f"{self.citation} <{self.url}>"


@dataclass(frozen=True, kw_only=True)
class SourceCheck:
    """One claim of a source checked against our runs, with the source's figure if it gives one.

    ``agrees`` is True/False when the claim can be tested on our numbers, None when
    it is only shown (e.g. a panel the source does not have).
    """

    claim: str
    ours: str
    published: str | None = None
    source: Source | None = None
    agrees: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(kw_only=True)
class ExperimentResult:
    """What one experiment returns: its config, tidy records and findings."""

    name: str
    title: str
    config: dict[str, Any]
    records: list[Record] = field(default_factory=list)
    findings: list[SourceCheck] = field(default_factory=list)
    seconds: float = 0.0

    def select(self, **where: Any) -> list[Record]:
        """Records whose fields equal every ``where`` item."""
        return [r for r in self.records if all(getattr(r, k) == v for k, v in where.items())]

    def settings(self) -> list[str]:
        """Setting names in first-seen order."""
        return list(dict.fromkeys(r.setting for r in self.records if r.seed is not None))

    def to_json(self) -> dict[str, Any]:
        return json_ready(
            {
                "title": self.title,
                "config": self.config,
                "seconds": round(self.seconds, 3),
                "findings": [f.to_dict() for f in self.findings],
                "aggregate": aggregate(self.records),
                "per_seed": per_seed(self.records),
            }
        )


def per_seed(records: Iterable[Record]) -> dict[str, Any]:
    """setting → seed → metric → scalar, array or ``{"index": [...], "value": [...]}``."""
    out: dict[str, Any] = {}
    for r in records:
        slot = out.setdefault(r.setting, {}).setdefault(str(r.seed), {})
        if r.index is None:
            slot[r.metric] = r.value
        else:
            curve = slot.setdefault(r.metric, {"index": [], "value": []})
            curve["index"].append(r.index)
            curve["value"].append(r.value)
    return out


def summarize(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """mean/std/min/max over the finite values, and how many were missing."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"n": 0, "missing": len(values), "mean": None, "std": None, "min": None, "max": None}
    return {
        "n": len(finite),
        "missing": len(values) - len(finite),
        "mean": statistics.fmean(finite),
        "std": statistics.pstdev(finite) if len(finite) > 1 else 0.0,
        "min": min(finite),
        "max": max(finite),
    }


def aggregate(records: Iterable[Record]) -> dict[str, dict[str, Any]]:
    """setting → metric → summary over seeds, for scalar metrics only."""
    groups: dict[tuple[str, str], list[float | None]] = {}
    for r in records:
        if r.index is None and r.seed is not None and not isinstance(r.value, list):
            groups.setdefault((r.setting, r.metric), []).append(r.value)
    out: dict[str, dict[str, Any]] = {}
    for (setting, metric), values in groups.items():
        out.setdefault(setting, {})[metric] = summarize(values)
    return out


def scalar_values(result: ExperimentResult, setting: str, metric: str) -> list[float | None]:
    """The per-seed values of one scalar metric."""
    return [
        r.value  # type: ignore[misc]
        for r in result.select(setting=setting, metric=metric, index=None)
        if not isinstance(r.value, list)
    ]


def fmt_range(values: Sequence[float | None], spec: str = ".3f") -> str:
    """'mean (min–max, n seeds)' for a report line."""
    s = summarize(values)
    if s["mean"] is None:
        return f"none of {len(values)} seeds"
    text = f"{s['mean']:{spec}} ({s['min']:{spec}}–{s['max']:{spec}}, {s['n']} seeds)"
    if s["missing"]:
        text += f", {s['missing']} missing"
    return text


def curve(records: Iterable[Record]) -> tuple[list[float], list[float | None]]:
    """(index, value) lists of one run's curve, sorted by index."""
    pairs = sorted((r.index, r.value) for r in records if r.index is not None)
    return [p[0] for p in pairs], [p[1] for p in pairs]  # type: ignore[misc]


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
