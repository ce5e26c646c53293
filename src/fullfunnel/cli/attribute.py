"""The attribute command: multi-touch attribution and ROI at any funnel stage.

Its options come from the registry (``attribution``, and ``attribution_compare``
on ``--compare``); ``--paths`` reads a ChannelAttribution path file instead of the
warehouse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fullfunnel.analytics.registry import Analysis, Option
from fullfunnel.cli._app import State
from fullfunnel.cli.analyses import add_command

if TYPE_CHECKING:
    from fullfunnel.result import Result

PATH_FILE = (
    Option("paths", help="A ChannelAttribution path file (CSV) instead of the warehouse."),
    Option("path_col", help="Path column of --paths.", default="path"),
    Option("conv_col", help="Conversions column of --paths.", default="total_conversions"),
    Option("value_col", help="Value column of --paths."),
    Option("null_col", help="Non-converting count column of --paths."),
    Option("sep", help="Separator between the channels of a path.", default=">"),
)


def _attribute(st: State, analysis: Analysis, options: dict[str, Any], file: dict) -> Result:
    """Attribution over the warehouse, or over a path file when ``--paths`` is given."""
    if file["paths"] is None:
        return analysis.run(st.warehouse(), st.config(), **options)
    from fullfunnel.analytics.attribution import read_paths_file

    paths = read_paths_file(
        file["paths"],
        path_col=file["path_col"],
        conv_col=file["conv_col"],
        value_col=file["value_col"],
        null_col=file["null_col"],
        sep=file["sep"],
    )
    return analysis.run(paths, st.config(), **options)


add_command("attribute", body=_attribute, extra=PATH_FILE)
