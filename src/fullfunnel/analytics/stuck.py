"""Stuck leads: contacts over their stage's time limit that nobody who owns the stage works.

A contact is *stuck* when all three hold as of ``as_of``:

- its current stage has lasted longer than the limit: the stage's ``sla_days``
  (``funnel.stuck_rule = "sla"``; stages without an SLA never count) or the
  historical p90 of time from reaching the stage to reaching the next (``"p90"``);
- its journey has not exited (disqualified, closed lost);
- no touch by the stage's owner team (``diagnose.stuck_touch_teams = "all"``: by
  any of its teams) in the last ``funnel.stale_days`` days.

Stuck contacts are ranked by lead score when the ``scores`` table has rows, else
by value (the open opportunity's amount, else the expected value of a contact at
that stage: average deal × conversion from the stage to won) and then by recent
inbound engagement. *Hidden demand* is the other side: contacts still at the top
that never reached a sales-owned stage but engage a lot right now.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._dates import days_between, literal, now, to_datetime
from fullfunnel.analytics._economics import Economics, stage_economics
from fullfunnel.config import Config, default_config
from fullfunnel.errors import ConfigError, InputError, did_you_mean
from fullfunnel.lifecycle import reached, timeline
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

CONTACT_COLUMNS = [
    "rank",
    "contact_id",
    "account_id",
    "stage",
    "owner",
    "days_in_stage",
    "limit_days",
    "last_owner_touch_at",
    "last_touch_at",
    "last_touch_team",
    "engagement_short",
    "engagement_long",
    "value",
    "score",
]


@dataclasses.dataclass(frozen=True, eq=False)
class StuckResult(Result):
    """Ranked stuck contacts, counts by stage and owner, and hidden demand."""

    title = "stuck"
    contacts: pd.DataFrame
    by_stage: pd.DataFrame
    by_team: pd.DataFrame
    hidden_demand: pd.DataFrame
    total: int
    value_at_risk: float
    open_pipeline_at_risk: float
    hidden_demand_total: int
    rule: str
    stale_days: float
    ranked_by: str
    as_of: datetime

    def headline(self) -> list[str]:
        lines = [
            f"{self.total:,} stuck contacts (over the {self.rule} limit, no owner touch in "
            f"{self.stale_days:g} days), {self.value_at_risk:,.0f} expected value at risk"
            + (
                f", of which {self.open_pipeline_at_risk:,.0f} in open opportunities"
                if self.open_pipeline_at_risk
                else ""
            )
        ]
        for r in self.by_team.itertuples():
            lines.append(f"  {r.team}: {r.stuck:,} stuck, {r.value_at_risk:,.0f} at risk")
        if self.hidden_demand_total:
            lines.append(
                f"{self.hidden_demand_total:,} contacts at the top engage a lot now but never "
                "reached sales (hidden demand)"
            )
        lines.append(f"ranked by {self.ranked_by}")
        return lines


def stuck(
    wh: Warehouse,
    *,
    stage: str | None = None,
    team: str | None = None,
    limit: int | None = None,
    as_of: str | datetime | None = None,
    config: Config | None = None,
) -> StuckResult:
    """Find and rank stuck contacts; count them by stage and owner; find hidden demand.

    >>> import fullfunnel as ff
    >>> ff.stuck(ff.connect("duckdb://:memory:")).total
    0
    """
    config = config or default_config()
    as_of_dt = to_datetime(as_of, name="as-of") or now()
    tl = timeline(wh, config, as_of=as_of_dt)
    econ = stage_economics(wh, tl, config, as_of_dt)
    return find_stuck(wh, tl, econ, config, as_of_dt, stage=stage, team=team, limit=limit)


def find_stuck(
    wh: Warehouse,
    tl: ir.Table,
    econ: Economics,
    config: Config,
    as_of_dt: datetime,
    *,
    stage: str | None = None,
    team: str | None = None,
    limit: int | None = None,
) -> StuckResult:
    """:func:`stuck` on a timeline and stage economics already computed."""
    settings = config["diagnose"]
    if stage is not None:
        config.stage(stage)
    if team is not None and team not in config.teams:
        raise InputError(
            f"--team {team!r} is not a team; the teams are {', '.join(config.teams)}."
            + did_you_mean(team, config.teams)
        )
    mode = settings["stuck_touch_teams"]
    if mode not in ("owner", "all"):
        raise ConfigError("diagnose.stuck_touch_teams must be 'owner' or 'all'")
    limit = settings["stuck_limit"] if limit is None else limit
    if limit < 0:
        raise InputError(f"--limit {limit}: list 0 or more contacts")
    rule = config["funnel"]["stuck_rule"]
    stale = float(config["funnel"]["stale_days"])
    cutoff = literal(as_of_dt)

    limits = stage_limits(tl, config, rule)
    per_contact = contact_activity(wh, config, as_of_dt)

    # expected value of a contact at each stage, in money
    deal = econ.average_deal or 0.0
    to_won = dict(zip(econ.rates.get("stage", []), econ.rates.get("to_won", []), strict=True))
    stage_value = {s: _num(to_won.get(s)) * deal for s in config.stage_names}
    if econ.won_stage in stage_value:
        for s in config.stage_names[config.index(econ.won_stage) :]:
            stage_value[s] = 0.0

    limited = [s for s in config.stage_names if limits.get(s)]
    if stage is not None:
        limited = [s for s in limited if s == stage]
    if team is not None:
        limited = [s for s in limited if config.stage(s).owner == team]
    if not limited:  # no stage in scope has a limit: nothing can be stuck
        return _empty(
            config, rule, stale, as_of_dt, *_hidden_demand(tl, per_contact, config, limit)
        )
    over = ibis.literal(False)
    for s in limited:
        over |= (tl.current_stage == s) & (tl.days_in_stage > limits[s])
    cand = tl.filter(tl.exit.isnull() & over).select(
        "contact_id", "current_stage", "days_in_stage", "current_stage_at"
    )
    j = cand.left_join(per_contact, "contact_id").drop("contact_id_right")
    owner_touch = _owner_touch(j, config, mode)
    opp = _open_opportunities(wh, as_of_dt)
    j = j.mutate(last_owner_touch_at=owner_touch).left_join(opp, "contact_id")
    j = j.drop("contact_id_right")
    is_stale = j.last_owner_touch_at.isnull() | (
        days_between(j.last_owner_touch_at, cutoff) > stale
    )
    j = j.filter(is_stale)
    j = j.mutate(
        owner=j.current_stage.cases(*[(s, config.stage(s).owner) for s in limited], else_=None),
        limit_days=j.current_stage.cases(*[(s, float(limits[s])) for s in limited], else_=None),
        value=j.open_amount.coalesce(
            j.current_stage.cases(*[(s, stage_value[s]) for s in limited], else_=0.0)
        ),
    )
    # counted and ranked from one copy: the joins with every contact run once, and
    # once per run (diagnose and stuck ask for the same expression: it is the key)
    reads = ("touchpoints", "stage_events", "contacts", "opportunities")
    j = wh.shared(("stuck_set", j.op()), lambda: j, reads=reads)
    return _rank(wh, tl, j, per_contact, config, limits, limited, rule, stale, limit, as_of_dt)


def _rank(wh, tl, j, per_contact, config, limits, limited, rule, stale, limit, as_of_dt):
    """Counts by stage and team and the ranked list, from the stuck contacts ``j``."""
    scores = wh.table("scores")
    has_scores = int(scores.count().execute()) > 0
    if has_scores:
        j = j.left_join(scores.select("contact_id", "score"), "contact_id").drop("contact_id_right")

        def order(t: ir.Table) -> list:
            return [ibis.desc(t.score), ibis.desc(t.value), ibis.desc(t.engagement_short)]

        ranked_by = "lead score, then value"
    else:
        j = j.mutate(score=ibis.null("float64"))

        def order(t: ir.Table) -> list:
            return [ibis.desc(t.value), ibis.desc(t.engagement_short), ibis.desc(t.engagement_long)]

        ranked_by = "value, then recent engagement"

    counts = (
        j.group_by(stage=j.current_stage)
        .aggregate(
            stuck=j.count(),
            value_at_risk=j.value.sum(),
            open_pipeline=j.open_amount.sum(),
            median_days_in_stage=j.days_in_stage.median(),
        )
        .execute()
    )
    in_stage = (
        tl.filter(tl.exit.isnull())
        .group_by(stage=tl.current_stage)
        .aggregate(in_stage=lambda t: t.count())
        .execute()
    )
    by_stage = _by_stage(counts, in_stage, config, limits, limited)
    # the account of the few listed only: a join of every stuck contact costs a pass
    top = j.order_by([*order(j), j.contact_id]).limit(limit)
    accounts = wh.table("contacts").select("contact_id", "account_id")
    top = top.left_join(accounts, "contact_id").drop("contact_id_right")
    top = top.order_by([*order(top), top.contact_id]).execute() if limit else top.limit(0).execute()
    contacts = _contacts_frame(top)
    by_team = (
        by_stage.groupby("owner", as_index=False)
        .agg(stuck=("stuck", "sum"), value_at_risk=("value_at_risk", "sum"))
        .rename(columns={"owner": "team"})
        .sort_values("stuck", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
    hidden, hidden_total = _hidden_demand(tl, per_contact, config, limit)
    return StuckResult(
        contacts=contacts,
        by_stage=by_stage,
        by_team=by_team,
        hidden_demand=hidden,
        total=int(by_stage["stuck"].sum()),
        value_at_risk=float(by_stage["value_at_risk"].sum()),
        open_pipeline_at_risk=float(by_stage["open_pipeline"].sum()),
        hidden_demand_total=hidden_total,
        rule=rule,
        stale_days=stale,
        ranked_by=ranked_by,
        as_of=as_of_dt,
    )


def _empty(config, rule, stale, as_of, hidden, hidden_total) -> StuckResult:
    cols = ["stage", "owner", "limit_days", "in_stage", "stuck", "stuck_share"]
    cols += ["value_at_risk", "open_pipeline", "median_days_in_stage"]
    return StuckResult(
        contacts=pd.DataFrame(columns=CONTACT_COLUMNS),
        by_stage=pd.DataFrame(columns=cols),
        by_team=pd.DataFrame(columns=["team", "stuck", "value_at_risk"]),
        hidden_demand=hidden,
        total=0,
        value_at_risk=0.0,
        open_pipeline_at_risk=0.0,
        hidden_demand_total=hidden_total,
        rule=rule,
        stale_days=stale,
        ranked_by="value, then recent engagement",
        as_of=as_of,
    )


def _num(value: float | None) -> float:
    return 0.0 if value is None or pd.isna(value) else float(value)


def stage_limits(tl: ir.Table, config: Config, rule: str) -> dict[str, float | None]:
    """Days a contact may stay in each stage: the SLA, or the historical p90 dwell."""
    if rule == "sla":
        return {s.name: s.sla_days for s in config.stages}
    steps = config.steps()
    aggs = {
        s: days_between(tl[reached(s)], tl[reached(t)]).quantile(
            0.9, where=tl[reached(t)].notnull()
        )
        for s, t in steps
    }
    row = tl.aggregate(**aggs).execute().iloc[0]
    return {s: (float(row[s]) if pd.notna(row[s]) else None) for s, _ in steps}


def contact_activity(wh: Warehouse, config: Config, as_of: datetime) -> ir.Table:
    """Per contact: last touch (when, by which team), last touch per team, engagement.

    Engagement counts inbound touches (``direction`` not outbound) in the short and
    long windows of ``[diagnose]``. One pass over every touchpoint: materialised once
    per warehouse, date and settings and shared (stuck, hidden demand and diagnose
    all read it).
    """
    settings = config["diagnose"]
    key = (
        "contact_activity",
        as_of,
        config.teams,
        settings["engagement_short_days"],
        settings["engagement_long_days"],
    )
    build = lambda: _activity_expr(wh, config, as_of)  # noqa: E731
    return wh.shared(key, build, reads=("touchpoints",))


def _activity_expr(wh: Warehouse, config: Config, as_of: datetime) -> ir.Table:
    """The expression behind :func:`contact_activity`, not materialised."""
    settings = config["diagnose"]
    tp = wh.table("touchpoints")
    tp = tp.filter(tp.ts <= literal(as_of))
    inbound = tp.direction.isnull() | (tp.direction != "outbound")
    short = literal(as_of - timedelta(days=settings["engagement_short_days"]))
    long_ = literal(as_of - timedelta(days=settings["engagement_long_days"]))
    aggs: dict[str, ir.Value] = {
        "last_touch_at": tp.ts.max(),
        "last_touch_team": wh.arg_max(tp.team, tp.ts),
        "engagement_short": (inbound & (tp.ts > short)).sum(),
        "engagement_long": (inbound & (tp.ts > long_)).sum(),
    }
    for team in config.teams:
        aggs[f"last_{team}_at"] = tp.ts.max(where=tp.team == team)
    return tp.group_by("contact_id").aggregate(**aggs)


def _owner_touch(j: ir.Table, config: Config, mode: str) -> ir.TimestampValue:
    """The latest touch by a team that works the contact's current stage."""
    old = literal(datetime(1900, 1, 1))
    branches = []
    for s in config.stages:
        teams = (s.owner,) if mode == "owner" else s.teams
        latest = j[f"last_{teams[0]}_at"].fill_null(old)
        for team in teams[1:]:
            other = j[f"last_{team}_at"].fill_null(old)
            latest = ibis.ifelse(other > latest, other, latest)
        branches.append((s.name, latest))
    value = j.current_stage.cases(*branches, else_=old)
    return ibis.ifelse(value == old, ibis.null("timestamp"), value)


