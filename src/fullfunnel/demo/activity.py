"""The demo's activity: the touches every team makes, the marketing spend, the
bookings targets, and which contacts the data shows as stuck."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fullfunnel.demo.company import (
    CHANNEL_TACTIC,
    CHANNELS,
    HISTORY_DAYS,
    SEGMENT_TACTICS,
    STEPS,
    Scenario,
)
from fullfunnel.demo.tables import _ids, _ts


def _stuck_truth(
    created: np.ndarray,
    ev_c: np.ndarray,
    ev_stage: np.ndarray,
    ev_t: np.ndarray,
    tp: _Touches,
    horizon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Contacts stuck at ``as_of`` under the default config, from the generated arrays.

    Stuck: the current stage (the latest stage event; a latest ``recycled`` puts the
    contact back at lead) has lasted longer than its SLA, the journey has not
    exited, and the stage owner's team has not touched the contact for
    ``stale_days``. Returns (contact index, stage index).
    """
    from fullfunnel.config import default_config

    config = default_config()
    k = len(STEPS)
    n = created.size
    c = np.concatenate([np.arange(n), ev_c])
    code = np.concatenate([np.zeros(n, dtype=np.int64), ev_stage])
    t = np.concatenate([created, ev_t])
    order = np.lexsort((code, t, c))
    c, code, t = c[order], code[order], t[order]
    last = np.flatnonzero(np.r_[c[1:] != c[:-1], True])  # each contact's latest event
    is_stage = code < k
    sc, scode, st = c[is_stage], code[is_stage], t[is_stage]
    slast = np.flatnonzero(np.r_[sc[1:] != sc[:-1], True])
    stage, since = np.zeros(n, dtype=np.int64), np.zeros(n)
    stage[sc[slast]], since[sc[slast]] = scode[slast], st[slast]
    last_code = np.full(n, -1)
    last_code[c[last]] = code[last]
    recycled = last_code == k + 2
    stage[recycled] = STEPS.index(config.recycle_to)
    since[recycled] = t[last][recycled[c[last]]]
    exited = (last_code == k) | (last_code == k + 1)
    sla = np.array([config.stage(s).sla_days or np.inf for s in STEPS])
    owner = np.array([config.stage(s).owner for s in STEPS])
    who = np.concatenate([p["who"] for p in tp.parts])
    when = np.concatenate([p["when"] for p in tp.parts])
    team = np.concatenate([p["team"] for p in tp.parts])
    by_owner = team == owner[stage[who]]
    last_touch = np.full(n, -np.inf)
    np.maximum.at(last_touch, who[by_owner], when[by_owner])
    stale = horizon - last_touch > config["funnel"]["stale_days"]
    hit = ~exited & (horizon - since > sla[stage]) & stale
    return np.flatnonzero(hit), stage[hit]


class _Touches:
    """Collects touchpoints as column arrays (contact index, day, labels)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.parts: list[dict[str, np.ndarray]] = []

    def spread(
        self, counts: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``counts[i]`` touches at uniform times in [start_i, end_i]; returns (row, day)."""
        who = np.repeat(np.arange(counts.size), counts)
        span = np.maximum(end - start, 0)[who]
        return who, start[who] + self.rng.random(who.size) * span

    def add_first(self, created: np.ndarray, channel: np.ndarray) -> None:
        who = np.arange(created.size)
        self.add_marketing(who, created - self.rng.random(who.size) * 0.5, channel)

    def add_marketing(self, who: np.ndarray, when: np.ndarray, channel: np.ndarray) -> None:
        names = np.array(CHANNELS)[channel]
        tactic = np.array([CHANNEL_TACTIC[c][0] for c in CHANNELS])[channel]
        kind = np.array([CHANNEL_TACTIC[c][1] for c in CHANNELS])[channel]
        team = np.where(names == "outbound", "bdr", "marketing")
        direction = np.where(names == "outbound", "outbound", "inbound")
        self.add(who, when, names, tactic, kind, team, direction)

    def add(self, who, when, channel, tactic, kind, team, direction) -> None:
        size = np.asarray(who).size
        full = lambda v: np.asarray(v) if np.ndim(v) else np.full(size, v)  # noqa: E731
        self.parts.append(
            {
                "who": np.asarray(who),
                "when": np.asarray(when, dtype=float),
                "channel": full(channel),
                "tactic": full(tactic),
                "kind": full(kind),
                "team": full(team),
                "direction": full(direction),
            }
        )

    def touched_after(self, team: str, start: np.ndarray) -> np.ndarray:
        """Contacts with a touch by ``team`` at or after ``start[contact]``."""
        who = np.concatenate([p["who"] for p in self.parts])
        when = np.concatenate([p["when"] for p in self.parts])
        teams = np.concatenate([p["team"] for p in self.parts])
        return np.unique(who[(teams == team) & (when >= start[who])])

    def table(self, origin: datetime, account_of: np.ndarray) -> pa.Table:
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        order = np.lexsort((cols["when"], cols["who"]))
        cols = {k: v[order] for k, v in cols.items()}
        paid = np.isin(cols["channel"], ["paid_search", "paid_social"])
        cost = np.where(paid, np.round(self.rng.lognormal(np.log(4.0), 0.5, order.size), 2), np.nan)
        quarter = _quarter_labels(origin, cols["when"])
        campaign = pc.binary_join_element_wise(pa.array(cols["tactic"]), quarter, "_")
        return pa.table(
            {
                "touchpoint_id": _ids("T", order.size),
                "contact_id": pa.array(cols["who"]),
                "account_id": pa.array(account_of[cols["who"]]),
                "ts": _ts(origin, cols["when"]),
                "channel": pa.array(cols["channel"]),
                "campaign": campaign,
                "tactic": pa.array(cols["tactic"]),
                "kind": pa.array(cols["kind"]),
                "team": pa.array(cols["team"]),
                "direction": pa.array(cols["direction"]),
                "cost": pa.array(cost, from_pandas=True),
            }
        )


