"""Handoffs between teams, and who works which part of the funnel.

A *handoff* is entering a stage whose owner team differs from the previous
stage's (``config.handoffs()``: marketing→bdr at mql, bdr→sales at sql, sales→am
at customer by default). For every contact that first reached the stage:

- *touched*: the receiving team touched it at or after entry (by ``as_of``);
  *days to first touch* is measured from entry to that first touch;
- *SLA met*: the first touch came within the stage's ``sla_days``;
- *dropped*: no touch by the receiving team at all, and the SLA has run out;
  *pending*: no touch yet, still within the SLA (left out of the rates);
- outcome: *accepted* (reached the next stage), *rejected* (the journey exited
  without reaching it), *recycled* (sent back to an earlier stage), *open*.

The *ownership matrix* is the share of each team's touches by funnel segment in
the trailing ``diagnose.window_days``. A touch takes its segment from its tactic
when the playbook tags it, else from the stage the contact was in at the time.
Cells are held against ``[ownership]``: an owned segment with under
``empty_share`` of the team's touches is *empty*; a segment the team does not
own with at least ``over_share`` is *over-weighted*.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._dates import days_between, literal
from fullfunnel.analytics.evidence import touch_evidence
from fullfunnel.analytics.groups import check_by, with_group
from fullfunnel.analytics.period import snapshot_as_of
from fullfunnel.analytics.stats import wilson
from fullfunnel.business_time import calendars, clock, working_days
from fullfunnel.config import SEGMENTS, Config, default_config
from fullfunnel.lifecycle import reached, stage_index, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

_COUNTS = ["entered", "touched", "pending", "dropped", "sla_met", "late"]
_OUTCOMES = ["accepted", "rejected", "recycled", "open"]
# the columns a reader needs first
_FIRST = ["stage", "from_team", "to_team", "sla_days", "entered", "dropped_pct", "sla_met_pct"]
_FIRST += ["median_days", "p90_days", "median_business_days", "accepted_pct"]
# what the timeline and the touches are read from: a load into any of them is news
_READS = ("touchpoints", "stage_events", "contacts")


@dataclasses.dataclass(frozen=True, eq=False)
class HandoffsResult(Result):
    """Per handoff and per receiving team: speed, SLA, drops, outcomes; and the matrix."""

    title = "handoffs"
    handoffs: pd.DataFrame
    by_team: pd.DataFrame
    matrix: pd.DataFrame
    flags: pd.DataFrame
    judged: bool
    note: str | None
    as_of: datetime
    by: str | None = None  # owner, manager, office or team: the breakdown asked for
    by_owner: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    clock: str = "calendar"  # what the SLAs count: every hour, or working hours only

    def summary(self) -> list[str]:
        """One line for the diagnosis."""
        if not self.judged:
            return [f"Handoffs: cannot judge — {self.note}"]
        dropped = int(self.by_team["dropped"].sum()) if not self.by_team.empty else 0
        return [f"Dropped handoffs: {dropped:,}"]

    def headline(self) -> list[str]:
        lines = []
        if not self.judged:
            handed = ", ".join(
                f"{r.entered:,} at {r.stage}" for r in self.handoffs.itertuples() if r.entered
            )
            return [
                f"cannot judge handoffs: {self.note}"
                + (f" (handed over: {handed})" if handed else "")
            ]
        unit = "working d" if self.clock == "business" else "d"
        for r in self.handoffs.itertuples():
            if not r.entered:
                continue
            lines.append(
                f"{r.from_team} → {r.to_team} at {r.stage}: {r.entered:,} handed over, "
                f"{_pct(r.dropped_pct)} dropped ({_interval(r.dropped_low, r.dropped_high)}), "
                f"SLA ({r.sla_days:g} {unit}) met {_pct(r.sla_met_pct)} "
                f"({_interval(r.sla_met_low, r.sla_met_high)}), median "
                f"{_days(r.median_days)} to first touch "
                f"({_days(r.median_business_days, 'working d')})"
            )
        for r in self.flags.itertuples():
            lines.append(f"{r.team} × {r.segment}: {r.flag} ({r.share:.0%} of its touches)")
        if self.by and not self.by_owner.empty:
            lines.append(f"most dropped by {self.by} (all of them in the by_owner table):")
            dropped = self.by_owner[self.by_owner.dropped > 0]
            for r in dropped.sort_values("dropped", ascending=False).head(5).itertuples():
                lines.append(
                    f"  {getattr(r, self.by)} at {r.stage}: {r.dropped:,} of {r.entered:,} "
                    f"dropped ({_interval(r.dropped_low, r.dropped_high)}), SLA met "
                    f"{_pct(r.sla_met_pct)}"
                )
        return lines

    def tables(self) -> dict[str, pd.DataFrame]:
        out = super().tables()
        return out if self.by else {k: v for k, v in out.items() if k != "by_owner"}


def handoffs(
    wh: Warehouse,
    *,
    by: str | None = None,
    as_of: str | datetime | None = None,
    period: str | None = None,
    config: Config | None = None,
) -> HandoffsResult:
    """Measure every handoff and the ownership matrix; ``by`` (owner, manager, office,
    team of the sales-team table): each handoff also per the contact's owner group.

    >>> import fullfunnel as ff
    >>> list(ff.handoffs(ff.connect("duckdb://:memory:")).handoffs.stage)
    ['mql', 'sql', 'customer']
    """
    config = config or default_config()
    as_of_dt, _ = snapshot_as_of(wh, as_of, period)
    tl = timeline(wh, config, as_of=as_of_dt)
    return measure_handoffs(wh, tl, config, as_of_dt, by=by)


def measure_handoffs(
    wh: Warehouse, tl: ir.Table, config: Config, as_of_dt: datetime, *, by: str | None = None
) -> HandoffsResult:
    """:func:`handoffs` on a timeline already computed."""
    if by is not None:
        check_by(by, wh)
    rows = handoff_rows(wh, tl, config, as_of_dt)
    if rows is not None:  # summarised twice here, and again by every diagnose
        key = ("handoff_rows", tl.op(), as_of_dt, config.stages, clock(config))
        key += tuple(calendars(config).values())
        rows = wh.shared(key, lambda: rows, reads=_READS)
    per_handoff = _summarise(rows, ["stage", "from_team", "to_team", "sla_days"])
    order = {s: i for i, s in enumerate(config.stage_names)}
    table = pd.DataFrame([dataclasses.asdict(h) for h in config.handoffs()])
    if table.empty:
        table = pd.DataFrame(columns=["from_stage", "stage", "from_team", "to_team", "sla_days"])
    table["sla_days"] = table["sla_days"].astype(float)
    per_handoff = table.merge(
        per_handoff.drop(columns=["from_team", "to_team", "sla_days"], errors="ignore"),
        on="stage",
        how="left",
    )
    per_handoff = _finish(per_handoff, config["metrics"]["confidence"])
    per_handoff = per_handoff.sort_values("stage", key=lambda s: s.map(order)).reset_index(
        drop=True
    )
    per_handoff = per_handoff[[*_FIRST, *[c for c in per_handoff if c not in _FIRST]]]
    by_team = _finish(_summarise(rows, ["to_team"]), config["metrics"]["confidence"])
    teams = {t: i for i, t in enumerate(config.teams)}
    by_team = by_team.sort_values("to_team", key=lambda s: s.map(teams)).reset_index(drop=True)
    first = ["to_team", *_FIRST[4:]]
    by_team = by_team[[*first, *[c for c in by_team if c not in first]]]
    by_owner = _by_owner(wh, rows, by, config) if by else pd.DataFrame()
    matrix, flags = ownership_matrix(wh, tl, config, as_of_dt)
    note = touch_evidence(wh, as_of_dt)
    if note is not None:  # without touches by team, no handoff can be called dropped or late
        unknown = ["touched", "pending", "dropped", "sla_met", "late", "dropped_pct"]
        unknown += ["sla_met_pct", "median_days", "p90_days", "dropped_low", "dropped_high"]
        unknown += ["sla_met_low", "sla_met_high", "median_business_days", "p90_business_days"]
        per_handoff[unknown] = None
        by_team[unknown] = None
        if by:
            by_owner[unknown] = None
        flags = flags.iloc[:0]
    return HandoffsResult(
        handoffs=per_handoff,
        by_team=by_team,
        matrix=matrix,
        flags=flags,
        judged=note is None,
        note=note,
        as_of=as_of_dt,
        by=by,
        by_owner=by_owner,
        clock=clock(config),
    )


def _by_owner(wh: Warehouse, rows: ir.Table | None, by: str, config: Config) -> pd.DataFrame:
    """Each handoff per the contact's owner group: the same rows as the handoff
    totals, so the groups add up to them."""
    if rows is None:
        return _finish(pd.DataFrame(columns=["stage", by]), config["metrics"]["confidence"])
    j = with_group(wh, rows, by)
    frame = _finish(_summarise(j, ["stage", "group"]), config["metrics"]["confidence"])
    order = {s: i for i, s in enumerate(config.stage_names)}
    frame = frame.rename(columns={"group": by}).sort_values(
        ["stage", "entered", by],
        key=lambda s: s.map(order) if s.name == "stage" else s,
        ascending=[True, False, True],
    )
    first = ["stage", by, *_FIRST[4:]]
    return frame[[*first, *[c for c in frame if c not in first]]].reset_index(drop=True)


def handoff_rows(wh: Warehouse, tl: ir.Table, config: Config, as_of: datetime) -> ir.Table | None:
    """One row per contact and handoff it went through, with its first-touch facts."""
    cutoff = literal(as_of)
    business = clock(config) == "business"
    tp = wh.table("touchpoints")
    tp = tp.filter(tp.ts <= cutoff, tp.team.notnull())
    parts = []
    for h in config.handoffs():
        entered = tl.filter(tl[reached(h.stage)].notnull())
        nxt = config.next_stage(h.stage)
        i = config.index(h.stage)
        accepted = entered[reached(nxt)].notnull() if nxt else ibis.literal(False)
        idx = stage_index(config, entered.current_stage)
        base = entered.select(
            "contact_id",
            entered_at=entered[reached(h.stage)],
            accepted=accepted,
            rejected=~accepted & entered.exit.notnull(),
            recycled=~accepted & entered.exit.isnull() & (idx < i),
        )
        team_tp = tp.filter(tp.team == h.to_team)
        j = base.join(team_tp, base.contact_id == team_tp.contact_id)
        j = j.filter(j.ts >= j.entered_at)
        first = j.group_by(j.contact_id).aggregate(first_touch_at=j.ts.min())
        b = base.left_join(first, "contact_id").drop("contact_id_right")
        b = working_days(b, "entered_at", "first_touch_at", h.to_team, config, as_of, name="_wd")
        calendar_days = days_between(b.entered_at, b.first_touch_at)
        if business:  # the SLA counts the receiving team's working days
            b = working_days(b, "entered_at", cutoff, h.to_team, config, as_of, name="_age")
            days, age = b._wd, b._age
        else:
            days, age = calendar_days, days_between(b.entered_at, cutoff)
        sla = float(h.sla_days) if h.sla_days else None
        touched = b.first_touch_at.notnull()
        pending = ~touched & (age <= sla) if sla else ibis.literal(False)
        parts.append(
            b.select(
                "contact_id",
                stage=ibis.literal(h.stage),
                from_team=ibis.literal(h.from_team),
                to_team=ibis.literal(h.to_team),
                sla_days=ibis.literal(sla if sla else float("nan"), type="float64"),
                touched=touched,
                pending=pending,
                dropped=~touched & ~pending,
                sla_met=(touched & (days <= sla)) if sla else touched,
                late=(touched & (days > sla)) if sla else ibis.literal(False),
                days_to_touch=calendar_days,
                business_days_to_touch=b._wd,
                accepted=b.accepted,
                rejected=b.rejected,
                recycled=b.recycled,
            )
        )
    return ibis.union(*parts) if parts else None


def _summarise(rows: ir.Table | None, keys: list[str]) -> pd.DataFrame:
    if rows is None:
        return pd.DataFrame(columns=[*keys, *_COUNTS, *_OUTCOMES])
    aggs = {
        "entered": rows.count(),
        "touched": rows.touched.sum(),
        "pending": rows.pending.sum(),
        "dropped": rows.dropped.sum(),
        "sla_met": rows.sla_met.sum(),
        "late": rows.late.sum(),
        "median_days": rows.days_to_touch.median(),
        "p90_days": rows.days_to_touch.quantile(0.9),
        "median_business_days": rows.business_days_to_touch.median(),
        "p90_business_days": rows.business_days_to_touch.quantile(0.9),
        "accepted": rows.accepted.sum(),
        "rejected": rows.rejected.sum(),
        "recycled": rows.recycled.sum(),
    }
    return rows.group_by(keys).aggregate(**aggs).execute()


def _finish(frame: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Counts as integers, rates over the handoffs that are due, and the open ones."""
    for col in [*_COUNTS, "accepted", "rejected", "recycled"]:
        if col not in frame:
            frame[col] = 0
        frame[col] = frame[col].fillna(0).astype(int)
    frame["open"] = frame["entered"] - frame["accepted"] - frame["rejected"] - frame["recycled"]
    due = frame["entered"] - frame["pending"]
    frame["dropped_pct"] = (frame["dropped"] / due).where(due > 0)
    frame["sla_met_pct"] = (frame["sla_met"] / due).where(due > 0)
    for col in ("dropped", "sla_met"):
        lo, hi = wilson(frame[col], due, confidence=confidence)
        frame[f"{col}_low"], frame[f"{col}_high"] = lo, hi
    frame["accepted_pct"] = (frame["accepted"] / frame["entered"]).where(frame["entered"] > 0)
    for col in ("median_days", "p90_days", "median_business_days", "p90_business_days"):
        if col not in frame:
            frame[col] = float("nan")
        frame[col] = frame[col].astype(float).round(2)
    return frame


