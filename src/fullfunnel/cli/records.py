"""``fullfunnel records``: the contacts, deals or touches behind a count
(:mod:`fullfunnel.analytics.records`), a page as a table, or every row to a CSV file.

A read: it opens the warehouse as it is and never creates or changes one.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, state

EXAMPLE = "fullfunnel records contacts --stage mql --period 2026-Q3 --by country --value DE"


@app.command(
    "records",
    help="The contacts, deals or touches behind a count, with the same filters: a page "
    "of them, or every row to a CSV file.",
    epilog=f"Example: {EXAMPLE}",
)
def records_command(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="contacts, deals or touches."),
    fmt: Format | None = FORMAT_OPTION,
    stage: str | None = typer.Option(
        None, help="contacts: a funnel stage [default: the first]; deals: a pipeline stage."
    ),
    period: str | None = typer.Option(
        None, help="Reached, closed or touched in it: 2026-Q3, 2026-11, 2026, START..END."
    ),
    by: str | None = typer.Option(None, help="A breakdown (a contacts column or owner group)."),
    value: str | None = typer.Option(None, help="The group of --by to list, e.g. DE."),
    team: str | None = typer.Option(
        None, help="What a team owns: its stages (contacts), deals or touches."
    ),
    channel: str | None = typer.Option(None, help="touches: only this channel."),
    state_: str | None = typer.Option(
        None, "--state", help="contacts: reached [default], in_stage or stuck."
    ),
    status: str | None = typer.Option(None, help="deals: open [default], overdue, won or lost."),
    conversion: str | None = typer.Option(
        None, help="touches: only those the attribution of this stage credits."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate as of this date."),
    limit: int = typer.Option(100, min=0, help="Rows to show."),
    offset: int = typer.Option(0, min=0, help="Rows to skip."),
    csv: Path | None = typer.Option(None, "--csv", help="Write every matching row to this file."),
) -> None:
    """The records behind a count."""
    from rich.console import Console

    from fullfunnel.analytics.records import csv_chunks, records, select_records
    from fullfunnel.cli._render import render

    st = state(ctx, fmt)
    wh, config = st.warehouse(), st.config()
    filters = {"stage": stage, "period": period, "by": by, "value": value, "team": team}
    filters |= {"channel": channel, "state": state_, "status": status}
    filters |= {"conversion": conversion, "as_of": as_of}
    if csv is None:
        render(records(wh, kind, limit=limit, offset=offset, config=config, **filters), st.format)
        return
    sel = select_records(wh, kind, config=config, **filters)
    table = sel.to_pyarrow()
    with csv.open("wb") as out:
        for chunk in csv_chunks(table):
            out.write(chunk)
    Console(stderr=st.format is not Format.table).print(
        f"{table.num_rows:,} {kind} written to {csv}", markup=False, highlight=False
    )
