"""Per-lead reasons, read off the model rather than written by hand.

A lead's feature columns are grouped into factors a salesperson recognises
(title, pricing-page visits, web visits, days in stage, …). A factor's effect on
one lead is what the model's log-odds lose when that factor alone is set back to
a typical lead's value (the training median or most common category):
``effect = f(x) - f(x with the factor at reference)``. Positive effects are the
reasons a lead scores high; the text shows the lead's own values for the factor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from fullfunnel.analytics.scoring.model import LeadModel
from fullfunnel.analytics.scoring.titles import seniority_label
from fullfunnel.analytics.scoring.vocabulary import WINDOWS

ENGAGEMENT = (
    "touches_7d",
    "touches_30d",
    "touches_90d",
    "touches_ever",
    "last_touch_days",
    "first_touch_days",
    "engagement_velocity",
    "inbound_30d",
    "outbound_30d",
)
MIN_EFFECT = 0.05  # log-odds; smaller effects are not worth a reason


def feature_groups(columns: list[str]) -> dict[str, list[str]]:
    """Model columns grouped into factors, in a stable order."""
    groups: dict[str, list[str]] = {}

    def add(name: str, col: str) -> None:
        groups.setdefault(name, []).append(col)

    for c in columns:
        if c in ("title_level", "title_function"):
            add("title", c)
        elif c in ("industry", "employees", "country", "source_channel"):
            add(c, c)
        elif c == "days_since_created":
            add("age", c)
        elif c in ("current_stage", "days_in_stage"):
            add("stage", c)
        elif c.startswith(("days_since_", "entries_")) or c == "recycled_count":
            add("stage_history", c)
        elif c in ENGAGEMENT:
            add("engagement", c)
        elif c.startswith("account_"):
            add("account", c)
        elif c.startswith("x__"):
            add(f"extra:{c[3:]}", c)
        elif "__" in c and c.split("__")[0] in WINDOWS:
            dim, value, _ = c.split("__")
            add(f"{dim}:{value}", c)
        else:
            add(c, c)
    return groups


def contributions(
    model: LeadModel,
    frame: pd.DataFrame,
    groups: Mapping[str, list[str]],
    *,
    binned: np.ndarray | None = None,
) -> pd.DataFrame:
    """Effect (log-odds) of each factor in ``groups`` on each row of ``frame``.

    Evaluated on the model's binned matrix (a byte a value; the same log-odds as the
    values give; pass it as ``binned`` when it is at hand): a factor's effect walks
    again only the trees whose path reads its columns, from the first node that
    does, and only for the rows whose factor differs from the reference; the others'
    effect is exactly 0 (most leads have none of a given tactic or channel).
    """
    if not model.can_bin:
        return _contributions_by_value(model, model.matrix(frame), groups)
    Xb = model.binned(frame) if binned is None else binned
    reference = pd.DataFrame({c: [model.reference[c]] for c in model.columns})
    ref = model.binned(reference)[0]
    position = {c: i for i, c in enumerate(model.binned_columns())}
    at = [[position[c] for c in cols] for cols in groups.values()]
    effects = model.forest.effects(Xb, ref, at, threads=model.threads)
    return pd.DataFrame(effects, index=frame.index, columns=list(groups))


def _contributions_by_value(
    model: LeadModel, X: pd.DataFrame, groups: Mapping[str, list[str]]
) -> pd.DataFrame:
    """:func:`contributions` on the values (for a booster without binned prediction)."""
    base = model.decision(X)
    out = {}
    for name, cols in groups.items():
        Xr = X.copy()
        for c in cols:
            ref = model.reference[c]
            if c in model.categories:
                Xr[c] = pd.Categorical(
                    np.full(len(Xr), ref, dtype=object), categories=model.categories[c]
                )
            else:
                Xr[c] = np.nan if ref is None else ref
        out[name] = base - model.decision(Xr)
    return pd.DataFrame(out, index=X.index)


def top_reasons(
    effects: pd.DataFrame,
    frame: pd.DataFrame,
    *,
    n: int,
    groups: Mapping[str, list[str]] | None = None,
    min_effect: float = MIN_EFFECT,
) -> list[str]:
    """Each row's ``n`` strongest positive factors as a JSON list of plain sentences.

    A factor's sentence reads only that factor's columns (``groups``; without it,
    every column), so it is written once per distinct value of those columns and
    shared by every lead that has it: on a million leads most factors (title,
    channel, counts) take a few thousand distinct values.
    """
    if effects.empty:
        return ["[]"] * len(frame)
    values = effects.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    kept = np.take_along_axis(values, order, axis=1) >= min_effect
    sentences = np.full(order.shape, "", dtype=object)
    for g, name in enumerate(effects.columns):
        hit = kept & (order == g)
        rows = np.flatnonzero(hit.any(axis=1))
        if not rows.size:
            continue
        cols = _reads(name, groups, frame)
        if cols:
            # one sentence per distinct value of the columns it reads, as shown
            sub = _as_shown(frame[cols].iloc[rows])
            ids = sub.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
            first = np.unique(ids, return_index=True)[1]  # a row of each value, by id
            written = [json.dumps(describe(name, r)) for r in sub.iloc[first].to_dict("records")]
            texts = np.array(written, dtype=object)[ids]
        else:
            texts = json.dumps(describe(name, {}))
        sentences[rows, hit[rows].argmax(axis=1)] = texts  # a factor fills one slot a row
    # the kept factors are the strongest ones, so a row's sentences fill its first slots
    lists = np.full(len(sentences), "[", dtype=object)
    for k in range(order.shape[1]):
        filled = sentences[:, k] != ""
        lists[filled] += (", " if k else "") + sentences[filled, k]
    return list(lists + "]")


def _reads(group: str, groups: Mapping[str, list[str]] | None, frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that the sentence of ``group`` reads."""
    if groups is None or group not in groups:
        return list(frame.columns)
    return [c for c in _sentence_columns(group, groups[group]) if c in frame.columns]


