"""``fullfunnel alert``: read the rules, keep which fire, send what is new.

A rule that starts to fire opens an *episode* (``alert_state`` keeps since when);
its message is sent once per target for the episode, and tried again on a later
run where it failed. When the rule stops firing, a "cleared" message closes the
episode. Re-running with nothing changed sends nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from fullfunnel.config import Config
from fullfunnel.notify.rules import Reading, command, read_rules
from fullfunnel.notify.send import Message, Target, deliver
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse


@dataclasses.dataclass(frozen=True, eq=False)
class AlertsResult(Result):
    """Every rule's reading, and what was sent (or, without targets, would be)."""

    title = "alerts"
    readings: pd.DataFrame  # rule, state (firing/new/cleared/ok), value, since, message
    sent: pd.DataFrame  # event, subject, target, status, error
    as_of: datetime
    targets: int
    dry_run: bool

    def headline(self) -> list[str]:
        states = self.readings["state"].value_counts() if not self.readings.empty else {}
        firing = int(states.get("new", 0) + states.get("firing", 0))
        lines = [
            f"{len(self.readings):,} readings of the [alerts] rules as of {self.as_of:%Y-%m-%d}: "
            f"{firing} firing ({int(states.get('new', 0))} new), "
            f"{int(states.get('cleared', 0))} cleared"
        ]
        if self.dry_run:
            would = int((self.sent["status"] == "would send").sum()) if not self.sent.empty else 0
            lines.append(
                f"nothing sent or recorded ({'--dry-run' if self.targets else 'no target'}): "
                f"{would} message(s) would go out"
                + ("" if self.targets else "; set [alerts] notify to Apprise URLs, or give --to")
            )
        else:
            counts = self.sent["status"].value_counts() if not self.sent.empty else {}
            lines.append(
                f"to {self.targets} target(s): {int(counts.get('sent', 0))} sent, "
                f"{int(counts.get('failed', 0))} failed (tried again next run), "
                f"{int(counts.get('already sent', 0))} already sent"
            )
        return lines


def check_alerts(
    wh: Warehouse,
    config: Config,
    as_of: datetime,
    to: Sequence[Target],
    *,
    dry_run: bool = False,
    at: datetime | None = None,
) -> AlertsResult:
    """Read the rules as of ``as_of`` and send what is new to ``to``.

    Without targets, or with ``dry_run``, nothing is sent and nothing is written.
    """
    readings = read_rules(wh, config, as_of)
    before = _state(wh, [r.key for r in readings])
    rows, messages = [], []
    for r in readings:
        was = before.get(r.key)
        since = was if (r.firing and was is not None) else (as_of if r.firing else None)
        state = "ok"
        if r.firing:
            state = "firing" if was is not None else "new"
            messages.append(_fired(r, since))
        elif was is not None:
            state = "cleared"
            messages.append(_cleared(r, was))
        rows.append([r.key, state, r.value, since, r.message])
    frame = pd.DataFrame(rows, columns=["rule", "state", "value", "since", "message"])
    dry_run = dry_run or not to
    if not dry_run:
        # the state first: a crash while sending leaves the episode open, and the next
        # run sends to the targets that have not had it
        _record(wh, frame, at or as_of)
    sent = deliver(wh, messages, to, at=at, dry_run=dry_run)
    return AlertsResult(readings=frame, sent=sent, as_of=as_of, targets=len(to), dry_run=dry_run)


def _state(wh: Warehouse, keys: list[str]) -> dict[str, datetime]:
    """The rules among ``keys`` that fired at the last run: since when."""
    t = wh.table("alert_state")
    firing = t.filter(t.rule.isin(keys) & t.firing).select("rule", "since").execute()
    return {row.rule: row.since.to_pydatetime() for row in firing.itertuples()}


def _record(wh: Warehouse, frame: pd.DataFrame, at: datetime) -> None:
    out = pd.DataFrame(
        {
            "rule": frame["rule"],
            "firing": frame["state"].isin(["new", "firing"]),
            "since": pd.to_datetime(frame["since"]),
            "value": frame["value"].astype(float),
            "message": frame["message"],
            "checked_at": pd.Timestamp(at),
        }
    )
    wh.load("alert_state", out)


def _fired(r: Reading, since: datetime) -> Message:
    return Message(
        event=f"alert:{r.key}@{since:%Y-%m-%dT%H:%M}",
        subject=f"fullfunnel alert: {r.subject}",
        body=f"**{r.subject}**\n\n{r.message}.\n\nFiring since {since:%Y-%m-%d}. "
        f"The rule is in [alerts] of the config; `fullfunnel {command(r.metric)}` shows "
        "the detail.",
    )


def _cleared(r: Reading, since: datetime) -> Message:
    return Message(
        event=f"cleared:{r.key}@{since:%Y-%m-%dT%H:%M}",
        subject=f"fullfunnel alert cleared: {r.key}",
        body=f"**Cleared** (fired since {since:%Y-%m-%d}).\n\n{r.message}.",
    )
