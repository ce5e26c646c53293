"""Pull accounts, contacts, leads, opportunities and their stage history, campaigns,
campaign members, tasks and events from Salesforce.

``simple-salesforce`` logs in (username, password and security token, or an
instance URL and a session/OAuth access token) and pages every SOQL query through
``nextRecordsUrl``. Each object is read from its cursor on (``SystemModstamp >=``),
with the standard fields this org has (from the object's describe), as a Data
Loader export with API names would hold them. An incremental pull also reads the
records its rows point at that did not change themselves: the converted leads of
changed opportunities and the campaigns of changed members, so the lead → contact
and campaign → channel lookups stay whole. Owners are named by their User's Name.
Requests that meet a rate limit (429) or a server error (5xx) are retried with
back-off by urllib3's retry on the requests session.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fullfunnel.errors import InputError, MissingExtraError, SourceError
from fullfunnel.sync import Cursor, Pulled, Tell, new_since, text

_MODIFIED = "SystemModstamp"
_IN_CHUNK = 200  # ids per IN (…) list, well inside SOQL's query length limit
_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
# per object, in load order: the standard fields read (those the org has)
OBJECTS: dict[str, tuple[str, ...]] = {
    "Account": ("Id", "Name", "Industry", "NumberOfEmployees", "BillingCountry",
                "ShippingCountry", "CreatedDate"),
    "Contact": ("Id", "AccountId", "Email", "FirstName", "LastName", "Title", "LeadSource",
                "OwnerId", "MailingCountry", "CreatedDate"),
    "Lead": ("Id", "Email", "FirstName", "LastName", "Title", "Company", "Industry",
             "NumberOfEmployees", "Country", "LeadSource", "Status", "OwnerId", "IsConverted",
             "ConvertedDate", "ConvertedContactId", "ConvertedAccountId",
             "ConvertedOpportunityId", "CreatedDate", "LastModifiedDate"),
    "Opportunity": ("Id", "Name", "AccountId", "ContactId", "StageName", "Amount", "CloseDate",
                    "IsWon", "IsClosed", "Probability", "ForecastCategoryName", "OwnerId",
                    "Type", "LeadSource", "CreatedDate"),
    "OpportunityHistory": ("Id", "OpportunityId", "StageName", "Amount", "CloseDate",
                           "Probability", "CreatedDate"),
    "Campaign": ("Id", "Name", "Type", "ActualCost", "BudgetedCost", "StartDate",
                 "CreatedDate"),
    "CampaignMember": ("Id", "CampaignId", "LeadId", "ContactId", "Status", "HasResponded",
                       "FirstRespondedDate", "CreatedDate"),
    "Task": ("Id", "WhoId", "AccountId", "OwnerId", "Subject", "TaskSubtype", "ActivityDate",
             "CreatedDate"),
    "Event": ("Id", "WhoId", "AccountId", "OwnerId", "Subject", "EventSubtype",
              "StartDateTime", "CreatedDate"),
}  # fmt: skip
# records that changed ones point at, read even when they did not change themselves:
# object → (the changed object, its field holding the values, the field they match)
_REFERENCED = {
    "Lead": ("Opportunity", "Id", "ConvertedOpportunityId"),
    "Campaign": ("CampaignMember", "CampaignId", "Id"),
}


def require() -> None:
    """Fail, naming the extra to install, when simple-salesforce is missing."""
    try:
        import simple_salesforce  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("fullfunnel sync salesforce", "sync", "simple-salesforce") from exc


def client(
    *,
    username: str | None = None,
    password: str | None = None,
    security_token: str | None = None,
    domain: str | None = None,
    instance_url: str | None = None,
    session_id: str | None = None,
) -> Any:
    """A logged-in simple-salesforce client whose requests retry with back-off."""
    require()
    import requests
    from requests.adapters import HTTPAdapter
    from simple_salesforce import Salesforce, SalesforceError
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    from urllib3.util.retry import Retry

    session = requests.Session()
    retry = Retry(
        total=8,
        backoff_factor=1.0,
        status_forcelist=(429, 500, 502, 503, 504),
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer reaches simple-salesforce, which explains it
    )
    session.mount("https://", HTTPAdapter(max_retries=retry))
    try:
        if session_id and instance_url:
            return Salesforce(instance_url=instance_url, session_id=session_id, session=session)
        if username and password:
            return Salesforce(
                username=username,
                password=password,
                security_token=security_token or "",
                domain=domain or "login",
                session=session,
            )
    except SalesforceAuthenticationFailed as exc:
        raise SourceError(
            f"Salesforce login refused ({exc}); check the username, password and "
            "security token, and pass `domain` test for a sandbox"
        ) from exc
    except SalesforceError as exc:
        raise SourceError(f"Salesforce login: {exc}") from exc
    raise InputError(
        "sync salesforce: pass `username`, `password` and `security_token`, or "
        "`instance_url` and `session_id` (an OAuth access token)"
    )


def pull(sf: Any, since: dict[str, Cursor], tell: Tell | None = None) -> list[Pulled]:
    """Every object's records changed since its cursor, as Data Loader rows."""
    tell = tell or (lambda _: None)
    owners = _owners(sf)
    fields = {obj: _fields(sf, obj, wanted) for obj, wanted in OBJECTS.items()}
    changed: dict[str, tuple[list[dict], list[datetime]]] = {}  # object → (rows, times)
    for obj, names in fields.items():
        if names is None:
            tell(f"salesforce {obj}: not readable here, skipped")
            continue
        cursor = since.get(obj)
        where = f" WHERE {_MODIFIED} >= {_soql_time(cursor.at)}" if cursor else ""
        soql = f"SELECT {', '.join((*names, _MODIFIED))} FROM {obj}{where} ORDER BY {_MODIFIED}, Id"
        records = _query(sf, soql, f"salesforce {obj}", tell)
        rows = [_row(r, names, owners) for r in records]
        changed[obj] = new_since(rows, [_stamp(r[_MODIFIED]) for r in records], cursor)
    for obj, (other, value, key) in _REFERENCED.items():
        if not (since.get(obj) and obj in changed and other in changed and key in fields[obj]):
            continue  # a full pull has them all already
        rows, stamps = changed[obj]
        have = {r["Id"] for r in rows}
        wanted = {r[value] for r in changed[other][0] if r.get(value)}
        for r in _within(sf, obj, fields[obj], key, wanted):
            if r["Id"] not in have:
                rows.append(_row(r, fields[obj], owners))
                stamps.append(_stamp(r[_MODIFIED]))
    out = []
    for obj, (rows, stamps) in changed.items():
        tell(f"salesforce {obj}: {len(rows):,} records to load")
        out.append(Pulled(obj, fields[obj], rows, stamps, since.get(obj)))
    return out


