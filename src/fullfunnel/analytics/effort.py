"""Where the effort goes: marketing spend (else marketing touches) in the diagnosis
window, by funnel segment; the weight diagnosis holds it against where the funnel
leaks."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel.config import SEGMENTS, Config
from fullfunnel.warehouse import Warehouse


def effort_by_segment(
    wh: Warehouse, tl: ir.Table, config: Config, as_of: datetime
) -> tuple[pd.DataFrame, str]:
    """Spend and marketing touches by segment in the window, and which one is the effort."""
    from fullfunnel.analytics.handoffs import touches_by_segment
    from fullfunnel.playbook import tactic_segments

    window = config["diagnose"]["window_days"]
    since = as_of - timedelta(days=window)
    spend = wh.table("spend")
    spend = spend.filter(spend.date <= as_of.date(), spend.date > since.date())
    tags = ibis.memtable(
        pd.DataFrame(list(tactic_segments().items()), columns=["tactic", "tactic_segment"])
    )
    sp = spend.left_join(tags, "tactic")
    sp = sp.mutate(seg=sp.segment.coalesce(sp.tactic_segment).fill_null("unassigned"))
    spent = sp.group_by(segment=sp.seg).aggregate(spend=sp.amount.sum()).execute()
    marketing = config.stages[0].owner
    # the window is the ownership matrix's: its counts per team and segment serve both
    counts = touches_by_segment(wh, tl, config, as_of)
    touches = counts.filter(counts.team == marketing).select("segment", "touches").execute()
    frame = pd.DataFrame({"segment": [*SEGMENTS, "unassigned"]})
    frame = frame.merge(spent, on="segment", how="left").merge(touches, on="segment", how="left")
    frame["spend"] = frame["spend"].fillna(0.0).astype(float)
    frame["touches"] = frame["touches"].fillna(0).astype(int)
    known = frame["segment"] != "unassigned"
    spend_total = frame.loc[known, "spend"].sum()
    touch_total = frame.loc[known, "touches"].sum()
    frame["spend_share"] = (frame["spend"] / spend_total).where(known) if spend_total else None
    frame["touch_share"] = (frame["touches"] / touch_total).where(known) if touch_total else None
    basis = "spend" if spend_total > 0 else f"{marketing} touches"
    frame["effort_share"] = frame["spend_share"] if spend_total > 0 else frame["touch_share"]
    if frame.loc[frame["segment"] == "unassigned", ["spend", "touches"]].sum().sum() == 0:
        frame = frame[known].reset_index(drop=True)
    return frame, basis
