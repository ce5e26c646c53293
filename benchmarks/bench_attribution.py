"""Exact Markov attribution (fullfunnel) against ChannelAttribution's simulated one.

Generates N journeys (paths over 12 channels with conversions, values and nulls),
then times, on the same journeys:

- fullfunnel: distinct paths aggregated in DuckDB through Ibis, then the exact
  removal effects (transitions counted with NumPy, one sparse LU solve per channel);
- ChannelAttribution ``markov_model`` (simulation, its defaults, one core).

and prints a table of times (wall clock and CPU) and how far the two results are
apart.

    /work/venv/bin/python benchmarks/bench_attribution.py            # 1M and 10M
    /work/venv/bin/python benchmarks/bench_attribution.py --rows 1000000 --order 2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fullfunnel.analytics.attribution import get_model
from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.config import default_config

CHANNELS = np.array(
    ["search", "social", "seo", "content", "webinar", "events", "email", "referral",
     "partner", "outbound", "display", "video"]
)  # fmt: skip
MIX = np.array([16, 12, 18, 12, 8, 6, 6, 6, 6, 10, 5, 5], dtype=float)
LIFT = np.array([1.0, 0.7, 1.1, 0.9, 1.3, 1.2, 0.8, 1.9, 1.4, 0.8, 0.6, 0.9])


def journeys(n: int, seed: int = 1) -> pa.Table:
    """``n`` journeys: path text, conversions (0/1), value and nulls (1 - conversions)."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.geometric(0.3, n), 20)
    flat = rng.choice(len(CHANNELS), lengths.sum(), p=MIX / MIX.sum())
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    lift = np.add.reduceat(LIFT[flat], offsets[:-1]) / lengths
    conv = (rng.random(n) < np.clip(0.04 * lift * np.sqrt(lengths), 0, 0.9)).astype(np.int64)
    names = pa.array(CHANNELS, pa.large_string()).take(pa.array(flat))
    sep = pa.scalar(" > ", pa.large_string())
    path = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), names), sep)
    value = np.where(conv > 0, np.round(rng.lognormal(np.log(500), 0.8, n), 2), 0.0)
    return pa.table({"path": path, "conversions": conv, "value": value, "nulls": 1 - conv})


def ours(table: pa.Table, order: int) -> tuple[pd.DataFrame, float, float, float, int]:
    """(credits, seconds to aggregate in the engine, to solve, CPU seconds, distinct paths)."""
    markov = get_model("markov")  # imported outside the clock, like ChannelAttribution
    settings = {**default_config()["attribution"], "markov_order": order}
    t0, cpu0 = time.perf_counter(), time.process_time()
    con = ibis.duckdb.connect()
    # the same rows as zero-copy slices, as any real source (Parquet row groups, a
    # stream) delivers them: the engine scans them in parallel (one chunk is one task)
    t = ibis.memtable(pa.Table.from_batches(table.to_batches(max_chunksize=1 << 17)))
    agg = t.group_by("path").aggregate(
        conversions=t.conversions.sum().cast("float64"),
        value=t.value.sum(),
        nulls=t.nulls.sum().cast("float64"),
    )
    frame = con.to_pyarrow(agg).to_pandas()  # Arrow-backed strings: no Python objects
    frame["lead_pos"] = frame["opp_pos"] = frame["won_pos"] = -1
    t1 = time.perf_counter()
    credits = markov(Paths(frame), settings)
    t2, cpu = time.perf_counter(), time.process_time() - cpu0
    return credits.set_index("label"), t1 - t0, t2 - t1, cpu, len(frame)


def reference(table: pa.Table, order: int) -> tuple[pd.DataFrame, float, float]:
    with contextlib.redirect_stdout(io.StringIO()):
        import ChannelAttribution as ca

        frame = table.to_pandas()
        t0, cpu0 = time.perf_counter(), time.process_time()
        res = ca.markov_model(
            frame, "path", "conversions", var_value="value", var_null="nulls",
            order=order, verbose=False, flg_pro=False,
        )  # fmt: skip
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    res = res["result"] if isinstance(res, dict) else res
    return res.set_index("channel_name"), seconds, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1000000,10000000", help="journey counts, comma-separated")
    ap.add_argument("--order", type=int, default=1)
    args = ap.parse_args()
    lines = []
    for n in (int(x) for x in args.rows.split(",")):
        t0 = time.perf_counter()
        table = journeys(n)
        gen = time.perf_counter() - t0
        credits, agg_s, solve_s, cpu_s, distinct = ours(table, args.order)
        ref, ref_s, ref_cpu = reference(table, args.order)
        ref = ref.reindex(credits.index)
        total_c = float(pc.sum(table["conversions"]).as_py())
        total_v = float(pc.sum(table["value"]).as_py())
        diff_c = float((credits.conversions - ref.total_conversions).abs().max()) / total_c
        diff_v = float((credits.value - ref.total_conversion_value).abs().max()) / total_v
        lines.append(
            f"| {n:>10,} | {distinct:>9,} | {gen:6.1f} | {agg_s:6.2f} | {solve_s:6.2f} | "
            f"{agg_s + solve_s:6.2f} | {ref_s:7.2f} | {ref_s / (agg_s + solve_s):5.1f}x | "
            f"{cpu_s:6.2f} | {ref_cpu:7.2f} | {diff_c:8.3%} | {diff_v:8.3%} |"
        )
        print(lines[-1], flush=True)
        del table
    print()
    print(f"Markov order {args.order}: fullfunnel exact vs ChannelAttribution simulated")
    print(
        "| journeys   | distinct  | gen s  | agg s  | solve s| ours s | CA s    | speed | "
        "ours CPU s | CA CPU s | max |Δ| conv | max |Δ| value |"
    )
    print("|" + "---|" * 12)
    for line in lines:
        print(line)
    print("Δ: largest per-channel difference, as a share of total conversions / value.")
    print(
        "s: wall-clock seconds (speed is their ratio); CPU s: processor seconds over all "
        f"threads (DuckDB uses several, ChannelAttribution one); load average {_load()}."
    )


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # not on every platform
        return "unknown"


if __name__ == "__main__":
    main()
