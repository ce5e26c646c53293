"""The conformance suite: the same data on every engine gives the same answers.

One hand-built company (a dozen contacts whose journeys cover implied stages,
recycling and re-MQL, exits, ties, open/won/lost deals and events after
``as_of``) is loaded once per engine (DuckDB, Spark: the engines of
``engine_wh``), and the timeline, funnel, velocity and pipeline are compared
value for value with the DuckDB result. A 2,000-contact demo company checks the
funnel at a less hand-picked scale (sub-second timestamps included). The other
analyses run their own ``engine_wh`` tests; this suite covers the core they are
all built on, and stays a few seconds per test on Spark.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

import fullfunnel as ff
from conftest import ENGINES, new_warehouse
from fullfunnel.warehouse import Warehouse

AS_OF = datetime(2026, 6, 30)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


CONTACTS = pd.DataFrame(
    [
        # contact, created, channel, team
        ("c01", "2026-01-02 09:00", "seo", "marketing"),
        ("c02", "2026-01-05 10:30", "seo", "bdr"),
        ("c03", "2026-01-10 08:00", "paid_search", "sales"),
        ("c04", "2026-01-20 12:00", "paid_search", "sales"),
        ("c05", "2026-02-01 00:00", "webinar", "am"),
        ("c06", "2026-02-03 15:45", "webinar", "bdr"),
        ("c07", "2026-02-14 11:11", "referral", "sales"),
        ("c08", "2026-03-01 09:00", None, "marketing"),
        ("c09", "2026-03-15 17:00", "referral", "bdr"),
        ("c10", "2026-04-02 06:00", "seo", "marketing"),
        ("c11", "2026-05-20 13:00", "events", "sales"),
        ("c12", "2026-07-05 10:00", "events", "marketing"),  # created after as_of
    ],
    columns=["contact_id", "created_at", "source_channel", "owner_team"],
).assign(created_at=lambda f: pd.to_datetime(f.created_at))

EVENTS = [
    # c01: straight down the funnel to advocate
    ("c01", "mql", "2026-01-10 09:00"),
    ("c01", "sal", "2026-01-11 10:00"),
    ("c01", "sql", "2026-01-20 10:00"),
    ("c01", "opportunity", "2026-02-05 10:00"),
    ("c01", "customer", "2026-04-01 10:00"),
    ("c01", "advocate", "2026-06-01 10:00"),
    # c02: mql, recycled, back as mql (re-MQL), then sal
    ("c02", "mql", "2026-01-15 09:00"),
    ("c02", "recycled", "2026-01-25 09:00"),
    ("c02", "mql", "2026-03-10 09:00"),
    ("c02", "sal", "2026-03-12 09:00"),
    # c03: created straight as sql (lead, mql, sal implied), lost as opportunity
    ("c03", "sql", "2026-01-10 08:00"),
    ("c03", "opportunity", "2026-01-30 08:00"),
    ("c03", "closed_lost", "2026-03-15 08:00"),
    # c04: disqualified at mql
    ("c04", "mql", "2026-02-01 12:00"),
    ("c04", "disqualified", "2026-02-20 12:00"),
    # c05: sal never recorded (implied from sql), won
    ("c05", "mql", "2026-02-05 00:00"),
    ("c05", "sql", "2026-02-15 00:00"),
    ("c05", "opportunity", "2026-03-01 00:00"),
    ("c05", "customer", "2026-05-15 00:00"),
    # c06: stuck at mql, and an mql after as_of that must not count
    ("c06", "mql", "2026-02-10 15:45"),
    ("c06", "sal", "2026-08-01 00:00"),
    # c07: two events at the same instant (tie: the later stage wins)
    ("c07", "mql", "2026-02-20 11:11"),
    ("c07", "sal", "2026-02-20 11:11"),
    ("c07", "sql", "2026-03-05 11:11"),
    # c08: only a lead, no events
    # c09: recycled at the end (back to lead)
    ("c09", "mql", "2026-03-20 17:00"),
    ("c09", "recycled", "2026-04-10 17:00"),
    # c10: open opportunity
    ("c10", "mql", "2026-04-03 06:00"),
    ("c10", "sal", "2026-04-04 06:00"),
    ("c10", "sql", "2026-04-20 06:00"),
    ("c10", "opportunity", "2026-05-01 06:00"),
    # c11: mql within the SLA
    ("c11", "mql", "2026-06-29 13:00"),
    # c12: after as_of entirely
    ("c12", "mql", "2026-07-06 10:00"),
]
STAGE_EVENTS = pd.DataFrame(EVENTS, columns=["contact_id", "stage", "ts"]).assign(
    ts=lambda f: pd.to_datetime(f.ts), source="crm"
)

OPPORTUNITIES = pd.DataFrame(
    [
        # id, contact, created, stage, status, amount, close
        ("o1", "c01", "2026-02-05 10:00", "closed_won", "won", 42_000.0, "2026-04-01 10:00"),
        ("o2", "c03", "2026-01-30 08:00", "closed_lost", "lost", 18_500.0, "2026-03-15 08:00"),
        ("o3", "c05", "2026-03-01 00:00", "closed_won", "won", 27_250.0, "2026-05-15 00:00"),
        ("o4", "c10", "2026-05-01 06:00", "proposal", "open", 30_000.0, None),
        ("o5", "c07", "2026-03-20 11:11", "discovery", "open", 12_000.0, None),
        # won after as_of: still open as of then
        ("o6", "c02", "2026-04-01 09:00", "closed_won", "won", 9_900.0, "2026-07-15 00:00"),
        ("o7", "c09", "2026-02-01 17:00", "closed_won", "won", 15_000.0, "2026-03-01 17:00"),
    ],
    columns=[
        "opportunity_id",
        "contact_id",
        "created_at",
        "stage",
        "status",
        "amount",
        "close_date",
    ],
).assign(
    created_at=lambda f: pd.to_datetime(f.created_at),
    close_date=lambda f: pd.to_datetime(f.close_date),
)


def _load(wh: Warehouse) -> Warehouse:
    wh.load_many(
        {"contacts": CONTACTS, "stage_events": STAGE_EVENTS, "opportunities": OPPORTUNITIES}
    )
    return wh


@pytest.fixture(scope="module")
def reference() -> Warehouse:
    """The hand-built company on DuckDB: the answers every engine must give."""
    return _load(ff.connect("duckdb://:memory:"))


@pytest.fixture(scope="module", params=ENGINES)
def loaded(request) -> Iterator[Warehouse]:
    """The hand-built company on each engine, loaded once per module (as ``engine_wh``
    does per test: a Spark load takes seconds, the comparisons a fraction of that)."""
    wh = _load(new_warehouse(request.param, request))
    yield wh
    wh.close()


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, key: list[str]) -> None:
    """Equal value for value: same columns, rows matched on ``key``, floats to 1e-9."""
    assert list(actual.columns) == list(expected.columns)
    a = _normal(actual).sort_values(key, kind="stable").reset_index(drop=True)
    e = _normal(expected).sort_values(key, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, e, check_dtype=False, rtol=1e-9, atol=1e-9)


def _normal(frame: pd.DataFrame) -> pd.DataFrame:
    """One representation per value: numbers as float, times as naive ns, nulls as NaN/None."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            s = pd.to_datetime(s)
            if s.dt.tz is not None:
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            out[col] = s.astype("datetime64[ns]")
        elif pd.api.types.is_bool_dtype(s) or s.map(type).isin([bool, np.bool_]).all():
            out[col] = s.astype(bool)
        elif pd.api.types.is_numeric_dtype(s):
            out[col] = pd.to_numeric(s).astype("float64")
        else:
            out[col] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out)


