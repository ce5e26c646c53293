"""Pipeline snapshots: what each load of opportunities showed of the deals that changed.

A CRM export holds each deal as it stands at the export. So that ``movement`` can
tell a close date pushed out, a deal pulled in or an amount cut between two loads
even where no ``opportunity_history`` is exported, every load of opportunities
records in ``pipeline_snapshots``, for each deal whose stage, status, amount or
close date differ from its latest snapshot (or that has none), a row dated at the
load. Loading the same data again records nothing.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

TRACKED = ("stage", "status", "amount", "close_date")


def changed_deals(opportunities: ir.Table, snapshots: ir.Table, at: datetime) -> ir.Table:
    """The rows to record at ``at``: each deal as it stands, where it differs from
    its latest snapshot."""
    newest = snapshots.group_by("opportunity_id").aggregate(_newest=snapshots.ts.max())
    last = snapshots.join(
        newest,
        [
            snapshots.opportunity_id == newest.opportunity_id,
            snapshots.ts == newest._newest,
        ],
    )
    latest = last.select("opportunity_id", *[last[c].name(f"_was_{c}") for c in TRACKED])
    j = opportunities.left_join(latest, "opportunity_id").drop("opportunity_id_right")
    same = j.opportunity_id.isin(latest.opportunity_id)
    for c in TRACKED:
        same &= j[c].identical_to(j[f"_was_{c}"])
    changed = j.filter(~same)
    return changed.select(
        changed.opportunity_id,
        *[changed[c] for c in TRACKED],
        ts=ibis.timestamp(at.replace(microsecond=0)),
    )
