import sys

import pandas as pd
import pytest

import fullfunnel as ff
import postgres_server
from conftest import new_warehouse
from fullfunnel.errors import InputError, MissingExtraError, WarehouseError


def contacts(*ids, created="2024-01-01", **extra):
    return pd.DataFrame({"contact_id": list(ids), "created_at": pd.Timestamp(created), **extra})


def test_connect_creates_every_canonical_table(tmp_path):
    wh = ff.connect(tmp_path / "x.duckdb")
    from fullfunnel.schema import TABLES

    assert set(TABLES) <= set(wh.con.list_tables())
    assert wh.count("touchpoints") == 0


def test_upsert_by_key_last_row_wins(engine_wh):
    engine_wh.load("contacts", contacts("a", "b", source_channel=["x", "y"]))
    engine_wh.load("contacts", contacts("b", "c", source_channel=["z", "w"]))
    engine_wh.load("contacts", contacts("c", "c", source_channel=["first", "last"]))
    got = engine_wh.table("contacts").order_by("contact_id").execute()
    assert list(got.contact_id) == ["a", "b", "c"]
    assert list(got.source_channel) == ["x", "z", "last"]


def test_arg_max_is_the_value_at_the_greatest_key(engine_wh):
    """The engine's arg max (DuckDB's own function) gives what Ibis's argmax gives: the
    value of the row with the greatest key, null when that row's value is null."""
    frame = pd.DataFrame(
        {
            "contact_id": ["a1", "a2", "a3", "b1", "b2", "c1"],
            "account_id": ["a", "a", "a", "b", "b", "c"],
            "created_at": pd.to_datetime(
                ["2024-01-01", "2024-03-01", "2024-02-01", "2024-05-01", "2024-04-01", "2024-01-01"]
            ),
            "source_channel": ["x", None, "y", "p", "q", "z"],
        }
    )
    engine_wh.load("contacts", frame)
    t = engine_wh.table("contacts")
    got = (
        t.group_by("account_id")
        .aggregate(
            ours=engine_wh.arg_max(t.source_channel, t.created_at),
            ibis=t.source_channel.argmax(t.created_at),
        )
        .order_by("account_id")
        .execute()
    )
    for col in ("ours", "ibis"):
        assert [None if pd.isna(v) else v for v in got[col]] == [None, "p", "z"]


def test_loading_twice_changes_nothing(engine_wh):
    frame = contacts("a", "b")
    engine_wh.load("contacts", frame)
    engine_wh.load("contacts", frame)
    assert engine_wh.count("contacts") == 2


def test_replace_empties_first(wh):
    wh.load("contacts", contacts("a", "b"))
    wh.load("contacts", contacts("c"), replace=True)
    assert list(wh.table("contacts").contact_id.execute()) == ["c"]


def test_failed_multi_table_load_leaves_warehouse_as_it_was(engine_wh):
    engine_wh.load("contacts", contacts("a"))
    events = pd.DataFrame(
        {"contact_id": ["a"], "stage": ["mql"], "ts": [pd.Timestamp("2024-01-02")]}
    )
    bad = pd.DataFrame({"touchpoint_id": ["t1"]})  # required columns missing
    with pytest.raises(InputError, match="missing required column"):
        engine_wh.load_many({"contacts": contacts("b"), "stage_events": events, "touchpoints": bad})
    assert engine_wh.count("contacts") == 1
    assert engine_wh.count("stage_events") == 0


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_failure_inside_the_transaction_rolls_back(engine, request, monkeypatch):
    wh = new_warehouse(engine, request)
    wh.load("contacts", contacts("a"))
    original = wh.engine.upsert
    calls = []

    def failing(spec, arrow, *, replace):
        calls.append(spec.name)
        if spec.name == "stage_events":
            raise RuntimeError("disk full")
        return original(spec, arrow, replace=replace)

    monkeypatch.setattr(wh.engine, "upsert", failing)
    events = pd.DataFrame(
        {"contact_id": ["a"], "stage": ["mql"], "ts": [pd.Timestamp("2024-01-02")]}
    )
    with pytest.raises(RuntimeError):
        wh.load_many({"contacts": contacts("b"), "stage_events": events})
    assert calls == ["contacts", "stage_events"]
    assert wh.count("contacts") == 1
    wh.close()


