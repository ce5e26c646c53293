"""``fullfunnel serve`` in a subprocess on a free loopback port, for the tests that
need a real server (the browser's, and a CLI command beside a live server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fullfunnel_command() -> str:
    """The installed ``fullfunnel`` command of this interpreter's environment."""
    return str(Path(sys.executable).parent / "fullfunnel")


@contextmanager
def serving(
    db: Path, *options: str, serve: tuple[str, ...] = (), ready: bool = False
) -> Iterator[str]:
    """The server on ``db`` (global ``options`` before ``serve``, ``serve`` after
    it) while the block runs; its URL. With ``ready``, once its start-up warm-up is
    done (the dashboard shows its data, not the page saying it is preparing).
    Stopped as a user would stop it (SIGTERM)."""
    port = free_port()
    cmd = [fullfunnel_command(), *options, "--db", str(db), "serve", "--port", str(port), *serve]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + (300 if ready else 60)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"fullfunnel serve exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            health = httpx.get(f"{url}/api/health", timeout=1)
            if health.status_code == 200 and (health.json()["ready"] or not ready):
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"fullfunnel serve was not {'ready' if ready else 'up'} in time")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
