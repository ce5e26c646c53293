"""Alerts and the digest on a schedule, from ``fullfunnel serve``.

A background thread wakes every ``TICK`` seconds. The rules are read every
``alerts.check_minutes``; the digest is due once the week's ``digest.day`` and
``digest.hour`` (in the ``[calendar]`` time zone) have passed, until every target
has had it, so a server that was down at that hour sends it when it is back.
Each run takes the service's lock, like a request, and writes its ledger through
the server's own connection. Nothing runs without a target.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fullfunnel.config import DAYS, Config

log = logging.getLogger("fullfunnel.server")
TICK = 60.0


def digest_due(config: Config, now: datetime) -> datetime | None:
    """When this week's digest became due, if it has by ``now`` (aware); else None."""
    day = config["digest"]["day"]
    if not day:
        return None
    local = now.astimezone(ZoneInfo(config["calendar"]["time_zone"]))
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    due = monday + timedelta(days=DAYS.index(day), hours=int(config["digest"]["hour"]))
    return due if local >= due else None


class Schedule:
    """Decides what is due at each tick and runs it with ``run_alerts``/``run_digest``."""

    def __init__(
        self,
        config: Config,
        run_alerts: Callable[[], object],
        run_digest: Callable[[], bool],
    ) -> None:
        self.config = config
        self.run_alerts = run_alerts
        self.run_digest = run_digest  # True once every target has this week's digest
        self.last_alerts: datetime | None = None
        self.digest_done: datetime | None = None  # the due time of the digest sent
        self.stop = threading.Event()

    def tick(self, now: datetime) -> list[str]:
        """Run what is due at ``now`` (aware); returns what ran."""
        ran = []
        minutes = int(self.config["alerts"]["check_minutes"])
        if minutes and (
            self.last_alerts is None or now - self.last_alerts >= timedelta(minutes=minutes)
        ):
            self.last_alerts = now
            self.run_alerts()
            ran.append("alerts")
        due = digest_due(self.config, now)
        if due is not None and self.digest_done != due:
            ran.append("digest")
            if self.run_digest():
                self.digest_done = due
        return ran

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._loop, name="fullfunnel-schedule", daemon=True)
        thread.start()
        return thread

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.tick(datetime.now(UTC))
            except Exception as exc:  # a failed run is logged and tried at the next tick
                log.warning("scheduled alerts or digest failed: %s", exc)
            self.stop.wait(TICK)


def for_service(svc: Any) -> Schedule | None:
    """The schedule of a running server (its warehouse, lock, config and pinned
    date); None when ``[alerts] notify`` names no target."""
    from fullfunnel.analytics.period import default_as_of
    from fullfunnel.notify.alerts import check_alerts
    from fullfunnel.notify.digest import send_digest
    from fullfunnel.notify.send import targets

    to = targets(svc.config)
    if not to:
        return None

    def as_of() -> datetime:
        return svc.fixed_as_of or default_as_of(svc.wh)[0]

    def run_alerts() -> None:
        with svc.lock:
            result = check_alerts(svc.wh, svc.config, as_of(), to)
        log.info("alerts: %s", "; ".join(result.headline()))

    def run_digest() -> bool:
        with svc.lock:
            result = send_digest(svc.wh, svc.config, as_of(), to)
        log.info("digest: %s", "; ".join(result.headline()))
        return not result.sent["status"].eq("failed").any()

    return Schedule(svc.config, run_alerts, run_digest)
