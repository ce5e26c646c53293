"""Fuzzed ingest: generated CSV / JSON-lines bytes for every canonical table.

Whatever the bytes, the public loader either raises ``InputError`` (a fatal
problem, warehouse untouched) or accounts for every row: rows in = loaded +
rejected, and nothing it loaded breaks the table's schema (required columns
set, keys unique, dates in range, stages and statuses from the vocabulary).

``FULLFUNNEL_FUZZ_EXAMPLES`` raises the number of examples per test for a
one-off deeper run (see docs/reliability.md).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import fullfunnel as ff
from fullfunnel.config import default_config
from fullfunnel.errors import InputError
from fullfunnel.schema import TABLES, table_spec

EXAMPLES = int(os.environ.get("FULLFUNNEL_FUZZ_EXAMPLES", "6"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
    # a failure prints its input; shrinking generated files can take minutes
    phases=[Phase.explicit, Phase.generate],
)
LOADABLE = [t for t in TABLES if t not in ("loads", "rejects", "pipeline_snapshots")]
CONTACTS = ["C1", "C2", "C3"]
OPPORTUNITIES = ["O1", "O2"]
CONFIG = default_config()
STAGES = (*CONFIG.stage_names, *CONFIG.exits)

# --- values -------------------------------------------------------------------------

ZONES = ["Z", "+00:00", "+0000", "-05:00", "+05:45", "+14:00", "-12:00", "+01", ""]
when = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))


@st.composite
def timestamps(draw) -> str:
    t = draw(when)
    shape = draw(st.integers(0, 6))
    if shape == 0:
        return t.strftime("%Y-%m-%d")
    if shape == 1:
        return t.isoformat(sep=draw(st.sampled_from(" T"))) + draw(st.sampled_from(ZONES))
    if shape == 2:  # epoch milliseconds
        return str(int((t - datetime(1970, 1, 1)) / timedelta(milliseconds=1)))
    if shape == 3:  # ambiguous or foreign formats
        return t.strftime(draw(st.sampled_from(["%d/%m/%Y", "%m/%d/%Y %H:%M", "%d.%m.%Y"])))
    if shape == 4:
        return t.strftime("%Y-%m-%d %H:%M:%S") + draw(st.sampled_from(["", " UTC", " PST"]))
    if shape == 5:
        return draw(st.sampled_from(["2024-02-30", "2023-13-01", "0000-00-00", "24:00", "now"]))
    return draw(st.sampled_from(["2024-03-05", "2024-03-05 10:00:00", "2024-03-05T10:00:00Z"]))


numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["1e400", "-1e400", "nan", "inf", "-0", "1,234.50", "$12", "€ 3", "0x1F", "1_000", "--1"]
    ),
)
odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20
) | st.sampled_from(['"', '""', "a,b", "a\nb", "a\r\nb", "\\", "'", "\t", " ", "NULL", "\x00"])


def value_for(table: str, column: str):
    """A strategy of raw text for one column: plausible values and garbage."""
    spec = table_spec(table)
    dtype = str(spec.schema[column]) if column in spec.columns else "string"
    plausible: st.SearchStrategy
    if dtype.startswith(("timestamp", "date")):
        plausible = timestamps()
    elif dtype.startswith(("int", "float")):
        plausible = numbers
    elif column == "stage":
        plausible = st.sampled_from([*STAGES, "Lead", " MQL ", "won", "stage9"])
    elif column == "status":
        plausible = st.sampled_from(["open", "won", "lost", "Won", "closed"])
    elif column == "contact_id":
        plausible = st.sampled_from([*CONTACTS, "C9"])
    elif column == "opportunity_id" and table == "opportunity_history":
        plausible = st.sampled_from([*OPPORTUNITIES, "O9"])
    elif column.endswith("_id"):
        plausible = st.sampled_from(["K1", "K2", "K3", "K4", " K1", ""])
    else:
        plausible = st.sampled_from(["paid_search", "email", "DE", "Acme, Inc.", ""])
    return st.one_of(plausible, plausible, odd_text, st.just(""))


@st.composite
def tables(draw, table: str) -> tuple[list[str], list[list[str]]]:
    """A header (some canonical columns, shuffled, maybe extras) and ragged-ish rows."""
    spec = table_spec(table)
    required = list(spec.required)
    columns = list(required)
    optional = [c for c in spec.columns if c not in required]
    if optional:
        columns += draw(st.lists(st.sampled_from(optional), unique=True, max_size=4))
    if draw(st.integers(0, 9)) == 0 and columns:
        columns.remove(draw(st.sampled_from(columns)))  # a required column missing
    extras = draw(st.lists(st.sampled_from(["Notes", "x y", "", "_ff_row", 'a"b']), max_size=2))
    columns = draw(st.permutations(columns + extras))
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        row = [draw(value_for(table, c)) for c in columns]
        ragged = draw(st.integers(0, 11))
        if ragged == 0 and row:
            row = row[:-1]
        elif ragged == 1:
            row = [*row, "extra"]
        rows.append(row)
    return columns, rows


ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]


@st.composite
def csv_bytes(draw, table: str) -> bytes:
    columns, rows = draw(tables(table))
    out = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    writer = csv.writer(out, quoting=quoting, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(columns)
    writer.writerows(rows)
    text = out.getvalue()
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    mangle = draw(st.integers(0, 9))
    if mangle == 0:  # arbitrary bytes spliced in
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=12)) + data[at:]
    elif mangle == 1 and data:  # truncated mid-row
        data = data[: draw(st.integers(1, len(data)))]
    return data


@st.composite
def jsonl_bytes(draw, table: str) -> bytes:
    columns, rows = draw(tables(table))
    lines = []
    for row in rows:
        obj = dict(zip(columns, row, strict=False))
        for k in list(obj):
            shape = draw(st.integers(0, 9))
            if shape == 0:
                obj[k] = None
            elif shape == 1:
                obj[k] = draw(st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False))
            elif shape == 2:
                obj[k] = draw(st.sampled_from([[1, 2], {"a": 1}, True]))
        lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
    if draw(st.integers(0, 7)) == 0:
        lines.append(draw(st.sampled_from(["{", "[1, 2]", "not json", '{"a": 1}{"b": 2}'])))
    return ("\n".join(lines) + draw(st.sampled_from(["", "\n"]))).encode("utf-8")


# --- the check --------------------------------------------------------------------------


_WH = None


def fresh_warehouse():
    """One in-memory warehouse for the module, emptied and seeded for each example."""
    global _WH
    if _WH is None:
        _WH = ff.connect("duckdb://:memory:")
    raw = _WH.con.con
    for table in TABLES:
        raw.execute(f'DELETE FROM "{table}"')
    _WH.load("contacts", {"contact_id": CONTACTS, "created_at": [datetime(2024, 1, 1)] * 3})
    _WH.load(
        "opportunities",
        {
            "opportunity_id": OPPORTUNITIES,
            "created_at": [datetime(2024, 2, 1)] * 2,
            "status": ["open", "won"],
            "amount": [100.0, 200.0],
        },
    )
    return _WH


def snapshot(wh) -> tuple:
    """Row count and content checksum of every table, in one query."""
    parts = " UNION ALL ".join(
        f"SELECT '{t}', count(*), coalesce(sum(hash(t)), 0) FROM \"{t}\" AS t" for t in TABLES
    )
    return tuple(sorted(wh.con.con.execute(parts).fetchall()))


def check_schema(wh, table: str, loaded: int) -> None:
    """Nothing loaded breaks the table's rules."""
    spec = table_spec(table)
    frame = wh.table(table).to_pandas()
    for col in spec.required:
        assert frame[col].notna().all(), f"{table}.{col} has an empty required value"
    assert not frame.duplicated(list(spec.key)).any(), f"{table}: duplicate key"
    seeded = {"contacts": CONTACTS, "opportunities": OPPORTUNITIES}.get(table, [])
    assert len(seeded) <= len(frame) <= len(seeded) + loaded
    latest = datetime.now() + timedelta(days=2)
    for col, dtype in zip(spec.schema.names, spec.schema.types, strict=True):
        if dtype.is_timestamp() and col != "close_date" and table != "scores":
            values = frame[col].dropna()
            assert (values >= datetime(1990, 1, 1)).all(), f"{table}.{col} before 1990"
            assert (values <= latest).all(), f"{table}.{col} in the future"
        if dtype.is_floating():
            assert all(math.isfinite(x) for x in frame[col].dropna()), f"{table}.{col} not finite"
    if table == "stage_events":
        assert set(frame.stage) <= set(STAGES)
    if table == "opportunities":
        assert set(frame.status) <= {"open", "won", "lost"}
    if table in ("touchpoints", "stage_events"):
        assert set(frame.contact_id) <= set(CONTACTS)
    if table == "opportunity_history":
        assert set(frame.opportunity_id) <= set(OPPORTUNITIES)


