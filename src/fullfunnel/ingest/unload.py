"""Taking a load back: ``fullfunnel unload LOAD_ID``, and ``ingest --replace``.

Every load records the key of each row it wrote in ``load_keys`` (in the same
transaction as the rows). A row belongs to the load that wrote it last, so removing
a load removes the rows it still owns, its rejects and its ``loads`` record, in one
transaction; rows it had replaced do not come back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import ibis
import pandas as pd

from fullfunnel.errors import InputError
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

__all__ = ["UnloadResult", "earlier_loads", "unload"]


@dataclasses.dataclass(frozen=True, eq=False)
class UnloadResult(Result):
    """The loads removed (id, file, source) and the rows removed per table."""

    title = "unload"
    loads: pd.DataFrame
    removed: pd.DataFrame

    def headline(self) -> list[str]:
        lines = [
            f"removed load {r.load_id} ({r.file}, {r.source})" for r in self.loads.itertuples()
        ]
        rows = ", ".join(f"{r.rows:,} {r.table}" for r in self.removed.itertuples())
        lines.append(f"rows removed: {rows or 'none'}")
        return lines


def unload(wh: Warehouse, load_ids: Sequence[str]) -> UnloadResult:
    """Remove the loads ``load_ids`` (see the module's docstring), all or none.

    An unknown id removes nothing and names the loads there are.
    """
    ids = list(dict.fromkeys(load_ids))
    t = wh.table("loads")
    found = t.filter(t.load_id.isin(ids)).select("load_id", "file", "source").to_pandas()
    unknown = [i for i in ids if i not in set(found.load_id)]
    if unknown:
        raise InputError(f"no load '{unknown[0]}'; {_known(wh)}")
    removed = wh.unload(ids)
    frame = pd.DataFrame(
        [(table, n) for table, n in removed.items() if n], columns=["table", "rows"]
    )
    return UnloadResult(loads=found, removed=frame)


def earlier_loads(wh: Warehouse, source: str, file: str) -> list[str]:
    """The loads of ``file`` (its resolved path) from ``source``: what --replace removes."""
    t = wh.table("loads")
    hit = t.filter((t.source == source) & (t.file == file) & (t.status == "loaded"))
    return hit.select("load_id").to_pyarrow()["load_id"].to_pylist()


def _known(wh: Warehouse, most: int = 5) -> str:
    t = wh.table("loads")
    recent = t.order_by(ibis.desc("started_at")).select("load_id").limit(most + 1).to_pandas()
    if recent.empty:
        return "there are no loads yet"
    ids = recent.load_id.tolist()
    more = ", …" if len(ids) > most else ""
    return f"the latest are {', '.join(ids[:most])}{more} (list them with 'fullfunnel loads')"