def touch_segments(
    wh: Warehouse, tl: ir.Table, config: Config, tp: ir.Table | None = None
) -> ir.Table:
    """Touchpoints with a ``segment``: the playbook's for a known tactic, else the stage's.

    The stage at the time is the latest stage reached at or before the touch
    (contacts without a timeline row, and touches before their first stage, count
    as the first stage's segment).
    """
    tp = wh.table("touchpoints") if tp is None else tp
    j = _with_stage_segment(tl, config, tp).left_join(_tactic_tags(), "tactic")
    j = j.drop("tactic_right")
    return j.mutate(segment=j.tactic_segment.coalesce(j._stage_segment)).drop(
        "tactic_segment", "_stage_segment"
    )


def _with_stage_segment(tl: ir.Table, config: Config, tp: ir.Table) -> ir.Table:
    """Touchpoints with ``_stage_segment``: the segment of the stage at the time."""
    reach = tl.select("contact_id", *[reached(s) for s in config.stage_names])
    j = tp.left_join(reach, "contact_id").drop("contact_id_right")
    by_stage = ibis.literal(config.stages[0].segment)
    for s in config.stages[1:]:
        at = j[reached(s.name)]
        by_stage = ibis.ifelse(at.notnull() & (at <= j.ts), ibis.literal(s.segment), by_stage)
    return j.mutate(_stage_segment=by_stage).drop(*[reached(s) for s in config.stage_names])


