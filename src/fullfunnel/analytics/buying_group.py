"""Buying groups: which buyer roles each deal has engaged, and whether deals with a
role engaged are won more often.

A deal's *buying group* is its ``opportunity_contacts`` rows (the CRM's contact
roles, mapped onto ``[buying_group] roles`` by ``crm_roles``); a deal with none
takes the contacts of its account whose title matches a role (``titles``). A role
is *involved* on a deal when a contact of its group plays it, and *engaged* when
that contact also has a touch (``engaged_touches``: any, or inbound only) in the
``engaged_days`` before the deal's end (its close date; ``as_of`` while it is open),
and not before its creation less ``engaged_days``.

*Coverage* per role reads the deals the shared win rate counts
(:func:`~fullfunnel.analytics.metrics.closed_deals` in the KPI window), those with
a buying group known: the win rate with the role engaged and without (Wilson
intervals), and their ratio with a normal interval on its logarithm (Katz). A
verdict only when each side has ``metrics.min_observations`` deals and the interval
clears 1. *Open* is :func:`~fullfunnel.analytics.bookings.open_opportunities`.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _

from fullfunnel._aggregates import count_if
from fullfunnel._dates import literal
from fullfunnel.analytics.bookings import open_opportunities
from fullfunnel.analytics.groups import check_by, grouped
from fullfunnel.analytics.metrics import closed_deals, deal_kpis
from fullfunnel.analytics.period import snapshot_as_of
from fullfunnel.analytics.stats import wilson, z_value
from fullfunnel.config import Config, default_config
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse

NO_ROLES = "no contact roles and no titles that map to a role"
NO_TOUCHES = "no touchpoints by the as-of date, so no contact can be seen engaged"


@dataclasses.dataclass(frozen=True, eq=False)
class BuyingGroupResult(Result):
    """Win rate with and without each role engaged; open deals and the roles they miss."""

    title = "buying group"
    coverage: pd.DataFrame  # per role: deals and win rate with it engaged and without
    open_deals: pd.DataFrame  # per open deal: owner, amount, stage, roles engaged, missing
    missing: pd.DataFrame  # per owner (group): open deals missing a required role
    as_of: datetime
    window: str  # the KPI window the closed deals come from
    closed: int  # deals closed in the window (the shared win rate's n)
    won: int
    known: int  # of those, the deals whose buying group is known
    open_count: int
    open_amount: float
    roles: tuple[str, ...]
    required: tuple[str, ...]
    judged: bool
    note: str | None
    confidence: float
    engaged_days: int
    by: str | None = None

    def summary(self) -> list[str]:
        """One line for the diagnosis."""
        if not self.judged:
            return [f"Buying groups: cannot judge — {self.note}"]
        short = self.open_deals[self.open_deals["missing_count"] > 0]
        return [
            f"Open deals missing a required buyer role: {len(short):,} "
            f"({_money(short['amount'].sum())})"
        ]

    def headline(self) -> list[str]:
        if not self.judged:
            return [f"cannot judge: {self.note}"]
        rate = f"{self.won / self.closed:.1%}" if self.closed else "n/a"
        lines = [
            f"{self.closed:,} deals closed in {self.window} (win rate {rate}), "
            f"{self.known:,} with a buying group known; {self.open_count:,} open"
        ]
        lines += [str(v) for v in self.coverage["verdict"]]
        short = self.open_deals[self.open_deals["missing_count"] > 0]
        if self.open_count:
            per_role = ", ".join(
                f"{r}: {int(self.missing[f'missing_{r}'].sum()):,}" for r in self.required
            )
            lines.append(
                f"{len(short):,} of {self.open_count:,} open deals "
                f"({_money(short['amount'].sum())} of {_money(self.open_amount)}) miss a "
                f"required role ({per_role})"
            )
        group = self.by or "owner"
        for r in self.missing.head(3).itertuples():
            lines.append(
                f"  {getattr(r, group)}: {r.deals_missing:,} of {r.open_deals:,} open deals, "
                f"{_money(r.amount_missing)}"
            )
        return lines

    def display_columns(self) -> dict[str, list[str]]:
        cov = "role with_deals with_win_rate without_deals without_win_rate ratio ratio_low"
        opened = "opportunity_id owner_id stage amount engaged missing"
        return {
            "coverage": [*cov.split(), "ratio_high"],
            "open_deals": opened.split(),
            "missing": [self.by or "owner", "deals_missing", "amount_missing", "open_deals"]
            + [f"missing_{r}" for r in self.required],
        }

    def display_rows(self, name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
        """The 20 largest open deals on a terminal; all of them in JSON and CSV."""
        if name != "open_deals" or len(frame) <= 20:
            return frame, ""
        return frame.head(20), f", the 20 largest of {len(frame):,}"


def buying_group(
    wh: Warehouse,
    *,
    as_of: str | datetime | None = None,
    period: str | None = None,
    by: str | None = None,
    config: Config | None = None,
) -> BuyingGroupResult:
    """Coverage of each buyer role on the deals closed in the KPI window, and the open
    deals' roles engaged and missing; ``by`` (owner, manager, office, team): the
    missing ones per owner group.

    >>> import fullfunnel as ff
    >>> buying_group(ff.connect("duckdb://:memory:")).headline()
    ['cannot judge: no contact roles and no titles that map to a role']
    """
    config = config or default_config()
    if by is not None:
        check_by(by, wh)
    bg = config["buying_group"]
    roles, required = tuple(bg["roles"]), tuple(bg["required"])
    as_of_dt, span = snapshot_as_of(wh, as_of, period)
    window = deal_kpis(wh, as_of=as_of_dt, config=config, period=span).window
    d = role_flags(wh, as_of_dt, config, window)
    row = _counts(d, len(roles))
    tp = wh.table("touchpoints")
    touched = count(tp.filter(tp.ts <= literal(as_of_dt)).count().execute())
    grouped_any = count(row["known"]) + count(row["open_known"]) > 0
    judged = grouped_any and touched > 0
    note = None if judged else (NO_TOUCHES if grouped_any else NO_ROLES)
    m = config["metrics"]
    coverage = _coverage(row, roles, m["confidence"], m["min_observations"], judged)
    opened = _open_deals(d.filter(d._open), roles, required).execute()
    opened = opened.drop(columns=[c for c in opened.columns if c.startswith("_")])
    opened = opened.sort_values(["amount", "opportunity_id"], ascending=[False, True])
    opened = opened.reset_index(drop=True)
    return BuyingGroupResult(
        coverage=coverage,
        open_deals=opened,
        missing=_missing(wh, d.filter(d._open), roles, required, by),
        as_of=as_of_dt,
        window=window.description,
        closed=count(row["n"]),
        won=count(row["won"]),
        known=count(row["known"]),
        open_count=len(opened),
        open_amount=float(opened["amount"].fillna(0.0).sum()),
        roles=roles,
        required=required,
        judged=judged,
        note=note,
        confidence=m["confidence"],
        engaged_days=int(bg["engaged_days"]),
        by=by,
    )


def deals_missing_roles(
    wh: Warehouse, *, as_of: datetime, config: Config | None = None
) -> ir.Table:
    """The open deals at ``as_of`` that miss a required role (none engaged): an Ibis
    table of opportunity_id, account_id, owner_id, stage, amount, engaged, missing
    and missing_count, for the stuck list or the playbook to join."""
    config = config or default_config()
    bg = config["buying_group"]
    window = deal_kpis(wh, as_of=as_of, config=config).window
    d = role_flags(wh, as_of, config, window)
    t = _open_deals(d.filter(d._open), tuple(bg["roles"]), tuple(bg["required"]))
    return t.filter(t.missing_count > 0).drop(*[c for c in t.columns if c.startswith("_")])


def role_flags(wh: Warehouse, as_of: datetime, config: Config, window) -> ir.Table:
    """Per deal closed in ``window`` or open at ``as_of``: ``_inv<i>`` / ``_eng<i>``
    (role i of ``roles`` involved / engaged), ``_known`` (a buying group is known),
    ``_crm`` (from contact roles), ``_won`` and ``_open``."""
    bg = config["buying_group"]
    roles = tuple(bg["roles"])
    opp = wh.table("opportunities")
    cols = ["opportunity_id", "account_id", "owner_id", "stage", "amount", "created_at"]
    end = literal(as_of)
    parts = [
        closed_deals(opp, as_of, window).select(
            *cols, "close_date", _end=_.close_date, _won=_.status == "won", _open=False
        ),
        open_opportunities(opp, as_of).select(
            *cols, "close_date", _end=end, _won=False, _open=True
        ),
    ]
    deals = ibis.union(
        *[p.mutate(_end=p._end.cast("timestamp"), amount=p.amount.cast("float64")) for p in parts]
    )
    oc = wh.table("opportunity_contacts")
    crm = oc.select("opportunity_id", "contact_id", role=_crm_role(oc.role, bg))
    with_rows = oc.select("opportunity_id").distinct().mutate(_crm=True)
    fallback = deals.anti_join(with_rows, "opportunity_id").select("opportunity_id", "account_id")
    people = wh.table("contacts").filter(_.account_id.notnull())
    people = people.select("contact_id", "account_id", role=_title_role(people.title, bg))
    people = people.filter(_.role.notnull())
    titled = fallback.join(people, "account_id").select("opportunity_id", "contact_id", "role")
    members = ibis.union(crm.filter(crm.role.notnull()), titled)
    days = ibis.interval(days=int(bg["engaged_days"]))
    m = members.join(deals.select("opportunity_id", "created_at", "_end"), "opportunity_id")
    m = m.mutate(_from=ibis.greatest(m._end - days, m.created_at.fill_null(m._end) - days))
    tp = wh.table("touchpoints").filter(_.ts <= end)
    if bg["engaged_touches"] == "inbound":
        tp = tp.filter(tp.direction.lower() == "inbound")
    hit = m.semi_join(tp, [m.contact_id == tp.contact_id, tp.ts >= m._from, tp.ts <= m._end])
    hit = hit.select("opportunity_id", "contact_id", "role").distinct().mutate(_e=True)
    m = m.left_join(hit, ["opportunity_id", "contact_id", "role"]).select(
        "opportunity_id", "role", _e=lambda t: t._e.fill_null(False)
    )
    flags = m.group_by("opportunity_id").aggregate(
        _members=m.count(),
        **{f"_inv{i}": count_if(m.role == r) > 0 for i, r in enumerate(roles)},
        **{f"_eng{i}": count_if((m.role == r) & m._e) > 0 for i, r in enumerate(roles)},
    )
    d = deals.left_join(flags, "opportunity_id").drop("opportunity_id_right")
    d = d.left_join(with_rows, "opportunity_id").drop("opportunity_id_right")
    fill = {f"_{k}{i}": False for i in range(len(roles)) for k in ("inv", "eng")}
    d = d.mutate(_crm=d._crm.fill_null(False), **{k: d[k].fill_null(False) for k in fill})
    d = d.mutate(_known=d._crm | d._members.notnull())
    # once per run: stuck, diagnose and buying-group ask for the same deals (the key)
    reads = ("opportunities", "opportunity_contacts", "contacts", "touchpoints")
    return wh.shared(("role_flags", d.op()), lambda: d, reads=reads)


def _crm_role(role: ir.StringValue, bg) -> ir.StringValue:
    """The CRM's role value as one of ``roles`` (null: none of them)."""
    key = role.lower().re_replace("[^a-z0-9]+", "_").re_replace("^_+|_+$", "")
    names = {r: r for r in bg["roles"]} | dict(bg["crm_roles"])
    cases = [(key == k, v) for k, v in names.items() if v]
    return ibis.cases(*cases, else_=ibis.null("string"))


