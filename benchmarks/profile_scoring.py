"""Where one scoring run spends its time: wall and CPU seconds of each phase.

    python benchmarks/run.py --touchpoints 10000000 --touches-per-contact 10 --reuse \\
        --no-pandas --no-reference --keep     # leaves benchmarks/data/…/bench.duckdb
    python benchmarks/profile_scoring.py benchmarks/data/balanced-1000000-7-10tpc/bench.duckdb

Runs ``fullfunnel.score`` once on the warehouse (without writing, unless ``--write``)
with a timer around each phase. A phase's figures leave out the phases inside it,
so the rows add up to the run; *CPU / wall* near the machine's core count means the
phase keeps every core busy. The shared timeline is built first, as its own row.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import fullfunnel as ff
from fullfunnel.analytics.scoring import fit, model, run
from fullfunnel.config import default_config
from fullfunnel.errors import FullfunnelError
from fullfunnel.lifecycle import timeline

# (owner, attribute, phase): the functions timed, by where scoring looks them up
PHASES = [
    (fit, "sample_contacts", "training sample (contacts drawn in the engine)"),
    (fit, "examples", "training and held-out examples (feature queries)"),
    (model.LeadModel, "fit", "fit: calibration folds and the booster"),
    (fit, "group_importance", "permutation importance"),
    (run, "feature_batches", "open contacts: feature query, fetched a batch at a time"),
    (model.LeadModel, "binned", "bins of the feature rows"),
    (model.LeadModel, "decision_binned", "log-odds (every tree, on the bins)"),
    (run, "contributions", "contributions (factors set to reference, predicted again)"),
    (run, "top_reasons", "reasons in words"),
    (run.Warehouse, "load", "write the scores table"),
    (run, "save_model", "save the model"),
]


class Timer:
    """Wall and CPU seconds per phase, each phase without the phases nested in it."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}
        self._stack: list[list[float]] = []  # [wall, cpu] spent in nested phases

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as ``name``, less the phases timed inside it."""
        self._stack.append([0.0, 0.0])
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            inner = self._stack.pop()
            if self._stack:
                self._stack[-1][0] += wall
                self._stack[-1][1] += cpu
            total = self.totals.setdefault(name, [0.0, 0.0, 0])
            total[0] += wall - inner[0]
            total[1] += cpu - inner[1]
            total[2] += 1

    def wrap(self, f: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(f)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return f(*args, **kwargs)

        return timed

    def wrap_iterator(self, f: Callable[..., Iterator[Any]], name: str) -> Callable[..., Any]:
        """Time a generator's steps only (the caller's work between them is not its own)."""

        @functools.wraps(f)
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            items = f(*args, **kwargs)
            while True:
                with self.phase(name):
                    item = next(items, _DONE)
                if item is _DONE:
                    return
                yield item

        return timed


_DONE = object()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("db", help="a warehouse URL or DuckDB file with a company loaded")
    ap.add_argument("--as-of", default="2026-11-23", help="score as of this date")
    ap.add_argument("--write", action="store_true", help="write the scores and the model")
    args = ap.parse_args()
    as_of = datetime.fromisoformat(args.as_of)
    if "://" not in args.db and not Path(args.db).is_file():  # connect would create it
        raise SystemExit(f"{args.db}: no such warehouse file; keep one with run.py --keep")
    wh = ff.connect(args.db)
    config = default_config()
    timer = Timer()
    for owner, attribute, name in PHASES:
        f = getattr(owner, attribute)
        if isinstance(vars(owner).get(attribute), classmethod):  # wrap, bind again
            setattr(owner, attribute, classmethod(timer.wrap(f.__func__, name)))
        elif inspect.isgeneratorfunction(f):
            setattr(owner, attribute, timer.wrap_iterator(f, name))
        else:
            setattr(owner, attribute, timer.wrap(f, name))
    began = time.perf_counter()
    with timer.phase("shared timeline (built once per run)"):
        timeline(wh, config, as_of=as_of)  # materialised and shared, as in any run
    try:
        with timer.phase("everything else (queries built, frames, tiers, metrics)"):
            result = run.score(wh, as_of=as_of, config=config, write=args.write)
    except FullfunnelError as exc:
        raise SystemExit(f"{args.db}: {exc}") from None
    elapsed = time.perf_counter() - began
    wh.close()
    wall = sum(t[0] for t in timer.totals.values())
    cpu = sum(t[1] for t in timer.totals.values())
    print(f"{result.scored:,} open contacts scored; {result.train_rows:,} training rows")
    print("| phase | calls | wall s | CPU s | CPU / wall |")
    print("|---|---|---|---|---|")
    for name, (w, c, n) in sorted(timer.totals.items(), key=lambda kv: -kv[1][0]):
        print(f"| {name} | {n} | {w:.2f} | {c:.2f} | {c / w if w else 0:.2f} |")
    print(f"| total | | {wall:.2f} | {cpu:.2f} | {cpu / wall:.2f} |")
    print(f"the run took {elapsed:.2f} s (timeline and scoring, timed as one)")


if __name__ == "__main__":
    main()
