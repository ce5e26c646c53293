"""Where lead models and scoring runs are kept, and when a stored run can be reused.

A model is saved beside a DuckDB file (``fullfunnel-models/``), under
``[scoring] model_dir``, or for a server warehouse (Postgres, Spark) in the
user's ``~/.fullfunnel/models/<engine>-<url digest>``; never in the working
directory. A ``fullfunnel score`` run is stored with the warehouse's data version
and the run's settings: a later read of the scores (the report, the dashboard)
with the same data and settings reuses it instead of training again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fullfunnel.config import Config
from fullfunnel.warehouse import Warehouse

if TYPE_CHECKING:
    from fullfunnel.analytics.scoring.model import LeadModel
    from fullfunnel.analytics.scoring.vocabulary import Vocabulary
    from fullfunnel.result import Result

RUNS = "runs"


def version(
    target: str,
    horizon: int,
    as_of: datetime,
    seed: int,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: dict[str, Any],
) -> str:
    digest = hashlib.sha256(
        json.dumps(
            [
                sorted(train.columns),
                len(train),
                int(train["label"].sum()),
                len(valid),
                int(valid["label"].sum()),
                params,
                seed,
            ],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:8]
    return f"{target}-{horizon}d-{as_of:%Y%m%d}-{digest}"


def model_dir(wh: Warehouse, sc: Any, override: str | Path | None = None) -> Path | None:
    """The folder of ``wh``'s models (None: an in-memory warehouse, which keeps none)."""
    if override is not None:
        return Path(override)
    if sc["model_dir"]:
        return Path(sc["model_dir"])
    scheme, _, rest = wh.url.partition("://")
    if not rest:
        scheme, rest = "duckdb", wh.url
    if scheme != "duckdb":
        # a server warehouse: the user's folder, one per warehouse (no password in it)
        where = wh.url.split("@")[-1]
        digest = hashlib.sha256(where.encode()).hexdigest()[:12]
        return Path.home() / ".fullfunnel" / "models" / f"{scheme}-{digest}"
    rest = rest.split("?")[0]
    if not rest or rest.startswith(":memory:") or rest == "connection":
        return None
    return Path(rest).expanduser().resolve().parent / "fullfunnel-models"


def save_model(
    folder: Path,
    version: str,
    model: LeadModel,
    vocab: Vocabulary,
    target: str,
    horizon: int,
    as_of: datetime,
    metrics_frame: pd.DataFrame,
) -> Path:
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.joblib"
    meta = {
        "version": version,
        "target": target,
        "horizon_days": horizon,
        "trained_as_of": as_of.isoformat(),
        "metrics": json.loads(metrics_frame.to_json(orient="records")),
    }
    joblib.dump({**meta, "model": model, "vocab": vocab}, path)
    (folder / f"{version}.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return path


def run_key(wh: Warehouse, config: Config, **settings: Any) -> str:
    """What a scoring run depends on: the data's version, the config and its settings."""
    text = json.dumps([wh.data_version(), config.to_dict(), settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stored_run(folder: Path | None, key: str) -> Result | None:
    """The result of the stored run ``key``, or None (none stored, or unreadable)."""
    path = None if folder is None else folder / RUNS / f"{key}.joblib"
    if path is None or not path.is_file():
        return None
    import joblib

    try:
        return joblib.load(path)
    except Exception:  # a file from another version of the library: train again
        return None


def store_run(folder: Path | None, key: str, result: Result) -> None:
    """Keep ``result`` as run ``key`` (the latest few; older ones are removed)."""
    if folder is None:
        return
    import joblib

    runs = folder / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    joblib.dump(result, runs / f"{key}.joblib")
    kept = sorted(runs.glob("*.joblib"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEEP_RUNS:]:
        old.unlink(missing_ok=True)


KEEP_RUNS = 5
