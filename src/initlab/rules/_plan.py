"""The plan: one row per parameter and persistent buffer, computed without sampling.

Records first, rendering second: :meth:`Plan.to_records` is the data; the text
table, the ``rich`` table and the JSON all read those records.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckpointReport", "Plan", "PlanEntry"]

#: Where a row's values come from ("prior": an output-bias prior from the data,
#: initlab.datadep.init_with_output_prior).
SOURCES = ("rule", "torch-default", "pretrained", "tied", "kept", "buffer-default", "prior")


@dataclass(kw_only=True)
class PlanEntry:
    """One tensor of the model and how it will be initialized.

    ``std`` is the standard deviation the scheme gives (0 for constants, None when
    unknown, e.g. kept or pretrained values); ``bound`` the largest magnitude when
    bounded. ``tied_to`` names the first name of the storage this row shares
    (None for the first name itself). ``source`` is one of ``SOURCES``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    module: str
    module_type: str
    role: str
    rule: str | None = None
    rule_index: int | None = None
    scheme: str | None = None
    scheme_config: dict[str, Any] | None = None
    layout: str | None = None
    fans: dict[str, float] | None = None
    std: float | None = None
    bound: float | None = None
    mean: float | None = None
    activation: str | None = None
    tied_to: str | None = None
    source: str = "rule"
    note: str = ""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict (shape as a list)."""
        record = asdict(self)
        record["shape"] = list(self.shape)
        return record


@dataclass(kw_only=True)
class CheckpointReport:
    """Outcome of matching a checkpoint against the model (names after prefix mapping)."""

    path: str = ""
    matched: list[str] = field(default_factory=list)
    mismatched: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``mismatched`` maps name -> [checkpoint shape, model shape]."""
        return asdict(self)

    def lines(self, limit: int = 8) -> list[str]:
        """What the printed plan says about the checkpoint (at most ``limit`` names a list)."""

        def names(items: list[str]) -> str:
            more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
            return ", ".join(items[:limit]) + more

        total = len(self.matched) + len(self.mismatched) + len(self.missing)
        lines = [f"checkpoint {self.path}: {len(self.matched)} of {total} tensors loaded"]
        if self.mismatched:
            shapes = [
                f"{n} (checkpoint {'x'.join(map(str, a)) or 'scalar'}, "
                f"model {'x'.join(map(str, b)) or 'scalar'})"
                for n, (a, b) in self.mismatched.items()
            ]
            lines.append(
                f"warning: {len(shapes)} checkpoint tensor(s) differ in shape and were not "
                f"loaded (initialized by the rules instead): {names(shapes)}"
            )
        if self.missing:
            lines.append(f"not in the checkpoint (initialized by the rules): {names(self.missing)}")
        if self.unexpected:
            lines.append(f"checkpoint keys the model lacks (ignored): {names(self.unexpected)}")
        return lines


_COLUMNS = (
    "name",
    "shape",
    "module_type",
    "role",
    "rule",
    "scheme",
    "std",
    "activation",
    "tied_to",
)
#: Columns left out of the rich table when no row has a value in them.
_OPTIONAL = ("activation", "tied_to")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value) or "scalar"
    return str(value)


