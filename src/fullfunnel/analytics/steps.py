"""Ad-hoc step funnels: how many contacts went through steps the user names, in order.

A step is ``kind:value``. ``stage:<name>`` is reaching a stage of the model, at the
timeline's ``reached_<stage>_at`` (so it agrees with ``funnel``), or taking an exit
(``stage:disqualified``) at any of its stage events. ``touch:<value>`` is a
touchpoint whose channel, tactic, campaign or kind equals the value (case-blind);
``channel:``, ``tactic:``, ``campaign:`` and ``kind:`` match that one column.

- *Entry* (step 1): a contact's first step-1 event in [since, until]; nothing after
  ``as_of`` ever counts.
- *Strict order*: step k is the earliest matching event at or after step k-1's time.
- *Any order*: step k counts when every step 2..k happened at or after the entry, in
  any order; its time is the latest of theirs.
- A *repeated step* (the same kind:value again) needs an event strictly later than
  the step's previous occurrence: ``touch:email,touch:email`` is two email touches
  at two different times (two in the same second count as one). A stage is reached
  once, so a repeated ``stage:`` step of the model is never reached again.
- ``within_days``: every step within that many days of the entry.
- ``exclude``: progress stops at the contact's first excluded event at or after the
  entry; steps later than it do not count.

Each step is one small per-contact table, materialised: one join of the step's
events to step k-1's table and one group-by, so the work grows linearly with the
steps (a single query would repeat every step inside each later one).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import days_between, literal, to_datetime
from fullfunnel.analytics.groups import BY, NO_VALUE, check_group_by, with_group
from fullfunnel.analytics.period import snapshot_as_of
from fullfunnel.analytics.stats import wilson
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.lifecycle import reached, timeline
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse

TOUCH_COLUMNS = ("channel", "tactic", "campaign", "kind")
KINDS = ("stage", "touch", *TOUCH_COLUMNS)
ORDERS = ("strict", "any")
HOW = "each step is kind:value, e.g. touch:webinar or stage:mql"
COLUMNS = ["step", "label", "reached", "conversion", "conversion_low", "conversion_high"]
COLUMNS += ["share_of_first", "dropped", "median_days", "p90_days"]
Matcher = tuple[str, str]  # (kind, value)


@dataclasses.dataclass(frozen=True)
class Step:
    """One step as written (``label``), and what it matches: ``kind`` and ``value``."""

    label: str
    kind: str
    value: str


@dataclasses.dataclass(frozen=True, eq=False)
class StepsResult(Result):
    """Per step: contacts that reached it, conversion from the step before (with its
    interval), share of the entrants, drop and days from the step before."""

    title = "step funnel"
    steps: pd.DataFrame
    by_group: pd.DataFrame  # with ``by``: the same columns per group (first column ``by``)
    n: int  # contacts that entered (reached step 1)
    since: datetime | None
    until: datetime
    as_of: datetime
    within_days: float | None
    order: str
    exclude: str | None
    by: str | None
    confidence: float
    first_entry: datetime | None = None
    open_windows: int = 0  # entered under ``within_days`` before as_of: still in their window

    def display_columns(self) -> dict[str, list[str]]:
        cols = ["step", "label", "reached", "conversion", "share_of_first", "median_days"]
        return {"steps": cols, "by_group": [self.by or "group", *cols]}

    def summary(self) -> list[str]:
        if not self.n:
            return ["Step funnel: nobody entered"]
        last = self.steps.iloc[-1]
        share = _pct(last.share_of_first)
        return [f"Step funnel: {self.n:,} entered, {share} reached {last.label}"]

    def headline(self) -> list[str]:
        path = " → ".join(self.steps["label"])
        if not self.n:
            since = f"between {self.since:%Y-%m-%d} and" if self.since else "up to"
            first = self.steps.label.iloc[0]
            return [f"{path}: nobody entered — no {first} event {since} {self.until:%Y-%m-%d}"]
        how = [f"within {self.within_days:g} d"] if self.within_days is not None else []
        how.append(f"{self.order} order")
        start = self.since or self.first_entry
        span = f"{start:%Y-%m-%d} → {self.until:%Y-%m-%d}"
        last = self.steps.iloc[-1]
        lo, hi = wilson(last.reached, self.n, confidence=self.confidence)
        lines = [
            f"{path}, {self.n:,} entered {span} ({', '.join(how)}): {_pct(last.share_of_first)} "
            f"reached {last.label} ({self.confidence:.0%} {_pct(lo)}–{_pct(hi)})"
        ]
        prior = self.steps.reached.shift(1)
        rest = self.steps[(self.steps.step > 1) & (prior > 0)]
        if not rest.empty:
            worst = rest.loc[rest.conversion.idxmin()]
            before = self.steps.iloc[int(worst.step) - 2]
            lines.append(
                f"biggest drop at step {int(worst.step)} ({before.label} → {worst.label}): "
                f"{int(worst.dropped):,} of {int(before.reached):,} did not go on "
                f"({_pct(1 - worst.conversion)}); median {_days(worst.median_days)} "
                "between the two for those that did"
            )
        if self.exclude:
            lines.append(f"progress stops at the first {self.exclude} after entry")
        if self.open_windows:
            lines.append(
                f"{self.open_windows:,} entered under {self.within_days:g} d before "
                f"{self.as_of:%Y-%m-%d}: their window is still open, later steps may rise"
            )
        if self.n < 30:
            lines.append(f"only {self.n} entered: read the rates with their intervals")
        return lines


def step_funnel(
    wh: Warehouse,
    *,
    steps: str | None = None,
    within_days: float | None = None,
    order: str = "strict",
    exclude: str | None = None,
    by: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> StepsResult:
    """Count contacts through ``steps`` (comma-separated ``kind:value``, in order);
    ``by``: also per owner group (owner, manager, office, team) or contacts column.

    >>> import fullfunnel as ff
    >>> r = step_funnel(ff.connect("duckdb://:memory:"), steps="touch:webinar,stage:mql")
    >>> r.n, list(r.steps.reached)
    (0, [0, 0])
    """
    config = config or default_config()
    steps = steps or config["funnel"]["steps"]
    if not steps:
        raise InputError(
            f'no steps: {HOW}, as `steps` "touch:webinar,stage:mql,stage:customer" or '
            "as funnel.steps in the config",
            option="steps",
        )
    chain = parse_steps(steps, config, option="steps")
    if len(chain) < 2:
        raise InputError(
            f"steps {steps!r}: give two steps or more, e.g. touch:webinar,stage:mql",
            option="steps",
        )
    excluded = parse_steps(exclude, config, option="exclude") if exclude else []
    if order not in ORDERS:
        raise InputError(
            f"order {order!r}: use strict or any." + did_you_mean(order, ORDERS), option="order"
        )
    if within_days is not None and not within_days > 0:
        raise InputError(
            f"within_days {within_days}: give a positive number of days", option="within_days"
        )
    as_of_dt, _ = snapshot_as_of(wh, as_of, None)
    since_dt = to_datetime(since, name="since")
    until_dt = to_datetime(until, name="until")
    if until_dt is not None and until_dt.time() == datetime.min.time():
        until_dt += timedelta(days=1, seconds=-1)  # a day: through its end
    until_dt = min(until_dt or as_of_dt, as_of_dt)
    if since_dt is not None and since_dt > until_dt:
        raise InputError("since is after until (or as_of); give an earlier since", option="since")
    if by is not None:
        check_group_by(by, wh, "contacts", "an attribute")

    needs_tl = any(s.kind == "stage" and s.value in config.stage_names for s in chain + excluded)
    tl = timeline(wh, config, as_of=as_of_dt) if needs_tl else None
    keys = [(s.kind, s.value) for s in chain]
    stop = [_events(wh, tl, (s.kind, s.value), as_of_dt) for s in excluded]
    held: list[ir.Table] = []  # the materialised tables, released once counted
    try:
        first = _events(wh, tl, keys[0], as_of_dt)
        entry = _keep(wh, held, _entry(first, stop, since_dt, until_dt))
        events = _step_events(wh, tl, keys, as_of_dt, entry, within_days, held)
        tables = _chain(wh, keys, entry, events, within_days, order, bool(stop), held)
        fields = {"since": since_dt, "until": until_dt, "as_of": as_of_dt, "order": order}
        fields |= {"within_days": within_days, "exclude": ", ".join(s.label for s in excluded)}
        return _result(wh, tables, chain, by, config, **fields)
    finally:
        for t in held:
            t.release()


def parse_steps(text: str, config: Config, *, option: str) -> list[Step]:
    """The comma-separated ``kind:value`` steps of ``text``; stage names checked."""
    stages = {s.lower(): s for s in (*config.stage_names, *config.exits)}
    out = []
    for raw in text.split(","):
        label = raw.strip()
        kind, sep, value = (p.strip() for p in label.partition(":"))
        if not sep or not value or kind.lower() not in KINDS:
            hint = did_you_mean(kind.lower(), KINDS) if sep else ""
            raise InputError(f"{option} {label!r}: {HOW}.{hint}", option=option)
        kind, value = kind.lower(), value.lower()
        if kind == "stage":
            if value not in stages:
                raise InputError(
                    f"{option} {label!r}: no stage {value!r}; the stages are "
                    f"{', '.join(stages.values())}." + did_you_mean(value, list(stages)),
                    option=option,
                )
            value = stages[value]
        out.append(Step(label, kind, value))
    return out


def _keep(wh: Warehouse, held: list[ir.Table], expr: ir.Table) -> ir.Table:
    """``expr`` materialised, and remembered in ``held`` to be released."""
    held.append(wh.cache(expr))
    return held[-1]


def _events(wh: Warehouse, tl: ir.Table | None, m: Matcher, as_of: datetime) -> ir.Table:
    """contact_id, ts of every event the matcher ``m`` matches, up to ``as_of``."""
    kind, value = m
    if kind == "stage" and tl is not None and reached(value) in tl.columns:
        at = tl[reached(value)]
        return tl.filter(at.notnull()).select("contact_id", ts=at.cast("timestamp"))
    if kind == "stage":  # an exit: every time the contact took it
        ev = wh.table("stage_events")
        ev = ev.filter(ev.stage == value, ev.ts <= literal(as_of))
        return ev.select("contact_id", ts=ev.ts.cast("timestamp"))
    tp = wh.table("touchpoints")
    tp = tp.filter(_match(tp, m), tp.ts <= literal(as_of))
    return tp.select("contact_id", ts=tp.ts.cast("timestamp"))


def _match(tp: ir.Table, m: Matcher) -> ir.BooleanValue:
    """Whether a touchpoint matches ``m`` (case-blind; a null column: no)."""
    columns = TOUCH_COLUMNS if m[0] == "touch" else (m[0],)
    return ibis.or_(*[tp[c].lower() == m[1] for c in columns]).fill_null(False)


def _entry(
    first: ir.Table, stop: list[ir.Table], since: datetime | None, until: datetime
) -> ir.Table:
    """Per contact that entered: ``_anchor``, its first step-1 event in [since, until],
    and ``_stop``, its first excluded event at or after it (null: none)."""
    e = first.filter(first.ts <= literal(until), *([first.ts >= literal(since)] if since else []))
    c = e.group_by("contact_id").aggregate(_anchor=e.ts.min())
    if not stop:
        return c.mutate(_stop=ibis.null("timestamp"))
    j = c.join(ibis.union(*stop), "contact_id")
    cut = j.filter(j.ts >= j._anchor).group_by("contact_id").aggregate(_stop=j.ts.min())
    return c.left_join(cut, "contact_id").drop("contact_id_right")


def _step_events(
    wh: Warehouse,
    tl: ir.Table | None,
    keys: list[Matcher],
    as_of: datetime,
    entry: ir.Table,
    within_days: float | None,
    held: list[ir.Table],
) -> dict[Matcher, ir.Table]:
    """contact_id, ts of each matcher's events that can count. The touches are read
    once for all touch matchers (a flag column each), kept for the entrants only (at
    or after entry, in the window, not past the stop) and materialised."""
    matchers = list(dict.fromkeys(keys))
    touch = [m for m in matchers if m[0] != "stage"]
    out = {m: _events(wh, tl, m, as_of) for m in matchers if m[0] == "stage"}
    if not touch:
        return out
    tp = wh.table("touchpoints")
    flags = {f"_m{i}": _match(tp, m) for i, m in enumerate(touch)}
    tp = tp.filter(tp.ts <= literal(as_of), ibis.or_(*flags.values()))
    j = tp.select("contact_id", ts=tp.ts.cast("timestamp"), **flags).join(entry, "contact_id")
    ok = [j.ts >= j._anchor, j._stop.isnull() | (j.ts <= j._stop)]
    if within_days is not None:
        ok.append(days_between(j._anchor, j.ts) <= within_days)
    kept = _keep(wh, held, j.filter(*ok).select("contact_id", "ts", *flags))
    for i, m in enumerate(touch):
        out[m] = kept.filter(kept[f"_m{i}"]).select("contact_id", "ts")
    return out


def _chain(
    wh: Warehouse,
    keys: list[Matcher],
    entry: ir.Table,
    events: dict[Matcher, ir.Table],
    within_days: float | None,
    order: str,
    stop: bool,
    held: list[ir.Table],
) -> list[ir.Table]:
    """One table per step (materialised after the first, which is ``entry``), of the
    contacts that reached it: contact_id, ``_t`` (the step's time), ``_d`` (days from
    the step before), ``_last_<i>`` (the latest time of each repeated matcher so far)
    and, when a later step reads them, ``_anchor`` and ``_stop``. Step k reads only
    step k-1's table and its matcher's events."""
    repeats = [m for m in dict.fromkeys(keys) if keys.count(m) > 1]
    last = {m: f"_last_{i}" for i, m in enumerate(repeats)}
    c = entry.mutate(_t=entry._anchor, _d=ibis.null("float64"))
    if keys[0] in last:
        c = c.mutate(**{last[keys[0]]: c._anchor})
    tables = [c]
    # the group-by below carries only the columns later steps read
    carry = ["_stop"] if stop else []
    carry += ["_anchor"] if within_days is not None or order == "any" else []
    c = c.drop(*[x for x in ("_anchor", "_stop") if x not in carry], "_d")
    for m in keys[1:]:
        j = c.join(events[m], "contact_id")
        ok = [j.ts >= (j._t if order == "strict" else j._anchor)]
        if stop:
            ok.append(j._stop.isnull() | (j.ts <= j._stop))
        if last.get(m) in j.columns:  # strictly after the matcher's previous occurrence
            ok.append(j.ts > j[last[m]])
        if within_days is not None:
            ok.append(days_between(j._anchor, j.ts) <= within_days)
        j = j.filter(*ok)
        c = j.group_by([col for col in j.columns if col != "ts"]).aggregate(_new=j.ts.min())
        t = c._new if order == "strict" else ibis.greatest(c._t, c._new)
        extra = {last[m]: c._new} if m in last else {}
        c = _keep(wh, held, c.mutate(_d=days_between(c._t, t), _t=t, **extra).drop("_new"))
        tables.append(c)
        c = c.drop("_d")
    return tables


def _result(
    wh: Warehouse,
    tables: list[ir.Table],
    chain: list[Step],
    by: str | None,
    config: Config,
    **fields: Any,
) -> StepsResult:
    """The per-step table (and per-group one) from the step tables, one query each."""
    entered = tables[0]._anchor  # the entry's date and window are read from step 1 only
    anchor = [entered] + [ibis.null(entered.type())] * (len(tables) - 1)
    parts = [
        t.select("contact_id", "_d", _anchor=a, _step=ibis.literal(k))
        for k, (t, a) in enumerate(zip(tables, anchor, strict=True), 1)
    ]
    rows = ibis.union(*parts)
    confidence = config["metrics"]["confidence"]
    measures = _measures(rows, fields["within_days"], fields["as_of"])
    frame = rows.group_by("_step").aggregate(**measures).execute()
    by_group = pd.DataFrame(columns=COLUMNS)
    if by is not None:
        g = _grouped(wh, rows, by)
        per = g.group_by(["group", "_step"]).aggregate(**_measures(g)).execute()
        parts = [_table(p, chain, confidence).assign(**{by: k}) for k, p in per.groupby("group")]
        by_group = pd.concat(parts) if parts else pd.DataFrame(columns=[by, *COLUMNS])
        by_group = by_group[[by, *COLUMNS]].reset_index(drop=True)
    first = frame[frame["_step"] == 1]
    table = _table(frame, chain, confidence)
    return StepsResult(
        steps=table,
        by_group=by_group,
        n=int(table["reached"].iloc[0]),
        by=by,
        confidence=confidence,
        first_entry=pd.Timestamp(first["first_entry"].iloc[0]).to_pydatetime()
        if len(first)
        else None,
        open_windows=count(first["open"].iloc[0]) if "open" in first and len(first) else 0,
        **{**fields, "exclude": fields["exclude"] or None},
    )


def _measures(
    rows: ir.Table, within_days: float | None = None, as_of: datetime | None = None
) -> dict[str, ir.Value]:
    """Per step: contacts, days from the step before; given ``as_of``, the first entry
    and the entrants still inside their ``within_days`` window."""
    out = {"reached": rows.count(), "median_days": rows._d.median()}
    out["p90_days"] = rows._d.quantile(0.9)
    if as_of is not None:
        out["first_entry"] = rows._anchor.min()
        if within_days is not None:
            cutoff = literal(as_of - timedelta(days=within_days))
            out["open"] = count_if(rows._anchor > cutoff)
    return out


def _grouped(wh: Warehouse, rows: ir.Table, by: str) -> ir.Table:
    """``rows`` with ``group``: the contact's owner group, or its contacts column."""
    if by in BY:
        return with_group(wh, rows, by)
    contacts = wh.table("contacts")
    side = contacts.select("contact_id", _g=contacts[by].cast("string"))
    j = rows.left_join(side, "contact_id").drop("contact_id_right")
    return j.mutate(group=j._g.fill_null(NO_VALUE)).drop("_g")


def _table(frame: pd.DataFrame, chain: list[Step], confidence: float) -> pd.DataFrame:
    """The per-step rows from the engine's counts (steps nobody reached as zero)."""
    f = frame.set_index("_step").reindex(range(1, len(chain) + 1))
    n = f["reached"].fillna(0).astype(int).to_numpy()
    prev = np.concatenate([[np.nan], n[:-1]])
    lo, hi = wilson(n, prev, confidence=confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        conversion = np.where(prev > 0, n / prev, np.nan)
    return pd.DataFrame(
        {
            "step": range(1, len(chain) + 1),
            "label": [s.label for s in chain],
            "reached": n,
            "conversion": conversion,
            "conversion_low": np.where(prev > 0, lo, np.nan),
            "conversion_high": np.where(prev > 0, hi, np.nan),
            "share_of_first": n / n[0] if n[0] else np.full(len(n), np.nan),
            "dropped": [0, *(n[:-1] - n[1:])],
            "median_days": f["median_days"].astype(float).round(2).to_numpy(),
            "p90_days": f["p90_days"].astype(float).round(2).to_numpy(),
        }
    )


def _pct(value: float) -> str:
    """A share as a reader takes it: whole percents, one decimal under 10%."""
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def _days(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.1f} d"
