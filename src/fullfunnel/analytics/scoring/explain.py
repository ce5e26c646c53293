"""Why one lead got its score: the effect of every factor on the saved model's log-
odds, with the reason in words."""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir
import pandas as pd

from fullfunnel.analytics.scoring.features import features
from fullfunnel.analytics.scoring.frames import feature_frame
from fullfunnel.analytics.scoring.model import LeadModel
from fullfunnel.analytics.scoring.reasons import (
    contributions,
    describe,
    feature_groups,
)
from fullfunnel.analytics.scoring.results import ExplainResult
from fullfunnel.analytics.scoring.store import model_dir as model_dir_of
from fullfunnel.config import Config, default_config
from fullfunnel.errors import ConfigError, InputError
from fullfunnel.warehouse import Warehouse


def latest_scores(wh: Warehouse) -> ir.Table:
    """The scores of the latest scoring run: contact_id, score, tier, reasons, …

    Other analyses join this to rank contacts by score (the table holds one run,
    this also guards against rows left from an older one).
    """
    t = wh.table("scores")
    return t.filter(t.scored_at == t.scored_at.max())


def explain(
    wh: Warehouse,
    contact_id: str,
    *,
    config: Config | None = None,
    model_dir: str | Path | None = None,
) -> ExplainResult:
    """Why ``contact_id`` got its score: the effect of every factor, from the saved model."""
    config = config or default_config()
    sc = config["scoring"]
    row = latest_scores(wh).filter(lambda t: t.contact_id == contact_id).execute()
    if row.empty:
        exists = wh.table("contacts").filter(lambda t: t.contact_id == contact_id).count()
        if int(exists.execute()) == 0:
            raise InputError(f"contact {contact_id!r} is not in the contacts table; check the id")
        raise InputError(
            f"contact {contact_id!r} has no score: it is not open (already at the target stage "
            "or exited), or it is newer than the last run; run 'fullfunnel score' first"
        )
    r = row.iloc[0]
    folder = model_dir_of(wh, sc, model_dir)
    path = None if folder is None else folder / f"{r['model_version']}.joblib"
    if path is None or not path.is_file():
        raise ConfigError(
            f"the model {r['model_version']} is not saved (looked in {folder}); run "
            "'fullfunnel score' with a file warehouse or set [scoring] model_dir"
        )
    import joblib

    saved = joblib.load(path)
    model: LeadModel = saved["model"]
    frame = feature_frame(
        features(
            wh,
            cutoff=r["scored_at"].to_pydatetime(),
            config=config,
            target=saved["target"],
            vocab=saved["vocab"],
            contact_ids=[contact_id],
        )
    )
    if frame.empty:
        raise InputError(f"contact {contact_id!r} is no longer open; run 'fullfunnel score' again")
    effects = contributions(model, frame, feature_groups(model.columns)).iloc[0]
    rec = frame.iloc[0].to_dict()
    factors = pd.DataFrame({"factor": effects.index, "effect": effects.to_numpy().round(3)})
    factors["reason"] = [describe(g, rec) for g in factors["factor"]]
    factors = factors.reindex(factors["effect"].abs().sort_values(ascending=False).index)
    return ExplainResult(
        factors=factors.reset_index(drop=True),
        contact_id=contact_id,
        score=float(r["score"]),
        tier=str(r["tier"]),
        target_stage=str(r["target_stage"]),
        horizon_days=int(r["horizon_days"]),
        model_version=str(r["model_version"]),
    )
