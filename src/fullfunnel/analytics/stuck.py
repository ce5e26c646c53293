"""Stuck leads: contacts over their stage's time limit that nobody who owns the stage works.

A contact is *over its limit* when, as of ``as_of``:

- its current stage (before the won stage: a customer is never stuck) has lasted
  longer than the limit: the stage's ``sla_days`` (``funnel.stuck_rule = "sla"``;
  stages without an SLA never count) or the historical p90 of time from reaching
  the stage to reaching the next (``"p90"``);
- its journey has not exited (disqualified, closed lost);
- no touch by the stage's owner team (``diagnose.stuck_touch_teams = "all"``: by
  any of its teams) in the last ``funnel.stale_days`` days.

Such a contact is *stuck* when its age-aware chance to reach the next stage
(:mod:`~fullfunnel.analytics.survival`, given the days it has spent in the stage)
is at least ``funnel.dormant_floor``: still likely to move on, worth working now.
Below the floor it is *dormant*: counted and valued apart, never "at risk".
Where a stage has too little history for that chance, no contact is called
dormant and none is valued. Value is the chance to reach won at that age × the
open opportunity's amount (else the shared average deal).

Without touches that name a team, nobody can tell whether an owner worked a
contact: the result says it cannot judge stuck, and why.

Stuck contacts are ranked by lead score when the ``scores`` table has rows, else
by value and then by recent inbound engagement. *Hidden demand* is the other
side: contacts still at the top that never reached a sales-owned stage but engage
a lot right now, with their age-aware value.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import days_between, literal
from fullfunnel.analytics._economics import Economics, stage_economics
from fullfunnel.analytics.activity import (
    _owner_touch,
    contact_activity,
    stage_limits,
)
from fullfunnel.analytics.buying_group import deals_missing_roles
from fullfunnel.analytics.evidence import touch_evidence
from fullfunnel.analytics.groups import by_group, check_by
from fullfunnel.analytics.hidden_demand import hidden_demand
from fullfunnel.analytics.period import snapshot_as_of
from fullfunnel.analytics.survival import stage_survival
from fullfunnel.analytics.value import chance_table, open_values, value_total
from fullfunnel.business_time import clock, sla_age, with_business_age
from fullfunnel.config import Config, default_config
from fullfunnel.errors import ConfigError, InputError, did_you_mean
from fullfunnel.lifecycle import timeline
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse

EVERY = 2**62  # a limit no list reaches: every stuck contact
CONTACT_COLUMNS = [
    "rank",
    "contact_id",
    "account_id",
    "stage",
    "owner",
    "days_in_stage",
    "business_days_in_stage",
    "limit_days",
    "chance_to_move_on",
    "value",
    "open_amount",
    "last_owner_touch_at",
    "last_touch_at",
    "last_touch_team",
    "engagement_short",
    "engagement_long",
    "score",
    "missing_roles",
]
BY_STAGE = ["stage", "owner", "limit_days", "in_stage", "over_limit", "stuck", "stuck_share"]
BY_STAGE += ["value_at_risk", "open_pipeline", "dormant", "dormant_value", "median_days_in_stage"]


@dataclasses.dataclass(frozen=True, eq=False)
class StuckResult(Result):
    """Ranked stuck contacts, counts by stage and owner, dormant apart, hidden demand."""

    title = "stuck"
    contacts: pd.DataFrame
    by_stage: pd.DataFrame
    by_team: pd.DataFrame
    hidden_demand: pd.DataFrame
    chances: pd.DataFrame
    total: int
    value_at_risk: float
    open_pipeline_at_risk: float
    dormant_total: int
    dormant_value: float
    dormant_floor: float
    open_contacts: int
    open_value: float
    bookings_window: float | None
    window: str | None
    hidden_demand_total: int
    judged: bool
    note: str | None
    rule: str
    stale_days: float
    ranked_by: str
    as_of: datetime
    by: str | None = None  # owner, manager, office or team: the breakdown asked for
    by_owner: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    clock: str = "calendar"  # what an SLA limit counts: every day, or working days
    # stuck contacts at accounts whose open deal misses a required buyer role
    missing_roles_total: int = 0
    missing_roles_accounts: int = 0
    missing_roles_amount: float = 0.0

    def tables(self) -> dict[str, pd.DataFrame]:
        out = super().tables()
        return out if self.by else {k: v for k, v in out.items() if k != "by_owner"}

    def display_columns(self) -> dict[str, list[str]]:
        cols = "rank contact_id stage owner days_in_stage chance_to_move_on value last_touch_team"
        return {"contacts": cols.split()}

    def summary(self) -> list[str]:
        """One line for the diagnosis."""
        if not self.judged:
            return [f"Stuck: cannot judge — {self.note}"]
        return [
            f"Stuck: {self.total:,} contacts, {self.value_at_risk:,.0f} expected value at risk; "
            f"{self.dormant_total:,} dormant apart ({self.dormant_value:,.0f})"
        ]

    def headline(self) -> list[str]:
        lines = []
        if not self.judged:
            lines.append(f"cannot judge stuck contacts: {self.note}")
        else:
            limit = f"{self.rule} limit" + (
                " in working days" if self.clock == "business" and self.rule == "sla" else ""
            )
            lines.append(
                f"{self.total:,} stuck contacts (over the {limit}, no owner touch in "
                f"{self.stale_days:g} days, still likely to move on), {self.value_at_risk:,.0f} "
                "expected value at risk"
                + (
                    f", in open opportunities worth {self.open_pipeline_at_risk:,.0f}"
                    if self.open_pipeline_at_risk
                    else ""
                )
            )
            for r in self.by_team.itertuples():
                if r.stuck:
                    lines.append(f"  {r.team}: {r.stuck:,} stuck, {r.value_at_risk:,.0f} at risk")
            if self.missing_roles_total:
                lines.append(
                    "  at accounts whose open deal misses a required buyer role: "
                    f"{self.missing_roles_total:,} stuck, {self.missing_roles_accounts:,} "
                    f"accounts, {self.missing_roles_amount:,.0f} open (see missing_roles); "
                    "reach that role, not only the contact"
                )
            if self.by and not self.by_owner.empty:
                shown = self.by_owner.head(5)
                lines.append(f"by {self.by} (the {len(shown)} with most at risk):")
                for r in shown.itertuples():
                    lines.append(
                        f"  {getattr(r, self.by)}: {r.stuck:,} stuck, "
                        f"{r.value_at_risk:,.0f} at risk, {r.dormant:,} dormant"
                    )
        lines.append(
            f"{self.dormant_total:,} more are dormant"
            + (
                f", {self.dormant_total / self.open_contacts:.0%} of the "
                f"{self.open_contacts:,} open contacts"
                if self.open_contacts
                else ""
            )
            + f" (under a {self.dormant_floor:.0%} chance to move on at their age): "
            f"{self.dormant_value:,.0f} expected value, counted apart"
        )
        context = (
            f"; bookings in {self.window}: {self.bookings_window:,.0f}"
            if self.bookings_window is not None and self.window
            else ""
        )
        lines.append(
            f"expected value of all {self.open_contacts:,} open contacts, whenever they "
            f"close (no horizon): {self.open_value:,.0f}{context}"
        )
        if self.hidden_demand_total:
            lines.append(
                f"{self.hidden_demand_total:,} contacts at the top engage a lot now but never "
                "reached sales (hidden demand)"
            )
        if self.judged:
            lines.append(f"ranked by {self.ranked_by}")
        return lines


def stuck(
    wh: Warehouse,
    *,
    stage: str | None = None,
    team: str | None = None,
    limit: int | None = None,
    by: str | None = None,
    as_of: str | datetime | None = None,
    period: str | None = None,
    config: Config | None = None,
) -> StuckResult:
    """Find and rank stuck contacts; count them and the dormant ones by stage and owner
    team (and ``by`` owner, manager, office or team of the sales-team table); find
    hidden demand.

    >>> import fullfunnel as ff
    >>> ff.stuck(ff.connect("duckdb://:memory:")).total
    0
    """
    config = config or default_config()
    as_of_dt, span = snapshot_as_of(wh, as_of, period)
    tl = timeline(wh, config, as_of=as_of_dt)
    econ = stage_economics(wh, tl, config, as_of_dt, span)
    return find_stuck(wh, tl, econ, config, as_of_dt, stage=stage, team=team, limit=limit, by=by)


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
    by: str | None = None,
) -> StuckResult:
    """:func:`stuck` on a timeline and stage economics already computed."""
    settings = config["diagnose"]
    if by is not None:
        check_by(by, wh)
    if stage is not None:
        config.stage(stage)
    if team is not None and team not in config.teams:
        raise InputError(
            f"team {team!r} is not a team; the teams are {', '.join(config.teams)}."
            + did_you_mean(team, config.teams),
            option="team",
        )
    mode = settings["stuck_touch_teams"]
    if mode not in ("owner", "all"):
        raise ConfigError("diagnose.stuck_touch_teams must be 'owner' or 'all'")
    limit = settings["stuck_limit"] if limit is None else limit
    if limit < 0:
        raise InputError(f"limit {limit}: list 0 or more contacts", option="limit")
    rule = config["funnel"]["stuck_rule"]
    stale = float(config["funnel"]["stale_days"])
    floor = float(config["funnel"]["dormant_floor"])
    cutoff = literal(as_of_dt)
    note = touch_evidence(wh, as_of_dt)

    limits = stage_limits(tl, config, rule)
    per_contact = contact_activity(wh, config, as_of_dt)
    survival = stage_survival(wh, tl, as_of=as_of_dt, config=config)
    valued = open_values(wh, tl, survival, as_of_dt, econ.average_deal, config)
    valued = with_business_age(valued, config, as_of_dt)
    open_contacts, open_value = value_total(valued)

    before_won = config.stage_names[: config.index(config.won_stage)]
    limited = [s for s in before_won if limits.get(s)]
    if stage is not None:
        limited = [s for s in limited if s == stage]
    if team is not None:
        limited = [s for s in limited if config.stage(s).owner == team]
    kpis = econ.kpis
    base = {
        "chances": chance_table(survival, config),
        "dormant_floor": floor,
        "open_contacts": open_contacts,
        "open_value": open_value,
        "bookings_window": kpis.won_amount if kpis is not None else None,
        "window": kpis.window.description if kpis is not None else None,
        "judged": note is None,
        "note": note,
        "rule": rule,
        "stale_days": stale,
        "as_of": as_of_dt,
        "clock": clock(config),
    }
    hidden = hidden_demand(valued, per_contact, config, limit)
    base["by"] = by
    if not limited:  # no stage in scope has a limit: nothing can be stuck
        result = _empty(base, *hidden)
        return dataclasses.replace(result, by_owner=_by_owner(wh, None, by)) if by else result
    age = sla_age(valued, config) if rule == "sla" else valued.days_in_stage
    over = ibis.literal(False)
    for s in limited:
        over |= (valued.current_stage == s) & (age > limits[s])
    cand = valued.filter(over)
    j = cand.left_join(per_contact, "contact_id").drop("contact_id_right")
    j = j.mutate(last_owner_touch_at=_owner_touch(j, config, mode))
    if note is None:  # touches tell who worked whom: a touch in time keeps a contact off
        recent = days_between(j.last_owner_touch_at, cutoff) <= stale
        j = j.filter(j.last_owner_touch_at.isnull() | ~recent)
    j = j.mutate(
        owner=j.current_stage.cases(*[(s, config.stage(s).owner) for s in limited], else_=None),
        limit_days=j.current_stage.cases(*[(s, float(limits[s])) for s in limited], else_=None),
        dormant=(j.p_next < floor).fill_null(False),
    )
    # counted and ranked from one copy: the joins with every contact run once, and
    # once per run (diagnose and stuck ask for the same expression: it is the key)
    reads = ("touchpoints", "stage_events", "contacts", "opportunities")
    j = wh.shared(("stuck_set", j.op()), lambda: j, reads=reads)
    result = _rank(wh, tl, j, config, limits, limited, limit, base, hidden)
    result = _buyer_gaps(wh, j, result, config, as_of_dt)
    return dataclasses.replace(result, by_owner=_by_owner(wh, j, by)) if by else result


def _by_owner(wh: Warehouse, j: ir.Table | None, by: str) -> pd.DataFrame:
    """The stuck and dormant contacts ``j`` counted per ``by`` (owner, manager, office,
    team): the same set as the totals, so the groups add up to them."""
    columns = [by, "stuck", "value_at_risk", "open_pipeline", "dormant", "dormant_value"]
    if j is None:
        return pd.DataFrame(columns=columns)
    frame = by_group(
        wh,
        j,
        by,
        lambda t: {
            "stuck": count_if(~t.dormant),
            "value_at_risk": t.value.sum(where=~t.dormant),
            "open_pipeline": t.open_amount.sum(where=~t.dormant),
            "dormant": count_if(t.dormant),
            "dormant_value": t.value.sum(where=t.dormant),
        },
    )
    for col in ("stuck", "dormant"):
        frame[col] = frame[col].fillna(0).astype(int)
    for col in ("value_at_risk", "open_pipeline", "dormant_value"):
        frame[col] = frame[col].fillna(0.0).astype(float)
    frame = frame.sort_values(["value_at_risk", "stuck", by], ascending=[False, False, True])
    return frame[columns].reset_index(drop=True)


def _rank(wh, tl, j, config, limits, limited, limit, base, hidden) -> StuckResult:
    """Counts by stage and team and the ranked list, from the contacts ``j`` over limit."""
    scores = wh.table("scores")
    has_scores = int(scores.count().execute()) > 0
    live = j.filter(~j.dormant)
    if has_scores:
        live = live.left_join(scores.select("contact_id", "score"), "contact_id").drop(
            "contact_id_right"
        )
        ranked_by = "lead score, then value"
        keys = ["score", "value", "open_amount", "engagement_short"]
    else:
        live = live.mutate(score=ibis.null("float64"))
        ranked_by = "value, then recent engagement"
        keys = ["value", "open_amount", "engagement_short", "engagement_long"]

    def order(t: ir.Table) -> list:
        return [*(t[k].desc() for k in keys), t.contact_id]  # nulls last on every engine

    counts = (
        j.group_by(stage=j.current_stage)
        .aggregate(
            over_limit=j.count(),
            stuck=count_if(~j.dormant),
            value_at_risk=j.value.sum(where=~j.dormant),
            open_pipeline=j.open_amount.sum(where=~j.dormant),
            dormant=count_if(j.dormant),
            dormant_value=j.value.sum(where=j.dormant),
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
    top = live.order_by(order(live)).limit(limit)
    accounts = wh.table("contacts").select("contact_id", "account_id")
    top = top.left_join(accounts, "contact_id").drop("contact_id_right")
    top = top.order_by(order(top)).execute() if limit else top.limit(0).execute()
    by_team = (
        by_stage.groupby("owner", as_index=False)
        .agg(stuck=("stuck", "sum"), value_at_risk=("value_at_risk", "sum"))
        .rename(columns={"owner": "team"})
    )
    by_team = (
        pd.DataFrame({"team": list(config.teams)})
        .merge(by_team, on="team", how="left")
        .fillna({"stuck": 0, "value_at_risk": 0.0})
        .astype({"stuck": int})
        .sort_values("stuck", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
    return StuckResult(
        contacts=_contacts_frame(top),
        by_stage=by_stage,
        by_team=by_team,
        hidden_demand=hidden[0],
        total=int(by_stage["stuck"].sum()),
        value_at_risk=float(by_stage["value_at_risk"].sum()),
        open_pipeline_at_risk=float(by_stage["open_pipeline"].sum()),
        dormant_total=int(by_stage["dormant"].sum()),
        dormant_value=float(by_stage["dormant_value"].sum()),
        hidden_demand_total=hidden[1],
        ranked_by=ranked_by,
        **base,
    )


def _buyer_gaps(
    wh: Warehouse, j: ir.Table, result: StuckResult, config: Config, as_of_dt: datetime
) -> StuckResult:
    """The stuck contacts at an account whose open deal misses a required buyer role
    (:func:`~fullfunnel.analytics.buying_group.deals_missing_roles`, deals whose buying
    group is known): the roles of its largest such deal on each listed contact, and
    how many contacts, accounts and how much open amount in all."""
    if not result.total:
        return result
    deals = deals_missing_roles(wh.base, as_of=as_of_dt, config=config)
    deals = deals.filter(deals.group_from != "none", deals.account_id.notnull())
    per = deals.group_by("account_id").aggregate(
        missing_roles=deals.missing.argmax(deals.amount.fill_null(0.0)),
        amount_missing=deals.amount.sum(),
    )
    accounts = wh.table("contacts").select("contact_id", "account_id")
    hit = j.filter(~j.dormant).select("contact_id").join(accounts, "contact_id")
    hit = hit.join(per, "account_id")
    at = per.semi_join(hit, "account_id")
    row = hit.aggregate(n=hit.count()).execute().iloc[0]
    total = at.aggregate(accounts=at.count(), amount=at.amount_missing.sum()).execute().iloc[0]
    listed = result.contacts
    if not listed.empty:
        ids = listed["account_id"].dropna().unique().tolist()
        roles = per.filter(per.account_id.isin(ids)).execute() if ids else per.limit(0).execute()
        listed = listed.assign(
            missing_roles=listed["account_id"].map(roles.set_index("account_id")["missing_roles"])
        )
    return dataclasses.replace(
        result,
        contacts=listed,
        missing_roles_total=count(row["n"]),
        missing_roles_accounts=count(total["accounts"]),
        missing_roles_amount=_num(total["amount"]),
    )


def _empty(base, hidden, hidden_total) -> StuckResult:
    return StuckResult(
        contacts=pd.DataFrame(columns=CONTACT_COLUMNS),
        by_stage=pd.DataFrame(columns=BY_STAGE),
        by_team=pd.DataFrame(columns=["team", "stuck", "value_at_risk"]),
        hidden_demand=hidden,
        total=0,
        value_at_risk=0.0,
        open_pipeline_at_risk=0.0,
        dormant_total=0,
        dormant_value=0.0,
        hidden_demand_total=hidden_total,
        ranked_by="value, then recent engagement",
        **base,
    )


def _num(value: float | None) -> float:
    return 0.0 if value is None or pd.isna(value) else float(value)


def _by_stage(counts, in_stage, config, limits, limited) -> pd.DataFrame:
    counts = counts.set_index("stage") if not counts.empty else counts
    here = in_stage.set_index("stage")["in_stage"] if not in_stage.empty else pd.Series()
    rows = []
    for s in limited:
        got = counts.loc[s] if s in getattr(counts, "index", []) else None
        n = int(here.get(s, 0))
        stuck_n = int(got["stuck"]) if got is not None else 0
        rows.append(
            {
                "stage": s,
                "owner": config.stage(s).owner,
                "limit_days": limits[s],
                "in_stage": n,
                "over_limit": int(got["over_limit"]) if got is not None else 0,
                "stuck": stuck_n,
                "stuck_share": stuck_n / n if n else None,
                "value_at_risk": _num(got["value_at_risk"]) if got is not None else 0.0,
                "open_pipeline": _num(got["open_pipeline"]) if got is not None else 0.0,
                "dormant": int(got["dormant"]) if got is not None else 0,
                "dormant_value": _num(got["dormant_value"]) if got is not None else 0.0,
                "median_days_in_stage": float(got["median_days_in_stage"])
                if got is not None
                else None,
            }
        )
    return pd.DataFrame(rows, columns=BY_STAGE)


def _contacts_frame(top: pd.DataFrame) -> pd.DataFrame:
    if top.empty:
        return pd.DataFrame(columns=CONTACT_COLUMNS)
    out = top.rename(columns={"current_stage": "stage", "p_next": "chance_to_move_on"})
    out.insert(0, "rank", range(1, len(out) + 1))
    for col in ("days_in_stage", "business_days_in_stage"):
        out[col] = out[col].astype(float).round(1)
    # Spark types a CASE of float literals as DECIMAL: Decimal values, not JSON-safe
    out["limit_days"] = out["limit_days"].astype(float)
    out["value"] = out["value"].astype(float).round(0)
    for col in ("engagement_short", "engagement_long"):
        out[col] = out[col].fillna(0).astype(int)
    out["missing_roles"] = None  # filled by _buyer_gaps
    return out[CONTACT_COLUMNS].reset_index(drop=True)
