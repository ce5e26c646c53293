"""Sending alerts and digests through Apprise, once per event and target.

A *message* is about one *event* (an alert rule starting to fire, the digest of a
week); its ``event`` text names that event across runs. The ``notifications``
table keeps, per event and target, whether it was sent: a message already sent
to a target is never sent to it again, and one that failed is tried again on the
next run. A target is kept by a hash of its URL (a URL may hold a password) and
shown by Apprise's privacy form of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd

from fullfunnel._dates import now
from fullfunnel.config import Config
from fullfunnel.errors import ConfigError, MissingExtraError
from fullfunnel.warehouse import Warehouse

OUTCOME_COLUMNS = ["event", "subject", "target", "status", "error"]


@dataclasses.dataclass(frozen=True)
class Message:
    """What to send: ``body`` is Markdown (chat shows it, email gets it as HTML)."""

    event: str
    subject: str
    body: str


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to send: an Apprise URL, its id (a hash) and how it is shown."""

    url: str
    id: str
    label: str


def targets(config: Config, urls: Iterable[str] = ()) -> list[Target]:
    """The targets of ``urls`` (else ``[alerts] notify``); ``$NAME`` reads the URL from
    the environment variable NAME. A URL Apprise cannot use is a :class:`ConfigError`."""
    entries = list(urls) or list(config["alerts"]["notify"])
    if not entries:
        return []
    apprise = _apprise()
    out = []
    for entry in entries:
        entry = entry.strip()
        url = entry
        if entry.startswith("$"):
            url = os.environ.get(entry[1:], "").strip()
            if not url:
                raise ConfigError(
                    f"alerts.notify: {entry} names the environment variable {entry[1:]}, "
                    "which is not set; export it with the Apprise URL to send to"
                )
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if not plugin:
            raise ConfigError(
                f"alerts.notify: {entry if entry.startswith('$') else _scheme(url)} is not "
                "a URL Apprise can send to; see https://appriseit.com for the forms "
                "(mailtos://user:password@smtp.example.com?to=you@example.com, json://host/path)"
            )
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
        out.append(Target(url=url, id=digest, label=plugin.url(privacy=True)))
    return out


def deliver(
    wh: Warehouse,
    messages: Sequence[Message],
    to: Sequence[Target],
    *,
    at: datetime | None = None,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Send each message to each target that has not had it; record what happened.

    Returns one row per message and target: ``sent``, ``failed`` (with the error,
    tried again next time), ``already sent``, or with ``dry_run`` (nothing sent,
    nothing written) ``would send``; without targets, one ``would send`` row per
    message.
    """
    if not to:
        rows = [[m.event, m.subject, "", "would send", ""] for m in messages]
        return pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    done = _already_sent(wh, [m.event for m in messages]) if messages else set()
    rows, outcomes = [], []
    for message in messages:
        for target in to:
            if (message.event, target.id) in done:
                outcomes.append([message.event, message.subject, target.label, "already sent", ""])
                continue
            if dry_run:
                outcomes.append([message.event, message.subject, target.label, "would send", ""])
                continue
            error = _send(target, message)
            status = "failed" if error else "sent"
            outcomes.append([message.event, message.subject, target.label, status, error])
            rows.append([message.event, target.id, target.label, message.subject, status, error])
    if rows:
        frame = pd.DataFrame(
            rows, columns=["event", "target", "label", "subject", "status", "error"]
        )
        frame["sent_at"] = pd.Timestamp(at or now())
        wh.load("notifications", frame)
    return pd.DataFrame(outcomes, columns=OUTCOME_COLUMNS)


def _already_sent(wh: Warehouse, events: list[str]) -> set[tuple[str, str]]:
    t = wh.table("notifications")
    sent = t.filter(t.event.isin(events) & (t.status == "sent")).select("event", "target")
    return set(sent.execute().itertuples(index=False, name=None))


def _send(target: Target, message: Message) -> str:
    """'' when sent; else why not, as Apprise logged it."""
    apprise = _apprise()
    box = apprise.Apprise()
    box.add(target.url)
    with apprise.LogCapture(level=logging.WARNING) as log:
        ok = box.notify(
            title=message.subject, body=message.body, body_format=apprise.NotifyFormat.MARKDOWN
        )
        said = log.getvalue().strip()
    if ok:
        return ""
    return (said.splitlines()[-1] if said else "not delivered")[:500]


def _scheme(url: str) -> str:
    return (url.split("://", 1)[0] + "://…") if "://" in url else "an entry without scheme://"


def _apprise():
    try:
        import apprise
    except ImportError as exc:
        raise MissingExtraError("sending alerts and digests", "notify", "apprise") from exc
    return apprise
