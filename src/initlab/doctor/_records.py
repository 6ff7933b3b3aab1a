"""Tidy records: one row per run × layer × statistic; the only thing renderers read.

A :class:`StatRecord` is a scalar. Histograms are records too (``act_hist`` /
``grad_hist`` with ``item`` = bin, plus ``*_low``/``*_high`` edges), and so are
the Jacobian's singular values (``jacobian_sv`` with ``item`` = rank). Parameter
statistics carry the parameter's local name in ``param``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "LAYER_KINDS",
    "SEVERITIES",
    "Diagnosis",
    "Finding",
    "StatRecord",
    "block_table",
    "check_records_path",
    "check_report_dir",
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
        return records_to_csv(self.records)


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


def records_to_csv(records: Iterable[StatRecord]) -> str:
    """CSV text of records, columns in :class:`StatRecord` field order."""
    fields = [f.name for f in dataclasses.fields(StatRecord)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(dataclasses.asdict(record))
    return buffer.getvalue()


def _writable_folder(path: Path, argument: str) -> None:
    """``path`` is a folder that exists and is writable, or can be created: else ValueError."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{argument}={str(path)!r}: {str(existing)!r} exists and is not a folder")
    try:  # try it: permission bits say nothing for root or on a read-only mount
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ValueError(
            f"{argument}={str(path)!r}: folder {str(existing)!r} is not writable "
            f"({exc.strerror or exc})"
        ) from None


def check_report_dir(path: str | Path, argument: str = "report") -> Path:
    """Check, before any work, that a report folder can be written; return it."""
    path = Path(path)
    _writable_folder(path, argument)
    return path


def check_records_path(path: str | Path, argument: str = "path") -> Path:
    """Check, before any work, that a records file (.json or .csv) can be written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{argument}={str(path)!r} is a folder; give a file name")
    if path.suffix not in (".json", ".csv"):
        raise ValueError(f"{argument}={str(path)!r} must end in .json or .csv")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{argument}={str(path)!r} exists and is not writable")
    _writable_folder(path.parent, argument)
    return path


def write_records(path: str | Path, records: Sequence[StatRecord]) -> Path:
    """Write records as ``.json`` or ``.csv`` (by suffix)."""
    path = check_records_path(path)
    if path.suffix == ".csv":
        path.write_text(records_to_csv(records), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps([_record_dict(r) for r in records]), encoding="utf-8")
    else:
        raise ValueError(f"path={str(path)!r} must end in .json or .csv")
    return path


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
