"""Tidy records: one row per run × layer × statistic; the only thing renderers read.

A :class:`StatRecord` is a scalar. Histograms are records too (``act_hist`` /
``grad_hist`` with ``item`` = bin, plus ``*_low``/``*_high`` edges), and so are
the Jacobian's singular values (``jacobian_sv`` with ``item`` = rank). Parameter
statistics carry the parameter's local name in ``param``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from initlab._report import records_csv
from initlab._report import write_records as _write_records

__all__ = [
    "LAYER_KINDS",
    "SEVERITIES",
    "Diagnosis",
    "Finding",
    "StatRecord",
    "block_table",
    "histograms",
    "jacobian_rank",
    "jacobian_values",
    "layer_table",
]

SEVERITIES = ("ok", "info", "warning", "error")
LAYER_KINDS = ("layer", "functional")
HIST_STATISTICS = ("act_hist", "grad_hist")
MODEL_LAYER = "(model)"


@dataclass(frozen=True, kw_only=True)
class StatRecord:
    """One statistic of one layer (or parameter, or histogram bin) in one run."""

    run: str
    index: int
    layer: str
    type: str
    kind: str
    statistic: str
    value: float
    param: str = ""
    item: int = 0


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A verdict: what is wrong (or that nothing is), where, and what to change."""

    run: str
    severity: str
    layers: tuple[str, ...]
    statistic: str
    message: str
    recommendation: str = ""
    value: float | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity={self.severity!r} is not one of {SEVERITIES}")


def _finite(value: float | None) -> float | str | None:
    # JSON has no inf/nan; keep them readable as strings.
    if value is None or math.isfinite(value):
        return value
    return str(value)


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """Everything one doctor run produced: probe description, records, findings."""

    run: str
    probe: str
    records: tuple[StatRecord, ...]
    findings: tuple[Finding, ...]

    @property
    def healthy(self) -> bool:
        """No warning or error."""
        return not any(f.severity in ("warning", "error") for f in self.findings)

    def layers(self) -> list[dict[str, Any]]:
        """One dict per module call or functional activation, in execution order."""
        return layer_table(self.records, self.run)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object: ``layers``, ``blocks``, ``jacobian_sv``, ``findings``."""
        return {
            "run": self.run,
            "probe": self.probe,
            "healthy": self.healthy,
            "layers": [{k: _clean(v) for k, v in row.items()} for row in self.layers()],
            "blocks": block_table(self.records, self.run),
            "jacobian_sv": jacobian_values(self.records, self.run),
            "jacobian_rank": (jacobian_rank(self.records, self.run) or (None,))[0],
            "findings": [_finding_dict(f) for f in self.findings],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent)

    def records_json(self) -> str:
        """All tidy records as a JSON list."""
        return json.dumps([_record_dict(r) for r in self.records])

    def records_csv(self) -> str:
        """All tidy records as CSV text (header + one row per record)."""
        return records_csv((dataclasses.asdict(r) for r in self.records), _FIELDS)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _record_dict(record: StatRecord) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    data["value"] = _finite(record.value)
    return data


def _finding_dict(finding: Finding) -> dict[str, Any]:
    data = dataclasses.asdict(finding)
    data["layers"] = list(finding.layers)
    data["value"] = _finite(finding.value)
    data["threshold"] = _finite(finding.threshold)
    return data


_FIELDS = tuple(f.name for f in dataclasses.fields(StatRecord))


def write_records(path: str | Path, records: Sequence[StatRecord], argument: str = "path") -> Path:
    """Write records as ``.json`` or ``.csv`` (by suffix), through the project's one writer."""
    return _write_records(path, [_record_dict(r) for r in records], _FIELDS, argument)


def layer_table(records: Iterable[StatRecord], run: str) -> list[dict[str, Any]]:
    """Pivot: one row per layer call with its scalar statistics and ``params``."""
    rows: dict[int, dict[str, Any]] = {}
    params: dict[str, dict[str, dict[str, float]]] = {}
    for r in records:
        if r.run != run or r.statistic in HIST_STATISTICS:
            continue
        if r.param:
            params.setdefault(r.layer, {}).setdefault(r.param, {})[r.statistic] = r.value
        elif r.kind in LAYER_KINDS:
            row = rows.setdefault(
                r.index, {"index": r.index, "name": r.layer, "type": r.type, "kind": r.kind}
            )
            row[r.statistic] = r.value
    table = [rows[i] for i in sorted(rows)]
    for row in table:
        row.setdefault("grad_norm", None)
        row["params"] = params.get(row["name"], {})
    return table


def block_table(records: Iterable[StatRecord], run: str) -> list[dict[str, Any]]:
    """Residual-stream statistics, one row per block call in order."""
    rows: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.run == run and r.kind == "block" and not r.param:
            rows.setdefault(r.index, {"index": r.index, "name": r.layer, "type": r.type})[
                r.statistic
            ] = _finite(r.value)
    return [rows[i] for i in sorted(rows)]


def jacobian_values(records: Iterable[StatRecord], run: str) -> list[float]:
    """The Jacobian singular-value estimates of a run, largest first."""
    found = [(r.item, r.value) for r in records if r.run == run and r.statistic == "jacobian_sv"]
    return [v for _, v in sorted(found)]


def jacobian_rank(records: Iterable[StatRecord], run: str) -> tuple[int, bool] | None:
    """(numerical rank of the Jacobian, whether exact) of a run, or None if not estimated."""
    found = {r.statistic: r.value for r in records if r.run == run and r.layer == MODEL_LAYER}
    if "jacobian_rank" not in found:
        return None
    return int(found["jacobian_rank"]), bool(found.get("jacobian_rank_exact", 0.0))


def histograms(
    records: Iterable[StatRecord], run: str, statistic: str
) -> list[tuple[str, float, float, list[float]]]:
    """(layer, low, high, counts) per layer call for ``act_hist`` or ``grad_hist``."""
    edges: dict[tuple[int, str], dict[str, float]] = {}
    counts: dict[tuple[int, str], dict[int, float]] = {}
    for r in records:
        if r.run != run or r.param:
            continue
        key = (r.index, r.layer)
        if r.statistic == statistic:
            counts.setdefault(key, {})[r.item] = r.value
        elif r.statistic in (f"{statistic}_low", f"{statistic}_high"):
            edges.setdefault(key, {})[r.statistic.rsplit("_", 1)[1]] = r.value
    out = []
    for key in sorted(counts):
        bins = counts[key]
        edge = edges.get(key, {})
        row = [bins[i] for i in sorted(bins)]
        out.append((key[1], edge.get("low", 0.0), edge.get("high", 1.0), row))
    return out
