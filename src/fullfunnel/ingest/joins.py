"""After a load: do the tables agree on the names they share, and what span of time
does the data cover?

A deal table names its account, product and agent by text; the side tables must
spell them the same way. A name that matches only once case, spaces and
punctuation are ignored ("GTXPro" for "GTX Pro") is reported with the spelling the
side table uses, as is a name the side table does not have at all, so that a
breakdown does not silently put those deals under "not listed".
"""

from __future__ import annotations

import ibis
import pandas as pd

from fullfunnel._names import name_key
from fullfunnel.warehouse import Warehouse

# (table, column) that names a row of (side table, its key), and what a row is called
LINKS = (
    ("opportunities", "product", "products", "product", "product"),
    ("opportunities", "account_id", "accounts", "account_id", "account"),
    ("opportunities", "owner_id", "owners", "owner_id", "owner"),
    ("contacts", "account_id", "accounts", "account_id", "account"),
)


def mismatches(wh: Warehouse, *, limit: int = 5) -> list[str]:
    """One line per link whose names the side table does not hold as spelled."""
    lines = []
    for table, col, side, key, what in LINKS:
        t = wh.table(table)
        s = wh.table(side)
        if col not in t.columns or not s.count().execute():
            continue
        f = t.filter(t[col].notnull())
        named = f.group_by(name=f[col]).aggregate(rows=f.count())
        missing = named.anti_join(s, named.name == s[key])
        known = s.filter(s[key].notnull())
        spelled = known.group_by(k=name_key(known[key])).aggregate(spelled=known[key].min())
        near = missing.mutate(k=name_key(missing.name))
        near = near.left_join(spelled, near.k == spelled.k).select("name", "rows", "spelled")
        near = near.execute()
        if not near.empty:
            lines += _lines(near, table, what, side, limit)
    return lines


def _lines(near: pd.DataFrame, table: str, what: str, side: str, limit: int) -> list[str]:
    out = []
    close = near[near["spelled"].notna()].sort_values("rows", ascending=False)
    if not close.empty:
        pairs = ", ".join(
            f"'{r.name}' ({r.rows:,}) is '{r.spelled}'" for r in close.head(limit).itertuples()
        )
        out.append(
            f"{table}: {len(close):,} {what} name(s) spelled otherwise in {side}: {pairs}; "
            "fix the spelling in one file and load it again with `replace`"
        )
    far = near[near["spelled"].isna()].sort_values("rows", ascending=False)
    if not far.empty:
        names = ", ".join(f"'{r.name}' ({r.rows:,})" for r in far.head(limit).itertuples())
        out.append(f"{table}: {len(far):,} {what} name(s) not in {side}: {names}")
    return out


def date_range(wh: Warehouse) -> str | None:
    """ "data from … to …", over the dated events of every table (None when empty)."""
    parts = [
        ("stage_events", "ts"),
        ("touchpoints", "ts"),
        ("contacts", "created_at"),
        ("opportunities", "created_at"),
        ("opportunities", "close_date"),
    ]
    tables = {t: wh.table(t) for t, _ in parts}
    spans = [
        tables[t].aggregate(
            lo=tables[t][c].min().cast("timestamp"), hi=tables[t][c].max().cast("timestamp")
        )
        for t, c in parts
    ]
    row = ibis.union(*spans).aggregate(lo=lambda x: x.lo.min(), hi=lambda x: x.hi.max())
    frame = row.execute()
    lo, hi = frame["lo"].iloc[0], frame["hi"].iloc[0]
    if pd.isna(lo) or pd.isna(hi):
        return None
    return f"the warehouse's data runs from {lo:%Y-%m-%d} to {hi:%Y-%m-%d}"
