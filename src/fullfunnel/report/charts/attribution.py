"""The attribution figure: credit by channel under each model, side by side.

:func:`attribution_chart` draws one model's credits (an attribution) or every
model's (a comparison of models): a heatmap of the share of credit when three or
more models are compared, grouped bars otherwise, so the reader sees how much the
answer depends on the model.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.analytics.attribution import AttributionResult, CompareResult
from fullfunnel.config import Config
from fullfunnel.report.charts._common import new_figure


def attribution_chart(
    result: AttributionResult | CompareResult, config: Config
) -> go.Figure | None:
    """Credit by channel under each model, side by side."""
    if result.credits.empty:
        return None
    key = result.by
    what = f" for {result.conversion} conversions"
    if isinstance(result, CompareResult):
        long = result.credits.melt(
            id_vars=[key], value_vars=list(result.models), var_name="model", value_name="credit"
        )
    else:
        long = result.credits[[key, "conversions"]].rename(columns={"conversions": "credit"})
        long["model"] = result.model
        what += f" ({result.model.replace('_', ' ')} model)"
    long = long.copy()
    long["credit"] = pd.to_numeric(long["credit"], errors="coerce").fillna(0)
    totals = long.groupby("model")["credit"].transform("sum").replace(0, float("nan"))
    long["share"] = long["credit"] / totals
    order = long.groupby(key)["share"].mean().sort_values(ascending=False)
    top = order.index[0]
    wins = (
        long.loc[long.groupby("model")["share"].idxmax().dropna().astype(int), key] == top
    ).sum()
    n_models = long["model"].nunique()
    title = (
        f"{top} earns the most credit{what} in {wins} of {n_models} models "
        f"({order.iloc[0]:.0%} on average)"
        if n_models > 1
        else f"{top} earns the most credit{what} ({order.iloc[0]:.0%})"
    )
    if n_models >= 3:
        grid = long.pivot_table(index=key, columns="model", values="share", aggfunc="sum")
        grid = grid.reindex(index=order.index[:15])
        grid = grid[[m for m in dict.fromkeys(long["model"]) if m in grid.columns]]
        fig = new_figure(title, height=max(300, 60 + 26 * len(grid)))
        fig.add_heatmap(
            z=grid.to_numpy(dtype=float),
            x=[str(m).replace("_", " ") for m in grid.columns],
            y=[str(i) for i in grid.index],
            colorscale="Blues",
            texttemplate="%{z:.0%}",
            hovertemplate="%{y} under %{x}: %{z:.1%} of credit<extra></extra>",
            showscale=False,
        )
        fig.update_layout(yaxis={"autorange": "reversed"}, xaxis={"side": "top"})
        return fig
    fig = new_figure(title, height=340)
    for model, part in long.groupby("model", sort=False):
        part = part.set_index(key).reindex(order.index)
        fig.add_bar(x=[str(i) for i in part.index], y=part["share"], name=str(model))
    fig.update_layout(barmode="group", yaxis={"tickformat": ".0%", "title": "share of credit"})
    return fig
