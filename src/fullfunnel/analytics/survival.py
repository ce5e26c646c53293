"""Age-aware conversion: the chance to move on, given the days already spent in a stage.

A lead that has sat at its stage for a year is not worth what a fresh one is.
For every stage S, the time from reaching S to reaching the next stage T is
estimated from the warehouse's own history with Kaplan–Meier (``scipy.stats.ecdf``
on right-censored data), as of ``as_of``:

* contacts that reached T: an event at their days S→T;
* contacts still in S (in flight): censored at their days in S so far;
* contacts that left S without reaching T (an exit, or recycled back): competing,
  they never convert. For the chance to convert they stay in the risk set until
  their follow-up ends at ``as_of`` (censored there); for the chance to still be
  in play they are an event when they left.

With F(t) the share that reached T by day t and P(t) the share still in play at
S on day t, a contact still in S after d days reaches T with chance
``(F(∞) − F(d)) / P(d)``, held to never rise with d (the running minimum, so a thin
tail cannot make an old contact look fresh); F(∞), the plateau, is the share that
ever converts.
Its chance to reach won multiplies the plateaus of the later stages. A contact
whose chance to reach T falls under ``funnel.dormant_floor`` is *dormant*.

Where ``funnel.survival_by`` names a contacts column (the source channel by
default), each of its values gets its own curves at the stages where it has
``metrics.min_observations`` contacts; the others read the stage's curve.

The engine returns one histogram (stage × outcome × whole days); the rows never
leave it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import scipy.stats

from fullfunnel._dates import days_between, literal
from fullfunnel.config import Config
from fullfunnel.lifecycle import reached, stage_index
from fullfunnel.warehouse import Warehouse

_READS = ("stage_events", "contacts")


@dataclasses.dataclass(frozen=True)
class StageCurve:
    """Time from reaching ``stage`` to reaching ``next_stage``, by whole days 0..len-1."""

    stage: str
    next_stage: str
    converted_by: np.ndarray  # F(t): share that reached the next stage by day t
    in_play: np.ndarray  # P(t): share still in the stage (not moved on, not left) at day t
    chance: np.ndarray  # P(reach the next stage | still in the stage on day t)
    entered: int
    converted: int
    left: int
    in_flight: int

    @property
    def ever(self) -> float:
        """The share that ever reaches the next stage (the plateau of F)."""
        return float(self.converted_by[-1]) if self.converted_by.size else 0.0

    def conditional(self, age_days: np.ndarray | float) -> np.ndarray:
        """P(reach the next stage | still in the stage after ``age_days`` days)."""
        age = np.clip(np.floor(np.asarray(age_days, dtype=float)), 0, self.chance.size - 1)
        return self.chance[age.astype(int)]


@dataclasses.dataclass(frozen=True)
class Survival:
    """Every stage's curve as of ``as_of``, and the chance to reach won from any age."""

    as_of: datetime
    curves: dict[str, StageCurve]
    won_stage: str
    order: tuple[str, ...]
    by: str | None = None  # the contacts column of the segments' curves
    segments: dict[tuple[str, str], StageCurve] = dataclasses.field(default_factory=dict)

    def later_plateaus(self, stage: str, segment: str | None = None) -> float:
        """The chance that a contact entering the stage after ``stage`` reaches won (the
        segment's own plateau at each later stage where it has one)."""
        out = 1.0
        for s in self.order[self.order.index(stage) + 1 : self.order.index(self.won_stage)]:
            c = self.segments.get((s, segment)) or self.curves.get(s)
            out *= c.ever if c is not None else 0.0
        return out

    def p_won(self, stage: str, age_days: np.ndarray | float) -> np.ndarray:
        """P(reach won | in ``stage`` for ``age_days`` days); 1 at or after won."""
        if self.order.index(stage) >= self.order.index(self.won_stage):
            return np.ones_like(np.asarray(age_days, dtype=float))
        if stage not in self.curves:
            return np.zeros_like(np.asarray(age_days, dtype=float))
        return self.curves[stage].conditional(age_days) * self.later_plateaus(stage)

    @property
    def longest(self) -> int:
        """The last day any curve reaches (older ages read that day's chance)."""
        every = [*self.curves.values(), *self.segments.values()]
        return max([c.chance.size - 1 for c in every] or [0])

    def known(self, stage: str, min_observations: int) -> bool:
        """Whether ``stage`` has the history for an age-aware chance: enough contacts
        reached it and some moved on."""
        return _known(self.curves.get(stage), min_observations)

    def segment_table(self, min_observations: int) -> pd.DataFrame:
        """As :meth:`table`, one row per (stage, segment, day) for the segments with the
        history for a curve of their own; the lookup tried before the stage's."""
        days = np.arange(self.longest + 1)
        parts = []
        for (s, seg), c in self.segments.items():
            before_won = self.order.index(s) < self.order.index(self.won_stage)
            # a segment of enough contacts that never moved on at a stage where others
            # do has a chance of its own: none
            if not before_won or not self.known(s, min_observations):
                continue
            if c.entered < min_observations:
                continue
            p = c.conditional(days)
            frame = {"p_next": p, "p_won": p * self.later_plateaus(s, seg)}
            parts.append(pd.DataFrame({"stage": s, "segment": seg, "day": days, **frame}))
        if not parts:
            return pd.DataFrame({"stage": [], "segment": [], "day": [], "p_next": [], "p_won": []})
        return pd.concat(parts, ignore_index=True)

    def table(self, min_observations: int = 1) -> pd.DataFrame:
        """One row per stage before won (with known history) and day 0..``longest``:
        p_next and p_won at that age, the lookup the engine joins to value contacts
        by their days in stage."""
        parts = []
        days = np.arange(self.longest + 1)
        for s, c in self.curves.items():
            if self.order.index(s) >= self.order.index(self.won_stage):
                continue
            if not self.known(s, min_observations):
                continue
            p = c.conditional(days)
            parts.append(
                pd.DataFrame(
                    {"stage": s, "day": days, "p_next": p, "p_won": p * self.later_plateaus(s)}
                )
            )
        if not parts:
            return pd.DataFrame({"stage": [], "day": [], "p_next": [], "p_won": []})
        return pd.concat(parts, ignore_index=True)

    def summary(self, ages: tuple[int, ...] = (0, 7, 30, 90, 180, 365)) -> pd.DataFrame:
        """Per stage: n, the plateau, and the chance to move on after each of ``ages``."""
        rows = []
        for s, c in self.curves.items():
            row = {
                "stage": s,
                "next_stage": c.next_stage,
                "entered": c.entered,
                "converted": c.converted,
                "left": c.left,
                "in_flight": c.in_flight,
                "ever": c.ever,
            }
            for a in ages:
                row[f"after_{a}d"] = float(c.conditional(a))
            rows.append(row)
        return pd.DataFrame(rows)