def load_and_check(data: bytes, table: str, suffix: str, tmp_path) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    wh = fresh_warehouse()
    before = snapshot(wh)
    try:
        result = ff.ingest_files(wh, [path], table=table)
    except InputError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()
        assert snapshot(wh) == before, "a failed load changed the warehouse"
        return
    assert result.rows_in == result.rows_loaded + result.rows_rejected
    assert wh.count("rejects") == result.rows_rejected
    loads = wh.table("loads").to_pandas()
    assert len(loads) == 1
    assert (int(loads.rows_in[0]), int(loads.rows_loaded[0])) == (
        result.rows_in,
        result.rows_loaded,
    )
    check_schema(wh, table, result.rows_loaded)


@pytest.mark.parametrize("table", LOADABLE)
@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["csv", "jsonl"]))
def test_fuzzed_file_is_loaded_or_refused_cleanly(table, data, fmt, tmp_path):
    make = csv_bytes if fmt == "csv" else jsonl_bytes
    load_and_check(data.draw(make(table)), table, f".{fmt}", tmp_path)


@FUZZ
@given(data=st.binary(min_size=1, max_size=300), table=st.sampled_from(LOADABLE))
def test_arbitrary_bytes_are_loaded_or_refused_cleanly(data, table, tmp_path):
    assume(data.strip())
    load_and_check(data, table, ".csv", tmp_path)
