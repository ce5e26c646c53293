"""What the data can and cannot show: a claim needs evidence.

Stuck contacts and dropped handoffs are claims about people not acting. They rest
on touches that say which team made them; without such touches the tool says it
cannot judge, instead of counting every contact as failed.
"""

from __future__ import annotations

from datetime import datetime

from fullfunnel._dates import literal
from fullfunnel.result import count
from fullfunnel.warehouse import Warehouse


def touch_evidence(wh: Warehouse, as_of: datetime) -> str | None:
    """Why touches cannot tell who worked a contact (None when they can)."""

    def build() -> str | None:
        tp = wh.table("touchpoints")
        tp = tp.filter(tp.ts <= literal(as_of))
        row = tp.aggregate(n=tp.count(), teams=tp.team.notnull().sum()).execute().iloc[0]
        if not count(row["n"]):
            return "the warehouse holds no touchpoints: nothing shows who worked a contact"
        if not count(row["teams"]):
            return (
                f"none of the {count(row['n']):,} touchpoints names the team that made it, "
                "so nothing shows whether an owner worked a contact"
            )
        return None

    return wh.memo(("touch_evidence", as_of), build, reads=("touchpoints",))