def _title_role(title: ir.StringValue, bg) -> ir.StringValue:
    """The first role (in ``titles`` order) one of whose patterns the title matches."""
    padded = " " + title.lower() + " "
    cases = [
        (padded.re_search("(?i)(" + ")|(".join(patterns) + ")"), role)
        for role, patterns in bg["titles"].items()
        if patterns
    ]
    if not cases:
        return ibis.null("string")
    return ibis.cases(*cases, else_=ibis.null("string"))


def _open_deals(d: ir.Table, roles: tuple[str, ...], required: tuple[str, ...]) -> ir.Table:
    """The open deals with the roles engaged, involved only, and missing (as text)."""
    index = {r: i for i, r in enumerate(roles)}

    def listed(flags: list[tuple[str, ir.BooleanValue]]) -> ir.StringValue:
        text = ibis.literal("")
        for name, flag in flags:
            text = text + ibis.ifelse(flag, f", {name}", "")
        return text.re_replace("^, ", "")

    engaged = [(r, d[f"_eng{i}"]) for i, r in enumerate(roles)]
    involved = [(r, d[f"_inv{i}"] & ~d[f"_eng{i}"]) for i, r in enumerate(roles)]
    missing = [(r, ~d[f"_eng{index[r]}"]) for r in required]
    lacking = [ibis.ifelse(flag, 1, 0) for _role, flag in missing]
    return d.select(
        *["opportunity_id", "account_id", "owner_id", "stage", "amount", "close_date"],
        group_from=ibis.cases((d._crm, "crm"), (d._known, "titles"), else_="none"),
        engaged=listed(engaged),
        involved_only=listed(involved),
        missing=listed(missing),
        missing_count=sum(lacking[1:], lacking[0]) if lacking else ibis.literal(0),
        **{f"_miss_{r}": flag for r, flag in missing},
    )


