"""Files as CRMs and spreadsheets write them: date formats found from the column,
Excel serial days, booleans and placeholders, separators, BOM, CRLF, a trailing empty
column, open deals without amount, value mappings of the empty cell. Through the CLI."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.cli import app


def _ingest(db: Path, path: Path, *args: str):
    out = CliRunner().invoke(app, ["--db", str(db), "ingest", "csv", str(path), *args])
    assert "Traceback" not in out.output
    return out


def _rows(db: Path, sql: str) -> list[tuple]:
    wh = ff.connect(f"duckdb:///{db}")  # the CLI's settings: one DuckDB instance per file
    try:
        return wh.con.con.execute(sql).fetchall()
    finally:
        wh.close()


def _write(path: Path, text: str, *, bom: bool = False, crlf: bool = False) -> Path:
    data = text.replace("\n", "\r\n") if crlf else text
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    return path


def test_day_first_month_first_and_iso_columns_are_told_apart_by_the_whole_column(tmp_path):
    db = tmp_path / "w.duckdb"
    f = _write(
        tmp_path / "c.csv",
        "contact_id,created_at,became_mql,became_sql\n"
        "C1,03-04-2025,04/03/2025,2025-04-03\n"
        "C2,25-04-2025,04/25/2025,2025-04-25\n",
    )
    m = _write(
        tmp_path / "m.toml",
        'table = "contacts"\n[stages]\nmql = "became_mql"\nsql = "became_sql"\n',
    )
    out = _ingest(db, f, "-m", str(m))
    assert out.exit_code == 0, out.output
    text = click.unstyle(out.output)
    assert "created_at: dates read as %d-%m-%Y (a value has day 25)" in text
    assert "became_mql: dates read as %m/%d/%Y" in text
    assert _rows(db, "SELECT contact_id, created_at FROM contacts ORDER BY 1") == [
        ("C1", datetime(2025, 4, 3)),
        ("C2", datetime(2025, 4, 25)),
    ]
    # both stages of each contact on the same day, whichever way the column wrote it
    events = _rows(db, "SELECT contact_id, stage, ts FROM stage_events ORDER BY 1, 2")
    assert [(c, s, t.date().isoformat()) for c, s, t in events] == [
        ("C1", "mql", "2025-04-03"),
        ("C1", "sql", "2025-04-03"),
        ("C2", "mql", "2025-04-25"),
        ("C2", "sql", "2025-04-25"),
    ]


def test_an_unresolvable_date_column_is_one_error_naming_file_column_and_option(tmp_path):
    db = tmp_path / "w.duckdb"
    f = _write(tmp_path / "c.csv", "contact_id,created_at\nC1,03/04/2025\nC2,05/06/2025\n")
    out = _ingest(db, f, "-t", "contacts")
    assert out.exit_code == 1
    assert "c.csv" in out.output and "'created_at'" in out.output
    assert "--date-format" in out.output and "could be day/month" in out.output
    assert not db.exists() or _rows(db, "SELECT count(*) FROM loads") == [(0,)]
    ok = _ingest(db, f, "-t", "contacts", "--date-format", "%m/%d/%Y")
    assert ok.exit_code == 0, ok.output
    assert _rows(db, "SELECT min(created_at) FROM contacts") == [(datetime(2025, 3, 4),)]


def test_a_column_of_which_no_value_is_a_date_is_refused_not_every_row_rejected(tmp_path):
    db = tmp_path / "w.duckdb"
    f = _write(tmp_path / "c.csv", "contact_id,created_at\nC1,March 4 2025\nC2,May 6 2025\n")
    out = _ingest(db, f, "-t", "contacts")
    assert out.exit_code == 1
    assert "'created_at': no value is a date" in out.output and "--date-format" in out.output
    ok = _ingest(db, f, "-t", "contacts", "--date-format", "%B %d %Y")
    assert ok.exit_code == 0 and "2 loaded" in click.unstyle(ok.output)


def test_excel_serial_days_in_a_date_column(tmp_path):
    db = tmp_path / "w.duckdb"
    f = _write(tmp_path / "c.csv", "contact_id,created_at\nC1,45123\nC2,45123.5\n")
    out = _ingest(db, f, "-t", "contacts")
    assert out.exit_code == 0, out.output
    assert "Excel serial day numbers" in click.unstyle(out.output)
    assert _rows(db, "SELECT created_at FROM contacts ORDER BY 1") == [
        (datetime(2023, 7, 16),),
        (datetime(2023, 7, 16, 12),),
    ]


def test_booleans_in_their_spellings(tmp_path):
    db = tmp_path / "w.duckdb"
    spellings = [
        ("TRUE", "TRUE"), ("True", "True"), ("true", "1"), ("1", "yes"), ("yes", "Y"),
        ("Y", "y"), ("FALSE", "TRUE"), ("no", "Yes"), ("0", "0"), ("N", "n"), ("False", "No"),
    ]  # fmt: skip
    rows = "".join(
        f"O{i},Custom Stage,100,2024-02-01,{won},{closed},2024-01-01T10:00:00.000+0000\n"
        for i, (won, closed) in enumerate(spellings)
    )
    header = "Id,StageName,Amount,CloseDate,IsWon,IsClosed,CreatedDate\n"
    f = _write(tmp_path / "Opportunity.csv", header + rows)
    out = CliRunner().invoke(app, ["--db", str(db), "ingest", "salesforce", str(f)])
    assert out.exit_code == 0, out.output
    order = "length(opportunity_id), opportunity_id"  # O0 … O10 as written
    got = _rows(db, f"SELECT status FROM opportunities ORDER BY {order}")
    assert [s for (s,) in got] == ["won"] * 6 + ["lost"] * 2 + ["open"] * 3


def test_placeholders_are_read_as_empty(tmp_path):
    db = tmp_path / "w.duckdb"
    f = _write(
        tmp_path / "c.csv",
        "contact_id,created_at,country,industry,employees\n"
        "C1,2024-01-01,Select,--None--,N/A\n"
        "C2,2024-01-01,-,,\n"
        "C3,2024-01-01,DE,Software,12\n"
        "C4,N/A,n/a,SELECT,-\n",
    )
    out = _ingest(db, f, "-t", "contacts")
    assert out.exit_code == 0, out.output
    rows = _rows(db, "SELECT contact_id, country, industry, employees FROM contacts ORDER BY 1")
    assert rows == [
        ("C1", None, None, None),
        ("C2", None, None, None),
        ("C3", "DE", "Software", 12),
    ]
    # an N/A creation date is a missing one, not a bad date
    assert _rows(db, "SELECT row_number, reason FROM rejects") == [
        (4, "missing created_at (column created_at)")
    ]


def test_semicolon_tab_bom_crlf_and_a_trailing_empty_column_load(tmp_path):
    db = tmp_path / "w.duckdb"
    files = [
        _write(tmp_path / "a.csv", "account_id;name;employees\nA1;Acme, Inc;5\n", bom=True),
        _write(tmp_path / "b.tsv", "account_id\tname\tcountry\nA2\tBeta\tDE\n", crlf=True),
        # the header ends with a separator and the rows do not: one field short
        _write(tmp_path / "c.csv", "account_id,name,\nA3,Gamma\nA4,Delta\n", crlf=True),
        # the header and the rows end with a separator
        _write(tmp_path / "d.csv", "account_id,name,\nA5,Eps,\n", bom=True, crlf=True),
    ]
    for f in files:
        out = _ingest(db, f, "-t", "accounts")
        assert out.exit_code == 0, out.output
    assert _rows(db, "SELECT account_id, name, employees, country FROM accounts ORDER BY 1") == [
        ("A1", "Acme, Inc", 5, None),
        ("A2", "Beta", None, "DE"),
        ("A3", "Gamma", None, None),
        ("A4", "Delta", None, None),
        ("A5", "Eps", None, None),
    ]
    assert _rows(db, "SELECT count(*) FROM rejects") == [(0,)]
    # a value under the unnamed column: the rows still load (it is not a canonical column)
    raw = _write(tmp_path / "e.csv", "account_id,name,\nA6,Zeta,x\nA7,Eta\n")
    out = _ingest(db, raw, "-t", "accounts")
    assert out.exit_code == 0 and "2 loaded, 0 rejected" in click.unstyle(out.output)


def test_open_deals_without_amount_or_close_date_load_closed_ones_need_an_amount(tmp_path):
    db = tmp_path / "w.duckdb"
    f = _write(
        tmp_path / "o.csv",
        "opportunity_id,created_at,stage,status,amount,close_date\n"
        "O1,2024-01-01,proposal,open,,\n"
        "O2,2024-01-02,proposal,open,N/A,2024-06-30\n"
        "O3,2024-01-03,won,won,100,2024-02-01\n"
        "O4,2024-01-04,won,won,,2024-02-01\n"
        "O5,2024-01-05,lost,lost,,2024-02-01\n",
    )
    out = _ingest(db, f, "-t", "opportunities")
    assert out.exit_code == 0, out.output
    assert _rows(db, "SELECT opportunity_id, amount, close_date FROM opportunities ORDER BY 1") == [
        ("O1", None, None),
        ("O2", None, datetime(2024, 6, 30)),
        ("O3", 100.0, datetime(2024, 2, 1)),
    ]
    assert _rows(db, "SELECT row_number, reason FROM rejects ORDER BY 1") == [
        (4, "missing amount (column amount): a won or lost deal needs one"),
        (5, "missing amount (column amount): a won or lost deal needs one"),
    ]


def test_a_value_mapping_of_the_empty_cell_for_a_number(tmp_path):
    db = tmp_path / "w.duckdb"
    f = _write(
        tmp_path / "o.csv",
        "opportunity_id,created_at,status,amount,employees\n"
        "O1,2024-01-01,won,,\nO2,2024-01-02,won,tbd,\nO3,2024-01-03,won,7,\n",
    )
    m = _write(
        tmp_path / "m.toml",
        'table = "opportunities"\n[values.amount]\n""="0"\n"TBD" = "1"\n'
        '[values.status]\nwon = "won"\n',
    )
    out = _ingest(db, f, "-m", str(m))
    assert out.exit_code == 0, out.output
    assert _rows(db, "SELECT opportunity_id, amount FROM opportunities ORDER BY 1") == [
        ("O1", 0.0),
        ("O2", 1.0),
        ("O3", 7.0),
    ]
    bad = _write(tmp_path / "bad.toml", 'table = "opportunities"\nvalues = { amount = 5 }\n')
    out = _ingest(db, f, "-m", str(bad))
    assert out.exit_code == 1 and "[values.amount] must be a table" in out.output