def reason_columns(groups: Mapping[str, list[str]]) -> list[str]:
    """Every column that the sentences of ``groups`` read: what :func:`top_reasons`
    needs of a lead besides its effects."""
    cols = [c for group, members in groups.items() for c in _sentence_columns(group, members)]
    return list(dict.fromkeys(cols))


def _sentence_columns(group: str, members: list[str]) -> list[str]:
    """The columns :func:`describe` reads for ``group``: of some groups' columns only
    the shown ones (a million leads take 237k distinct values of the nine engagement
    columns, a few thousand of the two its sentence shows)."""
    if group == "title":
        return [*members, "title"]
    if group == "stage":
        return list(dict.fromkeys([*members, "current_stage", "days_in_stage"]))
    if group == "stage_history":
        return [c for c in members if c.startswith("days_since_") or c == "recycled_count"]
    if group == "engagement":
        return ["touches_30d", "last_touch_days"]
    if group == "account":
        return ["account_contacts", "account_touches_30d"]
    return list(members)


def _is_days(column: str) -> bool:
    return (
        column == "days_in_stage"
        or column.startswith("days_since_")
        or column.endswith("_touch_days")
    )


def _as_shown(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its day counts rounded as the sentences round them (half to
    even, like :func:`round`), so that leads a fraction of a day apart share one
    sentence: a million leads' last-touch ages are nearly all distinct, their days
    a few hundred."""
    days = [c for c in frame.columns if _is_days(c)]
    if not days:
        return frame
    return frame.assign(**{c: frame[c].astype("float64").round() for c in days})


def _num(v: object) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _days(v: object) -> str:
    d = _num(v)
    if d is None:
        return "never"
    d = round(d)
    return "today" if d == 0 else f"{d} day{'s' if d != 1 else ''} ago"


def _count(row: Mapping[str, object], dim: str, value: str, one: str, many: str) -> str:
    """'6 web visits in 7 days', from the shortest window with any."""
    for w in WINDOWS[dim]:
        key = f"{dim}__{value}__{f'{w}d' if w else 'ever'}"
        n = _num(row.get(key)) or 0
        if n > 0:
            when = f"in {w} days" if w else "so far"
            return f"{n:.0f} {one if n == 1 else many} {when}"
    return f"no {many}"


def factor_label(group: str) -> str:
    """A factor's name in words, for headlines."""
    fixed = {
        "stage": "current stage and days in it",
        "stage_history": "stages reached before",
        "engagement": "recent engagement",
        "age": "lead age",
        "title": "title seniority and function",
        "source_channel": "source channel",
        "account": "account activity",
    }
    if group in fixed:
        return fixed[group]
    dim, _, value = group.partition(":")
    if dim == "extra":
        return value
    if dim in WINDOWS:
        text = value.replace("_", " ")
        return f"{text}s" if dim == "kind" else f"{text} touches"
    return group.replace("_", " ")


def describe(group: str, row: Mapping[str, object]) -> str:
    """A factor of one lead in words, with the lead's own values."""
    if group == "title":
        level = seniority_label(_num(row.get("title_level")))  # type: ignore[arg-type]
        title = row.get("title") or "no title"
        return f"{title} ({level} title)" if level else f"title: {title}"
    if group == "employees":
        n = _num(row.get("employees"))
        return f"{n:,.0f} employees" if n is not None else "company size unknown"
    if group == "source_channel":
        return f"came from {str(row.get('source_channel') or 'unknown').replace('_', ' ')}"
    if group in ("industry", "country"):
        return f"{group}: {row.get(group) or 'unknown'}"
    if group == "age":
        return f"lead created {_days(row.get('days_since_created'))}"
    if group == "stage":
        days = round(_num(row.get("days_in_stage")) or 0)
        return f"{row.get('current_stage')} for {days} day{'s' if days != 1 else ''}"
    if group == "stage_history":
        bits = [
            f"reached {k[len('days_since_') :]} {_days(v)}"
            for k, v in row.items()
            if k.startswith("days_since_") and k != "days_since_created" and _num(v) is not None
        ]
        if (_num(row.get("recycled_count")) or 0) > 0:
            bits.append(f"recycled {row['recycled_count']:.0f}×")
        return ", ".join(bits) or "no earlier stage reached"
    if group == "engagement":
        return (
            f"{_num(row.get('touches_30d')) or 0:.0f} touches in 30 days, "
            f"last touch {_days(row.get('last_touch_days'))}"
        )
    if group == "account":
        return (
            f"{_num(row.get('account_contacts')) or 0:.0f} contacts at the account, "
            f"{_num(row.get('account_touches_30d')) or 0:.0f} account touches in 30 days"
        )
    if group.startswith("extra:"):
        name = group[len("extra:") :]
        return f"{name}: {row.get('x__' + name)}"
    dim, _, value = group.partition(":")
    if dim in WINDOWS:
        text = value.replace("_", " ")
        if dim == "kind":
            return _count(row, dim, value, text, text if text.endswith("s") else f"{text}s")
        return _count(row, dim, value, f"{text} touch", f"{text} touches")
    return f"{group}: {row.get(group)}"