def _missing(
    wh: Warehouse, d: ir.Table, roles: tuple[str, ...], required: tuple[str, ...], by: str | None
) -> pd.DataFrame:
    """Per owner (or owner group): open deals, and those missing a required role."""
    t = grouped(wh, _open_deals(d, roles, required), by or "owner")
    short = t.missing_count > 0
    frame = (
        t.group_by("group")
        .aggregate(
            deals_missing=count_if(short),
            amount_missing=t.amount.sum(where=short),
            open_deals=t.count(),
            open_amount=t.amount.sum(),
            **{f"missing_{r}": count_if(t[f"_miss_{r}"]) for r in required},
        )
        .execute()
        .rename(columns={"group": by or "owner"})
    )
    for col in ("amount_missing", "open_amount"):
        frame[col] = frame[col].fillna(0.0).astype(float)
    frame = frame[frame["deals_missing"] > 0]
    frame = frame.sort_values(["amount_missing", by or "owner"], ascending=[False, True])
    return frame.reset_index(drop=True)


def _counts(d: ir.Table, n_roles: int) -> pd.Series:
    """One pass over the deals: closed, won, with a known group, and per role i the
    known closed deals with it engaged (``n<i>``), of them won (``k<i>``), involved."""
    closed, known = ~d._open, ~d._open & d._known
    aggs = {
        "n": count_if(closed),
        "won": count_if(closed & d._won),
        "known": count_if(known),
        "known_won": count_if(known & d._won),
        "open_known": count_if(d._open & d._known),
    }
    for i in range(n_roles):
        aggs[f"n{i}"] = count_if(known & d[f"_eng{i}"])
        aggs[f"k{i}"] = count_if(known & d[f"_eng{i}"] & d._won)
        aggs[f"inv{i}"] = count_if(known & d[f"_inv{i}"])
    return d.aggregate(**aggs).execute().iloc[0]


