"""Self-contained HTML reports: styles inline, figures embedded as base64 PNG.

Renderers build a list of sections from tidy records; nothing here computes
statistics. A report opens offline in any browser.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["figure_to_html", "html_table", "write_report"]

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


def figure_to_html(fig: Any, caption: str = "", *, dpi: int = 110) -> str:
    """Render a matplotlib figure as an embedded ``<figure>`` and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
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
