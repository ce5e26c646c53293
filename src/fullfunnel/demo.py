"""A synthetic B2B company with planted truth, generated with vectorised NumPy.

Each contact walks the stage model: at every step it converts with a
stage-specific probability (scaled by its source channel's lift and its title's
seniority), after a lognormal delay; the rest exit (disqualified, recycled,
closed lost) or stay where they are. Journeys still under way at ``as_of`` are
cut there. Touchpoints follow the journey: marketing before and around the MQL,
bdr after it (except for a planted share of MQLs that bdr never touches), sales
after the SQL, account management after the sale, and marketing content aimed at
each segment in proportion to the scenario's effort split.

Scenarios plant known facts: ``top-heavy`` (spend and touches mostly at the top,
leads pile up, weak middle and bottom conversion), ``bottom-heavy`` (little top
effort, lead volume falling, high close rate) and ``balanced``. Every planted
fact is written to ``demo_truth`` (fact, subject, value) so tests can check that
each analysis recovers it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fullfunnel._dates import now
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.warehouse import Warehouse

DAY_US = 86_400_000_000
HISTORY_DAYS = 730
STEPS = ("lead", "mql", "sal", "sql", "opportunity", "customer", "advocate")

CHANNELS = (
    "paid_search",
    "paid_social",
    "seo",
    "content",
    "webinar",
    "events",
    "email",
    "referral",
    "partner",
    "outbound",
)
CHANNEL_MIX = np.array([0.16, 0.12, 0.18, 0.12, 0.08, 0.06, 0.06, 0.06, 0.06, 0.10])
# True multiplier on lead→mql and mql→sal conversion by source channel.
CHANNEL_LIFT = np.array([1.0, 0.7, 1.1, 0.9, 1.3, 1.2, 0.8, 1.9, 1.4, 0.8])
# Share of later marketing touches that come through the contact's source channel.
SOURCE_RETURN = 0.2
TITLES = (
    ("Chief Revenue Officer", 1.6),
    ("VP Marketing", 1.5),
    ("VP Sales", 1.5),
    ("Director of Operations", 1.25),
    ("Head of Growth", 1.25),
    ("Marketing Manager", 1.0),
    ("Sales Manager", 1.0),
    ("Analyst", 0.75),
    ("Coordinator", 0.7),
    ("Student", 0.35),
)
TITLE_MIX = np.array([0.03, 0.05, 0.05, 0.08, 0.07, 0.2, 0.15, 0.17, 0.12, 0.08])
INDUSTRIES = ("software", "financial services", "manufacturing", "healthcare", "retail")
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU")

# channel → (tactic, kind, segment) of the marketing touches it carries
CHANNEL_TACTIC = {
    "paid_search": ("paid_search_ads", "ad_click", "tofu"),
    "paid_social": ("paid_social_ads", "ad_click", "tofu"),
    "seo": ("seo_content", "web_visit", "tofu"),
    "content": ("gated_content", "form_fill", "tofu"),
    "webinar": ("webinars", "webinar", "tofu"),
    "events": ("trade_shows", "event", "tofu"),
    "email": ("nurture_email", "email", "mofu"),
    "referral": ("referral_program", "web_visit", "post"),
    "partner": ("partner_co_marketing", "meeting", "tofu"),
    "outbound": ("cold_outbound", "call", "tofu"),
}
# tactics marketing runs for contacts already in a segment: (tactic, channel, kind)
SEGMENT_TACTICS = {
    "mofu": [
        ("nurture_email", "email", "email"),
        ("retargeting_ads", "paid_social", "ad_click"),
        ("analyst_report", "content", "form_fill"),
    ],
    "bofu": [
        ("case_studies", "content", "web_visit"),
        ("roi_calculator", "content", "form_fill"),
        ("pricing_page_retargeting", "paid_search", "ad_click"),
        ("customer_reference_program", "events", "meeting"),
    ],
    "post": [
        ("customer_webinars", "webinar", "webinar"),
        ("advocacy_program", "email", "email"),
    ],
}


@dataclasses.dataclass(frozen=True)
class Scenario:
    """The generating parameters of one demo company."""

    name: str
    conversion: tuple[float, ...]  # lead→mql … customer→advocate
    spend_share: dict[str, float]  # tofu, mofu, bofu, post
    tofu_touches: float  # marketing touches per lead
    segment_touches: dict[str, float]  # marketing touches per contact in mofu/bofu/post
    volume_trend: float  # ratio of the last month's new leads to the first month's
    deal_median: float
    untouched_mql_share: float = 0.12
    exit_share: tuple[float, ...] = (0.25, 0.55, 0.6, 0.6, 1.0, 0.0)
    target_factor: float = 1.15


SCENARIOS = {
    "balanced": Scenario(
        name="balanced",
        conversion=(0.20, 0.55, 0.65, 0.55, 0.30, 0.15),
        spend_share={"tofu": 0.42, "mofu": 0.25, "bofu": 0.25, "post": 0.08},
        tofu_touches=3.0,
        segment_touches={"mofu": 2.0, "bofu": 2.0, "post": 1.0},
        volume_trend=1.6,
        deal_median=30_000,
    ),
    "top-heavy": Scenario(
        name="top-heavy",
        conversion=(0.22, 0.28, 0.42, 0.35, 0.14, 0.08),
        spend_share={"tofu": 0.76, "mofu": 0.12, "bofu": 0.07, "post": 0.05},
        tofu_touches=5.5,
        segment_touches={"mofu": 1.0, "bofu": 0.3, "post": 0.3},
        volume_trend=2.2,
        deal_median=25_000,
        exit_share=(0.1, 0.25, 0.3, 0.35, 1.0, 0.0),
    ),
    "bottom-heavy": Scenario(
        name="bottom-heavy",
        conversion=(0.24, 0.62, 0.72, 0.62, 0.42, 0.22),
        spend_share={"tofu": 0.14, "mofu": 0.18, "bofu": 0.56, "post": 0.12},
        tofu_touches=1.5,
        segment_touches={"mofu": 2.5, "bofu": 4.0, "post": 1.5},
        volume_trend=0.35,
        deal_median=40_000,
        target_factor=1.6,
    ),
}

# median days and lognormal sigma of each step's delay (lead→mql … customer→advocate)
DELAY_MEDIAN = np.array([12.0, 1.5, 8.0, 6.0, 40.0, 120.0])
DELAY_SIGMA = 0.7
EXIT_MEDIAN = np.array([45.0, 10.0, 12.0, 14.0, 50.0, 60.0])


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    scenario: str
    seed: int
    as_of: datetime
    rows: dict[str, int]


def generate_demo(
    wh: Warehouse,
    *,
    scenario: str = "balanced",
    contacts: int = 20_000,
    seed: int = 7,
    as_of: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    force: bool = False,
) -> DemoSummary:
    """Generate a demo company into ``wh`` (replacing its tables) and plant the truth.

    A warehouse that holds data of its own (loaded files, or rows that no demo
    wrote) is refused unless ``force``: the demo would replace it.

    >>> import fullfunnel as ff
    >>> wh = ff.connect("duckdb://:memory:")
    >>> ff.generate_demo(wh, contacts=500, seed=1).rows["contacts"]
    500
    """
    if scenario not in SCENARIOS:
        raise InputError(
            f"unknown scenario {scenario!r}; use {', '.join(SCENARIOS)}."
            + did_you_mean(scenario, list(SCENARIOS))
        )
    if contacts < 100:
        raise InputError("contacts must be at least 100 for a meaningful demo", option="contacts")
    if not force:
        _refuse_real_data(wh)
    as_of = (as_of or now()).replace(hour=0, minute=0, second=0, microsecond=0)
    say = progress or (lambda _msg: None)
    say("simulating journeys")
    tables = _simulate(SCENARIOS[scenario], contacts, seed, as_of)
    say("writing the warehouse")
    rows = wh.load_many(tables, replace=True)
    return DemoSummary(scenario=scenario, seed=seed, as_of=as_of, rows=rows)


def _refuse_real_data(wh: Warehouse) -> None:
    """Raise unless the warehouse is empty or holds only a demo."""
    loads = wh.count("loads")
    rows = {name: wh.count(name) for name in ("contacts", "opportunities", "touchpoints")}
    is_demo = wh.count("demo_truth") > 0
    if loads == 0 and (is_demo or not any(rows.values())):
        return
    held = ", ".join(f"{n:,} {name}" for name, n in rows.items() if n)
    held += f"{', ' if held else ''}{loads:,} file loads" if loads else ""
    raise InputError(
        f"the warehouse {wh.url} holds data that is not a demo's ({held}); the demo would "
        "replace it. Use another --db for the demo, or pass --force to replace that data"
    )


def _simulate(sc: Scenario, n: int, seed: int, as_of: datetime) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    origin = as_of - timedelta(days=HISTORY_DAYS)
    horizon = float(HISTORY_DAYS)  # as_of in days since origin

    # --- accounts and contacts -------------------------------------------------
    n_acc = max(10, n // 4)
    acc_industry = rng.integers(0, len(INDUSTRIES), n_acc)
    acc_employees = np.round(rng.lognormal(np.log(300), 1.2, n_acc)).astype(np.int64) + 5
    acc_country = rng.choice(len(COUNTRIES), n_acc, p=[0.45, 0.15, 0.12, 0.08, 0.1, 0.1])
    acc_created = rng.uniform(0, horizon, n_acc)
    acc_of = rng.integers(0, n_acc, n)
    created = _creation_days(rng, n, sc.volume_trend, horizon)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_MIX / CHANNEL_MIX.sum())
    title = rng.choice(len(TITLES), n, p=TITLE_MIX / TITLE_MIX.sum())
    seniority = np.array([t[1] for t in TITLES])[title]

    # --- journeys ------------------------------------------------------------------
    k = len(STEPS)
    reached = np.full((n, k), np.nan)
    reached[:, 0] = created
    exit_kind = np.full(n, "", dtype=object)
    exit_at = np.full(n, np.nan)
    alive = np.ones(n, dtype=bool)
    # a planted "intent" trait: high-intent contacts visit pricing and convert more
    intent = rng.random(n) < 0.15
    for step in range(k - 1):
        p = np.full(n, sc.conversion[step])
        if step <= 1:
            p = p * CHANNEL_LIFT[channel]
        if step <= 2:
            p = p * np.where(intent, 1.6, 1.0) * seniority
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
    stage_idx = np.where(~np.isnan(reached), np.arange(k), -1).max(axis=1)

    # --- stage events --------------------------------------------------------------
    ev_c, ev_stage, ev_t = [], [], []
    skip_sal = rng.random(n) < 0.2  # some CRMs never record SAL: implied from SQL
    for step in range(1, k):
        has = ~np.isnan(reached[:, step])
        if STEPS[step] == "sal":
            has &= ~skip_sal
        idx = np.flatnonzero(has)
        ev_c.append(idx)
        ev_stage.append(np.full(idx.size, step))
        ev_t.append(reached[idx, step])
    exit_codes = {"disqualified": k, "closed_lost": k + 1, "recycled": k + 2}
    for name, code in exit_codes.items():
        idx = np.flatnonzero(exit_kind == name)
        ev_c.append(idx)
        ev_stage.append(np.full(idx.size, code))
        ev_t.append(exit_at[idx])
    # a third of recycled contacts come back as MQLs later (re-MQL)
    rec = np.flatnonzero((exit_kind == "recycled") & (rng.random(n) < 1 / 3))
    back = exit_at[rec] + rng.lognormal(np.log(60), 0.5, rec.size)
    rec, back = rec[back <= horizon], back[back <= horizon]
    ev_c.append(rec)
    ev_stage.append(np.full(rec.size, 1))
    ev_t.append(back)
    ev_c, ev_stage, ev_t = np.concatenate(ev_c), np.concatenate(ev_stage), np.concatenate(ev_t)
    stage_names = np.array([*STEPS, "disqualified", "closed_lost", "recycled"])
    stage_owner = np.array(
        ["marketing", "bdr", "bdr", "sales", "sales", "am", "am", "bdr", "sales", "bdr"]
    )

    # --- touchpoints -----------------------------------------------------------------
    end_of = np.where(np.isnan(exit_at) | (exit_kind == "recycled"), horizon, exit_at)
    tp = _Touches(rng)
    mql_at = reached[:, 1]
    pre_end = np.where(np.isnan(mql_at), np.minimum(end_of, created + 90), mql_at)
    # marketing at the top: the source channel first, then the channel mix
    tp.add_first(created, channel)
    counts = rng.poisson(sc.tofu_touches * np.where(intent, 1.5, 1.0))
    who, when = tp.spread(counts, created, np.maximum(pre_end, created))
    mix = rng.choice(len(CHANNELS), who.size, p=CHANNEL_MIX)
    # contacts come back through the channel that brought them, so its lift shows in
    # the touches (a spawned stream: every other draw stays as it was)
    back = rng.spawn(1)[0].random(who.size) < SOURCE_RETURN
    tp.add_marketing(who, when, np.where(back, channel[who], mix))
    # planted intent: pricing page visits before the MQL
    pv = np.flatnonzero(intent)
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
    stuck_who, stuck_stage = _stuck_truth(created, ev_c, ev_stage, ev_t, tp, horizon)
    touches = tp.table(origin, acc_of)

    # --- opportunities -----------------------------------------------------------------
    opp = np.flatnonzero(~np.isnan(reached[:, 4]))
    amount = np.round(rng.lognormal(np.log(sc.deal_median), 0.55, opp.size), -2)
    won = ~np.isnan(reached[opp, 5])
    lost = exit_kind[opp] == "closed_lost"
    status = np.where(won, "won", np.where(lost, "lost", "open"))
    close = np.where(won, reached[opp, 5], np.where(lost, exit_at[opp], np.nan))
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
    hist_ids.append(pc.take(opp_ids, pa.array(mid)))
    hist_stage += ["solution"] * mid.size
    end_t = np.where(np.isnan(close), horizon, close)
    hist_t.append(reached[opp[mid], 4] + np.minimum(10, (end_t[mid] - reached[opp[mid], 4]) / 2))
    hist_amt.append(amount[mid])
    fin = np.flatnonzero(won | lost)
    hist_ids.append(pc.take(opp_ids, pa.array(fin)))
    hist_stage += list(opp_stage[fin])
    hist_t.append(close[fin])
    hist_amt.append(amount[fin])

    # --- spend and targets -----------------------------------------------------------
    spend = _spend(rng, sc, n, origin)
    won_t = reached[opp[won], 5]
    won_amt = amount[won]
    targets, quarter_truth = _targets(sc, as_of, origin, won_t, won_amt)

    # --- the truth ----------------------------------------------------------------------
    truth: list[tuple[str, str, float]] = [("scenario", sc.name, 1.0)]
    weight_verdict = {"balanced": 0.0, "top-heavy": 1.0, "bottom-heavy": -1.0}[sc.name]
    truth.append(("weight", sc.name, weight_verdict))
    for step in range(k - 1):
        s, t = STEPS[step], STEPS[step + 1]
        # realised rate among contacts whose outcome is known (mature: entered a year ago)
        mature = reached[:, step] <= horizon - 365
        entered = mature & ~np.isnan(reached[:, step])
        rate = (~np.isnan(reached[entered, step + 1])).mean() if entered.any() else np.nan
        truth.append(("conversion", s, float(rate)))
        truth.append(("planted_conversion", s, sc.conversion[step]))
        truth.append(("median_delay_days", s, float(DELAY_MEDIAN[step])))
        for c, name in enumerate(CHANNELS):
            sel = entered & (channel == c)
            if sel.sum() >= 30:
                r = (~np.isnan(reached[sel, step + 1])).mean()
                truth.append((f"conversion.{name}", s, float(r)))
    for c, name in enumerate(CHANNELS):
        truth.append(("channel_lift", name, float(CHANNEL_LIFT[c])))
    mql_reached = (~np.isnan(mql_at)).sum()
    truth.append(("untouched_mql_share", "mql", untouched.size / max(mql_reached, 1)))
    for seg, share in sc.spend_share.items():
        truth.append(("spend_share", seg, share))
    truth.append(("intent_multiplier", "pricing_page", 1.6))
    for t, mult in TITLES:
        truth.append(("title_multiplier", t, mult))
    truth.append(("deal_median", "amount", sc.deal_median))
    truth.extend(quarter_truth)

    contact_ids = _ids("C", n)
    account_ids = _ids("A", n_acc)
    return {
        "accounts": pa.table(
            {
                "account_id": account_ids,
                "name": pc.binary_join_element_wise("Account ", account_ids, ""),
                "industry": pa.array(np.array(INDUSTRIES)[acc_industry]),
                "employees": pa.array(acc_employees),
                "country": pa.array(np.array(COUNTRIES)[acc_country]),
                "created_at": _ts(origin, acc_created),
            }
        ),
        "contacts": pa.table(
            {
                "contact_id": contact_ids,
                "account_id": pc.take(account_ids, pa.array(acc_of)),
                "created_at": _ts(origin, created),
                "source_channel": pa.array(np.array(CHANNELS)[channel]),
                "owner_team": pa.array(stage_owner[np.maximum(stage_idx, 0)]),
                "owner_id": pa.array(np.char.add("rep", (acc_of % 12).astype(str))),
                "title": pa.array(np.array([t[0] for t in TITLES])[title]),
                "industry": pa.array(np.array(INDUSTRIES)[acc_industry[acc_of]]),
                "employees": pa.array(acc_employees[acc_of]),
                "country": pa.array(np.array(COUNTRIES)[acc_country[acc_of]]),
            }
        ),
        "stage_events": pa.table(
            {
                "contact_id": pc.take(contact_ids, pa.array(ev_c)),
                "stage": pa.array(stage_names[ev_stage]),
                "ts": _ts(origin, ev_t),
                "owner_team": pa.array(stage_owner[ev_stage]),
                "source": pa.array(np.full(ev_c.size, "demo")),
            }
        ),
        "touchpoints": touches.set_column(
            1, "contact_id", pc.take(contact_ids, touches["contact_id"])
        ).set_column(2, "account_id", pc.take(account_ids, touches["account_id"])),
        "opportunities": pa.table(
            {
                "opportunity_id": opp_ids,
                "account_id": pc.take(account_ids, pa.array(acc_of[opp])),
                "contact_id": pc.take(contact_ids, pa.array(opp)),
                "created_at": _ts(origin, reached[opp, 4]),
                "stage": pa.array(opp_stage),
                "status": pa.array(status),
                "amount": pa.array(amount),
                "close_date": _ts(origin, close),
                "owner_id": pa.array(np.char.add("ae", (opp % 8).astype(str))),
                "owner_team": pa.array(np.full(opp.size, "sales")),
            }
        ),
        "opportunity_history": pa.table(
            {
                "opportunity_id": pa.concat_arrays(hist_ids),
                "stage": pa.array(hist_stage),
                "ts": _ts(origin, np.concatenate(hist_t)),
                "amount": pa.array(np.concatenate(hist_amt)),
            }
        ),
        "spend": spend,
        "targets": targets,
        "demo_truth": pa.concat_tables(
            [
                pa.table(
                    {
                        "fact": [f for f, _, _ in truth],
                        "subject": [s for _, s, _ in truth],
                        "value": [float(v) for _, _, v in truth],
                    }
                ),
                pa.table(
                    {
                        "fact": pa.array(np.full(untouched.size, "untouched_mql")),
                        "subject": pc.take(contact_ids, pa.array(untouched)),
                        "value": pa.array(np.ones(untouched.size)),
                    }
                ),
                pa.table(
                    {
                        "fact": pa.array(np.full(stuck_who.size, "stuck")),
                        "subject": pc.take(contact_ids, pa.array(stuck_who)),
                        "value": pa.array(stuck_stage.astype(float)),
                    }
                ),
            ]
        ),
    }


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


def _creation_days(rng: np.random.Generator, n: int, trend: float, horizon: float) -> np.ndarray:
    """Creation times whose density grows (or shrinks) linearly by ``trend`` over history."""
    u = rng.random(n)
    if abs(trend - 1) < 1e-9:
        return u * horizon
    # inverse CDF of a density proportional to 1 + (trend - 1) x on [0, 1]
    a = trend - 1
    x = (-1 + np.sqrt(1 + a * (a + 2) * u)) / a
    return x * horizon


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


def _ids(prefix: str, n: int) -> pa.Array:
    digits = max(7, len(str(n)))
    text = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), digits, "0")
    return pc.binary_join_element_wise(prefix, text, "")


def _ts(origin: datetime, days: np.ndarray) -> pa.Array:
    """Days since ``origin`` (NaN for none) as UTC timestamps without a zone."""
    days = np.asarray(days, dtype=float)
    base = np.int64((origin - datetime(1970, 1, 1)).total_seconds() * 1_000_000)
    us = base + np.nan_to_num(days * DAY_US).astype(np.int64)
    return pa.array(us, pa.timestamp("us"), mask=np.isnan(days))