def _tactic_tags() -> ir.Table:
    """The playbook's segment of each tactic it knows."""
    from fullfunnel.playbook import tactic_segments

    return ibis.memtable(
        pd.DataFrame(list(tactic_segments().items()), columns=["tactic", "tactic_segment"])
    )


def touches_by_segment(wh: Warehouse, tl: ir.Table, config: Config, as_of: datetime) -> ir.Table:
    """Touches per team and segment in the trailing ``diagnose.window_days`` (team known).

    The pass over the touches (per team, tactic and stage segment) is materialised
    once per timeline and date and shared: the ownership matrix and the effort share
    of :mod:`~fullfunnel.analytics.weight` both count from it. The playbook's tactic
    segments are applied after, on those few rows (an in-memory table can not go
    into a table the engine keeps on every engine).
    """
    window = config["diagnose"]["window_days"]

    def build() -> ir.Table:
        tp = wh.table("touchpoints")
        since = as_of - timedelta(days=window)
        tp = tp.filter(tp.ts <= literal(as_of), tp.ts > literal(since), tp.team.notnull())
        j = _with_stage_segment(tl, config, tp)
        return j.group_by(["team", "tactic", "_stage_segment"]).aggregate(touches=j.count())

    key = ("touches_by_segment", tl.op(), as_of, window, config.stages)
    counts = wh.shared(key, build, reads=_READS)
    j = counts.left_join(_tactic_tags(), "tactic").drop("tactic_right")
    j = j.mutate(segment=j.tactic_segment.coalesce(j._stage_segment))
    return j.group_by(["team", "segment"]).aggregate(touches=j.touches.sum())


