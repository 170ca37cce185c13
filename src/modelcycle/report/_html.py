"""Build one self-contained HTML page from sections of text, tables and Plotly figures.

plotly.js is inlined once per page (no CDN), so a report opens on a machine with no network.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.io import to_html

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;color:#1f2933;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d9e2ec}
table.mc{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
table.mc th,table.mc td{border:1px solid #d9e2ec;padding:.25rem .5rem;text-align:right}
table.mc th{background:#f0f4f8}table.mc td:first-child,table.mc th:first-child{text-align:left}
.note{color:#52606d;font-size:.9rem}.warn{color:#b44d12}
"""


@dataclass
class Section:
    """A titled part of a report: paragraphs, tables and figures, shown in that order."""

    title: str
    text: Sequence[str] = ()
    tables: Sequence[pd.DataFrame] = ()
    figures: Sequence[go.Figure] = ()
    warnings: Sequence[str] = field(default_factory=list)


def render_page(title: str, sections: Sequence[Section], *, subtitle: str | None = None) -> str:
    """The HTML of a whole report."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        parts.append(f"<p class='note'>{html.escape(subtitle)}</p>")
    first_figure = True
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(f"<p class='warn'>⚠ {html.escape(w)}</p>" for w in section.warnings)
        parts.extend(f"<p>{html.escape(t)}</p>" for t in section.text)
        parts.extend(
            t.to_html(classes="mc", border=0, index=False, float_format=lambda v: f"{v:.4g}")
            for t in section.tables
        )
        for fig in section.figures:
            parts.append(to_html(fig, full_html=False, include_plotlyjs=first_figure))
            first_figure = False
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{''.join(parts)}</body></html>"


def write_page(
    path: str | Path, title: str, sections: Sequence[Section], *, subtitle: str | None = None
) -> Path:
    """Write a report to ``path`` (parent folders are created) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(title, sections, subtitle=subtitle), encoding="utf-8")
    return out
