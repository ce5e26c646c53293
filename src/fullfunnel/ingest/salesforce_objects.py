"""How each Salesforce object becomes canonical rows: the plan of an Account, Contact,
Lead, Opportunity, OpportunityHistory, OpportunityContactRole, Campaign,
CampaignMember, Task or Event export."""

from __future__ import annotations

from pathlib import Path

from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.ingest import sql
from fullfunnel.ingest import validate as v
from fullfunnel.ingest.mapping import STATUSES, closed_need_amount, forecast_fields
from fullfunnel.ingest.plan import Plan


def settings(config: Config, key: str) -> dict[str, str]:
    """A ``[salesforce.<key>]`` mapping: the user's entries over the built-in ones."""
    return {**default_config()["salesforce"][key], **config["salesforce"][key]}


def _first(columns: list[str], *names: str) -> str | None:
    return next((n for n in names if n in columns), None)


def _need(columns: list[str], path: Path, kind: str, *names: str) -> None:
    for name in names:
        if name not in columns:
            raise InputError(
                f"{path}: the {kind} export has no '{name}' column; export {kind} again "
                f"with the {name} field (API names, as Data Loader writes them)"
            )


def _opt(exprs, name, columns, *cols, how=v.text):
    col = _first(columns, *cols)
    if col:
        exprs[name] = how(col)


def _key(columns: list[str], kind: str) -> str:
    """The column that keys a record: its Id, or (a report without ids) its Name."""
    named = kind in ("Opportunity", "Account", "Campaign")
    return "Name" if "Id" not in columns and named and "Name" in columns else "Id"


def _id(col: str = "Id") -> v.Expr:
    return v.required("Id", v.text(col))


def _created(columns, path, kind, checks) -> v.Expr:
    _need(columns, path, kind, "CreatedDate")
    return v.required("created_at", v.timestamp("CreatedDate", checks))


def _source(config: Config, col: str) -> v.Expr:
    return v.mapped(v.text(col), settings(config, "sources"), label="source", unknown="snake")


def _personal(exprs, columns, config) -> None:
    if config["ingest"]["personal"] == "hash" and "Email" in columns:
        exprs["email_sha256"] = v.hashed("Email")


def _account(kind, columns, path, config, checks, lookups) -> Plan:
    exprs = {"account_id": _id(_key(columns, kind))}
    _opt(exprs, "name", columns, "Name")
    _opt(exprs, "industry", columns, "Industry")
    _opt(exprs, "employees", columns, "NumberOfEmployees", how=v.headcount)
    _opt(exprs, "country", columns, "BillingCountry", "ShippingCountry")
    if "CreatedDate" in columns:
        exprs["created_at"] = v.timestamp("CreatedDate", checks)
    return Plan(source="salesforce:Account", table="accounts", columns=exprs)


def _person(exprs, columns, config, checks) -> None:
    _opt(exprs, "owner_id", columns, "OwnerId")
    _opt(exprs, "title", columns, "Title")
    _opt(exprs, "industry", columns, "Industry")
    _opt(exprs, "employees", columns, "NumberOfEmployees", how=v.headcount)
    _opt(exprs, "country", columns, "Country", "MailingCountry")
    if "LeadSource" in columns:
        exprs["source_channel"] = _source(config, "LeadSource")
    if "OwnerId" in columns:
        exprs["owner_team"] = v.mapped(
            v.text("OwnerId"),
            settings(config, "owner_teams"),
            label="owner",
            allowed=(),
            unknown="ignore",
        )
    _personal(exprs, columns, config)


def _contact(kind, columns, path, config, checks, lookups) -> Plan:
    exprs = {"contact_id": _id()}
    _opt(exprs, "account_id", columns, "AccountId")
    exprs["created_at"] = _created(columns, path, kind, checks)
    _person(exprs, columns, config, checks)
    return Plan(source="salesforce:Contact", table="contacts", columns=exprs)


