"""Shared fixtures: warehouses on every engine, and small hand-built data."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

import fullfunnel as ff
from fullfunnel.warehouse import Warehouse

AS_OF = datetime(2026, 11, 23)
ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


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


def new_warehouse(engine: str, request: pytest.FixtureRequest) -> Warehouse:
    """An empty warehouse on ``engine``; Spark gets a database of its own per test."""
    if engine == "duckdb":
        return ff.connect("duckdb://:memory:")
    session = request.getfixturevalue("spark_session")
    from fullfunnel.warehouse import Warehouse, _SparkEngine

    import ibis

    db = f"t_{uuid.uuid4().hex[:10]}"
    return Warehouse(_SparkEngine(ibis.pyspark.connect(session), database=db), f"spark://{db}")


@pytest.fixture(params=ENGINES)
def engine_wh(request) -> Iterator[Warehouse]:
    """An empty warehouse, once per engine: the conformance suite runs on each."""
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
