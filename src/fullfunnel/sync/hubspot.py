"""Pull companies, contacts and deals from HubSpot with a private-app token.

Each object comes through the CRM search API (``hubspot-api-client``), sorted by
its last-modified property and filtered from the cursor on. The search API stops
at 10,000 results per query, so a long pull starts a new query from the newest
modification time it has seen. Deals get their contacts and companies from the
associations API, owners their names from the owners API. The lifecycle-stage
date properties are the stage history the funnel is built from. Requests that
meet a rate limit (429) or a server error are retried with back-off, honouring
``Retry-After``, by the client's own urllib3 retry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fullfunnel.errors import MissingExtraError, SourceError
from fullfunnel.sync import Cursor, Pulled, Tell, new_since, text

_SEARCH_CAP = 10_000  # results one search query can page through
_PAGE = 100  # the search API's largest page
_BATCH = 1000  # ids per associations batch read
BACKOFF = 1.0  # seconds; the n-th retry in a row waits BACKOFF × 2^(n-1), or Retry-After
# HubSpot's default lifecycle stages; each has an hs_lifecyclestage_<stage>_date
STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
# per object: the property that says when a record last changed, and what to read
OBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "companies": (
        "hs_lastmodifieddate",
        ("hs_object_id", "name", "domain", "industry", "numberofemployees", "country",
         "createdate"),
    ),
    "contacts": (
        "lastmodifieddate",
        ("hs_object_id", "email", "firstname", "lastname", "createdate", "lifecyclestage",
         "hs_analytics_source", "hs_latest_source", "hubspot_owner_id", "jobtitle", "industry",
         "country", "numemployees", "associatedcompanyid",
         *(f"hs_lifecyclestage_{s}_date" for s in STAGES)),
    ),
    "deals": (
        "hs_lastmodifieddate",
        ("hs_object_id", "dealname", "dealstage", "amount", "closedate", "createdate",
         "hubspot_owner_id", "hs_deal_stage_probability", "hs_manual_forecast_category"),
    ),
}  # fmt: skip
_ASSOCIATED = {"contacts": "associatedcontactids", "companies": "associatedcompanyids"}


def require() -> None:
    """Fail, naming the extra to install, when the HubSpot client is missing."""
    try:
        import hubspot  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("fullfunnel sync hubspot", "sync", "hubspot-api-client") from exc


def client(token: str, *, host: str | None = None) -> Any:
    """A HubSpot client that retries rate-limited and failed requests with back-off."""
    require()
    from hubspot import HubSpot
    from urllib3.util.retry import Retry

    retry = Retry(
        total=8,
        backoff_factor=BACKOFF,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # the search API reads by POST
        respect_retry_after_header=True,
    )
    extra = {"host": host.rstrip("/")} if host else {}
    return HubSpot(access_token=token, retry=retry, **extra)


def pull(api: Any, since: dict[str, Cursor], tell: Tell | None = None) -> list[Pulled]:
    """Every object's records changed since its cursor, as export rows with internal
    names (companies first, as the loader wants them)."""
    tell = tell or (lambda _: None)
    owners = _owners(api)
    out = []
    for kind, (modified_by, props) in OBJECTS.items():
        found = _search(api, kind, modified_by, props, since.get(kind), tell)
        records, modified = [], []
        for obj in found.values():
            row = {p: text(obj.properties.get(p)) for p in props}
            row["hs_object_id"] = row["_id"] = str(obj.id)
            owner = row.get("hubspot_owner_id")
            if owner:
                row["hubspot_owner_id"] = owners.get(owner, owner)
            records.append(row)
            modified.append(_stamp(obj.properties.get(modified_by)) or _naive(obj.updated_at))
        columns = props
        if kind == "deals" and records:
            _associate(api, records, tell)
            columns = (*props, *_ASSOCIATED.values())
        records, modified = new_since(records, modified, since.get(kind))
        tell(f"hubspot {kind}: {len(records):,} changed")
        out.append(Pulled(kind, columns, records, modified, since.get(kind)))
    return out


def _api_errors() -> tuple[type[Exception], ...]:
    """The client's ApiException classes (each API package has its own)."""
    import importlib

    return tuple(
        importlib.import_module(f"hubspot.crm.{pkg}.exceptions").ApiException
        for pkg in ("companies", "contacts", "deals", "owners", "associations.v4")
    )