def _coverage(
    row: pd.Series,
    roles: tuple[str, ...],
    confidence: float,
    min_n: int,
    judged: bool,
) -> pd.DataFrame:
    """Per role: the win rate with it engaged and without, their ratio and the verdict."""
    n1 = np.array([count(row.get(f"n{i}")) for i in range(len(roles))], dtype=float)
    k1 = np.array([count(row.get(f"k{i}")) for i in range(len(roles))], dtype=float)
    n0, k0 = count(row["known"]) - n1, count(row["known_won"]) - k1
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p0 = k1 / n1, k0 / n0
        ratio = p1 / p0
        se = np.sqrt(1 / k1 - 1 / n1 + 1 / k0 - 1 / n0)
        log_ratio = np.log(ratio)
    z = z_value(confidence)
    se = np.where((k1 > 0) & (k0 > 0), se, np.nan)
    lo1, hi1 = wilson(k1, n1, confidence=confidence)
    lo0, hi0 = wilson(k0, n0, confidence=confidence)
    frame = pd.DataFrame(
        {
            "role": list(roles),
            "involved_deals": [count(row.get(f"inv{i}")) for i in range(len(roles))],
            "with_deals": n1.astype(int),
            "with_won": k1.astype(int),
            "with_win_rate": p1,
            "with_low": lo1,
            "with_high": hi1,
            "without_deals": n0.astype(int),
            "without_won": k0.astype(int),
            "without_win_rate": p0,
            "without_low": lo0,
            "without_high": hi0,
            "ratio": ratio,
            "ratio_low": np.exp(log_ratio - z * se),
            "ratio_high": np.exp(log_ratio + z * se),
        }
    )
    frame = frame.replace([np.inf, -np.inf], np.nan)
    enough = np.minimum(frame["with_deals"], frame["without_deals"]) >= min_n
    # the effect is shown: enough deals on each side, and the ratio's interval above 1
    frame["shown"] = judged & enough & (frame["ratio_low"] > 1).fillna(False)
    frame["verdict"] = [_verdict(r, confidence, min_n, judged) for r in frame.itertuples()]
    return frame


def _verdict(r, confidence: float, min_n: int, judged: bool) -> str:
    """What the ratio of one role says, only as far as its interval goes."""
    name = r.role.replace("_", " ")
    n = f"n = {r.with_deals:,} with, {r.without_deals:,} without"
    if not judged:
        return f"{name}: cannot judge"
    if min(r.with_deals, r.without_deals) < min_n:
        return f"{name}: cannot tell, too few closed deals ({n}; needs {min_n} each)"
    if math.isnan(r.ratio_low):
        return f"{name}: cannot tell, no deal won on one side ({n})"
    # a narrow interval, or a bound near 1, shows two decimals: "1.02", not "1.0"
    near = min(abs(r.ratio_low - 1), abs(r.ratio_high - 1)) < 0.05
    f = ".2f" if r.ratio_high - r.ratio_low < 0.3 or near else ".1f"
    times = f"{r.ratio:{f}}× as often ({confidence:.0%} {r.ratio_low:{f}}–{r.ratio_high:{f}}×)"
    if r.shown:
        return f"deals with an engaged {name} win {times}, {n}"
    if r.ratio_high < 1:
        return f"deals with an engaged {name} win only {times}, {n}"
    return f"{name}: cannot tell whether engaging it changes the win rate: {times}, {n}"


def _money(value: float | None) -> str:
    return f"{0.0 if value is None or pd.isna(value) else float(value):,.0f}"
