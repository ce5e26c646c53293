"""The simulation: each contact's journey, the stage events, touches and deals it
leaves, and the truth planted in them, drawn from one seeded generator in a fixed
order (the same seed, the same company)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fullfunnel.config import default_config
from fullfunnel.demo.accounts import account_truth
from fullfunnel.demo.activity import _spend, _stuck_truth, _targets, _Touches
from fullfunnel.demo.company import (
    CHANNEL_LIFT,
    CHANNEL_MIX,
    CHANNELS,
    COUNTRIES,
    DELAY_MEDIAN,
    DELAY_SIGMA,
    EXIT_MEDIAN,
    HISTORY_DAYS,
    INDUSTRIES,
    SEGMENT_TACTICS,
    SOURCE_RETURN,
    STEPS,
    TITLE_MIX,
    TITLES,
    Scenario,
)
from fullfunnel.demo.tables import _ids, _tables, _ts


@dataclasses.dataclass
class _Company:
    """The simulated company as arrays, one row per contact (or account): what each
    step of :func:`_simulate` adds and the next ones read."""

    origin: datetime
    horizon: float  # as_of in days since origin
    acc_industry: np.ndarray
    acc_employees: np.ndarray
    acc_country: np.ndarray
    acc_created: np.ndarray
    acc_of: np.ndarray  # each contact's account
    created: np.ndarray
    channel: np.ndarray
    title: np.ndarray
    seniority: np.ndarray
    # the journeys (filled by _journeys)
    intent: np.ndarray = dataclasses.field(default_factory=lambda: np.array([]))
    reached: np.ndarray = dataclasses.field(default_factory=lambda: np.array([]))
    exit_kind: np.ndarray = dataclasses.field(default_factory=lambda: np.array([]))
    exit_at: np.ndarray = dataclasses.field(default_factory=lambda: np.array([]))

    @property
    def n(self) -> int:
        return self.created.size

    @property
    def stage_idx(self) -> np.ndarray:
        k = self.reached.shape[1]
        return np.where(~np.isnan(self.reached), np.arange(k), -1).max(axis=1)


def _simulate(sc: Scenario, n: int, seed: int, as_of: datetime) -> dict[str, pa.Table]:
    """The company of scenario ``sc``: every table, and the truth planted in it. The
    steps draw from one generator in a fixed order: the same seed, the same company."""
    rng = np.random.default_rng(seed)
    co = _people(rng, n, sc, as_of - timedelta(days=HISTORY_DAYS), float(HISTORY_DAYS))
    _journeys(rng, sc, co)
    events = _stage_events(rng, co)
    touches, untouched, stuck = _touchpoints(rng, sc, co, events)
    opps = _opportunities(rng, sc, co)
    spend = _spend(rng, sc, n, co.origin)
    won = ~np.isnan(co.reached[opps.rows, 5])
    targets, quarter_truth = _targets(
        sc, as_of, co.origin, co.reached[opps.rows[won], 5], opps.amount[won]
    )
    truth = [*_truth(sc, co, untouched), *quarter_truth, *opps.moves]
    won_at = np.where(won, co.reached[opps.rows, 5], np.nan)
    deals = (opps.rows, co.reached[opps.rows, 4], won_at)
    specs = default_config()["accounts"]["stages"]
    truth += account_truth(co.acc_of, co.reached, deals, specs, co.horizon)
    return _tables(co, events, touches, opps, spend, targets, truth, untouched, stuck)


def _people(
    rng: np.random.Generator, n: int, sc: Scenario, origin: datetime, horizon: float
) -> _Company:
    """Accounts, and contacts with their account, creation day, channel and title."""
    n_acc = max(10, n // 4)
    acc_industry = rng.integers(0, len(INDUSTRIES), n_acc)
    acc_employees = np.round(rng.lognormal(np.log(300), 1.2, n_acc)).astype(np.int64) + 5
    acc_country = rng.choice(len(COUNTRIES), n_acc, p=[0.45, 0.15, 0.12, 0.08, 0.1, 0.1])
    acc_created = rng.uniform(0, horizon, n_acc)
    acc_of = rng.integers(0, n_acc, n)
    created = _creation_days(rng, n, sc.volume_trend, horizon)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_MIX / CHANNEL_MIX.sum())
    title = rng.choice(len(TITLES), n, p=TITLE_MIX / TITLE_MIX.sum())
    return _Company(
        origin=origin,
        horizon=horizon,
        acc_industry=acc_industry,
        acc_employees=acc_employees,
        acc_country=acc_country,
        acc_created=acc_created,
        acc_of=acc_of,
        created=created,
        channel=channel,
        title=title,
        seniority=np.array([t[1] for t in TITLES])[title],
    )


def _journeys(rng: np.random.Generator, sc: Scenario, co: _Company) -> None:
    """Each contact's way down the stages: when it reached each, or left (and how)."""
    n, k, horizon = co.n, len(STEPS), co.horizon
    reached = np.full((n, k), np.nan)
    reached[:, 0] = co.created
    exit_kind = np.full(n, "", dtype=object)
    exit_at = np.full(n, np.nan)
    alive = np.ones(n, dtype=bool)
    # a planted "intent" trait: high-intent contacts visit pricing and convert more
    intent = rng.random(n) < 0.15
    for step in range(k - 1):
        p = np.full(n, sc.conversion[step])
        if step <= 1:
            p = p * CHANNEL_LIFT[co.channel]
        if step <= 2:
            p = p * np.where(intent, 1.6, 1.0) * co.seniority
        p = np.clip(p, 0, 0.97)
        here = alive & ~np.isnan(reached[:, step])
        conv = here & (rng.random(n) < p)
        delay = rng.lognormal(np.log(DELAY_MEDIAN[step]), DELAY_SIGMA, n)
        t_next = reached[:, step] + delay
        arrive = conv & (t_next <= horizon)
        reached[arrive, step + 1] = t_next[arrive]
        # those that do not convert may leave the funnel
        lost = here & ~conv
        leaves = lost & (rng.random(n) < sc.exit_share[step])
        t_exit = reached[:, step] + rng.lognormal(np.log(EXIT_MEDIAN[step]), 0.6, n)
        leaves &= t_exit <= horizon
        kind = {0: "disqualified", 1: "recycled", 4: "closed_lost"}.get(step, "disqualified")
        if step == 1:  # at mql, one in three leavers is disqualified, the rest recycled
            dq = rng.random(n) < 1 / 3
            exit_kind[leaves & dq] = "disqualified"
            exit_kind[leaves & ~dq] = "recycled"
        else:
            exit_kind[leaves] = kind
        exit_at[leaves] = t_exit[leaves]
        alive &= ~(leaves & (exit_kind != "recycled"))
        alive &= ~(lost & (exit_kind == "recycled"))
    co.intent, co.reached, co.exit_kind, co.exit_at = intent, reached, exit_kind, exit_at


