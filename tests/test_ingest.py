"""Loading generic files: mappings, the malformed corpus, idempotency, atomicity, upserts."""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fullfunnel as ff
from fullfunnel.config import config_from_dict
from fullfunnel.errors import InputError
from fullfunnel.ingest import ingest_files, list_loads, list_rejects

DATA = Path(__file__).parent / "data"
MALFORMED = DATA / "malformed"
CASES = tomllib.loads((MALFORMED / "manifest.toml").read_text("utf-8"))["case"]


def _contacts(wh) -> None:
    wh.load("contacts", {"contact_id": ["C1", "C2"], "created_at": [datetime(2024, 1, 1)] * 2})


def _snapshot(wh) -> dict[str, int]:
    return {t: wh.count(t) for t in ("accounts", "contacts", "touchpoints", "loads", "rejects")}


def _write_mapping(path: Path, values: dict) -> Path:
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()), "utf-8")
    return path


@pytest.mark.slow  # the whole malformed corpus; the fuzz tests and the cases below keep watch
@pytest.mark.parametrize("case", CASES, ids=[f"{c['file']}-{i}" for i, c in enumerate(CASES)])
def test_malformed_corpus_accounting(case, wh, tmp_path):
    path = MALFORMED / case["file"]
    if case.get("generated"):
        path = tmp_path / case["file"]
        big = "x" * (1 << 20)
        path.write_text(f'contact_id,created_at,title\nC7,2024-03-05,"{big}"\nC8,2024-03-06,CTO\n')
    mapping = _write_mapping(tmp_path / "m.toml", case["mapping"]) if "mapping" in case else None
    _contacts(wh)
    before = _snapshot(wh)
    if "error" in case:
        with pytest.raises(InputError) as info:
            ingest_files(wh, [path], table=case["table"], mapping=mapping)
        assert case["error"] in str(info.value)
        assert case["file"] in str(info.value) or "table" in str(info.value)
        assert _snapshot(wh) == before
        return
    result = ingest_files(wh, [path], table=case["table"], mapping=mapping)
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (
        case["rows_in"],
        case["rows_loaded"],
        case["rows_rejected"],
    )
    assert result.rows_in == result.rows_loaded + result.rows_rejected
    assert dict(zip(result.reasons.reason, result.reasons.rows, strict=True)) == case.get(
        "reasons", {}
    )
    rejects = list_rejects(wh).rejects
    assert rejects.row_number.tolist() == case.get("reject_rows", [])
    assert rejects.raw.notna().all() and rejects.reason.notna().all()
    load = list_loads(wh).loads.iloc[0]
    assert (load.rows_in, load.rows_loaded, load.rows_rejected) == (
        case["rows_in"],
        case["rows_loaded"],
        case["rows_rejected"],
    )


def test_raw_text_of_a_rejected_row_is_kept(wh):
    _contacts(wh)
    ingest_files(wh, [MALFORMED / "ragged.csv"], table="accounts")
    ingest_files(wh, [MALFORMED / "wrong_types.csv"], table="contacts")
    raw = dict(zip(*[list_rejects(wh).rejects[c] for c in ("reason", "raw")], strict=True))
    assert raw["line 3: ragged row: more fields than the header"] == "A2,Globex,DE,extra"
    by_row = list_rejects(wh).rejects.set_index(["source", "row_number"]).raw
    assert json.loads(by_row[("file:contacts", 3)]) == {
        "contact_id": "C3",
        "created_at": "2024-03-06",
        "employees": "many",
        "country": "DE",
    }


def test_time_zones_are_normalised_to_utc(wh):
    ingest_files(wh, [MALFORMED / "crlf_tz.csv"], table="contacts")
    created = wh.table("contacts").to_pandas().created_at
    assert set(created) == {datetime(2024, 3, 5, 14, 22, 11)}


def test_mapping_renames_parses_maps_values_and_sets_constants(wh, tmp_path):
    _contacts(wh)
    src = tmp_path / "touches.csv"
    src.write_text(
        "Id;Person;When;Source\n"
        "1;C1;05.03.2024 09:30;Paid Search\n"
        "2;C2;06.03.2024 18:00;Webinars\n"
        "3;C2;07.03.2024 08:00;Carrier Pigeon\n",
        "utf-8",
    )
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        'table = "touchpoints"\ndelimiter = ";"\ntimezone = "Europe/Berlin"\n'
        '[columns]\ntouchpoint_id = "Id"\ncontact_id = "Person"\n'
        'ts = { from = "When", format = "%d.%m.%Y %H:%M" }\nchannel = "Source"\n'
        '[constants]\nkind = "form_fill"\n'
        '[values.channel]\n"Paid Search" = "paid_search"\nwebinars = "webinar"\n',
        "utf-8",
    )
    result = ingest_files(wh, [src], mapping=mapping)
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (3, 3, 0)
    tp = wh.table("touchpoints").to_pandas().sort_values("touchpoint_id")
    assert tp.channel.tolist() == ["paid_search", "webinar", "Carrier Pigeon"]
    assert tp.kind.unique().tolist() == ["form_fill"]
    # Berlin is UTC+1 in March
    assert tp.ts.iloc[0] == datetime(2024, 3, 5, 8, 30)


