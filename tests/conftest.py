"""Shared fixtures: warehouses on every engine, and small hand-built data."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from hypothesis import settings

import fullfunnel as ff
import postgres_server
from fullfunnel.warehouse import Warehouse

AS_OF = datetime(2026, 11, 23)

# In CI, property tests draw the same examples every run: a red build is then always
# a real, reproducible failure (locally they explore new examples each run).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
ENGINES = [
    "duckdb",
    pytest.param("spark", marks=pytest.mark.spark),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


def _java_available() -> bool:
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    """One local Spark session for the whole run (starting one takes seconds)."""
    pyspark = pytest.importorskip("pyspark", reason="install the spark extra to run Spark tests")
    del pyspark
    if not _java_available():
        pytest.fail("Spark tests need Java 17: install openjdk-17-jre-headless")
    from fullfunnel.warehouse import spark_session as make

    warehouse_dir = tmp_path_factory.mktemp("spark-warehouse")
    session = make("local[2]", **{"spark.sql.warehouse.dir": str(warehouse_dir)})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A Postgres server for the whole run (see ``postgres_server``)."""
    pytest.importorskip("psycopg", reason="install the postgres extra to run Postgres tests")
    try:
        with postgres_server.server() as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))


def new_warehouse(engine: str, request: pytest.FixtureRequest) -> Warehouse:
    """An empty warehouse on ``engine``; Spark and Postgres get a database of their
    own per call."""
    if engine == "duckdb":
        return ff.connect("duckdb://:memory:")
    if engine == "postgres":
        return ff.connect(postgres_server.new_database(request.getfixturevalue("postgres_url")))
    session = request.getfixturevalue("spark_session")
    import ibis

    from fullfunnel.warehouse import Warehouse, _SparkEngine

    db = f"t_{uuid.uuid4().hex[:10]}"
    return Warehouse(_SparkEngine(ibis.pyspark.connect(session), database=db), f"spark://{db}")


@pytest.fixture(params=ENGINES)
def engine_wh(request) -> Iterator[Warehouse]:
    """An empty warehouse, once per engine (DuckDB, Spark, Postgres)."""
    wh = new_warehouse(request.param, request)
    yield wh
    wh.close()


@pytest.fixture
def wh() -> Iterator[Warehouse]:
    """An empty in-memory DuckDB warehouse."""
    wh = ff.connect("duckdb://:memory:")
    yield wh
    wh.close()


@pytest.fixture(scope="session")
def demo_wh() -> Warehouse:
    """The balanced demo at the default size, generated once per run (read-only)."""
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, scenario="balanced", contacts=20_000, seed=7, as_of=AS_OF)
    return wh


def load_small_funnel(wh: Warehouse) -> Warehouse:
    """Five contacts with hand-known journeys (see test_funnel.py for the expected numbers).

    a: lead 01-01 → mql 01-05 → sql 01-20 (sal implied) → opportunity 02-01 → customer 03-01
    b: lead 01-10 → mql 01-12 → disqualified 01-15
    c: lead 02-01 → sql 02-10 (mql and sal implied)
    d: lead 02-05 → mql 02-06 → recycled 02-20 → mql 04-01 (re-MQL)
    e: lead 03-01, nothing since
    """
    import pandas as pd

    ts = pd.Timestamp
    contacts = pd.DataFrame(
        {
            "contact_id": list("abcde"),
            "created_at": [
                ts("2024-01-01"),
                ts("2024-01-10"),
                ts("2024-02-01"),
                ts("2024-02-05"),
                ts("2024-03-01"),
            ],
            "source_channel": ["paid", "paid", "seo", None, "seo"],
        }
    )
    events = pd.DataFrame(
        [
            ("a", "mql", "2024-01-05"),
            ("a", "sql", "2024-01-20"),
            ("a", "opportunity", "2024-02-01"),
            ("a", "customer", "2024-03-01"),
            ("b", "mql", "2024-01-12"),
            ("b", "disqualified", "2024-01-15"),
            ("c", "sql", "2024-02-10"),
            ("d", "mql", "2024-02-06"),
            ("d", "recycled", "2024-02-20"),
            ("d", "mql", "2024-04-01"),
        ],
        columns=["contact_id", "stage", "ts"],
    )
    events["ts"] = pd.to_datetime(events["ts"])
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3"],
            "contact_id": ["a", "c", "c"],
            "created_at": [ts("2024-02-01"), ts("2024-02-12"), ts("2024-03-01")],
            "stage": ["closed_won", "closed_lost", "proposal"],
            "status": ["won", "lost", "open"],
            "amount": [1000.0, 500.0, 800.0],
            "close_date": [ts("2024-03-01"), ts("2024-03-15"), None],
        }
    )
    wh.load_many({"contacts": contacts, "stage_events": events, "opportunities": opportunities})
    return wh


SMALL_AS_OF = datetime(2024, 6, 1)


@pytest.fixture
def small_wh(engine_wh) -> Warehouse:
    """The five-contact funnel, on every engine."""
    return load_small_funnel(engine_wh)


class AsgiClient:
    """A synchronous face on httpx's ASGI transport: the app in process, no server."""

    def __init__(self, app) -> None:
        import asyncio

        import httpx

        self.runner = asyncio.Runner()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def request(self, method: str, url: str, **kwargs):
        return self.runner.run(self.http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self.runner.run(self.http.aclose())
        self.runner.close()


def api_keys(wh: Warehouse) -> dict[str, str]:
    """One read-write, one read-only and one write-only API key."""
    from fullfunnel.server.keys import create_key

    return {
        "rw": create_key(wh, name="both").key,
        "read": create_key(wh, name="reader", scopes=["read"]).key,
        "write": create_key(wh, name="collector", scopes=["write"]).key,
    }


# whole modules that take minutes together: engines side by side, a browser, generated
# examples, crash recovery in subprocesses, scoring at scale, the server and report on a
# demo company of their own, every route and every KPI cross-checked
SLOW_MODULES = {
    "test_api_security",
    "test_server",
    "test_report",
    "test_metrics",
    "test_scoring",
    "test_scoring_trees",
    "test_diagnose_shared",
    "test_backtest",
    "test_ingest_streaming",
    "test_conformance",
    "test_dashboard_browser",
    "test_drill",
    "test_notify",
    "test_properties",
    "test_fuzz_ingest",
    "test_crash_safety",
    "test_scoring_scale",
    "test_attribution_reference",
}


def pytest_collection_modifyitems(config, items):
    """``pytest -m "not slow"`` is the edit loop: Spark and Postgres runs and the slow
    modules are marked slow; CI runs everything."""
    for item in items:
        engine = item.get_closest_marker("spark") or item.get_closest_marker("postgres")
        if engine or item.module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
