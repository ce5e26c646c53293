"""The attribution figure: credit by channel under each model, side by side.

Attribution results come in several shapes (one model or many, wide or long
tables); :func:`attribution_chart` reads any of them and shows a heatmap of the
share of credit when three or more models are compared, grouped bars otherwise,
so the reader sees how much the answer depends on the model.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from fullfunnel.config import Config
from fullfunnel.report.charts._common import attr, column, find_table, new_figure
from fullfunnel.result import Result

MODEL_NAMES = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "u_shaped",
    "w_shaped",
    "full_path",
    "markov",
    "shapley",
)


def attribution_chart(result: Result, config: Config) -> go.Figure | None:
    """Credit by channel under each model, side by side."""
    frame = find_table(result, names=("compare", "comparison", "models", "credits"))
    key = (
        column(frame, "channel", "campaign", "tactic", "key", "group")
        if frame is not None
        else None
    )
    if frame is not None and key and sum(m in frame for m in MODEL_NAMES) >= 2:
        models = [m for m in MODEL_NAMES if m in frame]
        long = frame.melt(id_vars=[key], value_vars=models, var_name="model", value_name="credit")
    else:
        long = None
        frame = find_table(result, names=("credits", "credit"), all_of=("model",))
        if frame is None:
            frame = find_table(result, all_of=("model",), any_of=("credit", "conversions"))
        if frame is not None:
            key = column(frame, "channel", "campaign", "tactic", "key", "group")
            value = column(frame, "credit", "conversions", "credit_conversions", "value")
            if key and value:
                long = frame[[key, "model", value]].rename(columns={value: "credit"})
        if long is None:
            frame = find_table(result, names=("credits",), any_of=("channel", "campaign", "tactic"))
            if frame is None:
                return None
            key = column(frame, "channel", "campaign", "tactic")
            value = column(frame, "credit", "conversions", "credit_conversions", "value")
            if key is None or value is None:
                return None
            long = frame[[key, value]].rename(columns={value: "credit"})
            long["model"] = str(attr(result, "model", default="model"))
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
    conv = attr(result, "conversion")
    model = attr(result, "model")
    what = f" for {conv} conversions" if conv else ""
    if model and n_models == 1:
        what += f" ({str(model).replace('_', ' ')} model)"
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