def test_wide_export_becomes_stage_events(wh, tmp_path):
    src = tmp_path / "people.csv"
    src.write_text(
        "id,created,mql date,sql date,won\n"
        "P1,2024-01-02,2024-01-05,2024-01-20,\n"
        "P2,2024-01-03,,2024-02-01,2024-03-01\n"
        "P3,2024-01-04,,,\n",
        "utf-8",
    )
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        'table = "contacts"\n[columns]\ncontact_id = "id"\ncreated_at = "created"\n'
        '[stages]\nmql = "mql date"\nsql = "sql date"\ncustomer = "won"\n',
        "utf-8",
    )
    result = ingest_files(wh, [src], mapping=mapping)
    assert result.rows_loaded == 3
    ev = wh.table("stage_events").to_pandas()
    assert sorted(zip(ev.contact_id, ev.stage, strict=True)) == [
        ("P1", "mql"),
        ("P1", "sql"),
        ("P2", "customer"),
        ("P2", "sql"),
    ]
    funnel = ff.funnel(wh, as_of=datetime(2024, 6, 1)).stages.set_index("stage").reached
    assert funnel[["lead", "mql", "sql", "customer"]].tolist() == [3, 2, 2, 1]


def test_personal_fields_are_dropped_or_hashed(wh, tmp_path):
    src = tmp_path / "people.csv"
    src.write_text("contact_id,created_at,Email\nP1,2024-01-02,Ann@Example.com\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('table = "contacts"\n[columns]\nemail = "Email"\n')
    with pytest.raises(InputError, match="personal data is not loaded"):
        ingest_files(wh, [src], mapping=mapping)
    config = config_from_dict({"ingest": {"personal": "hash"}})
    ingest_files(wh, [src], mapping=mapping, config=config)
    row = wh.table("contacts").to_pandas().iloc[0]
    assert "email" not in row.index
    assert row.email_sha256 == hashlib.sha256(b"ann@example.com").hexdigest()


def test_parquet_and_jsonl_read_by_the_engine(wh, tmp_path):
    table = pa.table(
        {
            "account_id": ["A1", "A2"],
            "employees": pa.array([10, None], pa.int64()),
            "created_at": pa.array([datetime(2024, 1, 1), None], pa.timestamp("us")),
        }
    )
    pq.write_table(table, tmp_path / "a.parquet")
    (tmp_path / "b.jsonl").write_text(
        '{"account_id": "B1", "employees": 5}\n{"account_id": "B2", "employees": "five"}\n'
    )
    r1 = ingest_files(wh, [tmp_path / "a.parquet"], table="accounts")
    r2 = ingest_files(wh, [tmp_path / "b.jsonl"], table="accounts")
    assert (r1.rows_loaded, r2.rows_loaded, r2.rows_rejected) == (2, 1, 1)
    acc = wh.table("accounts").to_pandas().set_index("account_id")
    assert acc.loc["A1", "created_at"] == datetime(2024, 1, 1)
    assert acc.loc["B1", "employees"] == 5


def test_loading_the_same_file_twice_changes_nothing(wh):
    first = ingest_files(wh, [MALFORMED / "duplicate_keys.csv"], table="accounts")
    before = _snapshot(wh)
    again = ingest_files(wh, [MALFORMED / "duplicate_keys.csv"], table="accounts")
    assert again.files.status.tolist() == ["skipped"]
    assert "already loaded" in again.headline()[0]
    assert first.files.load_id[0] in again.headline()[0]
    assert _snapshot(wh) == before


def test_a_newer_export_upserts_by_key(wh, tmp_path):
    old, new = tmp_path / "v1.csv", tmp_path / "v2.csv"
    old.write_text("contact_id,created_at,title,mql\nC1,2024-01-01,CEO,\nC2,2024-01-02,CTO,\n")
    new.write_text(
        "contact_id,created_at,title,mql\nC2,2024-01-02,VP Eng,2024-02-01\nC3,2024-01-03,CFO,\n"
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text('table = "contacts"\n[stages]\nmql = "mql"\n')
    ingest_files(wh, [old], mapping=mapping)
    ingest_files(wh, [new], mapping=mapping)
    ingest_files(wh, [tmp_path / "v2.csv"], mapping=mapping)  # same bytes: skipped
    contacts = wh.table("contacts").to_pandas().set_index("contact_id")
    assert contacts.title.to_dict() == {"C1": "CEO", "C2": "VP Eng", "C3": "CFO"}
    assert wh.count("stage_events") == 1
    assert wh.count("loads") == 2


def test_a_failure_mid_load_leaves_the_warehouse_as_before(wh, tmp_path, monkeypatch):
    _contacts(wh)
    ingest_files(wh, [MALFORMED / "orphans.csv"], table="touchpoints")
    before = _snapshot(wh)
    engine = wh.engine
    original = engine.upsert
    calls = []

    def failing(spec, arrow, *, replace):
        calls.append(spec.name)
        if len(calls) == 3:  # rows and rejects written, then the loads record fails
            raise RuntimeError("disk full")
        return original(spec, arrow, replace=replace)

    monkeypatch.setattr(engine, "upsert", failing)
    src = tmp_path / "more.csv"
    shutil.copy(MALFORMED / "orphans.csv", src)
    with src.open("a") as fh:
        fh.write("T9,C1,2024-03-09 10:00,email,email\n")
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_files(wh, [src], table="touchpoints")
    assert calls == ["touchpoints", "rejects", "loads"]
    assert _snapshot(wh) == before
    monkeypatch.setattr(engine, "upsert", original)
    result = ingest_files(wh, [src], table="touchpoints")  # not recorded: loads again
    assert (result.rows_in, result.rows_loaded) == (4, 3)


def test_nul_characters_are_rejected_on_every_engine(engine_wh, tmp_path):
    # PostgreSQL text cannot hold a NUL: every engine sends such a row to rejects,
    # a checked row and a row the reader refuses alike, and loads the rest
    path = tmp_path / "contacts.csv"
    path.write_bytes(
        b"contact_id,email,created_at,title\n"
        b"C1,a@x.com,2024-01-01,VP\x00Sales\n"
        b"C2,b@x.com,2024-01-02,CEO\n"
        b"C3,c@x.com,2024-01-03,C\x00O,ragged\n"
    )
    result = ingest_files(engine_wh, [path], table="contacts")
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (3, 1, 2)
    rejects = list_rejects(engine_wh).rejects.set_index("row_number")
    assert rejects.loc[1, "reason"] == (
        "NUL character in column title (a zero byte; remove it from the file)"
    )
    assert "VP\\u0000Sales" in rejects.loc[1, "raw"]
    assert "C\\u0000O,ragged" in rejects.loc[3, "raw"]
    assert engine_wh.table("contacts").contact_id.to_pandas().tolist() == ["C2"]


def test_fatal_problems_name_the_file_and_the_fix(wh, tmp_path):
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        ingest_files(wh, [tmp_path / "nope.csv"], table="accounts")
    with pytest.raises(InputError, match=r"unknown table 'acounts'.*Did you mean 'accounts'"):
        ingest_files(wh, [MALFORMED / "bom.csv"], table="acounts")
    with pytest.raises(InputError, match=r"^table: say which table to load"):
        ingest_files(wh, [MALFORMED / "bom.csv"])
    bad = tmp_path / "m.toml"
    bad.write_text('tabel = "accounts"\n')
    with pytest.raises(InputError, match=r"unknown key 'tabel'.*Did you mean 'table'"):
        ingest_files(wh, [MALFORMED / "bom.csv"], mapping=bad)


def test_conformance_same_counts_on_every_engine(engine_wh):
    engine_wh.load(
        "contacts", {"contact_id": ["C1", "C2"], "created_at": [datetime(2024, 1, 1)] * 2}
    )
    result = ingest_files(engine_wh, [MALFORMED / "orphans.csv"], table="touchpoints")
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert engine_wh.count("touchpoints") == 2
    assert engine_wh.count("rejects") == 1
    again = ingest_files(engine_wh, [MALFORMED / "orphans.csv"], table="touchpoints")
    assert again.files.status.tolist() == ["skipped"]
    assert engine_wh.count("loads") == 1
    # a wide export: contacts and their stage events land together
    hubspot = ff.ingest_hubspot(
        engine_wh, [DATA / "hubspot" / "hubspot-crm-exports-all-contacts-2024-12-31.csv"]
    )
    assert (hubspot.rows_in, hubspot.rows_loaded) == (30, 30)
    assert engine_wh.count("contacts") == 2 + 30
    assert engine_wh.count("stage_events") == 30 + 16 + 10 + 6 + 3 + 1


def test_a_refusal_names_file_columns_and_values_on_one_line(wh, tmp_path):
    """A quoted header or value may hold a line break; the message escapes it, so the
    error stays one line (the CLI prints it as one)."""
    headers = tmp_path / "headers.csv"
    headers.write_text('"stage\nname",ts\nmql,2024-01-02\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        ingest_files(wh, [headers], table="stage_events")
    assert "\n" not in str(info.value) and "stage\\nname" in str(info.value)
    dates = tmp_path / "dates.csv"
    dates.write_text('contact_id,created_at\nC1,"01/02/2024\nlate"\n', encoding="utf-8")
    with pytest.raises(InputError, match="could be day/month") as info:
        ingest_files(wh, [dates], table="contacts")
    assert "\n" not in str(info.value) and "01/02/2024\\nlate" in str(info.value)
