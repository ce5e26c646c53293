"""Render results into one self-contained HTML file (Plotly's JS inlined, no CDN)."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

import pandas as pd

from fullfunnel.config import Config, default_config
from fullfunnel.report import charts
from fullfunnel.result import Result


def render_report(
    results: dict[str, Result], *, config: Config | None = None, title: str = "fullfunnel report"
) -> str:
    """The report as one HTML string."""
    import jinja2
    import plotly.offline

    config = config or default_config()
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fullfunnel", "report/templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    sections = []
    for name, result in results.items():
        figures = [
            fig.to_html(full_html=False, include_plotlyjs=False)
            for fig in charts.for_result(name, result, config)
        ]
        tables = [
            (label.replace("_", " "), _table_html(frame))
            for label, frame in result.tables().items()
            if not frame.empty
        ]
        sections.append(
            {"name": name, "headline": result.headline(), "figures": figures, "tables": tables}
        )
    return env.get_template("report.html.j2").render(
        title=title,
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        sections=sections,
        plotly_js=plotly.offline.get_plotlyjs(),
    )


def write_report(
    path: str | Path,
    results: dict[str, Result],
    *,
    config: Config | None = None,
    title: str = "fullfunnel report",
) -> Path:
    """Write :func:`render_report` to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results, config=config, title=title), encoding="utf-8")
    return path


def _table_html(frame: pd.DataFrame, limit: int = 60) -> str:
    from fullfunnel.cli._render import cell

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(cell(str(c), v))}</td>"
            for c, v in zip(frame.columns, row, strict=True)
        )
        + "</tr>"
        for row in frame.head(limit).itertuples(index=False)
    )
    more = f"<caption>{limit} of {len(frame)} rows</caption>" if len(frame) > limit else ""
    return f"<table>{more}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
