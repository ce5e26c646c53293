"""Lifecycle + funnel written directly for an engine: the engine's best, no library.

Two more baselines beside ``pandas_baseline.py``, reading the same Parquet files
and computing the same numbers as ``fullfunnel.funnel`` without a period or
breakdown (per stage: contacts that reached it, contacts that reached the next
stage, conversion, and the median, p75 and p90 days to the next stage):

- :func:`duckdb_query`: one hand-written DuckDB SQL query on ``read_parquet``;
- :func:`polars_lazy`: the same plan in polars' lazy API on ``scan_parquet``.

Each returns the frame ``pandas_baseline.funnel`` returns (a row per stage; the
last stage has no next stage, so its step columns are NaN).

What they replicate from ``fullfunnel.lifecycle`` (default stage model):

- events at or after ``as_of`` do not count (``ts <= as_of``, ``as_of`` in whole
  seconds), and every contact has reached the first stage at ``created_at``;
- *reached S* is the earliest event of S or of any later stage
  (``least(first_S, reached_next)``, NULLs ignored): a contact created straight as
  SQL has reached lead, mql and sal then, and a later stage reached before S's own
  first event (a re-entry after recycling) also counts;
- exits (``disqualified``, ``closed_lost``) and ``recycled`` decide the current
  stage and the leakage columns, not when a stage was first reached, so none of
  the numbers here reads them;
- days S→T are whole seconds (each time floored to the second) apart, / 86,400.

Quantiles: every method interpolates linearly between the two closest ranks
(Hyndman and Fan's type 7, position ``q * (n - 1)``): DuckDB's ``quantile_cont``
(fullfunnel's ``quantile`` compiles to ``percentile_cont``, the same function),
pandas' ``Series.quantile`` (``interpolation="linear"``, its default) and polars'
``quantile(q, interpolation="linear")`` (polars' default is ``"nearest"``: it is
set here explicitly).

Run it on its own: ``python benchmarks/baselines.py DATA_DIR [AS_OF]``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pandas as pd

STAGES = ["lead", "mql", "sal", "sql", "opportunity", "customer", "advocate"]
QUANTILES = {"median_days": 0.5, "p75_days": 0.75, "p90_days": 0.9}
COLUMNS = ["stage", "reached", "converted", "conversion", *QUANTILES]
SECONDS_PER_DAY = 86_400


def _frame(values: dict[str, object]) -> pd.DataFrame:
    """The funnel frame of ``pandas_baseline.funnel`` from one row of aggregates named
    ``<stage>__reached``, ``<stage>__converted`` and ``<stage>__<quantile name>``."""
    rows = []
    for s, t in zip(STAGES, [*STAGES[1:], None], strict=True):
        row: dict[str, object] = {"stage": s, "reached": int(values[f"{s}__reached"])}
        if t is not None:
            converted = int(values[f"{s}__converted"])
            row["converted"] = converted
            row["conversion"] = converted / row["reached"] if row["reached"] else None
            for name in QUANTILES:
                v = values[f"{s}__{name}"]
                row[name] = float("nan") if v is None else float(v)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


# --- DuckDB ----------------------------------------------------------------------------


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_sql(data: Path) -> str:
    """The one query: first reach per stage per contact, implied stages, one aggregate
    pass. ``$as_of`` is its only parameter."""
    events = _sql_string(str(data / "stage_events.parquet"))
    contacts = _sql_string(str(data / "contacts.parquet"))
    stages = ", ".join(_sql_string(s) for s in STAGES)
    first = ",\n        ".join(
        f"min(ts) FILTER (WHERE stage = {_sql_string(s)}) AS {s}" for s in STAGES
    )
    # reached S = least(first S, every later stage's first): least() skips NULLs
    reached = ",\n        ".join(
        f"least({', '.join(STAGES[i:])}) AS {s}" for i, s in enumerate(STAGES)
    )
    # whole seconds since 1970, as the library counts (floored: the times are after 1970)
    seconds = ",\n        ".join(f"epoch_us({s}) // 1000000 AS {s}" for s in STAGES)
    aggs = []
    quantiles = ", ".join(str(q) for q in QUANTILES.values())
    for s, t in pairwise(STAGES):
        aggs.append(f"count({s}) AS {s}__reached")
        both = f"{s} IS NOT NULL AND {t} IS NOT NULL"
        aggs.append(f"count(*) FILTER (WHERE {both}) AS {s}__converted")
        aggs.append(
            f"quantile_cont(({t} - {s}) / {SECONDS_PER_DAY}.0, [{quantiles}]) "
            f"FILTER (WHERE {both}) AS {s}__quantiles"
        )
    aggs.append(f"count({STAGES[-1]}) AS {STAGES[-1]}__reached")
    aggregates = ",\n    ".join(aggs)
    return f"""
WITH ev AS (
    SELECT contact_id, stage, ts FROM read_parquet({events})
    WHERE ts <= $as_of AND stage IN ({stages})
    UNION ALL
    SELECT contact_id, {_sql_string(STAGES[0])}, created_at FROM read_parquet({contacts})
    WHERE created_at <= $as_of
),
first AS (
    SELECT contact_id,
        {first}
    FROM ev GROUP BY contact_id
),
reached AS (
    SELECT
        {reached}
    FROM first
),
secs AS (
    SELECT
        {seconds}
    FROM reached
)
SELECT
    {aggregates}
