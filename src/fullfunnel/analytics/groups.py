"""Breakdowns: what a contact-level analysis is split by.

A breakdown is a ``contacts`` column (``source_channel``, ``country``…) or an owner
group: the contact's (or deal's) owner, or the owner's manager, office or team from
the ``owners`` table (a sales-team file). A deal can also be split by a column of
its account (a segment: ``industry``, ``country``…). Every ``--by`` of the funnel,
velocity, stuck, handoffs, diagnose, pipeline and movement is resolved here, so a
group means the same in each and the groups of one analysis add up to its total.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.warehouse import Warehouse

NO_VALUE = "(none)"
BY = ("owner", "manager", "office", "team")
NOT_LISTED = "(not in the sales-team table)"
NO_OWNER = "(no owner)"
# company-size bands of a numeric segment (employees): lower edges
SIZE_BANDS = (1, 50, 200, 1000, 5000)


def check_by(by: str, wh: Warehouse | None = None) -> None:
    """``by`` is a known breakdown, and (given ``wh``) one the warehouse can give:
    managers, offices and teams come from a sales-team table."""
    if by not in BY:
        raise InputError(
            f"by {by!r}: use one of {', '.join(BY)}." + did_you_mean(by, BY), option="by"
        )
    if wh is not None and by != "owner" and not wh.count("owners"):
        raise InputError(
            f"by {by}: no sales-team table is loaded (the owners table is empty); load one "
            "(a file of owner, manager, office: 'fullfunnel ingest sales_teams.csv'), or "
            "break down by owner",
            option="by",
        )


def grouped(wh: Warehouse, opp: ir.Table, by: str) -> ir.Table:
    """``opp`` (any table with ``owner_id``) with ``group``: its owner, or the owner's
    manager / office / team from the sales-team table."""
    owner = opp.owner_id.fill_null(NO_OWNER)
    if by == "owner":
        return opp.mutate(group=owner)
    teams = wh.table("owners").select("owner_id", _attr=by)
    joined = opp.left_join(teams, opp.owner_id == teams.owner_id)
    group = ibis.cases(
        (joined.owner_id.isnull(), NO_OWNER), else_=joined._attr.fill_null(NOT_LISTED)
    )
    return joined.mutate(group=group).drop("owner_id_right", "_attr")


def check_group_by(by: str, wh: Warehouse, table: str, what: str) -> None:
    """``by`` is an owner group or a column of ``table`` (not its key, name or a
    time): a deal's segment (accounts) or a contact's attribute (contacts)."""
    key = table.removesuffix("s") + "_id"
    schema = wh.table(table).schema()
    columns = [c for c, t in schema.items() if c not in (key, "name") and not t.is_temporal()]
    if by in BY:
        check_by(by, wh)
    elif by not in columns:
        raise InputError(
            f"by {by!r}: use an owner group ({', '.join(BY)}) or {what}, a column of "
            f"the {table} table ({', '.join(columns)})." + did_you_mean(by, [*BY, *columns]),
            option="by",
        )


def check_deal_by(by: str, wh: Warehouse) -> None:
    """``by`` is an owner group or a column of the accounts table (a segment)."""
    check_group_by(by, wh, "accounts", "a segment")


def deal_grouped(wh: Warehouse, deals: ir.Table, by: str) -> ir.Table:
    """``deals`` (with ``owner_id``, ``account_id`` and ``contact_id``) with ``group``:
    an owner group (:func:`grouped`), or the column ``by`` of the deal's account (its
    own, else its contact's); a deal without one is in "(none)"."""
    if by in BY:
        return grouped(wh, deals, by)
    c = wh.table("contacts").select(_c="contact_id", _ca="account_id")
    a = wh.table("accounts")
    a = a.select(_a="account_id", _seg=_segment(a[by]))
    j = deals.left_join(c, deals.contact_id == c._c)
    j = j.left_join(a, j.account_id.coalesce(j._ca) == a._a)
    return j.mutate(group=j._seg.fill_null(NO_VALUE)).drop("_c", "_ca", "_a", "_seg")


def _segment(column: ir.Column) -> ir.StringValue:
    """A segment's label: the text, or a numeric column's size band ("50–199")."""
    if not column.type().is_numeric():
        return column.cast("string")
    edges = SIZE_BANDS
    labels = [f"{lo:,}–{hi - 1:,}" for lo, hi in itertools.pairwise(edges)]
    cases = [(column < hi, label) for hi, label in zip(edges[1:], labels, strict=True)]
    return ibis.cases(*cases, else_=f"{edges[-1]:,}+")


def contact_groups(wh: Warehouse, by: str) -> ir.Table:
    """contact_id → ``group``: the contact's owner (``contacts.owner_id``), or that
    owner's manager / office / team; the breakdown of the contact-level analyses."""
    check_by(by, wh)
    return grouped(wh, wh.table("contacts").select("contact_id", "owner_id"), by).select(
        "contact_id", "group"
    )


def with_group(wh: Warehouse, rows: ir.Table, by: str) -> ir.Table:
    """The contact-level ``rows`` with ``group``, their contact's owner group; a
    contact without an owner is in "(no owner)"."""
    groups = contact_groups(wh, by)
    j = rows.left_join(groups, rows.contact_id == groups.contact_id)
    return j.mutate(group=j.group.fill_null(NO_OWNER))


def by_group(
    wh: Warehouse, rows: ir.Table, by: str, measures: Callable[[ir.Table], dict[str, ir.Value]]
) -> pd.DataFrame:
    """``measures`` of the contact-level ``rows`` per owner group (a column named ``by``)."""
    j = with_group(wh, rows, by)
    return j.group_by("group").aggregate(**measures(j)).execute().rename(columns={"group": by})


def with_breakdown(wh: Warehouse, tl: ir.Table, by: str) -> tuple[ir.Table, str]:
    """Join the contacts column ``by`` (or the contact's owner group: owner, manager,
    office, team) onto the timeline; nulls become ``(none)``. Returns the timeline and
    the group column's name (``owner_id`` for owner: ``owner`` is the stage's team)."""
    contacts = wh.table("contacts")
    if by in BY and by not in contacts.columns:
        key = "owner_id" if by == "owner" else by
        side = contact_groups(wh, by).rename(_group="group")
        joined = tl.left_join(side, "contact_id").drop("contact_id_right")
        return joined.mutate(_group=joined._group.fill_null(NO_VALUE)).rename({key: "_group"}), key
    if by not in contacts.columns or by == "contact_id":
        options = [c for c in contacts.columns if c != "contact_id"]
        raise InputError(
            f"by {by!r} is not a contacts column; use one of {', '.join(options)}."
            + did_you_mean(by, options),
            option="by",
        )
    label = contacts[by].cast("string").fill_null(NO_VALUE)
    side = contacts.select("contact_id", _group=label)
    joined = tl.left_join(side, "contact_id").drop("contact_id_right")
    return joined.mutate(_group=joined._group.fill_null(NO_VALUE)).rename({by: "_group"}), by