def test_extra_contact_columns_are_kept(engine_wh):
    engine_wh.load("contacts", contacts("a", persona=["champion"]))
    engine_wh.load("contacts", contacts("b"))
    got = engine_wh.table("contacts").order_by("contact_id").execute()
    assert list(got.persona.fillna("-")) == ["champion", "-"]


def test_unknown_columns_rejected_where_not_extensible(wh):
    frame = pd.DataFrame(
        {"contact_id": ["a"], "stage": ["mql"], "ts": [pd.Timestamp("2024-01-01")], "x": [1]}
    )
    with pytest.raises(InputError, match="unknown column"):
        wh.load("stage_events", frame)


def test_time_zones_normalised_to_utc(wh):
    frame = contacts("a", created="2024-01-01 09:00")
    frame["created_at"] = frame["created_at"].dt.tz_localize("Europe/Berlin")
    wh.load("contacts", frame)
    assert wh.table("contacts").created_at.execute()[0] == pd.Timestamp("2024-01-01 08:00")


def test_null_key_is_refused(wh):
    with pytest.raises(InputError, match="contact_id is empty in 1 row"):
        wh.load(
            "contacts",
            pd.DataFrame({"contact_id": ["a", None], "created_at": pd.Timestamp("2024-01-01")}),
        )


def test_unknown_table(wh):
    with pytest.raises(InputError, match="Did you mean 'contacts'"):
        wh.table("contact")


