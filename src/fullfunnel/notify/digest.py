"""``fullfunnel digest``: the week in one message, for people who don't open the tool.

The digest is made of the analyses' own headlines (so its figures are the ones
``forecast``, ``pipeline``, ``movement`` and ``stuck`` print, word for word): the
quarter's forecast against its target, the open pipeline with the win rate and
the average deal, what moved in the pipeline in the last 7 days, and the stuck
contacts, with the most valuable few per owner. It is one event per ISO week of
``as_of``: sent once per target that week.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

import ibis
import pandas as pd

from fullfunnel.analytics.registry import run
from fullfunnel.analytics.stuck import EVERY
from fullfunnel.config import Config
from fullfunnel.notify.send import Message, Target, deliver
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

SECTIONS = (
    ("The quarter", "forecast"),
    ("Pipeline", "pipeline"),
    ("What moved in the last 7 days", "movement"),
    ("Stuck", "stuck"),
)
STUCK_COLUMNS = [
    "owner",
    "contact_id",
    "stage",
    "days_in_stage",
    "limit_days",
    "value",
    "open_amount",
]


@dataclasses.dataclass(frozen=True, eq=False)
class DigestResult(Result):
    """The digest as sent (Markdown), its stuck contacts per owner, and where it went."""

    title = "digest"
    stuck_by_owner: pd.DataFrame
    sent: pd.DataFrame
    subject: str
    body: str
    event: str
    as_of: datetime
    targets: int
    dry_run: bool

    def headline(self) -> list[str]:
        lines = [self.subject]
        counts = self.sent["status"].value_counts() if not self.sent.empty else {}
        if self.dry_run:
            lines.append(
                "nothing sent or recorded ("
                + ("--dry-run" if self.targets else "no target: set [alerts] notify, or --to")
                + "); the message follows"
            )
            lines.extend(["", *self.body.splitlines()])
        else:
            lines.append(
                f"to {self.targets} target(s): {int(counts.get('sent', 0))} sent, "
                f"{int(counts.get('failed', 0))} failed (tried again next run), "
                f"{int(counts.get('already sent', 0))} already sent this week"
            )
        return lines


def _bullet(line: str) -> str:
    """A headline line as a Markdown item; an indented one as an item under the last."""
    return ("  - " if line.startswith(" ") else "- ") + line.strip()


def week_of(as_of: datetime) -> str:
    """The ISO week holding ``as_of``: 2026-W49."""
    year, week, _ = as_of.isocalendar()
    return f"{year}-W{week:02d}"


def compose_digest(wh: Warehouse, config: Config, as_of: datetime) -> tuple[Message, pd.DataFrame]:
    """The digest message as of ``as_of``, and the stuck contacts it lists per owner."""
    results = {
        "forecast": run("forecast", wh, config, as_of),
        "pipeline": run("pipeline", wh, config, as_of),
        "movement": run("movement", wh, config, as_of, {"since": as_of - timedelta(days=7)}),
        "stuck": run("stuck", wh, config, as_of, {"limit": EVERY}),  # each owner's top
    }
    stuck = _with_owner(wh, results["stuck"].contacts)
    top = _top_per_owner(stuck, int(config["digest"]["top_per_owner"]))
    parts = [f"Week {week_of(as_of)}, as of {as_of:%Y-%m-%d}."]
    for heading, name in SECTIONS:
        parts.append(f"## {heading}")
        parts.append("\n".join(_bullet(line) for line in results[name].headline() if line.strip()))
    if not top.empty:
        parts.append("### The most valuable stuck contacts, per owner")
        for owner, rows in top.groupby("owner", sort=True):
            parts.append(
                f"**{owner}**\n\n"
                + "\n".join(
                    f"- {r.contact_id}: {r.stage} for {r.days_in_stage:,.0f} days "
                    f"(limit {r.limit_days:,.0f}), "
                    + (f"value {r.value:,.0f}" if pd.notna(r.value) else "not valued")
                    + (f", open deal {r.open_amount:,.0f}" if pd.notna(r.open_amount) else "")
                    for r in rows.itertuples()
                )
            )
    message = Message(
        event=f"digest:{week_of(as_of)}",
        subject=f"fullfunnel weekly digest, {week_of(as_of)}",
        body="\n\n".join(parts),
    )
    return message, top


def send_digest(
    wh: Warehouse,
    config: Config,
    as_of: datetime,
    to: Sequence[Target],
    *,
    dry_run: bool = False,
    at: datetime | None = None,
) -> DigestResult:
    """Compose the week's digest and send it to the targets that have not had it."""
    message, top = compose_digest(wh, config, as_of)
    dry_run = dry_run or not to
    sent = deliver(wh, [message], to, at=at, dry_run=dry_run)
    return DigestResult(
        stuck_by_owner=top,
        sent=sent,
        subject=message.subject,
        body=message.body,
        event=message.event,
        as_of=as_of,
        targets=len(to),
        dry_run=dry_run,
    )


def _with_owner(wh: Warehouse, stuck: pd.DataFrame) -> pd.DataFrame:
    """``stuck`` with ``owner``: the contact's owner (its name from the sales-team
    table where loaded), else the team that owns its stage."""
    if stuck.empty:
        return stuck
    c, o = wh.table("contacts"), wh.table("owners")
    ids = stuck["contact_id"].astype(str).tolist()
    named = c.filter(c.contact_id.isin(ids)).left_join(o, c.owner_id == o.owner_id)
    people = named.select("contact_id", person=ibis.coalesce(named.name, c.owner_id)).execute()
    frame = stuck.merge(people, on="contact_id", how="left")
    return frame.assign(owner=frame["person"].fillna(frame["owner"]).fillna("unassigned"))


def _top_per_owner(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` most valuable stuck contacts of each owner."""
    if frame.empty:
        return pd.DataFrame(columns=STUCK_COLUMNS)
    frame = frame.sort_values(["owner", "value", "contact_id"], ascending=[True, False, True])
    return frame.groupby("owner", sort=True).head(n)[STUCK_COLUMNS].reset_index(drop=True)
