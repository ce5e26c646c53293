"""Age-aware conversion and the review of a past period.

* The chance curves: for each stage, the chance that a contact still there after
  so many days ever moves on (Kaplan–Meier, :mod:`fullfunnel.analytics.survival`),
  with the dormant floor drawn; the title says how fast a stage ages out.
* The review: bookings week by week against the pace the target called for.
"""

from __future__ import annotations

import plotly.graph_objects as go

from fullfunnel.analytics.review import ReviewResult
from fullfunnel.analytics.stuck import StuckResult
from fullfunnel.config import Config, stage_plural
from fullfunnel.report.charts._common import BLUE, GREY, money, new_figure, stage_label
from fullfunnel.report.charts._finish import MONEY


def chance_chart(result: StuckResult, config: Config) -> go.Figure | None:
    """The chance to move on by days already spent in a stage, per stage."""
    frame = result.chances
    if frame.empty:
        return None
    floor = float(config["funnel"]["dormant_floor"])
    fig = new_figure("")
    notes = []
    for stage, part in frame.groupby("stage", sort=False):
        part = part.sort_values("day")
        fig.add_scatter(
            x=part["day"], y=part["chance_to_move_on"], mode="lines+markers",
            name=stage_label(config, stage),
            hovertemplate="still here after %{x} days: %{y:.1%} move on<extra></extra>",
        )  # fmt: skip
        at30 = part.loc[part["day"] == 30, "chance_to_move_on"]
        if not at30.empty:
            notes.append(f"{at30.iloc[0]:.0%} of {stage_plural(stage)}")
    fig.add_hline(
        y=floor, line={"dash": "dot", "color": GREY},
        annotation_text=f"dormant below {floor:.0%}", annotation_position="top right",
    )  # fmt: skip
    title = "Still in the stage after 30 days, these move on: " + ", ".join(notes[:5])
    fig.update_layout(
        title={"text": title},
        xaxis={"title": "days already in the stage"},
        yaxis={"title": "chance to reach the next stage", "tickformat": ".0%"},
    )
    return fig


def review_chart(result: ReviewResult, config: Config) -> go.Figure | None:
    """A past period's cumulative bookings, week by week, against the target's pace."""
    weeks = result.by_week
    if len(weeks) < 3:
        return None
    target = result.target.amount
    actual = weeks["cumulative"].iloc[-1]
    fig = new_figure("")
    fig.add_bar(
        x=weeks["week"], y=weeks["bookings"], name="booked that week", marker_color=BLUE,
        opacity=0.45, hovertemplate="week of %{x|%b %d}: %{y:,.0f}<extra></extra>",
    )  # fmt: skip
    fig.add_scatter(
        x=weeks["week"], y=weeks["cumulative"], mode="lines+markers", name="booked so far",
        line={"color": BLUE}, hovertemplate="%{y:,.0f} by %{x|%b %d}<extra></extra>",
    )  # fmt: skip
    title = f"Booked {money(actual)} in the period"
    if target:
        fig.add_scatter(
            x=weeks["week"], y=weeks["target_pace"], mode="lines", name="target pace",
            line={"dash": "dash", "color": GREY},
        )  # fmt: skip
        title += f", {actual / target:.0%} of the {money(target)} target"
    fig.update_layout(title={"text": title}, yaxis={"tickformat": MONEY, "rangemode": "tozero"})
    return fig
