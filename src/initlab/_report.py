"""Self-contained HTML reports: styles inline, figures embedded as base64 PNG.

Renderers build a list of sections from tidy records; nothing here computes
statistics. A report opens offline in any browser. :func:`pyplot` is the one
matplotlib set-up of the project (lazy import, Agg backend, one style), used by
the experiments and the doctor. matplotlib and scikit-learn come with the
``report`` extra; :func:`require_report` says how to install it.
"""

from __future__ import annotations

import base64
import csv
import html
import importlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "REPORT_EXTRA",
    "MissingDependencyError",
    "check_output_dir",
    "check_records_path",
    "figure_to_html",
    "html_table",
    "pyplot",
    "records_csv",
    "require_report",
    "write_records",
    "write_report",
]

#: What to run to get what reports, experiments and the demo need.
REPORT_EXTRA = "pip install 'initlab[report]'"
_REPORT_MODULES = ("matplotlib", "sklearn")

# One look for every figure initlab draws.
_STYLE_RC = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "none",
}

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1d2330;line-height:1.5}
h1{border-bottom:2px solid #3b6ea5;padding-bottom:.3em}
h2{margin-top:2em;color:#27496d}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #cfd6e0;padding:.3em .6em;text-align:right}
th{background:#eef2f7}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #e3e7ee}
figcaption{font-size:.9em;color:#555}
.sev-error{color:#b00020;font-weight:600}.sev-warning{color:#b26a00;font-weight:600}
.sev-info{color:#27496d}.sev-ok{color:#2e7d32}
.note{background:#f6f8fb;border-left:4px solid #3b6ea5;padding:.5em 1em}
"""


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says which extra brings it."""


def require_report(purpose: str) -> None:
    """Import matplotlib and scikit-learn, or raise :class:`MissingDependencyError`
    naming ``purpose`` and ``pip install 'initlab[report]'``."""
    for name in _REPORT_MODULES:
        _import(name, purpose)


def _import(name: str, purpose: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs {name}, which is not installed; install it with: {REPORT_EXTRA}"
        ) from exc


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display) with initlab's style.

    Imported on first use, so ``import initlab`` never loads matplotlib.
    """
    matplotlib = _import("matplotlib", "drawing a report figure")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    plt.rcParams.update(_STYLE_RC)
    return plt


def _writable_folder(path: Path, arg: str) -> None:
    """``path`` is a folder that exists and is writable, or can be created: else ValueError."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{arg}={str(path)!r}: {str(existing)!r} is a file, not a folder")
    try:  # try it: permission bits say nothing for root or on a read-only mount
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ValueError(
            f"{arg}={str(path)!r}: folder {str(existing)!r} is not writable ({exc.strerror or exc})"
        ) from None


def check_output_dir(arg: str, path: str | Path) -> Path:
    """``path`` as a folder a report can be written to, checked before any work is done.

    It may not exist yet (its nearest existing parent must then be a writable folder);
    an existing file or a read-only folder is a ``ValueError`` naming ``arg``.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{arg}={str(path)!r} is an existing file; give a folder for the report")
    _writable_folder(out, arg)
    return out


def check_records_path(arg: str, path: str | Path) -> Path:
    """``path`` as a ``.json`` or ``.csv`` records file that can be written, checked early."""
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"{arg}={str(path)!r} is a folder; give a file name")
    if out.suffix not in (".json", ".csv"):
        raise ValueError(f"{arg}={str(path)!r} must end in .json or .csv")
    if out.exists() and not os.access(out, os.W_OK):
        raise ValueError(f"{arg}={str(path)!r} exists and is not writable")
    _writable_folder(out.parent, arg)
    return out


def write_records(
    path: str | Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str], arg: str = "path"
) -> Path:
    """Tidy records (one dict per row) as ``.json`` or ``.csv``, chosen by the suffix;
    CSV columns are ``fields`` in that order. The one records writer of the project."""
    out = check_records_path(arg, path)
    if out.suffix == ".json":
        out.write_text(json.dumps([dict(r) for r in rows]), encoding="utf-8")
    else:
        out.write_text(records_csv(rows, fields), encoding="utf-8")
    return out


def records_csv(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """CSV text of tidy records: a header of ``fields``, then one line per row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def figure_to_html(fig: Any, caption: str = "", *, dpi: int = 110) -> str:
    """Render a matplotlib figure as an embedded ``<figure>`` and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = html.escape(caption or "figure")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">{cap}</figure>'


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain HTML table; cells are escaped text."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(path: str | Path, title: str, sections: Sequence[str]) -> Path:
    """Write a complete HTML page made of already-rendered ``sections``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>"
    )
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