@dataclasses.dataclass(frozen=True)
class _Events:
    contact: np.ndarray
    stage: np.ndarray  # index into STAGE_NAMES
    at: np.ndarray


def _stage_events(rng: np.random.Generator, co: _Company) -> _Events:
    """The stage events a CRM would hold: reaches (SAL sometimes unrecorded), exits,
    and re-MQLs of recycled contacts."""
    n, k = co.n, len(STEPS)
    ev_c, ev_stage, ev_t = [], [], []
    skip_sal = rng.random(n) < 0.2  # some CRMs never record SAL: implied from SQL
    for step in range(1, k):
        has = ~np.isnan(co.reached[:, step])
        if STEPS[step] == "sal":
            has &= ~skip_sal
        idx = np.flatnonzero(has)
        ev_c.append(idx)
        ev_stage.append(np.full(idx.size, step))
        ev_t.append(co.reached[idx, step])
    exit_codes = {"disqualified": k, "closed_lost": k + 1, "recycled": k + 2}
    for name, code in exit_codes.items():
        idx = np.flatnonzero(co.exit_kind == name)
        ev_c.append(idx)
        ev_stage.append(np.full(idx.size, code))
        ev_t.append(co.exit_at[idx])
    # a third of recycled contacts come back as MQLs later (re-MQL)
    rec = np.flatnonzero((co.exit_kind == "recycled") & (rng.random(n) < 1 / 3))
    back = co.exit_at[rec] + rng.lognormal(np.log(60), 0.5, rec.size)
    rec, back = rec[back <= co.horizon], back[back <= co.horizon]
    ev_c.append(rec)
    ev_stage.append(np.full(rec.size, 1))
    ev_t.append(back)
    return _Events(np.concatenate(ev_c), np.concatenate(ev_stage), np.concatenate(ev_t))