def ownership_matrix(
    wh: Warehouse, tl: ir.Table, config: Config, as_of: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Share of each team's touches by segment against the intended ownership."""
    settings = config["diagnose"]
    counts = touches_by_segment(wh, tl, config, as_of).execute()
    rows = []
    teams = list(config.teams) + sorted(set(counts["team"]) - set(config.teams))
    for team in teams:
        mine = counts[counts["team"] == team]
        total = int(mine["touches"].sum())
        owned = config.ownership.get(team, ())
        for segment in SEGMENTS:
            n = int(mine.loc[mine["segment"] == segment, "touches"].sum())
            share = n / total if total else 0.0
            intended = segment in owned
            if intended and share < settings["empty_share"]:
                flag = "empty"
            elif not intended and share >= settings["over_share"]:
                flag = "over-weighted"
            else:
                flag = ""
            rows.append(
                {
                    "team": team,
                    "segment": segment,
                    "intended": intended,
                    "touches": n,
                    "share": share,
                    "flag": flag,
                }
            )
    matrix = pd.DataFrame(rows, columns=["team", "segment", "intended", "touches", "share", "flag"])
    flags = matrix[matrix["flag"] != ""].reset_index(drop=True)
    return matrix, flags


def _pct(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.0%}"


def _interval(low: float | None, high: float | None) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "no interval"
    return f"{low:.0%}–{high:.0%}"


def _days(value: float | None, unit: str = "d") -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.1f} {unit}"
