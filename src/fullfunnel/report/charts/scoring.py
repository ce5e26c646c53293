"""The lead-scoring figure: contacts and their mean score by score tier.

Bars count the leads in each tier and a line on a second axis shows their mean
score (the chance to reach the target stage within the horizon), so the title can
say how much more likely the top tier is to convert than the bottom one: which
leads are worth a call today.
"""

from __future__ import annotations

import plotly.graph_objects as go

from fullfunnel.analytics.scoring.results import ScoreResult
from fullfunnel.config import Config
from fullfunnel.report.charts._common import BLUE, ORANGE, new_figure


def score_chart(result: ScoreResult, config: Config) -> go.Figure | None:
    """Contacts and mean score by score tier."""
    if result.tiers.empty:
        return None
    grid = result.tiers.groupby("tier", as_index=False).agg(
        {"contacts": "sum", "mean_score": "mean"}
    )
    grid = grid.sort_values("tier")
    fig = new_figure("")
    fig.add_bar(x=grid["tier"].astype(str), y=grid["contacts"], name="contacts", marker_color=BLUE)
    fig.add_scatter(
        x=grid["tier"].astype(str), y=grid["mean_score"], name="mean score",
        yaxis="y2", mode="lines+markers", marker_color=ORANGE,
    )  # fmt: skip
    fig.update_layout(
        yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "showgrid": False}
    )
    first, last = grid.iloc[0], grid.iloc[-1]
    title = (
        f"Tier {first['tier']}: {int(first['contacts']):,} leads with a "
        f"{first['mean_score']:.0%} chance to reach {result.target_stage} within "
        f"{result.horizon_days} days, vs {last['mean_score']:.0%} in tier {last['tier']}"
    )
    fig.update_layout(title={"text": title})
    return fig
