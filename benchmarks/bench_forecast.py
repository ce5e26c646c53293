"""Monte Carlo speed: simulations × open opportunities, as the forecast runs them.

Run: /work/venv/bin/python benchmarks/bench_forecast.py [--sims 100000] [--opps 50000]
Prints seconds and opportunity-simulations per second for the default mode
(largest deals one by one, the rest from their normal limit) and, on a slice,
the fully exact mode, plus a forecast end to end on the demo.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import numpy as np

from fullfunnel.analytics.forecast import simulate
from fullfunnel.config import default_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=100_000)
    ap.add_argument("--opps", type=int, default=50_000)
    ap.add_argument("--contacts", type=int, default=20_000)
    args = ap.parse_args()
    cfg = default_config()["forecast"]
    rng = np.random.default_rng(0)
    amounts = rng.lognormal(np.log(30_000), 0.6, args.opps)
    probs = rng.uniform(0.01, 0.6, args.opps)
    mean = float(amounts @ probs)
    sd = float(np.sqrt((amounts**2) @ (probs * (1 - probs))))

    t = time.perf_counter()
    totals = simulate(
        amounts,
        probs,
        sims=args.sims,
        seed=1,
        chunk=cfg["chunk"],
        exact=cfg["exact_opportunities"],
        new_wins=40.0,
        new_amounts=amounts[:500],
    )
    dt = time.perf_counter() - t
    print(
        f"default (exact top {cfg['exact_opportunities']:,}): {args.sims:,} sims × "
        f"{args.opps:,} open opps in {dt:.2f} s "
        f"({args.sims * args.opps / dt / 1e6:,.0f}M opp-sims/s effective)"
    )
    print(
        f"  mean {totals.mean() - 40 * amounts[:500].mean():,.0f} vs analytic {mean:,.0f}; "
        f"sd {totals.std():,.0f} vs {sd:,.0f} (with new pipeline)"
    )
    sims = 2_000
    t = time.perf_counter()
    simulate(amounts, probs, sims=sims, seed=1, chunk=cfg["chunk"], exact=0)
    dt = time.perf_counter() - t
    rate = sims * args.opps / dt
    print(
        f"fully exact: {sims:,} sims × {args.opps:,} in {dt:.2f} s ({rate / 1e6:,.0f}M "
        f"opp-sims/s) → {args.sims:,} sims would take ~{args.sims * args.opps / rate:.0f} s"
    )

    import fullfunnel as ff

    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=args.contacts, seed=7, as_of=datetime(2026, 11, 23))
    for fn, kw in (
        (ff.plan, {"period": "2026-Q4"}),
        (ff.forecast, {"period": "2026-Q4", "sims": 20_000}),
        (ff.backtest, {"periods": 4, "sims": 2_000}),
    ):
        t = time.perf_counter()
        fn(wh, as_of=datetime(2026, 11, 23), **kw)
        print(
            f"{fn.__name__} on the {args.contacts:,}-contact demo: {time.perf_counter() - t:.2f} s"
        )


if __name__ == "__main__":
    main()