def _spend(rng: np.random.Generator, sc: Scenario, n: int, origin: datetime) -> pa.Table:
    """Monthly spend by channel/tactic, split across segments by the scenario's shares."""
    months = HISTORY_DAYS // 30 + 1
    budget = n * 6.0 / months  # monthly marketing budget scales with the company
    rows_date, rows_chan, rows_tactic, rows_seg, rows_amt = [], [], [], [], []
    by_segment: dict[str, list[tuple[str, str]]] = {"tofu": [], "mofu": [], "bofu": [], "post": []}
    for chan, (tactic, _kind, seg) in CHANNEL_TACTIC.items():
        if chan != "outbound":
            by_segment[seg].append((chan, tactic))
    for seg, entries in SEGMENT_TACTICS.items():
        by_segment[seg].extend((chan, tactic) for tactic, chan, _ in entries)
    first = datetime(origin.year, origin.month, 1)
    for m in range(months):
        month = (first.replace(day=1) + timedelta(days=31 * m)).replace(day=1)
        for seg, entries in by_segment.items():
            share = sc.spend_share[seg] / len(entries)
            noise = rng.lognormal(0, 0.1, len(entries))
            for (chan, tactic), z in zip(entries, noise, strict=True):
                rows_date.append(month.date())
                rows_chan.append(chan)
                rows_tactic.append(tactic)
                rows_seg.append(seg)
                rows_amt.append(round(budget * share * z, 2))
    return pa.table(
        {
            "date": pa.array(rows_date, pa.date32()),
            "channel": rows_chan,
            "campaign": [f"{t}_always_on" for t in rows_tactic],
            "tactic": rows_tactic,
            "segment": rows_seg,
            "team": ["marketing"] * len(rows_amt),
            "amount": rows_amt,
        }
    )


def _targets(
    sc: Scenario, as_of: datetime, origin: datetime, won_t: np.ndarray, won_amt: np.ndarray
) -> tuple[pa.Table, list[tuple[str, str, float]]]:
    """Quarterly bookings targets, each set at its quarter's start: the average of the
    (up to four) complete quarters before it × target_factor; for the current quarter
    and the four before it (so that past quarters can be reviewed)."""
    starts = [datetime(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)]
    while starts[-1] > origin:
        prev = starts[-1] - timedelta(days=1)
        starts.append(datetime(prev.year, 3 * ((prev.month - 1) // 3) + 1, 1))
    starts.reverse()  # from the quarter holding the origin to the current one
    edges = np.array([(d - origin).total_seconds() / 86400 for d in starts])
    booked = [
        float(won_amt[(won_t >= a) & (won_t < b)].sum()) for a, b in itertools.pairwise(edges)
    ]
    rows, truth = [], []
    for i in range(max(len(starts) - 5, 2), len(starts)):
        before = booked[max(1, i - 4) : i]  # the origin's quarter is only partly simulated
        if not before:
            continue
        start = starts[i]
        end = datetime(start.year + (start.month + 3 > 12), (start.month + 2) % 12 + 1, 1)
        target = round(float(np.mean(before)) * sc.target_factor, -3)
        rows.append((start.date(), (end - timedelta(days=1)).date(), float(target)))
        truth.append(("bookings_target", start.date().isoformat(), float(target)))
    truth += [("bookings", s.date().isoformat(), v) for s, v in zip(starts, booked, strict=False)]
    return (
        pa.table(
            {
                "period_start": pa.array([r[0] for r in rows], pa.date32()),
                "period_end": pa.array([r[1] for r in rows], pa.date32()),
                "metric": ["bookings"] * len(rows),
                "amount": [r[2] for r in rows],
            }
        ),
        truth,
    )


def _quarter_labels(origin: datetime, days: np.ndarray) -> pa.Array:
    months = origin.year * 12 + origin.month - 1 + (origin.day - 1 + days) // 30.44
    months = months.astype(np.int64)
    years, quarters = months // 12, (months % 12) // 3 + 1
    label = np.char.add(np.char.add(years.astype(str), "q"), quarters.astype(str))
    return pa.array(label)