def _row(record: dict[str, Any], names: tuple[str, ...], owners: dict[str, str]) -> dict:
    """A record as a Data Loader row: API names, owners named."""
    row = {f: text(record.get(f)) for f in names}
    if row.get("OwnerId"):
        row["OwnerId"] = owners.get(row["OwnerId"], row["OwnerId"])
    row["_id"] = row["Id"]
    return row


def _call(what: str, fn, *args):
    from simple_salesforce import SalesforceError

    try:
        return fn(*args)
    except SalesforceError as exc:
        limit = "REQUEST_LIMIT_EXCEEDED" in str(exc)
        hint = (
            "the org's daily API request limit is used up; run sync again tomorrow"
            if limit
            else "check the user's permissions on this object"
        )
        raise SourceError(f"Salesforce {what}: {exc}; {hint}") from exc
    except OSError as exc:
        raise SourceError(f"Salesforce {what}: cannot connect ({exc}); check the network") from exc


def _fields(sf: Any, obj: str, wanted: tuple[str, ...]) -> tuple[str, ...] | None:
    """The wanted fields this org's ``obj`` has (None: the user cannot read it)."""
    from simple_salesforce import SalesforceError

    try:
        described = getattr(sf, obj).describe()
    except SalesforceError:
        return None
    have = {f["name"] for f in described["fields"]}
    return tuple(f for f in wanted if f in have) if "Id" in have else None


def _query(sf: Any, soql: str, what: str, tell: Tell) -> list[dict[str, Any]]:
    out = []
    for record in _call(what, sf.query_all_iter, soql):
        out.append(record)
        if len(out) % 2000 == 0:
            tell(f"{what}: {len(out):,} pulled")
    tell(f"{what}: {len(out):,} pulled")
    return out


def _within(sf: Any, obj: str, names: tuple[str, ...], key: str, ids: set[str]) -> list[dict]:
    """The ``obj`` records whose ``key`` is one of ``ids``, in chunks of ids."""
    ids = {i for i in ids if _ID.match(i)}
    out: list[dict[str, Any]] = []
    ordered = sorted(ids)
    for i in range(0, len(ordered), _IN_CHUNK):
        listed = ", ".join(f"'{x}'" for x in ordered[i : i + _IN_CHUNK])
        soql = f"SELECT {', '.join((*names, _MODIFIED))} FROM {obj} WHERE {key} IN ({listed})"
        out += _query(sf, soql, f"salesforce {obj} (referenced)", lambda _: None)
    return out


def _owners(sf: Any) -> dict[str, str]:
    """User id → Name, so records name their owner (ids stay when User is not readable)."""
    from simple_salesforce import SalesforceError

    try:
        return {u["Id"]: u["Name"] for u in sf.query_all_iter("SELECT Id, Name FROM User")}
    except SalesforceError:
        return {}


def _stamp(value: str) -> datetime:
    """A Salesforce datetime (``2024-03-05T14:22:00.000+0000``) as naive UTC."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC).replace(tzinfo=None)


def _soql_time(value: datetime) -> str:
    """A SOQL datetime literal, to the second (SOQL has no fractions); a pull from it
    returns records of that second again, which :func:`new_since` drops."""
    return value.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
