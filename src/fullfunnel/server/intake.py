"""The event-collection route: ``POST /api/events``, a batch of touchpoints and
stage events, checked and stored by :func:`fullfunnel.server.events.collect_events`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from fullfunnel.result import Result
from fullfunnel.server.service import HTTPError, Service


def add_event_route(app: FastAPI, svc: Service, write_access: Callable) -> None:
    """``POST /api/events`` (needs a key with the write scope)."""
    wh, config = svc.wh, svc.config

    @app.post(
        "/api/events",
        tags=["events"],
        summary="Collect a batch of touchpoint and stage events",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": EVENTS_SCHEMA}},
            }
        },
    )
    async def events(request: Request, _: None = Depends(write_access)) -> Response:
        from fullfunnel.server.events import collect_events

        body = await _read_body(request, svc.settings["max_body_bytes"])
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise HTTPError(400, f"the body is not valid JSON: {exc!s:.200}") from None
        batch = payload.get("events") if isinstance(payload, dict) else payload
        if not isinstance(batch, list):
            raise HTTPError(
                400, 'send {"events": [ ... ]} or a JSON array of event objects'
            )  # fmt: skip
        limit = svc.settings["max_batch_events"]
        if len(batch) > limit:
            raise HTTPError(413, f"{len(batch):,} events in one batch; send at most {limit:,}")
        if not batch:
            raise HTTPError(400, "the batch is empty; send at least one event")

        def store() -> Result:
            with svc.lock:
                outcome = collect_events(
                    wh,
                    batch,
                    config=config,
                    max_future=timedelta(minutes=svc.settings["max_future_minutes"]),
                )
                if outcome.accepted:
                    svc.forget()
                return outcome

        outcome = await run_in_threadpool(store)
        return _json(outcome.to_dict())


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPError(400, "Content-Length is not a number") from None
        if size > limit:
            raise HTTPError(413, f"the body is {size:,} bytes; send at most {limit:,}")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise HTTPError(413, f"the body is over {limit:,} bytes; send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, default=str), media_type="application/json")


EVENTS_SCHEMA = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            "items": {
                "oneOf": [
                    {
                        "title": "touchpoint",
                        "type": "object",
                        "required": ["touchpoint_id", "contact_id", "ts", "channel", "kind"],
                        "properties": {
                            "type": {"const": "touchpoint"},
                            "touchpoint_id": {"type": "string", "description": "event id"},
                            "contact_id": {"type": "string"},
                            "ts": {"type": "string", "format": "date-time"},
                            "channel": {"type": "string"},
                            "kind": {"type": "string", "example": "form_fill"},
                            "account_id": {"type": "string"},
                            "campaign": {"type": "string"},
                            "tactic": {"type": "string"},
                            "team": {"type": "string"},
                            "direction": {"enum": ["inbound", "outbound"]},
                            "cost": {"type": "number", "minimum": 0},
                        },
                    },
                    {
                        "title": "stage",
                        "type": "object",
                        "required": ["type", "contact_id", "stage", "ts"],
                        "properties": {
                            "type": {"const": "stage"},
                            "contact_id": {"type": "string"},
                            "stage": {"type": "string", "example": "mql"},
                            "ts": {"type": "string", "format": "date-time"},
                            "owner_team": {"type": "string"},
                            "owner_id": {"type": "string"},
                        },
                    },
                ]
            },
        }
    },
    "example": {
        "events": [
            {
                "touchpoint_id": "web-81723",
                "contact_id": "C0001234",
                "ts": "2026-11-23T10:15:00Z",
                "channel": "webinar",
                "kind": "form_fill",
            },
            {
                "type": "stage",
                "contact_id": "C0001234",
                "stage": "mql",
                "ts": "2026-11-23T10:16:00Z",
            },
        ]
    },
}
