"""Ad-hoc step funnels: seconds per run and per step, against a hand-written DuckDB query.

Generates N touchpoints in DuckDB (``--touches-per-contact`` per contact on average,
three channels and three kinds, timestamps over 2026, deterministic from a hash of the
row number) straight into a fresh warehouse, then times, for each funnel length
(10, 20 and 40 steps of ``touch:<value>``, the values cycling so that steps repeat):

- fullfunnel: ``step_funnel(wh, steps=…)`` (strict order), through Ibis;
- hand-written DuckDB SQL for the same funnel, two ways: one pass over the touchpoints
  that flags each value, then a chain of materialised CTEs, step k's the earliest
  matching touch at or after step k-1's (strictly after the value's previous
  occurrence) found by a join and GROUP BY (the same plan as ours, in plain SQL), or
  by DuckDB's ASOF JOIN (engine-specific; it finds that touch without reading the
  contact's other ones), then one aggregate per step.

Both must give the same reached counts and medians; the script stops if they do not.

    python benchmarks/bench_steps.py                          # 10M touchpoints
    python benchmarks/bench_steps.py --touchpoints 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

import fullfunnel as ff
from fullfunnel.analytics.steps import step_funnel

CHANNELS = ["seo", "paid_search", "email"]
KINDS = ["web_visit", "email", "ad_click"]
# the values the steps cycle through: channels and kinds (email is both), so touch:
# matches several columns and steps repeat
VALUES = ["web_visit", "seo", "email", "ad_click", "paid_search"]
AS_OF = datetime(2026, 12, 31, 23, 59, 59)


def generate(wh: ff.Warehouse, n: int, per_contact: float, seed: int = 1) -> None:
    """``n`` touchpoints into ``wh``'s table: numbers drawn by NumPy, rows built by
    DuckDB (no Python loop over rows)."""
    rng = np.random.default_rng(seed)
    codes = pa.table(
        {
            "i": np.arange(n, dtype=np.int64),
            "c": rng.integers(0, max(1, int(n / per_contact)), n),
            "s": rng.integers(0, 365 * 86400, n),
            "ch": rng.integers(1, len(CHANNELS) + 1, n),
            "ta": rng.integers(0, 20, n),
            "k": rng.integers(1, len(KINDS) + 1, n),
        }
    )
    raw = wh.con.con
    raw.register("codes", codes)
    raw.execute(
        f"""
        INSERT INTO touchpoints (touchpoint_id, contact_id, ts, channel, tactic, kind)
        SELECT 'T' || i, 'C' || c, TIMESTAMP '2026-01-01' + to_seconds(s),
               {_list(CHANNELS)}[ch], 'tactic_' || ta, {_list(KINDS)}[k]
        FROM codes
        """
    )
    raw.unregister("codes")


def _list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def funnel_steps(k: int) -> list[str]:
    return [f"touch:{VALUES[i % len(VALUES)]}" for i in range(k)]


def hand_sql(steps: list[str], *, asof: bool = False) -> str:
    """The funnel as one DuckDB query: a flag pass, then a chain of materialised CTEs.
    Step k: the earliest matching touch at or after step k-1's, by a join and GROUP BY,
    or (``asof``) by DuckDB's ASOF JOIN, which finds it without reading the others."""
    values = list(dict.fromkeys(s.split(":", 1)[1] for s in steps))
    cols = ("channel", "tactic", "campaign", "kind")
    flag = {v: " OR ".join(f"coalesce(lower({c}) = '{v}', false)" for c in cols) for v in values}
    m = {v: f"m{i}" for i, v in enumerate(values)}
    ctes = [
        "ev AS MATERIALIZED (SELECT contact_id, ts, "
        + ", ".join(f"{flag[v]} AS {m[v]}" for v in values)
        + f" FROM touchpoints WHERE ts <= TIMESTAMP '{AS_OF}' AND ("
        + " OR ".join(f"({flag[v]})" for v in values)
        + "))"
    ]
    first = steps[0].split(":", 1)[1]
    ctes.append(
        f"s1 AS MATERIALIZED (SELECT contact_id, min(ts) AS t, min(ts) AS l_{m[first]}, "
        f"NULL::DOUBLE AS d FROM ev WHERE {m[first]} GROUP BY contact_id)"
    )
    seen = {first}
    for k, step in enumerate(steps[1:], 2):
        v, lv = step.split(":", 1)[1], f"l_{m[step.split(':', 1)[1]]}"
        carried = [f"l_{m[x]}" for x in values if x in seen]
        keep = "".join(f", p.{c}" for c in carried if c != lv)
        if asof:  # the bound as one column: at or after t, strictly after the last same
            bound = f"greatest(p.t, p.{lv} + INTERVAL 1 MICROSECOND)" if v in seen else "p.t"
            ctes.append(
                f"s{k} AS MATERIALIZED (SELECT p.contact_id, e.ts AS t{keep}, e.ts AS {lv}, "
                f"(epoch(e.ts) - epoch(p.t)) / 86400 AS d FROM (SELECT *, {bound} AS lb "
                f"FROM s{k - 1} p) p ASOF JOIN (SELECT contact_id, ts FROM ev WHERE {m[v]}) e "
                "ON e.contact_id = p.contact_id AND e.ts >= p.lb)"
            )
        else:
            cond = "e.ts >= p.t" + (f" AND e.ts > p.{lv}" if v in seen else "")
            ctes.append(
                f"s{k} AS MATERIALIZED (SELECT p.contact_id, min(e.ts) AS t{keep}, "
                f"min(e.ts) AS {lv}, (epoch(min(e.ts)) - epoch(p.t)) / 86400 AS d "
                f"FROM s{k - 1} p JOIN ev e ON e.contact_id = p.contact_id AND e.{m[v]} "
                f"AND {cond} GROUP BY p.contact_id, p.t{keep})"
            )
        seen.add(v)
    union = " UNION ALL ".join(
        f"SELECT {k} AS step, count(*) AS reached, median(d) AS med FROM s{k}"
        for k in range(1, len(steps) + 1)
    )
    return "WITH " + ",\n".join(ctes) + f"\n{union} ORDER BY step"


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--touchpoints", type=int, default=10_000_000)
    ap.add_argument("--touches-per-contact", type=float, default=100.0)
    ap.add_argument("--steps", default="10,20,40", help="funnel lengths, comma-separated")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (median kept)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-bench-steps-") as tmp:
        wh = ff.connect(str(Path(tmp) / "steps.duckdb"))
        t0 = time.perf_counter()
        generate(wh, args.touchpoints, args.touches_per_contact)
        gen = time.perf_counter() - t0
        raw = wh.con.con
        rows = []
        for k in (int(x) for x in args.steps.split(",")):
            steps = funnel_steps(k)
            ours_s, res = timed(
                lambda s=steps: step_funnel(wh, steps=",".join(s), as_of=AS_OF), args.runs
            )
            ref = None
            hand = {}
            for name, flag in (("join", False), ("asof", True)):
                sql = hand_sql(steps, asof=flag)
                hand[name], ref = timed(lambda q=sql: raw.execute(q).fetchdf(), args.runs)
                got = res.steps
                assert list(got.reached) == list(ref.reached), (name, list(got.reached))
                med = ref.med.round(2).to_numpy(dtype=float)
                assert np.allclose(got.median_days.to_numpy(dtype=float), med, equal_nan=True)
            rows.append((k, ours_s, hand, int(got.reached.iloc[0]), int(got.reached.iloc[-1])))
            print(
                f"{k} steps: ours {ours_s:.2f} s, hand-written join {hand['join']:.2f} s, "
                f"ASOF {hand['asof']:.2f} s",
                flush=True,
            )
        wh.close()
    print()
    print(
        f"step funnels on {args.touchpoints:,} touchpoints "
        f"({args.touchpoints / args.touches_per_contact:,.0f} contacts; generated in {gen:.1f} s), "
        f"strict order, median of {args.runs} runs; {os.cpu_count()} cores"
    )
    print(
        "| steps | entered | reached last | ours s | ours s/step | hand join s | ratio "
        "| hand ASOF s | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k, ours_s, hand, entered, last in rows:
        print(
            f"| {k} | {entered:,} | {last:,} | {ours_s:.2f} | {ours_s / k:.3f} | "
            f"{hand['join']:.2f} | {ours_s / hand['join']:.2f}x | {hand['asof']:.2f} | "
            f"{ours_s / hand['asof']:.2f}x |"
        )
    print("ratio: ours / hand-written (above 1: ours is slower).")


if __name__ == "__main__":
    main()