def test_file_persists_and_env_default(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    monkeypatch.setenv("FULLFUNNEL_DB", str(path))
    wh = ff.connect()
    wh.load("contacts", contacts("a"))
    wh.close()
    assert ff.connect(f"duckdb://{path}").count("contacts") == 1


@pytest.mark.spark
def test_a_local_spark_warehouse_is_found_again_by_the_next_process(tmp_path):
    """Spark's own catalog lives in memory: without the metastore that fullfunnel
    keeps in the warehouse directory, the next process neither saw the tables nor
    could create them again (their files were in the way)."""
    import json
    import subprocess

    pytest.importorskip("pyspark", reason="install the spark extra to run Spark tests")
    db = f"spark://local[1]?database=revenue&warehouse={tmp_path / 'wh'}"
    first, second = tmp_path / "contacts.csv", tmp_path / "more.csv"
    first.write_text("contact_id,created_at\nc1,2026-01-05\nc2,2026-01-07\n")
    second.write_text("contact_id,created_at\nc2,2026-01-08\nc3,2026-02-01\n")

    def fullfunnel(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "fullfunnel", "--db", db, *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    fullfunnel("ingest", "csv", str(first), "--table", "contacts")
    # the next process (one, as each Spark start costs many seconds) sees the first
    # load, writes over it and reads both loads back
    script = (
        "import json, fullfunnel as ff\n"
        "from fullfunnel.ingest import ingest_files\n"
        f"wh = ff.connect({db!r})\n"
        f"before = wh.count('contacts')\n"
        f"ingest_files(wh, [{str(second)!r}], fmt='csv', table='contacts')\n"  # c2 again
        "q = ff.data_quality(wh).to_dict()\n"
        "print(json.dumps([before, q['contacts'], q['loads'], q['rows_loaded']]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, 3, 2, 4]
    assert (tmp_path / "wh" / "metastore_db").is_dir()


def test_a_spark_warehouse_that_will_not_open_says_why(tmp_path, monkeypatch):
    import fullfunnel.warehouse.spark as warehouse

    class Busy:  # the session of a warehouse whose metastore another process holds
        def sql(self, query):
            raise RuntimeError("HiveException: Unable to instantiate SessionHiveMetaStoreClient")

    monkeypatch.setattr(warehouse, "spark_session", lambda master, **conf: Busy())
    with pytest.raises(WarehouseError, match="another process may have it open") as err:
        ff.connect(f"spark://local[1]?warehouse={tmp_path}")
    assert str(tmp_path) in str(err.value)


def test_corrupt_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "broken.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(WarehouseError, match="cannot open DuckDB warehouse"):
        ff.connect(path)


def test_bad_url(tmp_path):
    with pytest.raises(WarehouseError, match="cannot connect"):
        ff.connect("nosuchengine://x")


def test_duckdb_settings_from_the_url_over_our_defaults(tmp_path):
    def setting(wh, name):
        return wh.con.con.sql(f"SELECT current_setting('{name}')").fetchone()[0]

    wh = ff.connect(tmp_path / "a.duckdb")
    assert setting(wh, "allocator_background_threads") is True  # freed memory handed back
    # the file is written in DuckDB 1.3's format (its faster string compression)
    tags = wh.con.con.sql("SELECT tags FROM duckdb_databases() WHERE database_name = 'a'")
    assert tags.fetchone()[0]["storage_version"] == "v1.3.0+"
    wh.close()
    url = f"duckdb://{tmp_path / 'b.duckdb'}?allocator_background_threads=false&threads=1"
    wh = ff.connect(url)
    assert setting(wh, "allocator_background_threads") is False
    assert setting(wh, "threads") == 1
    wh.close()
    # a setting DuckDB refuses is named, with where to fix it
    for query, said in (("foo=1", "not recognized: foo"), ("threads=abc", "'abc'")):
        with pytest.raises(WarehouseError, match=rf"{said}.*settings after '\?' in the URL"):
            ff.connect(f"duckdb://{tmp_path / 'c.duckdb'}?{query}")


@pytest.mark.postgres
def test_postgres_sessions_are_set_for_analytics_and_caches_analysed(postgres_url):
    import ibis

    url = postgres_server.new_database(postgres_url)

    def show(wh, query):
        with wh.con.raw_sql(query) as cur:
            return cur.fetchone()[0]

    wh = ff.connect(url)
    assert wh.name == "postgres" and not wh.nested_types
    assert show(wh, "SHOW enable_nestloop") == "off" and show(wh, "SHOW jit") == "off"
    wh.load("contacts", contacts("a", "b", "c"))
    cached = wh.cache(wh.table("contacts"))
    # analysed (a temporary table never is by autovacuum): the planner knows its rows
    size = f"SELECT reltuples FROM pg_class WHERE relname = '{cached.get_name()}'"
    assert show(wh, size) == 3
    cached.release()
    wh.close()
    # a connection handed in is the caller's: its settings are left alone
    wh = ff.connect(ibis.connect(url))
    assert wh.name == "postgres" and show(wh, "SHOW enable_nestloop") == "on"
    wh.close()


@pytest.mark.postgres
def test_postgres_load_sends_its_rows_in_slices_keeping_empty_text_and_nulls(request, monkeypatch):
    from fullfunnel.warehouse import postgres

    monkeypatch.setattr(postgres, "_COPY_ROWS", 2)
    wh = new_warehouse("postgres", request)
    channels = ["seo", "", 'say "hi", then\nleave', None, "x"]
    wh.load("contacts", contacts("a", "b", "c", "d", "e", source_channel=channels))
    got = wh.table("contacts").order_by("contact_id").execute()
    assert list(got.contact_id) == ["a", "b", "c", "d", "e"]
    assert [None if pd.isna(v) else v for v in got.source_channel] == channels
    wh.close()


@pytest.mark.postgres
def test_postgres_refusing_a_value_names_its_row_and_changes_nothing(request):
    wh = new_warehouse("postgres", request)
    wh.load("contacts", contacts("a"))
    events = pd.DataFrame(
        {"contact_id": ["a"], "stage": ["mql"], "ts": [pd.Timestamp("2024-01-02")]}
    )
    bad = contacts("b", "c", "d", source_channel=["seo", "seo", "nul\x00byte"])
    with pytest.raises(InputError, match=r"contacts: PostgreSQL refused a value .* row 3"):
        wh.load_many({"stage_events": events, "contacts": bad})
    assert wh.count("contacts") == 1 and wh.count("stage_events") == 0
    wh.close()


def test_a_postgres_url_without_the_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'fullfunnel\[postgres\]'"):
        ff.connect("postgres://user:pw@127.0.0.1:5432/db")