def _lead(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "Status")
    allowed = (*config.stage_names, *config.exits)
    exprs: dict[str, v.Expr] = {}
    if "ConvertedContactId" in columns:
        exprs["contact_id"] = v.required("Id", v.first_text("ConvertedContactId", "Id"))
        _opt(exprs, "account_id", columns, "ConvertedAccountId")
    else:
        exprs["contact_id"] = _id()
    exprs["created_at"] = _created(columns, path, kind, checks)
    _person(exprs, columns, config, checks)
    exprs["_status"] = v.mapped(
        v.text("Status"),
        settings(config, "lead_status"),
        label="Lead Status",
        allowed=allowed,
        fix="add it under [salesforce.lead_status] in fullfunnel.toml",
    )
    stamps = []
    if "ConvertedDate" in columns:
        exprs["_converted"] = v.timestamp("ConvertedDate", checks)
        stamps.append("_converted")
    if "LastModifiedDate" in columns:
        exprs["_modified"] = v.timestamp("LastModifiedDate", checks)
        stamps.append("_modified")
    status_ts = f"coalesce({', '.join([*stamps, 'created_at'])})"
    owner = "owner_id" if "owner_id" in exprs else "NULL::VARCHAR"
    team = "owner_team" if "owner_team" in exprs else "NULL::VARCHAR"
    first = config.stage_names[0]
    derived = {
        "stage_events": (
            f"SELECT contact_id, {sql.lit(first)} AS stage, created_at AS ts, "
            f"{team} AS owner_team, {owner} AS owner_id, 'salesforce:Lead' AS source FROM ok "
            f"UNION ALL SELECT contact_id, _status, {status_ts}, {team}, {owner}, "
            f"'salesforce:Lead' FROM ok WHERE _status IS NOT NULL AND _status <> {sql.lit(first)}"
        )
    }
    return Plan(
        source="salesforce:Lead",
        table="contacts",
        columns=exprs,
        derived=derived,
    )


def _opportunity(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "StageName")
    exprs: dict[str, v.Expr] = {"opportunity_id": _id(_key(columns, kind))}
    _opt(exprs, "account_id", columns, "AccountId", "Account Name")
    contact = sql.value("ContactId") if "ContactId" in columns else "NULL::VARCHAR"
    if "sf_leads" in lookups.tables:
        contact = (
            f"coalesce({contact}, (SELECT any_value(l.contact_id) FROM sf_leads l "
            f"WHERE l.opportunity_id = trim({sql.ident(_key(columns, kind))})))"
        )
    exprs["contact_id"] = v.Expr(contact, sources=("ContactId",) if "ContactId" in columns else ())
    undated = "CreatedDate" not in columns  # an sfdx tree export leaves it out
    if undated:
        exprs["created_at"] = v.Expr("NULL::TIMESTAMP", kind="timestamp")
    else:
        exprs["created_at"] = _created(columns, path, kind, checks)
    exprs["stage"] = v.text("StageName")
    status = v.mapped(
        v.text("StageName"),
        settings(config, "opportunity_stages"),
        label="StageName",
        allowed=STATUSES,
        unknown="ignore",
    )
    won = v.boolean("IsWon") if "IsWon" in columns else None
    closed = v.boolean("IsClosed") if "IsClosed" in columns else None
    status_sql = f"coalesce({status.sql}, 'open')"
    errors = list(status.errors)
    if won is not None and closed is not None:
        status_sql = (
            f"CASE WHEN {won.sql} THEN 'won' WHEN {closed.sql} THEN 'lost' "
            f"WHEN {won.sql} IS NULL OR {closed.sql} IS NULL THEN {status_sql} ELSE 'open' END"
        )
        errors += [*won.errors, *closed.errors]
    exprs["status"] = v.Expr(status_sql, tuple(errors), ("StageName",))
    if "Amount" in columns:
        exprs["amount"] = closed_need_amount(v.number("Amount"), exprs["status"])
    else:
        exprs["amount"] = v.Expr("0.0::DOUBLE")
    if "CloseDate" in columns:
        exprs["close_date"] = v.timestamp("CloseDate", checks, future_ok=True)
    forecast_fields(exprs, columns, "Probability", "ForecastCategoryName")
    _opt(exprs, "owner_id", columns, "OwnerId")
    exprs.setdefault("owner_id", v.const(None))  # the derived events name it
    close = "close_date" if "CloseDate" in columns else "NULL::TIMESTAMP"
    stage_of = {"won": config.won_stage, "lost": "closed_lost"}
    opp_stage = config.opportunity_stage
    derived = {
        "stage_events": (
            f"SELECT contact_id, {sql.lit(opp_stage)} AS stage, created_at AS ts, "
            "NULL::VARCHAR AS owner_team, owner_id, 'salesforce:Opportunity' AS source "
            "FROM ok WHERE contact_id IS NOT NULL AND created_at IS NOT NULL "
            "UNION ALL SELECT contact_id, CASE status "
            + " ".join(f"WHEN {sql.lit(k)} THEN {sql.lit(s)}" for k, s in stage_of.items())
            + f" END, {close}, NULL::VARCHAR, owner_id, 'salesforce:Opportunity' FROM ok "
            f"WHERE contact_id IS NOT NULL AND status IN ('won', 'lost') AND {close} IS NOT NULL"
        )
    }
    notes = (
        ["no CreatedDate: deals count as open from the start; no sales cycle"] if undated else []
    )
    return Plan(
        source="salesforce:Opportunity",
        table="opportunities",
        columns=exprs,
        derived=derived,
        notes=notes,
    )


