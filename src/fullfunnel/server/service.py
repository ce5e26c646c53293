"""What the routes share: the warehouse, its lock (lent to CLI commands on the same
DuckDB file), the config, the result cache, and the API-key check."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Request

from fullfunnel.analytics.period import default_as_of
from fullfunnel.analytics.registry import ANALYSES, FILTERS, run
from fullfunnel.config import Config
from fullfunnel.errors import ConfigError, FullfunnelError, did_you_mean
from fullfunnel.result import Result
from fullfunnel.server import params as P
from fullfunnel.server.lending import LendableLock
from fullfunnel.warehouse import Warehouse

KEY_HEADER = "X-API-Key"
MAX_PAGES = 64  # rendered pages kept (one per set of filters and results)


class Service:
    """The warehouse, its lock, the config and the result cache behind the routes."""

    def __init__(self, wh: Warehouse, config: Config, as_of: datetime | None) -> None:
        self.wh = wh
        self.config = config
        self.fixed_as_of = as_of
        self.settings = config["server"]
        # the warehouse is lent to a CLI command on the same DuckDB file (lending.py)
        self.lock = LendableLock(float(self.settings["lend_seconds"]))
        self.lend_token: str | None = None  # set by 'serve' when it announces itself
        self.cache: dict[tuple, tuple[float, Result]] = {}
        # while the start-up warm-up runs: (analyses done, analyses in all)
        self.warming: tuple[int, int] | None = None
        # pages rendered from cached results, with the results they were built from
        self.pages: dict[tuple, tuple[tuple[Result, ...], str]] = {}
        chosen = list(self.settings["dashboard_analyses"])
        unknown = [n for n in chosen if n not in ANALYSES]
        if unknown:
            raise ConfigError(
                f"server.dashboard_analyses names unknown analyses {', '.join(unknown)}; "
                f"the analyses are {', '.join(ANALYSES)}."
                + did_you_mean(unknown[0], list(ANALYSES))
            )
        self.dashboard = [
            n for n, a in ANALYSES.items() if (not chosen or n in chosen) and a.configured(config)
        ]

    def lend(self, pid: int) -> None:
        """Close the warehouse for CLI command ``pid`` until it gives it back."""
        self.lock.lend(pid, close=self.wh.close, reopen=self._reopen)

    def _reopen(self) -> None:
        self.wh.reopen()
        self.forget()  # the command may have changed the data

    def forget(self) -> None:
        """Drop every cached result and page: the data changed."""
        with self.lock:
            self.cache.clear()
            self.pages.clear()

    def rendered(self, key: tuple, results: dict[str, Result], build: Callable[[], str]) -> str:
        """The page ``build`` makes of ``results``, reused while the same result objects
        are the cached ones (the entry holds them, so their ids are never reused).
        Rendering reads no warehouse: it runs outside the lock."""
        full = (key, tuple((name, id(r)) for name, r in results.items()))
        with self.lock:
            hit = self.pages.get(full)
        if hit is not None:
            return hit[1]
        page = build()
        with self.lock:
            while len(self.pages) >= MAX_PAGES:  # the oldest first
                self.pages.pop(next(iter(self.pages)))
            self.pages[full] = (tuple(results.values()), page)
        return page

    def result(self, name: str, options: dict[str, Any], as_of: datetime | None) -> Result:
        """Analysis ``name`` as of ``as_of`` (None: now, or the server's pinned date)."""
        key = (name, as_of, tuple(sorted(options.items())))
        ttl = self.settings["cache_seconds"]
        with self.lock:
            hit = self.cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < ttl:
                return hit[1]
            when = as_of or self.fixed_as_of or default_as_of(self.wh)[0]
            result = run(name, self.wh, self.config, when, options)
            if ttl > 0:
                self.cache[key] = (time.monotonic(), result)
            return result

    def results(
        self, given: dict[str, Any], as_of: datetime | None
    ) -> tuple[dict[str, Result], list[str]]:
        """Every analysis for the dashboard's filters (each takes those it knows), and
        notes on the analyses that could not take them; under one hold of the lock,
        so a page never mixes data from before and after a write.

        An analysis that rejects a filter is shown without the breakdown filters
        (by, team); one that still fails is left out with the reason.
        """
        out: dict[str, Result] = {}
        notes: list[str] = []
        with self.lock:
            for name in self.dashboard:
                self._dashboard_result(name, given, as_of, out, notes)
        return out, notes

    def warm_up(self) -> None:
        """Compute the unfiltered dashboard into the cache, taking the lock for one
        analysis at a time: requests that arrive meanwhile wait for one, not all."""
        out: dict[str, Result] = {}
        try:
            for done, name in enumerate(self.dashboard):
                self.warming = (done, len(self.dashboard))
                self.lock.after_others()  # a request waits for one analysis at most
                with self.lock:
                    self._dashboard_result(name, {}, None, out, [])
        finally:
            self.warming = None

    def _dashboard_result(
        self,
        name: str,
        given: dict[str, Any],
        as_of: datetime | None,
        out: dict[str, Result],
        notes: list[str],
    ) -> None:
        try:
            options = P.prepare(name, given, wh=self.wh, config=self.config)
            out[name] = self.result(name, options, as_of)
            return
        except FullfunnelError as exc:
            problem = str(exc)
        kept = {k: v for k, v in given.items() if k == "period"}
        if kept != given:
            try:
                options = P.prepare(name, kept, wh=self.wh, config=self.config)
                out[name] = self.result(name, options, as_of)
                notes.append(f"{name}: shown without the breakdown filters ({problem})")
                return
            except FullfunnelError as exc:
                problem = str(exc)
        notes.append(f"{name}: not shown for these filters ({problem})")

    def check_key(self, key: str | None, scope: str) -> str:
        """The id of ``key`` when it is valid for ``scope``; else a 401 or a 403 that
        names the scope needed (``admin`` implies ``read`` and ``write``)."""
        from fullfunnel.server.keys import lookup_key

        if not key:
            raise HTTPError(
                401,
                f"this needs an API key with the '{scope}' scope: send it as the {KEY_HEADER} "
                "header or 'Authorization: Bearer KEY' (create one with "
                f"'fullfunnel apikey create --name NAME --scope {scope}')",
            )
        with self.lock:
            info = lookup_key(self.wh, key)
        if info is None:
            raise HTTPError(403, f"API key not valid for '{scope}': unknown key")
        if info.revoked:
            raise HTTPError(403, f"API key {info.key_id} not valid for '{scope}': revoked")
        if not info.grants(scope):
            raise HTTPError(
                403,
                f"API key {info.key_id} has the scopes {','.join(info.scopes)}; "
                f"this needs the '{scope}' scope",
            )
        return info.key_id


class HTTPError(Exception):
    """An answer other than 200, with the message the caller reads."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def presented_key(request: Request) -> str | None:
    """The API key a request carries (X-API-Key, or Authorization: Bearer)."""
    key = request.headers.get(KEY_HEADER)
    if key:
        return key.strip()
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def checked(svc: Service, values: dict[str, Any]) -> dict[str, Any]:
    """The dashboard filters given, each checked as its registry option says."""
    out = {}
    with svc.lock:
        for key, value in values.items():
            if value not in (None, ""):
                out[key] = P.check(FILTERS[key], value, wh=svc.wh, config=svc.config)
    return out
