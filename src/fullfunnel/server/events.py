"""Real-time collection: validate a batch of touchpoint and stage events, dedupe, store.

An event is a JSON object. A touchpoint (``"type": "touchpoint"``, or any object
with a ``touchpoint_id``) needs ``touchpoint_id`` (its event id), ``contact_id``,
``ts``, ``channel`` and ``kind``, and may carry ``account_id``, ``campaign``,
``tactic``, ``team``, ``direction`` (inbound/outbound) and ``cost``. A stage event
(``"type": "stage"``) needs ``contact_id``, ``stage`` (a stage of the config or an
exit) and ``ts``, and may carry ``owner_team`` and ``owner_id``; its identity is
(contact_id, stage, ts).

Each event is accepted, a duplicate (already stored, or repeated in the batch:
retries are idempotent) or rejected with a reason. Accepted events land in one
transaction (``Warehouse.load_many``): the batch is stored whole or not at all. A
contact seen for the first time is created from its earliest event.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from fullfunnel._dates import now
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

SOURCE = "api"
MAX_TEXT = 200
EARLIEST = datetime(1990, 1, 1)
TOUCHPOINT_REQUIRED = ("touchpoint_id", "contact_id", "ts", "channel", "kind")
TOUCHPOINT_OPTIONAL = ("account_id", "campaign", "tactic", "team", "direction", "cost")
STAGE_REQUIRED = ("contact_id", "stage", "ts")
STAGE_OPTIONAL = ("owner_team", "owner_id")
TYPES = ("touchpoint", "stage")


@dataclasses.dataclass(frozen=True, eq=False)
class EventsResult(Result):
    """The outcome of one batch: counts, and one row per event with its reason."""

    title = "events"
    events: pd.DataFrame
    received: int
    accepted: int
    duplicates: int
    rejected: int
    contacts_created: int

    def headline(self) -> list[str]:
        return [
            f"{self.received:,} events: {self.accepted:,} accepted, {self.duplicates:,} "
            f"duplicates (already stored), {self.rejected:,} rejected; "
            f"{self.contacts_created:,} new contacts"
        ]


def collect_events(
    wh: Warehouse,
    events: Sequence[Any],
    *,
    config: Config | None = None,
    received_at: datetime | None = None,
    max_future: timedelta = timedelta(minutes=10),
) -> EventsResult:
    """Validate ``events``, drop duplicates, store the rest atomically.

    >>> import fullfunnel as ff
    >>> wh = ff.connect("duckdb://:memory:")
    >>> ev = {"touchpoint_id": "t1", "contact_id": "c1", "ts": "2026-11-02T10:00:00Z",
    ...       "channel": "webinar", "kind": "form_fill"}
    >>> collect_events(wh, [ev, ev]).headline()[0]
    '2 events: 1 accepted, 1 duplicates (already stored), 0 rejected; 1 new contacts'
    """
    config = config or default_config()
    latest = (received_at or now()) + max_future
    stages = set(config.stage_names) | set(config.exits)
    teams = set(config.teams)
    outcome: list[dict[str, Any]] = []
    touches: dict[str, dict[str, Any]] = {}
    moves: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for i, raw in enumerate(events):
        row = {"index": i, "type": None, "id": None, "status": "rejected", "reason": ""}
        outcome.append(row)
        try:
            kind, clean = _validate(raw, stages=stages, teams=teams, latest=latest)
        except InputError as exc:
            row["type"] = raw.get("type") if isinstance(raw, dict) else None
            row["id"] = _event_id(raw)
            row["reason"] = str(exc)
            continue
        row["type"] = kind
        if kind == "touchpoint":
            row["id"] = clean["touchpoint_id"]
            store, key = touches, clean["touchpoint_id"]
        else:
            row["id"] = f"{clean['contact_id']}|{clean['stage']}|{clean['ts'].isoformat()}"
            store, key = moves, (clean["contact_id"], clean["stage"], clean["ts"])
        if key in store:
            row.update(status="duplicate", reason="repeated in this batch")
            continue
        store[key] = clean
        row.update(status="accepted", _key=key)
    stored_touches, stored_moves, known = _stored(wh, touches, moves)
    for row in outcome:
        key = row.pop("_key", None)
        if key is None:
            continue
        if (row["type"] == "touchpoint" and key in stored_touches) or (
            row["type"] == "stage" and key in stored_moves
        ):
            row.update(status="duplicate", reason="already stored")
    new_touches = [v for k, v in touches.items() if k not in stored_touches]
    new_moves = [v for k, v in moves.items() if k not in stored_moves]
    contacts = _new_contacts(new_touches, new_moves, known)
    tables: dict[str, pd.DataFrame] = {}
    if not contacts.empty:
        tables["contacts"] = contacts
    if new_touches:
        tables["touchpoints"] = pd.DataFrame(new_touches)
    if new_moves:
        tables["stage_events"] = pd.DataFrame(new_moves).assign(source=SOURCE)
    if tables:
        wh.load_many(tables)
    frame = pd.DataFrame(outcome, columns=["index", "type", "id", "status", "reason"])
    counts = frame["status"].value_counts()
    return EventsResult(
        events=frame,
        received=len(frame),
        accepted=int(counts.get("accepted", 0)),
        duplicates=int(counts.get("duplicate", 0)),
        rejected=int(counts.get("rejected", 0)),
        contacts_created=len(contacts),
    )


def _validate(
    raw: Any, *, stages: set[str], teams: set[str], latest: datetime
) -> tuple[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise InputError(f"an event must be a JSON object, not {type(raw).__name__}")
    kind = raw.get("type")
    if kind is None:
        kind = "touchpoint" if "touchpoint_id" in raw else "stage" if "stage" in raw else None
    if kind not in TYPES:
        raise InputError(
            "'type' must be 'touchpoint' or 'stage' (or give touchpoint_id or stage)"
            + (did_you_mean(str(kind), TYPES) if kind is not None else "")
        )
    required = TOUCHPOINT_REQUIRED if kind == "touchpoint" else STAGE_REQUIRED
    optional = TOUCHPOINT_OPTIONAL if kind == "touchpoint" else STAGE_OPTIONAL
    allowed = (*required, *optional, "type")
    for key in raw:
        if key not in allowed:
            raise InputError(
                f"unknown field '{key}' for a {kind} event; fields are {', '.join(allowed)}."
                + did_you_mean(str(key), allowed)
            )
    missing = [k for k in required if raw.get(k) in (None, "")]
    if missing:
        raise InputError(
            f"missing {', '.join(missing)} (a {kind} event needs {', '.join(required)})"
        )
    clean: dict[str, Any] = {}
    for key in (*required, *optional):
        value = raw.get(key)
        if value is None or key == "ts":
            continue
        if key == "cost":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"cost must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise InputError(f"cost must be 0 or more, not {value!r}")
            clean[key] = float(value)
            continue
        if not isinstance(value, str):
            raise InputError(f"{key} must be text, not {type(value).__name__}")
        value = value.strip()
        if not value and key in required:
            raise InputError(f"{key} is empty")
        if len(value) > MAX_TEXT:
            raise InputError(f"{key} is longer than {MAX_TEXT} characters")
        clean[key] = value or None
    clean["ts"] = _timestamp(raw["ts"], latest)
    if kind == "stage" and clean["stage"] not in stages:
        raise InputError(
            f"stage '{clean['stage']}' is not a stage or exit of the config "
            f"({', '.join(sorted(stages))})." + did_you_mean(clean["stage"], sorted(stages))
        )
    for key in ("team", "owner_team"):
        if clean.get(key) is not None and clean[key] not in teams:
            raise InputError(
                f"{key} '{clean[key]}' is not a team of the config ({', '.join(sorted(teams))})."
                + did_you_mean(clean[key], sorted(teams))
            )
    if clean.get("direction") not in (None, "inbound", "outbound"):
        raise InputError(f"direction must be inbound or outbound, not {clean['direction']!r}")
    return kind, clean


def _timestamp(value: Any, latest: datetime) -> datetime:
    if not isinstance(value, str):
        raise InputError(f"ts must be an ISO 8601 text like 2026-11-02T10:00:00Z, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"ts {value!r} is not an ISO 8601 time; write it like 2026-11-02T10:00:00Z"
        ) from None
    if parsed.tzinfo is not None:
        parsed = (parsed - parsed.utcoffset()).replace(tzinfo=None)
    parsed = parsed.replace(microsecond=0)
    if parsed < EARLIEST:
        raise InputError(f"ts {value} is before 1990; check the clock or the field")
    if parsed > latest:
        raise InputError(f"ts {value} is in the future (server time {latest:%Y-%m-%dT%H:%M}Z)")
    return parsed


def _event_id(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    value = raw.get("touchpoint_id")
    if value is None and raw.get("contact_id") is not None:
        return f"{raw.get('contact_id')}|{raw.get('stage')}|{raw.get('ts')}"
    return None if value is None else str(value)[:MAX_TEXT]


def _stored(wh: Warehouse, touches: dict, moves: dict) -> tuple[set, set, set]:
    """Keys of this batch already stored, and which of its contacts exist.

    The batch's ids go to the engine as one small in-memory table joined against
    the stored ones (a literal IN-list of thousands of ids compiles slowly).
    """
    stored_touches: set = set()
    stored_moves: set = set()
    contact_ids = sorted({v["contact_id"] for v in touches.values()} | {k[0] for k in moves})
    if touches:
        tp = wh.table("touchpoints")
        ids = ibis.memtable(pa.table({"touchpoint_id": pa.array(list(touches), pa.string())}))
        found = tp.semi_join(ids, "touchpoint_id").select("touchpoint_id").execute()
        stored_touches = set(found["touchpoint_id"])
    if moves:
        ev = wh.table("stage_events")
        who = ibis.memtable(
            pa.table({"contact_id": pa.array(sorted({k[0] for k in moves}), pa.string())})
        )
        found = ev.semi_join(who, "contact_id").select("contact_id", "stage", "ts").execute()
        stored_moves = {
            (c, s, pd.Timestamp(t).to_pydatetime())
            for c, s, t in zip(found["contact_id"], found["stage"], found["ts"], strict=True)
        }
    known: set = set()
    if contact_ids:
        ct = wh.table("contacts")
        who = ibis.memtable(pa.table({"contact_id": pa.array(contact_ids, pa.string())}))
        found = ct.semi_join(who, "contact_id").select("contact_id").execute()
        known = set(found["contact_id"])
    return stored_touches, stored_moves, known


def _new_contacts(touches: list[dict], moves: list[dict], known: set) -> pd.DataFrame:
    """One contact per unknown contact id, created at its earliest event."""
    cols = ["contact_id", "created_at", "account_id", "source_channel"]
    rows = [
        (t["contact_id"], t["ts"], t.get("account_id"), t["channel"])
        for t in touches
        if t["contact_id"] not in known
    ] + [(m["contact_id"], m["ts"], None, None) for m in moves if m["contact_id"] not in known]
    if not rows:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(rows, columns=cols).sort_values(["contact_id", "created_at"])
    first = frame.groupby("contact_id", as_index=False).first()
    return first[cols]
