"""Self-contained HTML reports: Plotly figures and tables on one page that works offline."""

from modelcycle.report._html import Section, render_page, write_page

__all__ = ["Section", "render_page", "write_page"]
