"""The demo company as the canonical Arrow tables: ids for row numbers, timestamps for
day offsets."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fullfunnel.demo import roles
from fullfunnel.demo.company import (
    CHANNELS,
    COUNTRIES,
    DAY_US,
    INDUSTRIES,
    STAGE_NAMES,
    STAGE_OWNER,
    TITLES,
)

if TYPE_CHECKING:
    from fullfunnel.demo.simulate import _Company, _Events, _Opportunities


def _ids(prefix: str, n: int) -> pa.Array:
    digits = max(7, len(str(n)))
    text = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), digits, "0")
    return pc.binary_join_element_wise(prefix, text, "")


def _ts(origin: datetime, days: np.ndarray) -> pa.Array:
    """Days since ``origin`` (NaN for none) as UTC timestamps without a zone."""
    days = np.asarray(days, dtype=float)
    base = np.int64((origin - datetime(1970, 1, 1)).total_seconds() * 1_000_000)
    us = base + np.nan_to_num(days * DAY_US).astype(np.int64)
    return pa.array(us, pa.timestamp("us"), mask=np.isnan(days))


def _tables(
    co: _Company,
    events: _Events,
    touches: pa.Table,
    opps: _Opportunities,
    spend: pa.Table,
    targets: pa.Table,
    truth: list[tuple[str, str, float]],
    untouched: np.ndarray,
    stuck: tuple[np.ndarray, np.ndarray],
) -> dict[str, pa.Table]:
    """The canonical tables of the company, ids in place of row numbers."""
    origin, acc_of = co.origin, co.acc_of
    contact_ids = _ids("C", co.n)
    account_ids = _ids("A", co.acc_industry.size)
    stage_idx = co.stage_idx
    stuck_who, stuck_stage = stuck
    return {
        "accounts": pa.table(
            {
                "account_id": account_ids,
                "name": pc.binary_join_element_wise("Account ", account_ids, ""),
                "industry": pa.array(np.array(INDUSTRIES)[co.acc_industry]),
                "employees": pa.array(co.acc_employees),
                "country": pa.array(np.array(COUNTRIES)[co.acc_country]),
                "created_at": _ts(origin, co.acc_created),
            }
        ),
        "contacts": pa.table(
            {
                "contact_id": contact_ids,
                "account_id": pc.take(account_ids, pa.array(acc_of)),
                "created_at": _ts(origin, co.created),
                "source_channel": pa.array(np.array(CHANNELS)[co.channel]),
                "owner_team": pa.array(STAGE_OWNER[np.maximum(stage_idx, 0)]),
                "owner_id": pa.array(np.char.add("rep", (acc_of % 12).astype(str))),
                "title": pa.array(np.array([t[0] for t in TITLES])[co.title]),
                "industry": pa.array(np.array(INDUSTRIES)[co.acc_industry[acc_of]]),
                "employees": pa.array(co.acc_employees[acc_of]),
                "country": pa.array(np.array(COUNTRIES)[co.acc_country[acc_of]]),
            }
        ),
        "stage_events": pa.table(
            {
                "contact_id": pc.take(contact_ids, pa.array(events.contact)),
                "stage": pa.array(STAGE_NAMES[events.stage]),
                "ts": _ts(origin, events.at),
                "owner_team": pa.array(STAGE_OWNER[events.stage]),
                "source": pa.array(np.full(events.contact.size, "demo")),
            }
        ),
        "touchpoints": touches.set_column(
            1, "contact_id", pc.take(contact_ids, touches["contact_id"])
        ).set_column(2, "account_id", pc.take(account_ids, touches["account_id"])),
        "opportunities": pa.table(
            {
                "opportunity_id": opps.ids,
                "account_id": pc.take(account_ids, pa.array(acc_of[opps.rows])),
                "contact_id": pc.take(contact_ids, pa.array(opps.rows)),
                "created_at": _ts(origin, co.reached[opps.rows, 4]),
                "stage": pa.array(opps.stage),
                "status": pa.array(opps.status),
                "amount": pa.array(opps.amount),
                "close_date": _ts(origin, opps.close),
                "owner_id": pa.array(np.char.add("ae", (opps.rows % 8).astype(str))),
                "owner_team": pa.array(np.full(opps.rows.size, "sales")),
            }
        ),
        "opportunity_history": opps.history,
        "opportunity_contacts": roles.opportunity_contacts(co, opps, touches, contact_ids),
        "spend": spend,
        "targets": targets,
        "demo_truth": _truth_table(
            [*truth, *roles.TRUTH], contact_ids, untouched, stuck_who, stuck_stage
        ),
    }


def _truth_table(
    truth: list[tuple[str, str, float]],
    contact_ids: pa.Array,
    untouched: np.ndarray,
    stuck_who: np.ndarray,
    stuck_stage: np.ndarray,
) -> pa.Table:
    """The planted facts, then each untouched MQL and each stuck contact as a fact."""
    return pa.concat_tables(
        [
            pa.table(
                {
                    "fact": [f for f, _, _ in truth],
                    "subject": [s for _, s, _ in truth],
                    "value": [float(v) for _, _, v in truth],
                }
            ),
            pa.table(
                {
                    "fact": pa.array(np.full(untouched.size, "untouched_mql")),
                    "subject": pc.take(contact_ids, pa.array(untouched)),
                    "value": pa.array(np.ones(untouched.size)),
                }
            ),
            pa.table(
                {
                    "fact": pa.array(np.full(stuck_who.size, "stuck")),
                    "subject": pc.take(contact_ids, pa.array(stuck_who)),
                    "value": pa.array(stuck_stage.astype(float)),
                }
            ),
        ]
    )