def _history(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "OpportunityId", "StageName", "CreatedDate")
    exprs = {
        "opportunity_id": v.required("OpportunityId", v.text("OpportunityId")),
        "stage": v.required("StageName", v.text("StageName")),
        "ts": v.required("CreatedDate", v.timestamp("CreatedDate", checks)),
    }
    if "Amount" in columns:
        exprs["amount"] = v.number("Amount")
    if "CloseDate" in columns:
        exprs["close_date"] = v.timestamp("CloseDate", checks, future_ok=True)
    return Plan(
        source="salesforce:OpportunityHistory",
        table="opportunity_history",
        columns=exprs,
        orphans={"opportunity_id": "opportunities"},
    )


def _contact_role(kind, columns, path, config, checks, lookups) -> Plan:
    """Who plays which role on a deal; a row whose deal or contact is not loaded is
    rejected (load Opportunity and Contact first)."""
    _need(columns, path, kind, "OpportunityId", "ContactId")
    exprs = {
        "opportunity_id": v.required("OpportunityId", v.text("OpportunityId")),
        "contact_id": v.required("ContactId", v.text("ContactId")),
    }
    _opt(exprs, "role", columns, "Role")
    _opt(exprs, "is_primary", columns, "IsPrimary", how=v.boolean)
    return Plan(
        source="salesforce:OpportunityContactRole",
        table="opportunity_contacts",
        columns=exprs,
        orphans={"opportunity_id": "opportunities", "contact_id": "contacts"},
    )


def _campaign(kind, columns, path, config, checks, lookups) -> Plan:
    start = _first(columns, "StartDate", "CreatedDate")
    if start is None:
        raise InputError(f"{path}: the Campaign export has no StartDate or CreatedDate column")
    day = v.timestamp(start, checks, future_ok=True)
    exprs = {
        "date": v.required(
            "date", v.Expr(f"CAST({day.sql} AS DATE)", day.errors, day.sources, day.dates)
        ),
        "channel": _source(config, "Type") if "Type" in columns else v.const("campaign"),
        "campaign": v.required("Name", v.first_text(*[c for c in ("Name", "Id") if c in columns])),
        "team": v.const("marketing"),
    }
    cost = _first(columns, "ActualCost", "BudgetedCost")
    if cost:
        n = v.number(cost)
        exprs["amount"] = v.Expr(f"coalesce({n.sql}, 0.0)", n.errors, n.sources)
    else:
        exprs["amount"] = v.Expr("0.0::DOUBLE")
    exprs["channel"] = v.Expr(
        f"coalesce({exprs['channel'].sql}, 'campaign')",
        exprs["channel"].errors,
        exprs["channel"].sources,
    )
    return Plan(source="salesforce:Campaign", table="spend", columns=exprs, dedupe=False)


