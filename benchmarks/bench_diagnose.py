"""Diagnosis on the demo: verdicts across seeds, planted truth recovered, and timings.

    python benchmarks/bench_diagnose.py [--contacts 20000] [--seeds 5] [--big 200000]

Prints, per scenario and seed, the verdict and problem area against the planted
scenario; the untouched-MQL share (planted vs measured); stuck precision and
recall; and the wall time of ``diagnose`` on DuckDB.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import fullfunnel as ff

AS_OF = datetime(2026, 11, 23)
EXPECTED = {
    "balanced": ("balanced", {"neither", "lead generation", "closing new business", "both"}),
    "top-heavy": ("top-heavy", {"closing new business", "both"}),
    "bottom-heavy": ("bottom-heavy", {"lead generation"}),
}


def one(scenario: str, contacts: int, seed: int) -> dict:
    wh = ff.connect("duckdb://:memory:")
    t0 = time.perf_counter()
    ff.generate_demo(wh, scenario=scenario, contacts=contacts, seed=seed, as_of=AS_OF)
    t1 = time.perf_counter()
    d = ff.diagnose(wh, as_of=AS_OF, config=None)
    t2 = time.perf_counter()
    s = ff.stuck(wh, as_of=AS_OF, limit=10_000_000)
    truth = wh.table("demo_truth")
    planted = set(truth.filter(truth.fact == "stuck").subject.execute())
    share = truth.filter(truth.fact == "untouched_mql_share").value.execute().iloc[0]
    found = set(s.contacts.contact_id)
    hits = len(found & planted)
    mql = d.handoffs.handoffs.set_index("stage").loc["mql"]
    verdict, areas = EXPECTED[scenario]
    return {
        "scenario": scenario,
        "seed": seed,
        "verdict": d.verdict,
        "problem_area": d.problem_area,
        "ok": d.verdict == verdict and d.problem_area in areas,
        "untouched_planted": share,
        "untouched_measured": mql.dropped_pct,
        "stuck_precision": hits / len(found) if found else 1.0,
        "stuck_recall": hits / len(planted) if planted else 1.0,
        "generate_s": t1 - t0,
        "diagnose_s": t2 - t1,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--big", type=int, default=0, help="also time one run at this size")
    args = ap.parse_args()
    print(
        f"{'scenario':13} seed verdict       problem area          ok  untouched p/m   "
        "stuck P/R    diagnose s"
    )
    for scenario in EXPECTED:
        for seed in range(1, args.seeds + 1):
            r = one(scenario, args.contacts, seed)
            print(
                f"{r['scenario']:13} {r['seed']:4} {r['verdict']:13} {r['problem_area']:21} "
                f"{'yes' if r['ok'] else 'NO ':3} {r['untouched_planted']:.3f}/"
                f"{r['untouched_measured']:.3f}  {r['stuck_precision']:.3f}/"
                f"{r['stuck_recall']:.3f}  {r['diagnose_s']:.1f}"
            )
    if args.big:
        r = one("balanced", args.big, 1)
        print(
            f"\nbalanced at {args.big:,} contacts: generate {r['generate_s']:.1f} s, "
            f"diagnose {r['diagnose_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