def stage_survival(wh: Warehouse, tl: ir.Table, *, as_of: datetime, config: Config) -> Survival:
    """The Kaplan–Meier curves of every step S→T, as of ``as_of`` (memoised per run).

    ``tl`` is the timeline as of ``as_of``.
    """
    key = ("stage_survival", as_of, config.fingerprint)
    return wh.memo(key, lambda: _survival(wh, tl, as_of, config), reads=_READS)


def segment_column(wh: Warehouse, config: Config) -> str | None:
    """``funnel.survival_by`` when it is a contacts column, else None."""
    by = config["funnel"]["survival_by"]
    return by if by and by != "contact_id" and by in wh.table("contacts").columns else None


def with_segment(wh: Warehouse, t: ir.Table, by: str) -> ir.Table:
    """``t`` (one row per contact) with ``_segment``: the contacts column ``by`` as text."""
    contacts = wh.table("contacts")
    side = contacts.select("contact_id", _segment=contacts[by].cast("string"))
    return t.left_join(side, "contact_id").drop("contact_id_right")


def _survival(wh: Warehouse, tl: ir.Table, as_of: datetime, config: Config) -> Survival:
    by = segment_column(wh, config)
    hist = _histogram(with_segment(wh, tl, by) if by else tl, as_of, config, by is not None)
    curves, segments = {}, {}
    need = config["metrics"]["min_observations"]
    for s, t in config.steps():
        part = hist[hist["stage"] == s]
        whole = part.groupby(["kind", "day"], as_index=False)["n"].sum()
        curves[s] = _curve(s, t, whole)
        if by is None:
            continue
        sizes = part[part["kind"] != "left_follow"].groupby("segment")["n"].sum()
        for seg in sizes[sizes >= need].index:
            segments[(s, seg)] = _curve(s, t, part[part["segment"] == seg])
    return Survival(as_of, curves, config.won_stage, config.stage_names, by, segments)


