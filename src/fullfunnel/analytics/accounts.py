"""The account level: the funnel, velocity, stuck and handoffs of accounts.

B2B deals are bought by accounts, not by contacts. An account's stages come from
its contacts and its deals (``[accounts]`` in the config):

- a stage with a ``contact_stage`` is reached when ``contacts`` of the account's
  contacts have reached that contact stage within ``within_days`` of one another, at
  the moment the last of them did (2 contacts at lead within 90 days: *engaged*);
- ``deals = "created"``: its first deal was created; ``"won"``: its first deal was
  won; ``"won_again"``: its second (an expansion);
- it *exits* (closed lost, disqualified) when every contact of it has exited and it
  has no open deal and none won.

:func:`account_level` turns a warehouse and its config into their account-level
twins: the canonical tables at account grain (``stage_events``, ``contacts``,
``touchpoints`` and ``opportunities`` keyed by the account in ``contact_id``) and the
account stage model, so every contact-level analysis runs on accounts unchanged.
Contacts without an account are left out.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from fullfunnel._aggregates import count_if
from fullfunnel._dates import SECONDS_PER_DAY, epoch_seconds, now
from fullfunnel.config import Config, config_from_dict
from fullfunnel.errors import ConfigError
from fullfunnel.lifecycle import reached, timeline
from fullfunnel.warehouse import Warehouse

DEALS = ("created", "won", "won_again")
EXITS = ("disqualified", "closed_lost")  # an account ends when all of it has
LEVELS = ("contact", "account")
_STAGE_KEYS = ("name", "label", "segment", "owner", "support", "sla_days")


def account_level(wh: Warehouse, config: Config) -> tuple[AccountView, Config]:
    """The account-level view of ``wh`` and the account stage model."""
    accounts = account_config(config)
    return AccountView(wh, config, accounts), accounts


def account_config(config: Config) -> Config:
    """``config`` with the account stages of ``[accounts]`` as its stage model."""
    specs = config["accounts"]["stages"]
    where = (config.path or "config") + ": [accounts]"
    for spec in specs:
        _check(spec, config, where)
    raw = config.to_dict()
    raw["stages"] = [{k: s[k] for k in _STAGE_KEYS if k in s} for s in specs]
    names = [s["name"] for s in specs]
    won = next((s["name"] for s in specs if s.get("deals") == "won"), names[-1])
    opportunity = next((s["name"] for s in specs if s.get("deals") == "created"), None)
    raw["funnel"] = {
        **raw["funnel"],
        "exits": list(EXITS),
        "recycle_to": names[0],
        "won_stage": won,
        "opportunity_stage": opportunity or names[max(names.index(won) - 1, 0)],
        "survival_by": "",
        "steps": "",
    }
    raw["benchmarks"] = {}
    return config_from_dict(raw, path=config.path)


def _check(spec: dict[str, Any], config: Config, where: str) -> None:
    name = spec.get("name", "?")
    if ("contact_stage" in spec) == ("deals" in spec):
        raise ConfigError(
            f"{where} stage '{name}': give either contact_stage (with contacts and "
            f"within_days) or deals (one of {', '.join(DEALS)})"
        )
    if "deals" in spec and spec["deals"] not in DEALS:
        raise ConfigError(f"{where} stage '{name}': deals must be one of {', '.join(DEALS)}")
    if "contact_stage" in spec:
        config.stage(spec["contact_stage"])
        if int(spec.get("contacts", 1)) < 1 or float(spec.get("within_days", 0)) < 0:
            raise ConfigError(
                f"{where} stage '{name}': contacts must be 1 or more, within_days 0 or more"
            )


class AccountView:
    """A warehouse seen at account grain: the tables analyses read, keyed by account
    (in ``contact_id``), and derived tables kept apart from the contact level's."""

    def __init__(self, wh: Warehouse, contacts: Config, accounts: Config) -> None:
        self._wh, self._contacts, self._accounts = wh, contacts, accounts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wh, name)

    def __repr__(self) -> str:
        return f"AccountView({self._wh!r})"

    @property
    def base(self) -> Warehouse:
        return self._wh

    def table(self, name: str) -> ir.Table:
        made = {
            "stage_events": self._stage_events_once,
            "contacts": self._account_rows,
            "touchpoints": self._touchpoints,
            "opportunities": self._opportunities,
        }.get(name)
        return made() if made else self._wh.table(name)

    def shared(self, key: Any, build, *, reads: tuple[str, ...]) -> ir.Table:
        return self._wh.shared(("account", key), build, reads=reads)

    def memo(self, key: Any, build, *, reads: tuple[str, ...]) -> Any:
        return self._wh.memo(("account", key), build, reads=reads)

    def _account_of(self) -> ir.Table:
        c = self._wh.table("contacts")
        return c.filter(c.account_id.notnull()).select("contact_id", "account_id")

    def _account_rows(self) -> ir.Table:
        """One row per account in the funnel: entered when it first reached an account
        stage (an account whose contacts never made it engaged is not in it); the first
        contact's channel and owner; the account's industry, size and country."""
        c = self._wh.table("contacts")
        c = c.filter(c.account_id.notnull())
        ev = self._stage_events_once()
        ev = ev.filter(~ev.stage.isin(list(EXITS)))
        entered = ev.group_by(_acc=ev.contact_id).aggregate(created_at=ev.ts.min())
        first = c.group_by("account_id").aggregate(
            source_channel=c.source_channel.argmin(c.created_at),
            owner_team=c.owner_team.argmin(c.created_at),
            owner_id=c.owner_id.argmin(c.created_at),
            contacts=c.count(),
        )
        first = first.join(entered, first.account_id == entered._acc).drop("_acc")
        acc = self._wh.table("accounts").select("account_id", "industry", "employees", "country")
        j = first.left_join(acc, "account_id").drop("account_id_right")
        return j.mutate(contact_id=j.account_id)

    def _touchpoints(self) -> ir.Table:
        return self._by_account(self._wh.table("touchpoints"))

    def _opportunities(self) -> ir.Table:
        return self._by_account(self._wh.table("opportunities"))

    def _by_account(self, t: ir.Table) -> ir.Table:
        """Rows of ``t`` keyed by their account: their own ``account_id``, else their
        contact's; rows with neither are left out."""
        acc = self._account_of().rename(_c="contact_id", _a="account_id")
        j = t.left_join(acc, t.contact_id == acc._c)
        account = j.account_id.coalesce(j._a)
        return j.filter(account.notnull()).mutate(contact_id=account).drop("_c", "_a")

    def _stage_events_once(self) -> ir.Table:
        """:meth:`_stage_events`, materialised once per stage model until a load (the
        account rows and every analysis read it)."""
        specs = repr(self._contacts["accounts"]["stages"])
        reads = ("stage_events", "contacts", "opportunities")
        return self._wh.shared(("account_stage_events", specs), self._stage_events, reads=reads)

    def _stage_events(self) -> ir.Table:
        """Each account stage, at the moment the account reached it."""
        parts = []
        for spec in self._contacts["accounts"]["stages"]:
            at = (
                self._from_contacts(spec)
                if "contact_stage" in spec
                else self._from_deals(spec["deals"])
            )
            parts.append(
                at.mutate(stage=ibis.literal(spec["name"]), team=ibis.literal(spec["owner"]))
            )
        staged = ibis.union(*[p.select("account_id") for p in parts])
        ends = self._exits().semi_join(staged, "account_id")  # of accounts in the funnel
        parts.append(ends.mutate(team=ibis.null("string")))
        return ibis.union(
            *[
                p.select(
                    contact_id=p.account_id,
                    stage=p.stage,
                    ts=p.ts.cast("timestamp"),
                    owner_team=p.team,
                    owner_id=ibis.null("string"),
                    source=ibis.literal("accounts"),
                )
                for p in parts
            ]
        )

    def _exits(self) -> ir.Table:
        """An account ends when every contact of it has exited (disqualified, closed
        lost) and it has no open deal and none won: *closed_lost* when it lost a deal,
        else *disqualified*, at the latest of those exits and losses. A contact who
        arrives later reopens it (it is judged as the data stands now)."""
        tl = timeline(self._wh, self._contacts, as_of=now())
        j = tl.select("contact_id", "exit", "exited_at").join(self._account_of(), "contact_id")
        people = j.group_by("account_id").aggregate(
            _live=count_if(j.exit.isnull()), _last=j.exited_at.max()
        )
        o = self._opportunities()
        deals = o.group_by(_acc=o.contact_id).aggregate(
            _open=count_if(o.status == "open"),
            _won=count_if(o.status == "won"),
            _lost_at=o.close_date.max(where=o.status == "lost"),
        )
        d = people.left_join(deals, people.account_id == deals._acc)
        dead = d.filter(d._live == 0, d._open.fill_null(0) == 0, d._won.fill_null(0) == 0)
        lost = dead._lost_at.notnull()
        return dead.select(
            "account_id",
            stage=ibis.ifelse(lost, "closed_lost", "disqualified"),
            ts=ibis.ifelse(lost, ibis.greatest(dead._last, dead._lost_at), dead._last),
        )

    def _from_contacts(self, spec: dict[str, Any]) -> ir.Table:
        """When ``contacts`` of an account's contacts reached ``contact_stage`` within
        ``within_days`` of one another: the first reach time whose (k−1)-th before it
        in the account is close enough."""
        tl = timeline(self._wh, self._contacts, as_of=now())
        col = reached(spec["contact_stage"])
        j = tl.select("contact_id", t=tl[col]).filter(ibis._["t"].notnull())
        j = j.join(self._account_of(), "contact_id")
        k = int(spec.get("contacts", 1))
        if k == 1:
            return j.group_by("account_id").aggregate(ts=j.t.min())
        window = ibis.window(group_by=j.account_id, order_by=[j.t, j.contact_id])
        earlier = j.t.lag(k - 1).over(window)
        gap = (epoch_seconds(j.t) - epoch_seconds(earlier)) / SECONDS_PER_DAY
        close = j.mutate(_ok=earlier.notnull() & (gap <= float(spec.get("within_days", 0))))
        ok = close.filter(close._ok)
        return ok.group_by("account_id").aggregate(ts=ok.t.min())

    def _from_deals(self, which: str) -> ir.Table:
        o = self._opportunities()
        if which == "created":
            o = o.filter(o.created_at.notnull())
            return o.group_by(account_id=o.contact_id).aggregate(ts=o.created_at.min())
        won = o.filter((o.status == "won") & o.close_date.notnull())
        nth = ibis.row_number().over(
            ibis.window(group_by=won.contact_id, order_by=[won.close_date, won.opportunity_id])
        )
        won = won.mutate(_n=nth)
        won = won.filter(won._n == (0 if which == "won" else 1))
        return won.select(account_id=won.contact_id, ts=won.close_date)