FROM secs
"""


def duckdb_connect(threads: int | None = None, memory_limit: str | None = None):
    """An in-memory DuckDB connection with the suite's ``--threads``/``--memory-limit``."""
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_sql_string(memory_limit)}")
    return con


def duckdb_query(data: Path, as_of: datetime, con=None) -> pd.DataFrame:
    """Lifecycle + funnel as one DuckDB query on the Parquet files (on ``con``, or on a
    connection of its own)."""
    own = con is None
    con = duckdb_connect() if own else con
    try:
        cur = con.execute(duckdb_sql(data), {"as_of": as_of.replace(microsecond=0)})
        names = [d[0] for d in cur.description]
        row = dict(zip(names, cur.fetchone(), strict=True))
    finally:
        if own:
            con.close()
    values = {}
    for name, v in row.items():
        if name.endswith("__quantiles"):
            s = name.removesuffix("__quantiles")
            qs = v if v is not None else [None] * len(QUANTILES)
            values |= {f"{s}__{q}": x for q, x in zip(QUANTILES, qs, strict=True)}
        else:
            values[name] = v
    return _frame(values)


# --- polars ----------------------------------------------------------------------------


def polars_available() -> bool:
    try:
        import polars  # noqa: F401
    except ImportError:
        return False
    return True


def polars_lazy(data: Path, as_of: datetime) -> pd.DataFrame:
    """Lifecycle + funnel as one polars lazy plan on the Parquet files."""
    import polars as pl

    cutoff = pl.lit(as_of.replace(microsecond=0)).cast(pl.Datetime("us"))
    events = (
        pl.scan_parquet(data / "stage_events.parquet")
        .select("contact_id", "stage", "ts")
        .filter(pl.col("ts") <= cutoff, pl.col("stage").is_in(STAGES))
    )
    created = (
        pl.scan_parquet(data / "contacts.parquet")
        .select("contact_id", pl.lit(STAGES[0]).alias("stage"), pl.col("created_at").alias("ts"))
        .filter(pl.col("ts") <= cutoff)
    )
    ts, stage = pl.col("ts"), pl.col("stage")
    first = (
        pl.concat([events, created], how="vertical_relaxed")
        .group_by("contact_id")
        .agg([ts.filter(stage == s).min().alias(s) for s in STAGES])
    )
    # reached S = the earliest of S's own first event and every later stage's
    # (min_horizontal skips nulls), as whole seconds since 1970
    reached = first.select(
        [
            pl.min_horizontal(*[pl.col(x) for x in STAGES[i:]]).dt.epoch("s").alias(s)
            for i, s in enumerate(STAGES)
        ]
    )
    aggs = []
    for s, t in pairwise(STAGES):
        both = pl.col(s).is_not_null() & pl.col(t).is_not_null()
        days = ((pl.col(t) - pl.col(s)) / SECONDS_PER_DAY).filter(both)
        aggs.append(pl.col(s).count().alias(f"{s}__reached"))
        aggs.append(both.sum().alias(f"{s}__converted"))
        aggs += [
            days.quantile(q, interpolation="linear").alias(f"{s}__{name}")
            for name, q in QUANTILES.items()
        ]
    aggs.append(pl.col(STAGES[-1]).count().alias(f"{STAGES[-1]}__reached"))
    row = reached.select(aggs).collect().row(0, named=True)
    return _frame(row)


# --- comparison ------------------------------------------------------------------------

COUNTS = ("reached", "converted")
RATE_TOLERANCE = 1e-6
# between methods that do not round: quantiles of the same days by the same definition
DAYS_TOLERANCE = 1e-9


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def differences(
    a: list[dict[str, object]],
    b: list[dict[str, object]],
    *,
    days_tolerance: float = DAYS_TOLERANCE,
) -> list[str]:
    """Where two funnel tables (as records) differ: counts exactly, conversion to
    ``RATE_TOLERANCE``, the days quantiles to ``days_tolerance``."""
    out = []
    if [r["stage"] for r in a] != [r["stage"] for r in b]:
        return ["different stages"]
    for x, y in zip(a, b, strict=True):
        for col in (*COUNTS, "conversion", *QUANTILES):
            u, v = x.get(col), y.get(col)
            if _missing(u) and _missing(v):
                continue
            if _missing(u) or _missing(v):
                out.append(f"{x['stage']}.{col} {u} vs {v}")
            elif col in COUNTS:
                if int(u) != int(v):
                    out.append(f"{x['stage']}.{col} {u} vs {v}")
            else:
                tol = RATE_TOLERANCE if col == "conversion" else days_tolerance
                if abs(float(u) - float(v)) > tol:
                    out.append(f"{x['stage']}.{col} {u} vs {v}")
    return out


if __name__ == "__main__":
    data = Path(sys.argv[1])
    as_of = datetime.fromisoformat(sys.argv[2]) if len(sys.argv) > 2 else datetime(2026, 11, 23)
    methods = {"duckdb query": lambda: duckdb_query(data, as_of)}
    if polars_available():
        methods["polars lazy"] = lambda: polars_lazy(data, as_of)
    else:
        print("polars is not installed: its baseline is skipped (pip install polars)")
    frames = {}
    for name, method in methods.items():
        t0 = time.perf_counter()
        frames[name] = method()
        print(f"{name}: {time.perf_counter() - t0:.3f} s")
        print(frames[name].to_string(index=False))
    if len(frames) == 2:
        a, b = (f.to_dict(orient="records") for f in frames.values())
        print("agree" if not differences(a, b) else differences(a, b))
