"""A live server and CLI commands on one DuckDB file: the command borrows the
warehouse, no request fails, and the dashboard then shows the new rows."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import httpx
import pandas as pd
import pytest

import fullfunnel as ff
from fullfunnel.errors import WarehouseError
from fullfunnel.server.lending import LendableLock, announcement, borrow
from serve_process import fullfunnel_command, serving


def test_requests_wait_while_the_warehouse_is_lent_and_go_on_when_it_is_back():
    lock, seen = LendableLock(wait_seconds=30), []
    lock.lend(os.getpid(), close=lambda: seen.append("closed"), reopen=lambda: seen.append("open"))

    def request() -> None:
        with lock:
            seen.append("request")

    waiting = threading.Thread(target=request)
    waiting.start()
    time.sleep(0.3)
    assert seen == ["closed"]  # the request waits for the warehouse
    assert not lock.give_back(os.getpid() + 1)  # only the borrower gives it back
    assert lock.give_back(os.getpid())
    waiting.join(5)
    assert seen == ["closed", "open", "request"]


def test_a_lend_whose_command_died_is_taken_back_and_a_long_one_answers_busy():
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock, seen = LendableLock(wait_seconds=0.2), []
    lock.lend(dead.pid, close=lambda: None, reopen=lambda: seen.append("open"))
    with lock:  # the borrower is gone: the server opens the warehouse again
        assert seen == ["open"] and lock.borrower is None
    lock.lend(os.getpid(), close=lambda: None, reopen=lambda: None)
    with pytest.raises(WarehouseError, match=r"lent to a CLI command \(process \d+\)"), lock:
        pass


def test_a_locked_file_without_a_live_server_keeps_its_lock_error(tmp_path):
    db = tmp_path / "wh.duckdb"
    cause = WarehouseError("cannot open DuckDB warehouse: another process has it open")
    with pytest.raises(WarehouseError, match="another process has it open"):
        borrow(db, cause)  # no announcement
    announcement(db).write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 0, "token": ""}))
    with pytest.raises(WarehouseError, match="another process has it open"):
        borrow(db, cause)  # announced by a process that is gone


@pytest.mark.slow
def test_cli_commands_beside_a_live_dashboard(tmp_path):
    """While requests keep coming, 'ingest' and a read on the server's DuckDB file
    succeed; every request answers 200; the API then counts the new rows; the
    announcement goes with the server."""
    db = tmp_path / "team.duckdb"
    with ff.connect(str(db)) as wh:
        ff.generate_demo(wh, contacts=600, seed=2)
    more = tmp_path / "more.csv"
    pd.DataFrame({"contact_id": ["N1", "N2", "N3"], "created_at": ["2026-12-01"] * 3}).to_csv(
        more, index=False
    )
    config = tmp_path / "fullfunnel.toml"
    config.write_text('[server]\ndashboard_analyses = ["funnel", "pipeline", "stuck"]\n')
    with serving(db, "--config", str(config)) as url:
        assert announcement(db).exists()
        before = httpx.get(f"{url}/api/funnel", timeout=120).json()
        statuses: list[int] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                statuses.append(httpx.get(f"{url}/api/funnel", timeout=300).status_code)
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        cli = [fullfunnel_command(), "--config", str(config), "--db", str(db)]
        done = subprocess.run(
            [*cli, "ingest", "csv", str(more), "--table", "contacts"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        read = subprocess.run(
            [*cli, "funnel", "-f", "json"], capture_output=True, text=True, timeout=300
        )
        assert read.returncode == 0, read.stderr[-2000:]
        stop.set()
        poller.join(300)
        after = httpx.get(f"{url}/api/funnel", timeout=120).json()
        assert statuses and set(statuses) == {200}
        first = before["stages"][0]["reached"]
        assert after["stages"][0]["reached"] == first + 3  # the cache was dropped
        assert json.loads(read.stdout)["stages"][0]["reached"] == first + 3
    assert not announcement(db).exists()
