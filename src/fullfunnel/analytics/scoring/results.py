"""What a scoring run returns: the scores of the open contacts with how well the model
and the baseline did on held-out data, and one lead's explanation."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pandas as pd

from fullfunnel.analytics.scoring.reasons import (
    factor_label,
)
from fullfunnel.result import Result


@dataclasses.dataclass(frozen=True, eq=False)
class ScoreResult(Result):
    """Scores of the open contacts, and how well model and baseline did on held-out data."""

    title = "scoring"
    top_leads: pd.DataFrame
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    importance: pd.DataFrame
    tiers: pd.DataFrame
    target_stage: str
    horizon_days: int
    as_of: datetime
    model_version: str
    scored: int
    train_rows: int
    validation_rows: int
    train_cutoffs: list[str]
    validation_cutoffs: list[str]
    model_path: str | None
    note: str = ""
    explained: int = 0  # contacts whose reasons are stored (those in [scoring] reason_tiers)
    reason_tiers: str = ""
    reused: bool = False  # the stored run of the last 'fullfunnel score', data unchanged

    def headline(self) -> list[str]:
        if not self.model_version:
            return [f"No lead scores: {self.note}"]
        lines = [
            f"Scored {self.scored:,} open contacts: probability of reaching "
            f"{self.target_stage} within {self.horizon_days} days (model {self.model_version})."
        ]
        if not self.tiers.empty:
            a = self.tiers[self.tiers["tier"] == "A"]
            weighted = self.tiers["mean_score"] * self.tiers["contacts"]
            overall = weighted.sum() / max(self.scored, 1)
            if not a.empty:
                lines.append(
                    f"Tier A: {int(a['contacts'].iloc[0]):,} contacts, mean probability "
                    f"{a['mean_score'].iloc[0]:.0%} (all open contacts: "
                    f"{overall:.0%})."
                )
        m = self.metrics.set_index("scorer")
        if {"model", "baseline"} <= set(m.index):
            mo, ba = m.loc["model"], m.loc["baseline"]
            lines.append(
                f"On held-out cut-offs ({self.validation_rows:,} examples): AUC {mo['auc']:.2f} "
                f"vs {ba['auc']:.2f} for the points baseline; top-decile lift "
                f"{mo['top_decile_lift']:.1f}× vs {ba['top_decile_lift']:.1f}×; "
                f"calibration error {mo['calibration_error']:.1%} "
                f"(predicted {mo['mean_predicted']:.1%}, observed {mo['observed_rate']:.1%})."
            )
        if not self.importance.empty:
            top = ", ".join(factor_label(g) for g in self.importance["feature"].head(4))
            lines.append(f"Strongest signals: {top}.")
        if self.reused:
            lines.append(
                "The model and scores of the last 'fullfunnel score' run, reused: the data "
                "and the settings have not changed since."
            )
        if self.explained < self.scored:
            lines.append(
                f"Reasons stored for the {self.explained:,} contacts in tiers "
                f"{self.reason_tiers or '(none)'}; 'fullfunnel score --explain CONTACT' "
                "explains any contact."
            )
        return lines


@dataclasses.dataclass(frozen=True, eq=False)
class ExplainResult(Result):
    """Why one lead scores as it does: each factor's effect on the model's log-odds."""

    title = "score explanation"
    factors: pd.DataFrame
    contact_id: str
    score: float
    tier: str
    target_stage: str
    horizon_days: int
    model_version: str

    def headline(self) -> list[str]:
        lines = [
            f"{self.contact_id}: {self.score:.0%} probability of reaching {self.target_stage} "
            f"within {self.horizon_days} days (tier {self.tier})."
        ]
        up = self.factors[self.factors["effect"] >= 0.05]["reason"].head(4).tolist()
        down = self.factors[self.factors["effect"] <= -0.05]
        down = down.sort_values("effect")["reason"].head(3).tolist()
        if up:
            lines.append("Raises it: " + "; ".join(up) + ".")
        if down:
            lines.append("Lowers it: " + "; ".join(down) + ".")
        return lines