@dataclass(kw_only=True)
class Plan:
    """Every parameter and persistent buffer with its scheme; see :class:`PlanEntry`.

    ``uncovered`` lists names no rule covered (empty unless ``default="torch"``
    or a dry run); ``undetermined`` the layers whose following activation could
    not be found; ``warnings`` what deserves a look but does not stop a run (a tie
    whose rules disagree); ``errors`` what stops one (a real run raises them, a dry
    run records them: :meth:`check`); ``applied`` says whether weights were written.
    """

    entries: list[PlanEntry] = field(default_factory=list)
    seed: int | None = None
    rules: str = ""
    uncovered: list[str] = field(default_factory=list)
    undetermined: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checkpoint: CheckpointReport | None = None
    materialized_on: str | None = None
    applied: bool = False

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, name: str) -> PlanEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(f"no parameter or buffer named {name!r} in the plan")

    def check(self) -> None:
        """Raise ``ValueError`` listing every error; the same check a real run makes."""
        if self.errors:
            raise ValueError(
                "the init plan is invalid; nothing was written:\n  " + "\n  ".join(self.errors)
            )

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row, in model order."""
        return [e.to_record() for e in self.entries]

    def to_json(self, **kwargs: Any) -> str:
        """The rows as a JSON list (the ``initlab plan --json`` output)."""
        return json.dumps(self.to_records(), **{"indent": 2, **kwargs})

    def summary(self) -> dict[str, Any]:
        """Seed, rule set, counts and the lists that need attention."""
        return {
            "seed": self.seed,
            "rules": self.rules,
            "tensors": len(self.entries),
            "uncovered": list(self.uncovered),
            "undetermined_activations": list(self.undetermined),
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "checkpoint": self.checkpoint.to_dict() if self.checkpoint else None,
            "materialized_on": self.materialized_on,
            "applied": self.applied,
        }

    def rows(self, *, fold_running_stats: bool = False) -> list[list[str]]:
        """The table body as strings (columns: ``_COLUMNS``). With ``fold_running_stats``,
        a normalization layer's running statistics share one row, ``NAME.running_*``,
        placed after the layer's last other row."""
        if not fold_running_stats:
            return [[_cell(getattr(e, c)) for c in _COLUMNS] for e in self.entries]
        folded: dict[str, list[PlanEntry]] = {}
        kept: list[PlanEntry] = []
        for entry in self.entries:
            if entry.role == "running_stats":
                folded.setdefault(entry.module, []).append(entry)
            else:
                kept.append(entry)
        rows = [[_cell(getattr(e, c)) for c in _COLUMNS] for e in kept]
        last = {e.module: i for i, e in enumerate(kept)}
        for module, entries in sorted(
            folded.items(), key=lambda item: -last.get(item[0], len(kept))
        ):
            rows.insert(last.get(module, len(kept) - 1) + 1, _folded_row(module, entries))
        return rows

    def footer(self) -> list[str]:
        """Lines printed under the table."""
        seed = (
            self.seed if self.seed is not None or self.applied else "none yet (drawn when applied)"
        )
        lines = [f"rules: {self.rules}  seed: {seed}  tensors: {len(self.entries)}"]
        if self.uncovered:
            lines.append("kept PyTorch default (no rule): " + ", ".join(self.uncovered))
        if self.undetermined:
            lines.append("activation undetermined: " + ", ".join(self.undetermined))
        if self.checkpoint is not None:
            lines.extend(self.checkpoint.lines())
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend(f"error: {e}" for e in self.errors)
        return lines

    def __str__(self) -> str:
        rows = [list(_COLUMNS), *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
        text = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        text.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*text, *self.footer()])

    def table(self, *, fold_running_stats: bool = True) -> Any:
        """The plan as a ``rich`` renderable: the table and the footer.

        No cell is broken across lines. Columns are kept in order of importance
        (name, scheme, shape, std, rule, activation, role, module type, tied to) while they
        fit the console; those left out for width, or empty in every row, are named
        in the footer. Running statistics are folded to one row per layer unless
        ``fold_running_stats=False``.
        """
        return _PlanTable(self, fold_running_stats)

    def __rich__(self) -> Any:
        return self.table()


#: Columns in the order they are given room in a narrow console.
_PRIORITY = (
    "name",
    "scheme",
    "shape",
    "std",
    "rule",
    "activation",
    "role",
    "module_type",
    "tied_to",
)


@dataclass
class _PlanTable:
    """Lays the plan out for the width the console offers (see :meth:`Plan.table`)."""

    plan: Plan
    fold_running_stats: bool

    def _columns(self, rows: list[list[str]], width: int) -> tuple[list[int], list[str]]:
        keep: list[int] = []
        left_out: list[str] = []
        used = 0
        for column in _PRIORITY:
            i = _COLUMNS.index(column)
            if column in _OPTIONAL and all(row[i] == "-" for row in rows):
                continue
            need = max(len(column), *(len(row[i]) for row in rows)) + 2  # padding
            if keep and used + need > width:
                left_out.append(column)
                continue
            keep.append(i)
            used += need
        return sorted(keep), left_out

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.table import Table
        from rich.text import Text

        plan = self.plan
        rows = plan.rows(fold_running_stats=self.fold_running_stats) or [["-"] * len(_COLUMNS)]
        keep, left_out = self._columns(rows, options.max_width)
        table = Table(title="initlab plan", box=None, header_style="bold")
        for i in keep:
            table.add_column(_COLUMNS[i], no_wrap=True, overflow="ellipsis")
        for row in rows if plan.entries else []:
            table.add_row(*(row[i] for i in keep))
        footer = plan.footer()
        stats = sum(e.role == "running_stats" for e in plan.entries)
        shown = sum(row[_COLUMNS.index("role")] == "running_stats" for row in rows)
        if shown < stats:
            footer.insert(1, f"{stats} running statistics shown as {shown} rows (NAME.running_*)")
        if left_out:
            footer.insert(
                1,
                f"columns left out for width {options.max_width}: {', '.join(left_out)} "
                "(a wider console or --json shows them)",
            )
        ties = [f"{e.name} -> {e.tied_to}" for e in plan.entries if e.tied_to]
        if "tied_to" in left_out and ties:
            footer.insert(2, "tied (one storage, initialized once): " + ", ".join(ties))
        yield table
        for line in footer:
            yield Text(line)


def _folded_row(module: str, entries: list[PlanEntry]) -> list[str]:
    """One row for a layer's running statistics (mean, variance, batch count)."""
    first = entries[0]
    schemes = sorted({e.scheme or "-" for e in entries})
    scheme = (
        "torch_default"
        if all(s.startswith("torch_default") for s in schemes)
        else ", ".join(schemes)
    )
    row = {c: "-" for c in _COLUMNS}
    row.update(
        name=f"{module}.running_*",
        shape=_cell(max((e.shape for e in entries), key=len)),
        module_type=first.module_type,
        role=first.role,
        rule=", ".join(sorted({e.rule or "-" for e in entries})),
        scheme=scheme,
        std="0" if all(e.std == 0 for e in entries) else "-",
    )
    return [row[c] for c in _COLUMNS]
