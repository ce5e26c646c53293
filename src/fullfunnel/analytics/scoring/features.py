"""Lead-scoring features, built in the engine as of a cut-off.

One row per contact that is *open* at the cut-off (not yet at the target stage,
not exited), with:

- fit: title → seniority level and function, industry, employees and country
  (the contact's, else its account's), source channel, account aggregates, and
  any extra column a source carried on ``contacts`` (strings as categories,
  numbers and booleans as numbers, detected by type);
- behaviour strictly before the cut-off: touch counts by kind, channel, team and
  tactic over 7/30/90 days (and ever), recency, engagement velocity, inbound and
  outbound counts, account touches;
- stage: current stage, days in it, days since each earlier stage was reached,
  re-entries and recycling — only stages *before* the target: the target's own
  events (and later stages') are never a feature.

Nothing at or after the cut-off is read (stage state comes from
:func:`fullfunnel.lifecycle.timeline` as of the cut-off, touches from ``ts <
cutoff``). ``owner_team``/``owner_id`` on ``contacts`` are left out: they hold the
owner as the data was exported, which reveals how far the contact went.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from fullfunnel._aggregates import count_if
from fullfunnel._dates import at_each, days_between, literal
from fullfunnel.analytics.scoring.titles import (
    title_function,
    title_level,
)
from fullfunnel.analytics.scoring.vocabulary import (
    WINDOWS,
    Vocabulary,
    vocabulary,
)
from fullfunnel.config import Config
from fullfunnel.lifecycle import reached, timeline, timeline_expr
from fullfunnel.warehouse import Warehouse

# Windows (days) of the all-touch counts; 30 is also the inbound/outbound window.
TOUCH_WINDOWS = (7, 30, 90)
# The window (days) of the account aggregates: touches on a contact's account.
ACCOUNT_DAYS = 30
# The longest window: touches older than this only count towards "ever" columns.
RECENT_DAYS = max(*TOUCH_WINDOWS, *(w for windows in WINDOWS.values() for w in windows))
# The touchpoint columns that the features read.
TOUCH_COLUMNS = ("contact_id", "account_id", "ts", "direction", *WINDOWS)


def sample_touches(wh: Warehouse, within: ir.Table, *, cutoffs: Sequence[datetime]) -> ir.Table:
    """The touchpoints that the features of the contacts in ``within`` read at
    ``cutoffs``: every touch of theirs before the latest, and the touches on their
    accounts in the account window before each (for the account aggregates), in the
    columns the features read (a third less to materialise)."""
    tp = wh.table("touchpoints")
    accounts = wh.table("contacts").semi_join(within, "contact_id").select("account_id")
    recent = tp.ts >= literal(min(cutoffs) - timedelta(days=ACCOUNT_DAYS))
    mine = tp.contact_id.isin(within.contact_id) | (
        recent & tp.account_id.isin(accounts.account_id)
    )
    return tp.filter(mine, tp.ts < literal(max(cutoffs))).select(*TOUCH_COLUMNS)


def open_contacts(tl: ir.Table, config: Config, target: str) -> ir.BooleanValue:
    """Contacts not yet at ``target`` and not exited, per a timeline row."""
    return tl[reached(target)].isnull() & tl.exit.isnull()


def features(
    wh: Warehouse,
    *,
    cutoff: datetime | Sequence[datetime],
    config: Config,
    target: str,
    vocab: Vocabulary | None = None,
    contact_ids: list[str] | None = None,
    within: ir.Table | None = None,
    touches: ir.Table | None = None,
    columns: Collection[str] | None = None,
) -> ir.Table:
    """The feature table (an Ibis expression) of the contacts open at ``cutoff``, one
    row per contact; several cut-offs give one row per contact and cut-off, in one
    query. The cut-off is the ``cutoff`` column.

    ``vocab`` fixes the touch columns (default: derived from touches before the
    latest cut-off); ``contact_ids`` restricts the rows (for one lead's explanation),
    and so does ``within``, a table with a ``contact_id`` column (a training sample):
    the per-contact touch counts are then only aggregated for those contacts.
    ``touches`` replaces the touchpoints table: for a sample, the touches of its
    contacts and of their accounts (:func:`sample_touches`, materialised once for
    every cut-off). ``columns`` keeps only those of the counts by kind, channel, team
    and tactic (the others are left out: a fitted model reads about two thirds).
    """
    cuts = _Cutoffs(cutoff)
    vocab = vocab or vocabulary(wh, before=cuts.latest)
    tl = _open_timeline(wh, config, target, cuts, within)
    contacts = wh.table("contacts")
    if contact_ids is not None:
        contacts = contacts.filter(contacts.contact_id.isin(contact_ids))
    if within is not None:
        contacts = contacts.semi_join(within, "contact_id")
    tp = wh.table("touchpoints") if touches is None else touches
    tp = tp.filter(tp.ts < literal(cuts.latest))
    narrowed = contact_ids is not None or within is not None
    counts = _touch_counts(tp, tl, cuts, vocab, contact_ids, within, columns)
    acc_size, acc_tp = _account_counts(wh, tp, contacts, cuts, narrowed=narrowed)
    j = _joined(wh, contacts, tl, vocab, counts, acc_size, acc_tp)
    return _feature_columns(j, config, target, vocab, counts.names)


class _Cutoffs:
    """The cut-offs of one feature query, and the windows before each."""

    def __init__(self, cutoff: datetime | Sequence[datetime]) -> None:
        self.single = isinstance(cutoff, datetime)
        self.all = [cutoff] if self.single else sorted(cutoff)
        self.latest, self.earliest = max(self.all), min(self.all)
        self.first = self.all[0]

    def at(self, t: ir.Table) -> ir.Table:
        """``t`` with its cut-off and window starts as columns: constants for one
        cut-off, else one copy of ``t`` per cut-off."""
        return at_each(t, [_cut_columns(c) for c in self.all])

    def crossed(self, t: ir.Table, days: int | None = None) -> ir.Table:
        """``t`` at every cut-off: its touches before it (and at most ``days`` before)."""
        if days is not None:
            t = t.filter(t.ts >= literal(self.earliest - timedelta(days=days)))
        t = self.at(t)
        t = t.filter(t.ts < t.cutoff)
        return t if days is None else t.filter(_since(t, days))


def _since(t: ir.Table, days: int) -> ir.BooleanValue:
    # "at most `days` whole days before the cut-off" as one timestamp comparison
    # (the same rows as days_between(ts, cutoff) <= days, without per-row arithmetic)
    return t.ts >= t[f"_since_{days}d"]


def _open_timeline(
    wh: Warehouse, config: Config, target: str, cuts: _Cutoffs, within: ir.Table | None
) -> ir.Table:
    """The timeline at each cut-off of the contacts open then (a sample's is its own
    small query; everyone's at one cut-off is the shared one)."""
    if cuts.single:
        if within is None:
            tl = timeline(wh, config, as_of=cuts.first)
        else:
            tl = timeline_expr(wh, config, as_of=cuts.first, within=within)
        tl = tl.mutate(cutoff=literal(cuts.first))
    else:
        tl = timeline_expr(wh, config, as_of=cuts.all, within=within).rename(cutoff="as_of")
    return tl.filter(open_contacts(tl, config, target))


@dataclasses.dataclass(frozen=True)
class _TouchCounts:
    """Per contact and cut-off: the lifetime counts, the windowed ones, and the names
    of the counts the features hold."""

    ever: ir.Table
    windowed: ir.Table
    names: list[str]


def _touch_counts(
    tp: ir.Table,
    tl: ir.Table,
    cuts: _Cutoffs,
    vocab: Vocabulary,
    contact_ids: list[str] | None,
    within: ir.Table | None,
    columns: Collection[str] | None,
) -> _TouchCounts:
    """The behaviour: touches strictly before each cut-off, counted per contact.

    Each set of touches is narrowed to its columns and to the span of its windows
    before it is crossed with the cut-offs: DuckDB materialises a crossed table that
    several aggregations read, so it is kept small. The windowed counts read only the
    touches of the longest window, in one aggregation; the lifetime ones are a second,
    narrow aggregation over every touch.
    """
    mine = tp  # the touches of the contacts asked for (the account aggregates read all)
    if contact_ids is not None:
        mine = mine.filter(mine.contact_id.isin(contact_ids))
    if within is not None:
        mine = mine.semi_join(within, "contact_id").select(*tp.columns)
    if cuts.single and within is None and contact_ids is None:
        # every open contact: only their touches are counted
        mine = mine.semi_join(tl.select("contact_id"), "contact_id").select(*tp.columns)
    mine = mine.select("contact_id", "ts", "direction", *WINDOWS)
    recent = cuts.crossed(mine, RECENT_DAYS)
    mine = cuts.crossed(mine)
    ever: dict[str, ir.Value] = {
        "touches_ever": mine.count(),
        "_last_touch": mine.ts.max(),
        "_first_touch": mine.ts.min(),
    }
    windowed: dict[str, ir.Value] = {}
    for w in TOUCH_WINDOWS:
        windowed[f"touches_{w}d"] = count_if(_since(recent, w))
    windowed["inbound_30d"] = count_if(_since(recent, 30) & (recent.direction == "inbound"))
    windowed["outbound_30d"] = count_if(_since(recent, 30) & (recent.direction == "outbound"))
    dims = {dim: vocab.columns(dim) for dim in WINDOWS}
    if columns is not None:
        dims = {dim: [c for c in cols if c[2] in columns] for dim, cols in dims.items()}
    for dim, cols in dims.items():
        for value, w, name in cols:
            if w:
                windowed[name] = count_if((recent[dim] == value) & _since(recent, w))
            else:
                ever[name] = count_if(mine[dim] == value)
    names = [f"touches_{w}d" for w in TOUCH_WINDOWS]
    names += ["touches_ever", "inbound_30d", "outbound_30d"]
    names += [name for cols in dims.values() for _, _, name in cols]
    by_contact = ["contact_id", "cutoff"]
    return _TouchCounts(
        mine.group_by(by_contact).aggregate(**ever),
        recent.group_by(by_contact).aggregate(**windowed),
        names,
    )


def _account_counts(
    wh: Warehouse, tp: ir.Table, contacts: ir.Table, cuts: _Cutoffs, *, narrowed: bool
) -> tuple[ir.Table, ir.Table]:
    """Per account and cut-off: its contacts created by then, and its touches and
    active contacts in the account window (only the accounts asked for when
    ``narrowed``)."""
    all_contacts = wh.table("contacts")
    all_contacts = all_contacts.filter(all_contacts.account_id.notnull())
    if narrowed:
        all_contacts = all_contacts.semi_join(contacts.select("account_id"), "account_id")
    by_account = ["account_id", "cutoff"]
    born = all_contacts.select("account_id", "created_at")
    if not cuts.single:
        # counted per account and time before they are crossed with the cut-offs: DuckDB
        # would cross every contact first and narrow them to the sample's accounts after
        born = born.group_by("account_id", "created_at").aggregate(n=born.count())
    born = cuts.at(born)
    born = born.filter(born.created_at <= born.cutoff)
    size = born.count() if cuts.single else born.n.sum()
    acc_size = born.group_by(by_account).aggregate(account_contacts=size)
    # both account counts read only the account window's touches: filtered before grouping
    acc = tp.filter(tp.account_id.notnull()).select("account_id", "contact_id", "ts")
    acc = cuts.crossed(acc, ACCOUNT_DAYS)
    acc_tp = acc.group_by(by_account).aggregate(
        account_touches_30d=acc.count(),
        account_active_contacts_30d=acc.contact_id.nunique(),
    )
    return acc_size, acc_tp


def _joined(
    wh: Warehouse,
    contacts: ir.Table,
    tl: ir.Table,
    vocab: Vocabulary,
    counts: _TouchCounts,
    acc_size: ir.Table,
    acc_tp: ir.Table,
) -> ir.Table:
    """The open contacts at each cut-off with their firmographics, counts and titles."""
    accounts = wh.table("accounts").select(
        "account_id",
        acc_industry="industry",
        acc_employees="employees",
        acc_country="country",
    )
    c = contacts.left_join(accounts, "account_id")
    c = c.select(
        "contact_id",
        "account_id",
        "created_at",
        "title",
        "source_channel",
        *vocab.extra_categorical,
        *vocab.extra_numeric,
        industry=c.industry.coalesce(c.acc_industry),
        employees=c.employees.coalesce(c.acc_employees),
        country=c.country.coalesce(c.acc_country),
    )
    j = c.inner_join(tl, "contact_id")
    j = j.filter(j.created_at <= j.cutoff)
    # the windowed counts (only recently active contacts have them) joined on their own:
    # joined to the lifetime counts first, they would put a row of every count for
    # every contact into the engine's hash table
    j = j.left_join(counts.ever, ["contact_id", "cutoff"])
    j = j.left_join(counts.windowed, ["contact_id", "cutoff"])
    j = j.left_join(acc_size, ["account_id", "cutoff"])
    j = j.left_join(acc_tp, ["account_id", "cutoff"])
    # the title patterns are matched once per distinct title, not once per contact
    titles = contacts.select("title").distinct()
    titles = titles.filter(titles.title.notnull()).select(
        _title=titles.title,
        title_level=title_level(titles.title).cast("float64"),
        title_function=title_function(titles.title),
    )
    return j.left_join(titles, j.title == titles._title)


def _feature_columns(
    j: ir.Table, config: Config, target: str, vocab: Vocabulary, counts: list[str]
) -> ir.Table:
    """The features, each as the model reads it (floats, counts with 0 for none)."""
    at = j.cutoff
    out: dict[str, ir.Value] = {
        "contact_id": j.contact_id,
        "cutoff": at,
        "title": j.title,
        "title_level": j.title_level,
        "title_function": j.title_function,
        "industry": j.industry,
        "employees": j.employees.cast("float64"),
        "country": j.country,
        "source_channel": j.source_channel,
        "days_since_created": days_between(j.created_at, at),
        "current_stage": j.current_stage,
        "days_in_stage": j.days_in_stage,
        "recycled_count": j.recycled_count.cast("float64"),
    }
    for s in config.stage_names[1 : config.index(target)]:
        out[f"days_since_{s}"] = days_between(j[reached(s)], at)
        out[f"entries_{s}"] = j[f"entries_{s}"].cast("float64")
    for name in counts:
        out[name] = j[name].coalesce(0).cast("float64")
    out["last_touch_days"] = days_between(j._last_touch, at)
    out["first_touch_days"] = days_between(j._first_touch, at)
    # touches per week in the last 30 days minus the 60 before; integer literals only
    # (Spark reads decimal literals as DECIMAL and rounds)
    t30 = j.touches_30d.coalesce(0).cast("float64")
    t90 = j.touches_90d.coalesce(0).cast("float64")
    out["engagement_velocity"] = (t30 * 2 - (t90 - t30)) * 7 / 60
    out["account_contacts"] = j.account_contacts.coalesce(0).cast("float64")
    out["account_touches_30d"] = j.account_touches_30d.coalesce(0).cast("float64")
    out["account_active_contacts_30d"] = j.account_active_contacts_30d.coalesce(0).cast("float64")
    for name in vocab.extra_categorical:
        out[f"x__{name}"] = j[name].cast("string")
    for name in vocab.extra_numeric:
        out[f"x__{name}"] = j[name].cast("float64")
    return j.select(**out)


def _cut_columns(cutoff: datetime) -> dict[str, datetime]:
    """A cut-off and the start of each touch window before it (whole seconds)."""
    cut = cutoff.replace(microsecond=0)
    windows = {*TOUCH_WINDOWS, ACCOUNT_DAYS, *(w for ws in WINDOWS.values() for w in ws if w)}
    windows = sorted(windows)
    return {"cutoff": cut} | {f"_since_{w}d": cut - timedelta(days=w) for w in windows}


def label(
    wh: Warehouse,
    rows: ir.Table,
    *,
    horizon_days: int,
    config: Config,
    target: str,
    known_at: datetime,
) -> ir.Table:
    """``rows`` (a table with ``contact_id`` and ``cutoff``) with ``label``: 1 if the
    contact reached ``target`` within the horizon after its row's cut-off, read off
    the run's shared timeline as of ``known_at``. Every cut-off + horizon must fall by
    ``known_at``.

    A first reach is the earliest of some events, so the reach known at any date
    up to ``known_at`` is the one known at ``known_at`` when it falls by then:
    "reached by cutoff + horizon" needs no timeline of its own.
    """
    tl = timeline(wh, config, as_of=known_at)
    tl = tl.select("contact_id", _reached=tl[reached(target)])
    j = rows.left_join(tl, "contact_id")
    at, cut = j._reached, j.cutoff
    hit = at.notnull() & (at > cut) & (at <= cut + ibis.interval(days=horizon_days))
    # a CASE, not a cast: Postgres casts no boolean to a small integer
    return j.select(*rows.columns, label=ibis.ifelse(hit, 1, 0).cast("int8"))
