"""The page the dashboard shows while the server's start-up warm-up runs.

It is rendered without the report's modules (charts, Plotly), which the warm-up
may be importing at that moment: the page answers at once.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fullfunnel", "report/templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    return env.get_template("preparing.html.j2")


def render_preparing(done: int, total: int, *, title: str = "fullfunnel dashboard") -> str:
    """How far the warm-up is (``done`` of ``total`` analyses); the page reloads itself
    every 2 seconds until the dashboard is ready."""
    return _template().render(title=title, done=done, total=total)