def _known(c: StageCurve | None, min_observations: int) -> bool:
    return c is not None and c.entered >= min_observations and c.converted > 0


def _histogram(tl: ir.Table, as_of: datetime, config: Config, by: bool) -> pd.DataFrame:
    """Counts per (stage, segment, outcome, day): converted, left, left_follow, open;
    ``segment`` is ``tl._segment`` when ``by``, else null."""
    cutoff = literal(as_of)
    parts = []
    position = stage_index(config, tl.current_stage)
    for s, t in config.steps():
        at, nxt = tl[reached(s)], tl[reached(t)]
        went_back = position < config.index(s)
        left_at = ibis.ifelse(
            tl.exited_at.notnull(), tl.exited_at, ibis.ifelse(went_back, tl.current_stage_at, None)
        )
        kind = ibis.ifelse(
            nxt.notnull(), "converted", ibis.ifelse(left_at.notnull(), "left", "open")
        )
        day = ibis.ifelse(
            nxt.notnull(),
            days_between(at, nxt),
            ibis.ifelse(left_at.notnull(), days_between(at, left_at), days_between(at, cutoff)),
        )
        follow = days_between(at, cutoff)
        base = tl.filter(at.notnull()).mutate(_kind=kind, _day=day, _follow=follow)
        segment = base._segment if by else ibis.null("string")
        parts.append(
            base.select(
                stage=ibis.literal(s),
                segment=segment,
                kind=base._kind,
                day=base._day.floor().cast("int64"),
            )
        )
        gone = base.filter(base._kind == "left")
        parts.append(
            gone.select(
                stage=ibis.literal(s),
                segment=gone._segment if by else ibis.null("string"),
                kind=ibis.literal("left_follow"),
                day=gone._follow.floor().cast("int64"),
            )
        )
    if not parts:
        return pd.DataFrame(columns=["stage", "segment", "kind", "day", "n"])
    u = ibis.union(*parts)
    return u.group_by(["stage", "segment", "kind", "day"]).aggregate(n=u.count()).execute()


def _curve(stage: str, next_stage: str, part: pd.DataFrame) -> StageCurve:
    """F and P on whole days from the histogram of one stage."""
    get = {k: g for k, g in part.groupby("kind")}

    def sample(kind: str) -> np.ndarray:
        g = get.get(kind)
        if g is None or g.empty:
            return np.empty(0)
        return np.repeat(g["day"].clip(lower=0).to_numpy(dtype=float), g["n"].to_numpy())

    conv, left = sample("converted"), sample("left")
    left_follow, open_ = sample("left_follow"), sample("open")
    longest = max([a.max() for a in (conv, left, left_follow, open_) if a.size] or [0.0])
    days = np.arange(int(longest) + 1, dtype=float)
    converted_by = 1 - _survival_function(conv, np.concatenate([left_follow, open_]), days)
    in_play = _survival_function(np.concatenate([conv, left]), open_, days)
    ever = converted_by[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(in_play > 0, (ever - converted_by) / in_play, 0.0)
    # the chance never rises with age: a thin tail (a handful still in play, one of
    # whom converts late) must not make an old contact look fresh
    chance = np.minimum.accumulate(np.clip(np.nan_to_num(raw), 0.0, 1.0))
    return StageCurve(
        stage=stage,
        next_stage=next_stage,
        converted_by=converted_by,
        in_play=in_play,
        chance=chance,
        entered=int(conv.size + left.size + open_.size),
        converted=int(conv.size),
        left=int(left.size),
        in_flight=int(open_.size),
    )


def _survival_function(events: np.ndarray, censored: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kaplan–Meier S(t) = P(T > t) at each of ``at`` (1 everywhere without events)."""
    if events.size == 0:
        return np.ones_like(at)
    if censored.size == 0:
        data = scipy.stats.CensoredData(uncensored=events)
    else:
        data = scipy.stats.CensoredData(uncensored=events, right=censored)
    return scipy.stats.ecdf(data).sf.evaluate(at)
