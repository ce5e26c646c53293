"""Time lead scoring: train on a demo company, then score N open contacts.

Scoring = features in the engine (DuckDB) + the calibrated model's prediction
(+ the per-lead reasons, timed apart). Training time is printed too.

    python benchmarks/bench_scoring.py --contacts 1000000
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from datetime import datetime

import joblib

import fullfunnel as ff
from fullfunnel.analytics.scoring import score
from fullfunnel.analytics.scoring.features import features
from fullfunnel.analytics.scoring.frames import feature_frame
from fullfunnel.analytics.scoring.reasons import contributions, feature_groups, top_reasons
from fullfunnel.analytics.scoring.vocabulary import vocabulary
from fullfunnel.config import config_from_dict

AS_OF = datetime(2026, 11, 23)
print = functools.partial(print, flush=True)  # progress shows as it goes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--contacts", type=int, default=1_000_000, help="demo contacts")
    ap.add_argument("--train-contacts", type=int, default=20_000, help="demo to train on")
    ap.add_argument("--threads", type=int, default=0, help="model threads (0: all cores)")
    ap.add_argument("--no-reasons", action="store_true", help="skip timing the reasons")
    args = ap.parse_args()
    config = config_from_dict({"scoring": {"threads": args.threads}})

    # train on a modest company and keep the model
    train_wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(train_wh, contacts=args.train_contacts, seed=7, as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        result = score(train_wh, as_of=AS_OF, config=config, model_dir=tmp)
        train_s = time.perf_counter() - t
        model = joblib.load(result.model_path)["model"]
    print(f"train + validate + score {args.train_contacts:,} contacts: {train_s:.1f} s")
    print("  " + "\n  ".join(result.headline()))

    # score a big company with that model
    wh = ff.connect("duckdb://:memory:")
    t = time.perf_counter()
    summary = ff.generate_demo(wh, contacts=args.contacts, seed=8, as_of=AS_OF)
    print(
        f"demo {args.contacts:,} contacts, {summary.rows['touchpoints']:,} touchpoints: "
        f"{time.perf_counter() - t:.1f} s (not counted)"
    )
    vocab = vocabulary(train_wh, before=AS_OF)
    t = time.perf_counter()
    frame = feature_frame(features(wh, cutoff=AS_OF, config=config, target="sql", vocab=vocab))
    feat_s = time.perf_counter() - t
    t = time.perf_counter()
    prob = model.predict(frame)
    pred_s = time.perf_counter() - t
    groups = feature_groups(model.columns)
    top = {g: groups[g] for g in list(result.importance["feature"].head(12)) if g in groups}
    reason_s = float("nan")
    if not args.no_reasons:
        t = time.perf_counter()
        effects = contributions(model, frame, top)
        top_reasons(effects, frame, n=3, groups=top)
        reason_s = time.perf_counter() - t
    n = len(frame)
    print(f"open contacts scored: {n:,} of {args.contacts:,}")
    print(f"features (engine + fetch): {feat_s:.1f} s")
    print(f"predict (calibrated):      {pred_s:.1f} s  ({n / max(pred_s, 1e-9):,.0f} rows/s)")
    print(f"features + predict:        {feat_s + pred_s:.1f} s")
    print(f"reasons (12 factors, text): {reason_s:.1f} s")
    print(f"mean score {prob.mean():.4f}")


if __name__ == "__main__":
    main()