def _open_opportunities(wh: Warehouse, as_of: datetime) -> ir.Table:
    """Per contact, the amount of opportunities open as of ``as_of``."""
    opp = wh.table("opportunities")
    opp = opp.filter(opp.contact_id.notnull(), opp.created_at <= literal(as_of))
    closed = opp.close_date.notnull() & (opp.close_date <= literal(as_of))
    is_open = (opp.status == "open") | ~closed
    opp = opp.filter(is_open)
    return opp.group_by("contact_id").aggregate(open_amount=opp.amount.sum())


def _by_stage(counts, in_stage, config, limits, limited) -> pd.DataFrame:
    rows = []
    counts = counts.set_index("stage") if not counts.empty else counts
    in_stage = in_stage.set_index("stage")["in_stage"] if not in_stage.empty else {}
    for s in limited:
        here = int(in_stage.get(s, 0)) if len(in_stage) else 0
        got = counts.loc[s] if s in getattr(counts, "index", []) else None
        n = int(got["stuck"]) if got is not None else 0
        rows.append(
            {
                "stage": s,
                "owner": config.stage(s).owner,
                "limit_days": limits[s],
                "in_stage": here,
                "stuck": n,
                "stuck_share": n / here if here else None,
                "value_at_risk": float(got["value_at_risk"] or 0) if got is not None else 0.0,
                "open_pipeline": float(got["open_pipeline"] or 0)
                if got is not None and pd.notna(got["open_pipeline"])
                else 0.0,
                "median_days_in_stage": float(got["median_days_in_stage"])
                if got is not None
                else None,
            }
        )
    cols = ["stage", "owner", "limit_days", "in_stage", "stuck", "stuck_share"]
    cols += ["value_at_risk", "open_pipeline", "median_days_in_stage"]
    return pd.DataFrame(rows, columns=cols)