# --- the hand-built company ----------------------------------------------------------


def test_timeline(loaded, reference):
    got = ff.timeline(loaded, as_of=AS_OF).execute()
    want = ff.timeline(reference, as_of=AS_OF).execute()
    assert len(want) == 11  # c12 was created after as_of
    assert_same(got, want, ["contact_id"])
    row = want.set_index("contact_id")
    assert row.loc["c03", "mql_implied"] and row.loc["c05", "sal_implied"]
    assert row.loc["c02", "entries_mql"] == 2
    assert row.loc["c09", "current_stage"] == "lead"
    assert row.loc["c07", "current_stage"] == "sql"
    assert row.loc["c03", "exit"] == "closed_lost"
    assert pd.isna(row.loc["c06", "reached_sal_at"])  # the sal came after as_of


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"by": "source_channel"},
        {
            "by": "owner_team",
            "since": "2026-01-15",
            "until": "2026-04-30",
            "cohort": "quarter",
            "within_days": 20,
        },
    ],
    ids=["all", "by", "by-period-quarter-within"],
)
def test_funnel(loaded, reference, options):
    got = ff.funnel(loaded, as_of=AS_OF, **options)
    want = ff.funnel(reference, as_of=AS_OF, **options)
    by = options.get("by")
    key = [by] if by else []
    assert_same(got.stages, want.stages, [*key, "stage"])
    assert_same(got.cohorts, want.cohorts, [*key, "stage", "cohort_start"])
    assert got.headline() == want.headline()