def _touchpoints(
    rng: np.random.Generator, sc: Scenario, co: _Company, events: _Events
) -> tuple[pa.Table, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Every team's touches, the MQLs no BDR touch followed, and the stuck contacts
    (who, at which stage) as the data shows them."""
    horizon, created, channel = co.horizon, co.created, co.channel
    reached, exit_kind, stage_idx = co.reached, co.exit_kind, co.stage_idx
    end_of = np.where(np.isnan(co.exit_at) | (exit_kind == "recycled"), horizon, co.exit_at)
    tp = _Touches(rng)
    mql_at = reached[:, 1]
    pre_end = np.where(np.isnan(mql_at), np.minimum(end_of, created + 90), mql_at)
    # marketing at the top: the source channel first, then the channel mix
    tp.add_first(created, channel)
    counts = rng.poisson(sc.tofu_touches * np.where(co.intent, 1.5, 1.0))
    who, when = tp.spread(counts, created, np.maximum(pre_end, created))
    mix = rng.choice(len(CHANNELS), who.size, p=CHANNEL_MIX)
    # contacts come back through the channel that brought them, so its lift shows in
    # the touches (a spawned stream: every other draw stays as it was)
    back = rng.spawn(1)[0].random(who.size) < SOURCE_RETURN
    tp.add_marketing(who, when, np.where(back, channel[who], mix))
    # planted intent: pricing page visits before the MQL
    pv = np.flatnonzero(co.intent)
    who, when = tp.spread(
        rng.poisson(3, pv.size), created[pv], np.maximum(pre_end[pv], created[pv])
    )
    tp.add(pv[who], when, "seo", "pricing_page", "web_visit", "marketing", "inbound")
    # bdr after the MQL, unless this MQL is one bdr never touches
    mqls = np.flatnonzero(~np.isnan(mql_at))
    never = mqls[(stage_idx[mqls] == 1) | (exit_kind[mqls] == "recycled")]
    size = min(never.size, round(sc.untouched_mql_share * mqls.size))
    untouched = np.sort(rng.choice(never, size, replace=False))
    touched = np.setdiff1d(mqls, untouched)
    first = mql_at[touched] + rng.lognormal(np.log(1.0), 0.9, touched.size)
    ok = first <= end_of[touched]
    tp.add(touched[ok], first[ok], "outbound", "bdr_follow_up", "call", "bdr", "outbound")
    bdr_end = np.where(np.isnan(reached[:, 3]), np.minimum(end_of, mql_at + 20), reached[:, 3])
    who, when = tp.spread(rng.poisson(2.5, touched.size), mql_at[touched], bdr_end[touched])
    tp.add(touched[who], when, "outbound", "bdr_follow_up", "email", "bdr", "outbound")
    # sales after the SQL, am after the sale
    for stage, team, kinds, lam in (
        (3, "sales", ("meeting", "demo", "call"), 4.0),
        (5, "am", ("meeting", "call", "email"), 3.0),
    ):
        at = reached[:, stage]
        idx = np.flatnonzero(~np.isnan(at))
        stop = np.minimum(end_of[idx], at[idx] + (60 if team == "sales" else 120))
        who, when = tp.spread(rng.poisson(lam, idx.size), at[idx], stop)
        kind = np.array(kinds)[rng.integers(0, len(kinds), who.size)]
        tp.add(idx[who], when, "direct", f"{team}_engagement", kind, team, "outbound")
    # marketing aimed at contacts in the middle, bottom and after the sale
    for seg, start_stage in (("mofu", 1), ("bofu", 4), ("post", 5)):
        at = reached[:, start_stage]
        idx = np.flatnonzero(~np.isnan(at))
        who, when = tp.spread(
            rng.poisson(sc.segment_touches[seg], idx.size),
            at[idx],
            np.minimum(end_of[idx], at[idx] + 90),
        )
        choice = rng.integers(0, len(SEGMENT_TACTICS[seg]), who.size)
        for j, (tactic, chan, kind) in enumerate(SEGMENT_TACTICS[seg]):
            m = choice == j
            tp.add(idx[who[m]], when[m], chan, tactic, kind, "marketing", "inbound")
    # what the data shows: MQLs that no bdr touch followed (planted + cut off by time)
    untouched = np.setdiff1d(mqls, tp.touched_after("bdr", mql_at))
    stuck = _stuck_truth(created, events.contact, events.stage, events.at, tp, horizon)
    return tp.table(co.origin, co.acc_of), untouched, stuck


@dataclasses.dataclass(frozen=True)
class _Opportunities:
    rows: np.ndarray  # the contact of each opportunity
    ids: pa.Array
    amount: np.ndarray
    stage: np.ndarray
    status: np.ndarray
    close: np.ndarray
    history: pa.Table
    moves: list[tuple[str, str, float]]  # each planted close-date move, in days


# open deals: their expected close date, days after the as-of date; the share of the
# open deals past their first stage whose close date moved then (later, earlier)
OPEN_CLOSE_DAYS = (7.0, 120.0)
PUSHED_SHARE, PULLED_SHARE = 0.35, 0.10


def _opportunities(rng: np.random.Generator, sc: Scenario, co: _Company) -> _Opportunities:
    """An opportunity per contact that reached the stage: amount, status, close day,
    and its stage history (discovery, solution, then won or lost)."""
    horizon, reached = co.horizon, co.reached
    opp = np.flatnonzero(~np.isnan(reached[:, 4]))
    amount = np.round(rng.lognormal(np.log(sc.deal_median), 0.55, opp.size), -2)
    won = ~np.isnan(reached[opp, 5])
    lost = co.exit_kind[opp] == "closed_lost"
    status = np.where(won, "won", np.where(lost, "lost", "open"))
    close = np.where(won, reached[opp, 5], np.where(lost, co.exit_at[opp], np.nan))
    # expected close dates and their moves, from a generator of their own: the rest of
    # the company stays what the seed made it
    aux = np.random.default_rng([opp.size, int(amount.sum()) % 2**31])
    is_open = ~(won | lost)
    close = np.where(is_open, horizon + aux.uniform(*OPEN_CLOSE_DAYS, opp.size), close)
    age = horizon - reached[opp, 4]
    open_stage = np.where(age > 30, "proposal", np.where(age > 10, "solution", "discovery"))
    opp_stage = np.where(won, "closed_won", np.where(lost, "closed_lost", open_stage))
    opp_ids = _ids("O", opp.size)
    hist_ids, hist_stage, hist_t, hist_amt = (
        [opp_ids],
        ["discovery"] * opp.size,
        [reached[opp, 4]],
        [amount],
    )
    mid = np.flatnonzero(won | lost | (age > 10))
    # an open deal past its first stage may have had its close date moved then: the
    # first stage's row holds the first date, the next row today's
    draw = aux.random(opp.size)
    shift = np.where(draw < PUSHED_SHARE, -aux.uniform(20, 75, opp.size), 0.0)
    shift = np.where(draw > 1 - PULLED_SHARE, aux.uniform(20, 60, opp.size), shift)
    moved = np.zeros(opp.size, dtype=bool)
    moved[mid] = True
    shift = np.where(moved & is_open, np.round(shift, 3), 0.0)
    first_close = np.where(is_open, close + shift, np.nan)
    hist_close = [first_close]
    hist_ids.append(pc.take(opp_ids, pa.array(mid)))
    hist_stage += ["solution"] * mid.size
    end_t = np.where(np.isnan(close), horizon, close)
    hist_t.append(reached[opp[mid], 4] + np.minimum(10, (end_t[mid] - reached[opp[mid], 4]) / 2))
    hist_amt.append(amount[mid])
    hist_close.append(np.where(is_open[mid], close[mid], np.nan))
    fin = np.flatnonzero(won | lost)
    hist_ids.append(pc.take(opp_ids, pa.array(fin)))
    hist_stage += list(opp_stage[fin])
    hist_t.append(close[fin])
    hist_amt.append(amount[fin])
    hist_close.append(close[fin])
    history = pa.table(
        {
            "opportunity_id": pa.concat_arrays(hist_ids),
            "stage": pa.array(hist_stage),
            "ts": _ts(co.origin, np.concatenate(hist_t)),
            "amount": pa.array(np.concatenate(hist_amt)),
            "close_date": _ts(co.origin, np.concatenate(hist_close)),
        }
    )
    # one fact per planted move: the deal, and the days its close date moved (+: later)
    moved = pc.filter(opp_ids, pa.array(shift != 0)).to_pylist()
    days = (-shift[shift != 0]).tolist()
    moves = list(zip(["close_date_moved"] * len(moved), moved, days, strict=True))
    return _Opportunities(opp, opp_ids, amount, opp_stage, status, close, history, moves)


def _truth(sc: Scenario, co: _Company, untouched: np.ndarray) -> list[tuple[str, str, float]]:
    """The facts planted in the company, which the analyses are tested to recover."""
    reached, horizon, k = co.reached, co.horizon, len(STEPS)
    truth: list[tuple[str, str, float]] = [("scenario", sc.name, 1.0)]
    weight_verdict = {"balanced": 0.0, "top-heavy": 1.0, "bottom-heavy": -1.0}[sc.name]
    truth.append(("weight", sc.name, weight_verdict))
    for step in range(k - 1):
        s = STEPS[step]
        # realised rate among contacts whose outcome is known (mature: entered a year ago)
        mature = reached[:, step] <= horizon - 365
        entered = mature & ~np.isnan(reached[:, step])
        rate = (~np.isnan(reached[entered, step + 1])).mean() if entered.any() else np.nan
        truth.append(("conversion", s, float(rate)))
        truth.append(("planted_conversion", s, sc.conversion[step]))
        truth.append(("median_delay_days", s, float(DELAY_MEDIAN[step])))
        for c, name in enumerate(CHANNELS):
            sel = entered & (co.channel == c)
            if sel.sum() >= 30:
                r = (~np.isnan(reached[sel, step + 1])).mean()
                truth.append((f"conversion.{name}", s, float(r)))
    for c, name in enumerate(CHANNELS):
        truth.append(("channel_lift", name, float(CHANNEL_LIFT[c])))
    mql_reached = (~np.isnan(reached[:, 1])).sum()
    truth.append(("untouched_mql_share", "mql", untouched.size / max(mql_reached, 1)))
    for seg, share in sc.spend_share.items():
        truth.append(("spend_share", seg, share))
    truth.append(("intent_multiplier", "pricing_page", 1.6))
    for t, mult in TITLES:
        truth.append(("title_multiplier", t, mult))
    truth.append(("deal_median", "amount", sc.deal_median))
    return truth


def _creation_days(rng: np.random.Generator, n: int, trend: float, horizon: float) -> np.ndarray:
    """Creation times whose density grows (or shrinks) linearly by ``trend`` over history."""
    u = rng.random(n)
    if abs(trend - 1) < 1e-9:
        return u * horizon
    # inverse CDF of a density proportional to 1 + (trend - 1) x on [0, 1]
    a = trend - 1
    x = (-1 + np.sqrt(1 + a * (a + 2) * u)) / a
    return x * horizon