def _call(what: str, fn, *args, **kwargs):
    """A client call whose failure becomes one clear error."""
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args, **kwargs)
    except _api_errors() as exc:
        status = getattr(exc, "status", None)
        hint = {
            401: "the token was refused; create a private app token with the crm.objects "
            "read scopes and pass it as `token` or HUBSPOT_TOKEN",
            403: "the token lacks a scope; give the private app the crm.objects.*.read and "
            "crm.objects.owners.read scopes",
        }.get(status, "HubSpot answered with an error; run sync again, or check status.hubspot.com")
        raise SourceError(f"HubSpot {what}: HTTP {status}: {hint}") from exc
    except HTTPError as exc:  # urllib3 gave up: no connection, or retries used up
        raise SourceError(
            f"HubSpot {what}: {exc.__class__.__name__} after retries with back-off "
            f"({getattr(exc, 'reason', exc)}); run sync again later"
        ) from exc


def _search(api, kind, modified_by, props, since: Cursor | None, tell: Tell) -> dict[str, Any]:
    """Records by id, from the cursor on, across as many queries as the 10,000-result
    cap needs (each new query starts at the newest modification time seen)."""
    search = getattr(api.crm, kind).search_api.do_search
    start = since.at if since else None
    found: dict[str, Any] = {}
    while True:
        after, seen, newest = None, 0, start
        before = len(found)
        while True:
            body = {
                "filterGroups": (
                    [{"filters": [{"propertyName": modified_by, "operator": "GTE",
                                   "value": str(_millis(start))}]}]
                    if start else []
                ),
                "sorts": [{"propertyName": modified_by, "direction": "ASCENDING"}],
                "properties": [*props, modified_by],
                "limit": _PAGE,
            }  # fmt: skip
            if after:
                body["after"] = after
            page = _call(f"{kind} search", search, public_object_search_request=body)
            for obj in page.results:
                found[str(obj.id)] = obj
                stamp = _stamp(obj.properties.get(modified_by))
                newest = max(newest, stamp) if newest and stamp else (stamp or newest)
            seen += len(page.results)
            tell(f"hubspot {kind}: {len(found):,} pulled")
            nxt = page.paging.next.after if page.paging and page.paging.next else None
            if not nxt:
                return found
            if seen + _PAGE > _SEARCH_CAP:
                break
            after = nxt
        if len(found) == before or newest == start:  # one instant holds > 10,000 records
            raise SourceError(
                f"HubSpot {kind}: more than {_SEARCH_CAP:,} records share the modification "
                f"time {newest}; the search API cannot page past them. Export {kind} to a "
                "file instead and load it with 'fullfunnel ingest'"
            )
        start = newest


def _associate(api, records: list[dict[str, str | None]], tell: Tell) -> None:
    """Set each deal's associated contact and company ids (;-separated, as an export)."""
    ids = [r["_id"] for r in records]
    for to, column in _ASSOCIATED.items():
        linked: dict[str, list[str]] = {}
        for i in range(0, len(ids), _BATCH):
            chunk = ids[i : i + _BATCH]
            body = {"inputs": [{"id": d} for d in chunk]}
            page = _call(
                f"deal → {to} associations",
                api.crm.associations.v4.batch_api.get_page,
                from_object_type="deals",
                to_object_type=to,
                batch_input_public_fetch_associations_batch_request=body,
            )
            for res in page.results:
                linked[str(res._from.id)] = sorted(str(t.to_object_id) for t in res.to)
            tell(f"hubspot deals: {to} of {min(i + _BATCH, len(ids)):,} deals")
        for r in records:
            r[column] = ";".join(linked.get(r["_id"], [])) or None


def _owners(api) -> dict[str, str]:
    """Owner id → name (or email), so deals and contacts name their owner."""
    out = {}
    for o in _call("owners", api.crm.owners.get_all):
        name = " ".join(filter(None, (o.first_name, o.last_name))) or o.email
        if name:
            out[str(o.id)] = name
    return out


def _stamp(value: str | None) -> datetime | None:
    """A HubSpot date-time property (ISO 8601 in UTC, or epoch milliseconds) as UTC."""
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC).replace(tzinfo=None)
    return _naive(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _millis(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)