def test_funnel_reference_values(reference):
    """The reference itself is right: a few numbers checked by hand."""
    stages = ff.funnel(reference, as_of=AS_OF).stages.set_index("stage")
    assert stages.loc["lead", "reached"] == 11
    assert stages.loc["mql", "reached"] == 10  # c03 implied; c08 never; c12 after as_of
    assert stages.loc["mql", "entries"] == 10  # c03's is implied (no event); c02 entered twice
    assert stages.loc["customer", "reached"] == 2
    assert stages.loc["opportunity", "exited"] == 1  # c03 closed lost


@pytest.mark.parametrize("by", [None, "source_channel"])
def test_velocity(loaded, reference, by):
    got = ff.velocity(loaded, as_of=AS_OF, by=by).steps
    want = ff.velocity(reference, as_of=AS_OF, by=by).steps
    key = ["group", "from_stage", "to_stage"] if by else ["from_stage", "to_stage"]
    assert_same(got, want, key)


@pytest.mark.parametrize("period", [{}, {"since": "2026-03-01", "until": "2026-05-31"}])
def test_pipeline(loaded, reference, period):
    got = ff.pipeline(loaded, as_of=AS_OF, **period)
    want = ff.pipeline(reference, as_of=AS_OF, **period)
    assert_same(got.open_by_stage, want.open_by_stage, ["stage"])
    scalars = ["open_count", "open_amount", "won_count", "lost_count", "won_amount"]
    scalars += ["win_rate", "average_deal", "sales_cycle_median_days"]
    for name in scalars:
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12), name


def test_pipeline_reference_values(reference):
    p = ff.pipeline(reference, as_of=AS_OF)
    assert p.open_count == 3  # o4, o5 and o6 (won only after as_of)
    assert p.won_count == 3 and p.lost_count == 1


# --- a small demo company ----------------------------------------------------------


DEMO_AS_OF = datetime(2026, 11, 23)


@pytest.fixture(scope="module")
def demo_reference() -> Warehouse:
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=2_000, seed=11, as_of=DEMO_AS_OF)
    return wh


def test_demo_funnel(engine_wh, demo_reference):
    tables = {
        name: demo_reference.table(name).to_pyarrow()
        for name in ("contacts", "stage_events", "opportunities")
    }
    engine_wh.load_many(tables)
    options = {"by": "source_channel", "since": "2025-06-01", "until": "2026-06-30"}
    got = ff.funnel(engine_wh, as_of=DEMO_AS_OF, **options)
    want = ff.funnel(demo_reference, as_of=DEMO_AS_OF, **options)
    assert want.stages["reached"].sum() > 1_000
    assert_same(got.stages, want.stages, ["source_channel", "stage"])
    assert_same(got.cohorts, want.cohorts, ["source_channel", "stage", "cohort_start"])
