"""The score command: train, validate, score every open contact, or explain one lead.

Its options come from the registry (``scoring``); ``--explain`` reads the saved
model instead of training one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fullfunnel.analytics.registry import Analysis, Option
from fullfunnel.cli._app import Format, State, spinner
from fullfunnel.cli.analyses import add_command

if TYPE_CHECKING:
    from fullfunnel.result import Result

EXPLAIN = Option("explain", help="Show why this contact (an id) got its score.")


def _score(st: State, analysis: Analysis, options: dict[str, Any], extra: dict) -> Result:
    if extra["explain"] is not None:
        from fullfunnel.analytics.scoring import explain

        return explain(st.warehouse(), extra["explain"], config=st.config())
    wh, config = st.warehouse(create=True), st.config()
    quiet = st.format is not Format.table
    with spinner("training the lead model and scoring every open contact", quiet=quiet):
        return analysis.run(wh, config, **options)


add_command("score", body=_score, extra=(EXPLAIN,))
