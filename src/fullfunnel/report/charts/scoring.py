"""The lead-scoring figure: contacts and observed conversion by score tier.

Bars count the leads in each tier and a line on a second axis shows their
conversion (or mean score), so the title can say how much more likely the top
tier is to convert than the bottom one: which leads are worth a call today.
"""

from __future__ import annotations

import plotly.graph_objects as go

from fullfunnel.config import Config
from fullfunnel.report.charts._common import (
    BLUE,
    ORANGE,
    attr,
    column,
    find_table,
    new_figure,
)
from fullfunnel.result import Result


def score_chart(result: Result, config: Config) -> go.Figure | None:
    """Contacts and observed conversion by score tier."""
    frame = find_table(result, names=("tiers", "by_tier"), all_of=("tier",))
    if frame is None:
        frame = find_table(result, all_of=("tier",))
    if frame is None:
        return None
    count = column(frame, "contacts", "count", "n", "leads")
    rate = column(frame, "conversion", "rate", "converted_rate", "observed_rate", "mean_score")
    if count is None and rate is None:
        return None
    if count is None:
        grid = frame.groupby("tier", as_index=False)[rate].mean()
    else:
        grid = frame.groupby("tier", as_index=False).agg(
            {count: "sum", **({rate: "mean"} if rate else {})}
        )
    grid = grid.sort_values("tier")
    fig = new_figure("")
    title = "Lead-score tiers"
    if count:
        fig.add_bar(x=grid["tier"].astype(str), y=grid[count], name="contacts", marker_color=BLUE)
    if rate:
        fig.add_scatter(
            x=grid["tier"].astype(str), y=grid[rate], name=rate.replace("_", " "),
            yaxis="y2", mode="lines+markers", marker_color=ORANGE,
        )  # fmt: skip
        fig.update_layout(
            yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "showgrid": False}
        )
        first, last = grid.iloc[0], grid.iloc[-1]
        if count:
            what = "chance" if rate == "mean_score" else rate.replace("_", " ")
            target = attr(result, "target_stage")
            horizon = attr(result, "horizon_days")
            goal = f" to reach {target}" if target else ""
            goal += f" within {horizon} days" if target and horizon else ""
            title = (
                f"Tier {first['tier']}: {int(first[count]):,} leads with a {first[rate]:.0%} "
                f"{what}{goal}, vs {last[rate]:.0%} in tier {last['tier']}"
            )
    fig.update_layout(title={"text": title})
    return fig
