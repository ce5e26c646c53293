"""Render results into one self-contained HTML file (the chart library inlined, no CDN).

The report and the live dashboard share these templates: ``report.html.j2`` is
the page, ``content.html.j2`` the body that the dashboard swaps in when a filter
changes. Both render the view of :func:`fullfunnel.report.view.build_view`.

The chart library is plotly.js's partial "cartesian" bundle (``assets/``: every
trace type the charts draw), gzipped. The report holds it as base64 and the
page unpacks it with the browser's ``DecompressionStream``: 0.66 MB in the file
where the full bundle inlined as text took 4.8 MB.
"""

from __future__ import annotations

import base64
import gzip
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fullfunnel._dates import now
from fullfunnel.config import Config, default_config
from fullfunnel.report.view import build_view, table_html
from fullfunnel.result import Result

__all__ = [
    "plotly_gzip",
    "plotly_js",
    "render_content",
    "render_login",
    "render_report",
    "table_html",
    "write_report",
]


@cache
def _env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("fullfunnel", "report/templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


PLOTLY_BUNDLE = "plotly-cartesian.min.js.gz"


@cache
def plotly_gzip() -> bytes:
    """The gzipped chart library shipped with fullfunnel (works offline)."""
    return (files("fullfunnel.report") / "assets" / PLOTLY_BUNDLE).read_bytes()


@cache
def plotly_js() -> str:
    """The chart library's JavaScript, unpacked."""
    return gzip.decompress(plotly_gzip()).decode("utf-8")


@cache
def _plotly_base64() -> str:
    return base64.b64encode(plotly_gzip()).decode("ascii")


def render_report(
    results: dict[str, Result],
    *,
    config: Config | None = None,
    title: str = "fullfunnel report",
    period: str | None = None,
) -> str:
    """The report as one HTML string: every chart's library and data inside it."""
    config = config or default_config()
    view = build_view(results, config, title=title, period=period)
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            view=view,
            generated=now().strftime("%Y-%m-%d %H:%M UTC"),
            plotly_base64=_plotly_base64(),
            dashboard=None,
        )
    )


def render_content(
    results: dict[str, Result],
    *,
    config: Config | None = None,
    title: str = "fullfunnel report",
    period: str | None = None,
    notes: list[str] | None = None,
) -> str:
    """Only the body of the report (what the dashboard replaces on a filter change)."""
    config = config or default_config()
    view = build_view(results, config, title=title, period=period, notes=notes)
    return _env().get_template("content.html.j2").render(view=view)


def render_dashboard(
    results: dict[str, Result] | None,
    *,
    config: Config | None = None,
    title: str = "fullfunnel dashboard",
    filters: dict[str, Any],
    plotly_src: str,
    notes: list[str] | None = None,
) -> str:
    """The dashboard page: the report's templates plus filters that re-query the API.

    ``results`` None renders the page without content (it is fetched once the
    reader has given an API key).
    """
    config = config or default_config()
    view = (
        build_view(
            results,
            config,
            title=title,
            period=filters.get("values", {}).get("period"),
            notes=notes,
        )
        if results is not None
        else {"title": title, "sections": [], "kpis": [], "first_screen": [], "actions": []}
    )
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            view=view,
            generated=now().strftime("%Y-%m-%d %H:%M UTC"),
            plotly_base64=None,
            plotly_src=plotly_src,
            dashboard=filters,
            empty=results is None,
        )
    )


def render_login(
    *,
    action: str,
    next_path: str,
    hours: float,
    error: str | None = None,
    title: str = "fullfunnel dashboard",
) -> str:
    """The sign-in page of the live dashboard: one API-key field, posted to ``action``
    with the local path to return to; the page's style is inline, so it works offline."""
    return (
        _env()
        .get_template("login.html.j2")
        .render(title=title, action=action, next=next_path, hours=f"{hours:g}", error=error)
    )


def write_report(
    path: str | Path,
    results: dict[str, Result],
    *,
    config: Config | None = None,
    title: str = "fullfunnel report",
    period: str | None = None,
) -> Path:
    """Write :func:`render_report` to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(results, config=config, title=title, period=period)
    path.write_text(text, encoding="utf-8")
    return path
