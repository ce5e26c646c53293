"""The canonical tables: every source is loaded into these, every analysis reads them.

Timestamps are UTC, stored without a time zone (engines disagree on zoned types;
UTC by convention is portable). IDs are strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.schema as sch

from fullfunnel.errors import InputError, did_you_mean


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns and types, its key, which columns must be set."""

    name: str
    schema: sch.Schema
    key: tuple[str, ...]
    required: tuple[str, ...]
    extensible: bool = False  # may carry extra columns a source brings

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)


def _spec(name, cols, key, required, extensible=False) -> TableSpec:
    return TableSpec(name, ibis.schema(cols), tuple(key), tuple(required), extensible)


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in [
        _spec(
            "accounts",
            {
                "account_id": "string",
                "name": "string",
                "industry": "string",
                "employees": "int64",
                "country": "string",
                "created_at": "timestamp",
            },
            ["account_id"],
            ["account_id"],
        ),
        _spec(
            "contacts",
            {
                "contact_id": "string",
                "account_id": "string",
                "created_at": "timestamp",
                "source_channel": "string",
                "owner_team": "string",
                "owner_id": "string",
                "title": "string",
                "industry": "string",
                "employees": "int64",
                "country": "string",
            },
            ["contact_id"],
            ["contact_id", "created_at"],
            extensible=True,
        ),
        _spec(
            "touchpoints",
            {
                "touchpoint_id": "string",
                "contact_id": "string",
                "account_id": "string",
                "ts": "timestamp",
                "channel": "string",
                "campaign": "string",
                "tactic": "string",
                "kind": "string",
                "team": "string",
                "direction": "string",
                "cost": "float64",
            },
            ["touchpoint_id"],
            ["touchpoint_id", "contact_id", "ts", "channel", "kind"],
        ),
        _spec(
            "stage_events",
            {
                "contact_id": "string",
                "stage": "string",
                "ts": "timestamp",
                "owner_team": "string",
                "owner_id": "string",
                "source": "string",
            },
            ["contact_id", "stage", "ts"],
            ["contact_id", "stage", "ts"],
        ),
        _spec(
            "opportunities",
            {
                "opportunity_id": "string",
                "account_id": "string",
                "contact_id": "string",
                "created_at": "timestamp",
                "stage": "string",
                "status": "string",
                "amount": "float64",
                "close_date": "timestamp",
                "owner_id": "string",
                "owner_team": "string",
            },
            ["opportunity_id"],
            # an open deal may have no amount yet, and an export may lack the created
            # date (such a deal counts at every as-of); closed ones need an amount
            ["opportunity_id", "status"],
            extensible=True,  # e.g. probability and forecast_category, where a CRM has them
        ),
        # who sells: an owner (sales agent) with manager, office and team, the
        # breakdowns of --by owner|manager|office
        _spec(
            "owners",
            {
                "owner_id": "string",
                "name": "string",
                "manager": "string",
                "office": "string",
                "team": "string",
            },
            ["owner_id"],
            ["owner_id"],
        ),
        # an undated lead list with a converted flag: conversion by source and origin
        _spec(
            "leads",
            {"lead_id": "string", "source": "string", "origin": "string", "converted": "boolean"},
            ["lead_id"],
            ["lead_id", "converted"],
            extensible=True,  # the list's other columns, for breakdowns
        ),
        _spec(
            "products",
            {"product": "string", "series": "string", "price": "float64"},
            ["product"],
            ["product"],
        ),
        _spec(
            "opportunity_history",
            {
                "opportunity_id": "string",
                "stage": "string",
                "ts": "timestamp",
                "amount": "float64",
                "close_date": "timestamp",
            },
            ["opportunity_id", "stage", "ts"],
            ["opportunity_id", "stage", "ts"],
        ),
        # the buying group: each contact on a deal and the role it plays there (the
        # CRM's value, e.g. Salesforce's OpportunityContactRole; [buying_group] maps it)
        _spec(
            "opportunity_contacts",
            {
                "opportunity_id": "string",
                "contact_id": "string",
                "role": "string",
                "is_primary": "boolean",
            },
            ["opportunity_id", "contact_id"],
            ["opportunity_id", "contact_id"],
        ),
        # what each load of opportunities showed of a deal, when it changed: the
        # pipeline's own history where the CRM exports none (warehouse.snapshots)
        _spec(
            "pipeline_snapshots",
            {
                "opportunity_id": "string",
                "ts": "timestamp",
                "stage": "string",
                "status": "string",
                "amount": "float64",
                "close_date": "timestamp",
            },
            ["opportunity_id", "ts"],
            ["opportunity_id", "ts"],
        ),
        _spec(
            "spend",
            {
                "date": "date",
                "channel": "string",
                "campaign": "string",
                "tactic": "string",
                "segment": "string",
                "team": "string",
                "amount": "float64",
            },
            ["date", "channel", "campaign", "tactic"],
            ["date", "channel", "amount"],
        ),
        _spec(
            "targets",
            {
                "period_start": "date",
                "period_end": "date",
                "metric": "string",
                "amount": "float64",
            },
            ["period_start", "period_end", "metric"],
            ["period_start", "period_end", "metric", "amount"],
        ),
        _spec(
            "loads",
            {
                "load_id": "string",
                "source": "string",
                "file": "string",
                "sha256": "string",
                "rows_in": "int64",
                "rows_loaded": "int64",
                "rows_rejected": "int64",
                "started_at": "timestamp",
                "finished_at": "timestamp",
                "status": "string",
            },
            ["load_id"],
            ["load_id"],
        ),
        _spec(
            "rejects",
            {
                "load_id": "string",
                "source": "string",
                "row_number": "int64",
                "raw": "string",
                "reason": "string",
            },
            ["load_id", "row_number"],
            ["load_id", "row_number"],
        ),
        # which load last wrote each row (by its key as text): what unloading removes
        _spec(
            "load_keys",
            {"load_id": "string", "table_name": "string", "key": "string"},
            ["table_name", "key"],
            ["load_id", "table_name", "key"],
        ),
        # per synced object: the newest modification time loaded, and the ids at it
        _spec(
            "sync_state",
            {
                "source": "string",
                "object": "string",
                "cursor": "timestamp",
                "cursor_ids": "string",
                "pulled": "int64",
                "synced_at": "timestamp",
            },
            ["source", "object"],
            ["source", "object", "synced_at"],
        ),
        _spec(
            "scores",
            {
                "contact_id": "string",
                "score": "float64",
                "tier": "string",
                "reasons": "string",
                "target_stage": "string",
                "horizon_days": "int64",
                "model_version": "string",
                "scored_at": "timestamp",
            },
            ["contact_id"],
            ["contact_id", "score", "model_version", "scored_at"],
        ),
        _spec(
            "api_keys",
            {
                "key_id": "string",
                "name": "string",
                "key_hash": "string",
                "scopes": "string",
                "created_at": "timestamp",
                "revoked_at": "timestamp",
            },
            ["key_id"],
            ["key_id", "key_hash", "created_at"],
        ),
        # per alert rule and subject: whether it fires, since when, and its last reading
        _spec(
            "alert_state",
            {
                "rule": "string",
                "firing": "boolean",
                "since": "timestamp",
                "value": "float64",
                "message": "string",
                "checked_at": "timestamp",
            },
            ["rule"],
            ["rule", "firing", "checked_at"],
        ),
        # every alert and digest per target: what was sent, so nothing is sent twice
        _spec(
            "notifications",
            {
                "event": "string",
                "target": "string",
                "label": "string",
                "subject": "string",
                "status": "string",
                "error": "string",
                "sent_at": "timestamp",
            },
            ["event", "target"],
            ["event", "target", "status", "sent_at"],
        ),
        _spec(
            "demo_truth",
            {"fact": "string", "subject": "string", "value": "float64"},
            ["fact", "subject"],
            ["fact", "subject"],
        ),
    ]
}


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise InputError(
            f"unknown table '{name}'; the canonical tables are {', '.join(TABLES)}."
            + did_you_mean(name, list(TABLES))
        ) from None