def _contacts_frame(top: pd.DataFrame) -> pd.DataFrame:
    if top.empty:
        return pd.DataFrame(columns=CONTACT_COLUMNS)
    out = top.rename(columns={"current_stage": "stage"})
    out.insert(0, "rank", range(1, len(out) + 1))
    out["days_in_stage"] = out["days_in_stage"].round(1)
    # Spark types a CASE of float literals as DECIMAL: Decimal values, not JSON-safe
    out["limit_days"] = out["limit_days"].astype(float)
    out["value"] = out["value"].round(0)
    for col in ("engagement_short", "engagement_long"):
        out[col] = out[col].fillna(0).astype(int)
    return out[CONTACT_COLUMNS].reset_index(drop=True)


def _hidden_demand(
    tl: ir.Table, activity: ir.Table, config: Config, limit: int
) -> tuple[pd.DataFrame, int]:
    """Contacts at the top past their stage's SLA, never at a sales-owned stage, that
    engage a lot right now."""
    settings = config["diagnose"]
    tofu = [s.name for s in config.stages if s.segment == "tofu"]
    sales_stages = [s.name for s in config.stages if s.owner == "sales"]
    never_sales = ibis.literal(True)
    for s in sales_stages:
        never_sales &= tl[reached(s)].isnull()
    limits = {s.name: s.sla_days for s in config.stages}
    past_limit = ibis.literal(False)
    for s in tofu:
        days = limits.get(s) or settings["engagement_short_days"]
        past_limit |= (tl.current_stage == s) & (tl.days_in_stage > days)
    top = tl.filter(tl.exit.isnull(), past_limit, never_sales)
    j = top.select("contact_id", "current_stage", "days_in_stage").join(activity, "contact_id")
    j = j.filter(j.engagement_short >= settings["hidden_demand_touches"])
    total = int(j.count().execute())
    frame = (
        j.order_by([ibis.desc(j.engagement_short), ibis.desc(j.engagement_long), j.contact_id])
        .limit(limit)
        .select(
            "contact_id",
            stage=j.current_stage,
            days_in_stage=j.days_in_stage.round(1),
            engagement_short=j.engagement_short,
            engagement_long=j.engagement_long,
            last_touch_at=j.last_touch_at,
            last_touch_team=j.last_touch_team,
        )
        .execute()
    )
    return frame, total