def _member(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "CampaignId", "CreatedDate")
    who = [c for c in ("ContactId", "LeadId") if c in columns]
    exprs: dict[str, v.Expr] = {"touchpoint_id": _id()}
    person = v.first_text(*who)
    exprs["contact_id"] = v.required(
        "ContactId/LeadId", v.Expr(lookups.contact_of(person.sql), sources=person.sources)
    )
    responded = _first(columns, "FirstRespondedDate")
    ts = v.timestamp("CreatedDate", checks)
    if responded:
        r = v.timestamp(responded, checks)
        ts = v.Expr(
            f"coalesce({r.sql}, {ts.sql})",
            (*r.errors, *ts.errors),
            (responded, "CreatedDate"),
            (*r.dates, *ts.dates),
            "timestamp",
        )
    exprs["ts"] = v.required("ts", ts)
    campaign = sql.value("CampaignId")
    channel = "NULL::VARCHAR"
    if "sf_campaigns" in lookups.tables:
        sources = settings(config, "sources")
        ctype = f"(SELECT any_value(c.type) FROM sf_campaigns c WHERE c.campaign_id = {campaign})"
        channel = v.mapped(v.Expr(ctype), sources, label="campaign type", unknown="snake").sql
        campaign = (
            f"coalesce((SELECT any_value(c.name) FROM sf_campaigns c "
            f"WHERE c.campaign_id = {campaign}), {campaign})"
        )
    exprs["channel"] = v.Expr(f"coalesce({channel}, 'campaign')", sources=("CampaignId",))
    exprs["campaign"] = v.Expr(campaign, sources=("CampaignId",))
    responded_sql = "FALSE"
    if "HasResponded" in columns:
        responded_sql = f"coalesce({v.boolean('HasResponded').sql}, FALSE)"
    if responded:
        responded_sql = f"({responded_sql} OR {sql.value(responded)} IS NOT NULL)"
    exprs["kind"] = v.Expr(
        f"CASE WHEN {responded_sql} THEN 'campaign_response' ELSE 'campaign_member' END"
    )
    exprs["team"] = v.const("marketing")
    exprs["direction"] = v.const("inbound")
    return Plan(
        source="salesforce:CampaignMember",
        table="touchpoints",
        columns=exprs,
        orphans={"contact_id": "contacts"},
    )


def _activity(kind, columns, path, config, checks, lookups) -> Plan:
    _need(columns, path, kind, "WhoId", "CreatedDate")
    exprs: dict[str, v.Expr] = {"touchpoint_id": _id()}
    who = v.text("WhoId")
    exprs["contact_id"] = v.required(
        "WhoId", v.Expr(lookups.contact_of(who.sql), sources=("WhoId",))
    )
    _opt(exprs, "account_id", columns, "AccountId")
    when = _first(columns, "ActivityDateTime", "StartDateTime", "ActivityDate")
    ts = v.timestamp("CreatedDate", checks)
    if when:
        w = v.timestamp(when, checks)
        ts = v.Expr(
            f"coalesce({w.sql}, {ts.sql})",
            (*w.errors, *ts.errors),
            (when, "CreatedDate"),
            (*w.dates, *ts.dates),
            "timestamp",
        )
    exprs["ts"] = v.required("ts", ts)
    sub = _first(columns, "TaskSubtype", "EventSubtype", "Type")
    kind_sql = "'meeting'" if kind == "Event" else "'task'"
    if sub:
        s = f"lower({sql.value(sub)})"
        kind_sql = (
            f"CASE WHEN {s} LIKE '%call%' THEN 'call' WHEN {s} LIKE '%email%' THEN 'email' "
            f"WHEN {s} LIKE '%meeting%' OR {s} = 'event' THEN 'meeting' ELSE {kind_sql} END"
        )
    exprs["kind"] = v.Expr(kind_sql, sources=(sub,) if sub else ())
    exprs["channel"] = v.Expr(
        f"CASE {kind_sql} WHEN 'call' THEN 'phone' WHEN 'email' THEN 'email' "
        "WHEN 'meeting' THEN 'meeting' ELSE 'sales_activity' END"
    )
    team = v.const(config["salesforce"]["default_touch_team"])
    if "OwnerId" in columns:
        owner = v.mapped(
            v.text("OwnerId"),
            settings(config, "owner_teams"),
            label="owner",
            allowed=(),
            unknown="ignore",
        )
        team = v.Expr(f"coalesce({owner.sql}, {team.sql})", sources=("OwnerId",))
    exprs["team"] = team
    exprs["direction"] = v.const("outbound")
    return Plan(
        source=f"salesforce:{kind}",
        table="touchpoints",
        columns=exprs,
        orphans={"contact_id": "contacts"},
    )
