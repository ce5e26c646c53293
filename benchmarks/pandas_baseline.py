"""Lifecycle + funnel in plain pandas: what an analyst would write by hand.

The baseline the benchmark holds fullfunnel against. It reads the same Parquet
files and computes the same numbers as ``fullfunnel.funnel`` without a period or
breakdown: per stage, contacts that reached it (implied from later stages),
contacts that reached the next stage, conversion, and the median, p75 and p90
days to the next stage. Written the idiomatic way (vectorised groupby and pivot,
no Python loop over rows), so the comparison is fair.

Run it on its own: ``python benchmarks/pandas_baseline.py DATA_DIR [AS_OF]``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

STAGES = ["lead", "mql", "sal", "sql", "opportunity", "customer", "advocate"]
EXITS = ["disqualified", "closed_lost", "recycled"]


def lifecycle(contacts: pd.DataFrame, events: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One row per contact: first time it reached each stage, current stage, exit."""
    created = pd.DataFrame(
        {"contact_id": contacts["contact_id"], "stage": STAGES[0], "ts": contacts["created_at"]}
    )
    ev = pd.concat([events[["contact_id", "stage", "ts"]], created], ignore_index=True)
    ev = ev[(ev["ts"] <= as_of) & ev["stage"].isin(STAGES + EXITS)]
    first = ev[ev["stage"].isin(STAGES)].pivot_table(
        index="contact_id", columns="stage", values="ts", aggfunc="min"
    )
    first = first.reindex(columns=STAGES)
    # reaching a later stage implies the earlier ones: no event, or a later stage reached
    # before this one's own first event (a re-entry after recycling), take the earliest later
    later = first.iloc[:, ::-1].cummin(axis=1).ffill(axis=1).shift(1, axis=1).iloc[:, ::-1]
    reached = first.where(later.isna() | (first <= later), later)
    # the latest event decides the current stage; on a tie the later stage wins
    rank = {s: i for i, s in enumerate(STAGES + EXITS)}
    ev = ev.assign(rank=ev["stage"].map(rank))
    last = ev.sort_values(["contact_id", "ts", "rank"]).groupby("contact_id").tail(1)
    last = last.set_index("contact_id")
    out = reached.add_prefix("reached_").add_suffix("_at")
    out["last_event"] = last["stage"]
    out["exit"] = last["stage"].where(last["stage"].isin(["disqualified", "closed_lost"]))
    return out.reset_index()


def funnel(timeline: pd.DataFrame) -> pd.DataFrame:
    """Per stage: reached, converted to the next stage, conversion and velocity."""
    rows = []
    for s, t in zip(STAGES, [*STAGES[1:], None], strict=True):
        a = timeline[f"reached_{s}_at"]
        row = {"stage": s, "reached": int(a.notna().sum())}
        if t is not None:
            b = timeline[f"reached_{t}_at"]
            both = a.notna() & b.notna()
            days = (b[both].dt.floor("s") - a[both].dt.floor("s")).dt.total_seconds() / 86400
            row |= {
                "converted": int(both.sum()),
                "conversion": both.sum() / row["reached"] if row["reached"] else None,
                "median_days": days.quantile(0.5),
                "p75_days": days.quantile(0.75),
                "p90_days": days.quantile(0.9),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def run(data: Path, as_of: datetime) -> tuple[pd.DataFrame, dict[str, float]]:
    """Read the Parquet files, build the timeline and the funnel; returns (funnel, seconds)."""
    times = {}
    t0 = time.perf_counter()
    contacts = pd.read_parquet(data / "contacts.parquet", columns=["contact_id", "created_at"])
    events = pd.read_parquet(data / "stage_events.parquet", columns=["contact_id", "stage", "ts"])
    times["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tl = lifecycle(contacts, events, as_of)
    times["lifecycle"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = funnel(tl)
    times["funnel"] = time.perf_counter() - t0
    return result, times


if __name__ == "__main__":
    as_of = datetime.fromisoformat(sys.argv[2]) if len(sys.argv) > 2 else datetime(2026, 11, 23)
    frame, seconds = run(Path(sys.argv[1]), as_of)
    print(frame.to_string(index=False))
    print({k: round(v, 3) for k, v in seconds.items()})
