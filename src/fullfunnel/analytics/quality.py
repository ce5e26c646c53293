"""Data quality: what was loaded, what was rejected and why, and where data is thin.

The report's data-quality note renders this result, so that a reader knows how
far to trust the numbers above it: rows rejected at load time (by source and
reason), touchpoints and stage events that point at unknown contacts, and where
stage events come from.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import ibis
import pandas as pd

from fullfunnel._dates import literal
from fullfunnel.analytics.period import resolve_as_of
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True, eq=False)
class DataQualityResult(Result):
    """Rejected rows by source and reason, orphans, and stage events by source."""

    title = "data quality"
    rejects: pd.DataFrame
    stage_event_sources: pd.DataFrame
    loads: int
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    contacts: int
    orphan_touchpoints: int
    orphan_stage_events: int
    as_of: datetime

    def headline(self) -> list[str]:
        lines = []
        if self.loads:
            share = self.rows_rejected / self.rows_in if self.rows_in else 0.0
            lines.append(
                f"{self.loads:,} file loads: {self.rows_loaded:,} rows loaded, "
                f"{self.rows_rejected:,} rejected ({share:.1%})"
            )
            if not self.rejects.empty:
                top = self.rejects.iloc[0]
                lines.append(f"most common reject reason: {top.reason} ({int(top.rows):,} rows)")
        else:
            lines.append("no file loads recorded (data written directly or by the demo)")
        if self.orphan_touchpoints or self.orphan_stage_events:
            lines.append(
                f"{self.orphan_touchpoints:,} touchpoints and {self.orphan_stage_events:,} "
                "stage events name a contact that is not in contacts"
            )
        return lines


def data_quality(wh: Warehouse, *, as_of: str | datetime | None = None) -> DataQualityResult:
    """Load accounting, reject reasons and orphan rows, for the report's data-quality note.

    >>> import fullfunnel as ff
    >>> ff.data_quality(ff.connect("duckdb://:memory:")).rows_rejected
    0
    """
    as_of_dt = resolve_as_of(wh, as_of)
    loads = wh.table("loads")
    totals = loads.aggregate(
        loads=loads.count(),
        rows_in=loads.rows_in.sum(),
        rows_loaded=loads.rows_loaded.sum(),
        rows_rejected=loads.rows_rejected.sum(),
    ).execute()
    rej = wh.table("rejects")
    rejects = (
        rej.group_by(source=rej.source.fill_null("(unknown)"), reason=rej.reason.fill_null(""))
        .aggregate(rows=rej.count())
        .order_by([ibis.desc("rows"), "source", "reason"])
        .limit(20)
        .execute()
    )
    contacts = wh.table("contacts").select("contact_id")
    tp = wh.table("touchpoints")
    ev = wh.table("stage_events")
    ev = ev.filter(ev.ts <= literal(as_of_dt))
    orphan_tp = tp.anti_join(contacts, "contact_id").count().execute()
    orphan_ev = ev.anti_join(contacts, "contact_id").count().execute()
    sources = (
        ev.group_by(source=ev.source.fill_null("(unknown)"))
        .aggregate(events=ev.count(), contacts=ev.contact_id.nunique())
        .order_by([ibis.desc("events"), "source"])
        .execute()
    )
    row = totals.iloc[0]
    return DataQualityResult(
        rejects=rejects,
        stage_event_sources=sources,
        loads=count(row["loads"]),
        rows_in=count(row["rows_in"]),
        rows_loaded=count(row["rows_loaded"]),
        rows_rejected=count(row["rows_rejected"]),
        contacts=int(contacts.count().execute()),
        orphan_touchpoints=int(orphan_tp),
        orphan_stage_events=int(orphan_ev),
        as_of=as_of_dt,
    )
