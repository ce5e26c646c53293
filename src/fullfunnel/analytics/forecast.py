"""A Monte Carlo bookings forecast of one period, as of one date.

Bookings = already won + open opportunities that close won inside the period
+ opportunities not yet created that are created and won inside it.

* Each open deal wins inside the period with its probability by age (from past
  cohorts whose outcome is known, see :func:`fullfunnel.analytics.rates.conditional_yield`),
  at its recorded amount. The largest deals are drawn one by one; the sum of the
  many small rest is drawn from its normal limit with the exact mean and variance.
* New deals arrive at the recent creation pace; each wins inside the period with
  the chance that a deal created that day closes won by the period end (history
  of time to close). Their wins are Poisson; amounts are resampled from recent wins.

Only aggregates and the open-deal arrays leave the engine; NumPy simulates,
seeded with ``numpy.random.default_rng(seed)``, in chunks to bound memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from fullfunnel._aggregates import count_if
from fullfunnel._dates import DAYS_PER_QUARTER, at_each, days_between
from fullfunnel.analytics.bookings import booked_by, bookings, bookings_by_week, period_target
from fullfunnel.analytics.deals import open_deals, open_or_known
from fullfunnel.analytics.metrics import deal_kpis
from fullfunnel.analytics.period import current_quarter, resolve_as_of
from fullfunnel.analytics.targets import parse_amount, period_bounds
from fullfunnel.analytics.vantage import Vantage, by_vantage
from fullfunnel.config import Config, default_config
from fullfunnel.errors import InputError
from fullfunnel.result import Result, count
from fullfunnel.warehouse import Warehouse

QUANTILES = (0.1, 0.5, 0.9)
CURVE_STEP_DAYS = 7.0


def simulate(
    amounts: np.ndarray,
    probabilities: np.ndarray,
    *,
    sims: int,
    seed: int = 0,
    chunk: int = 2000,
    exact: int = 0,
    new_wins: float = 0.0,
    new_amounts: np.ndarray | None = None,
) -> np.ndarray:
    """Simulated totals: each deal wins with its probability; plus Poisson new wins.

    ``exact`` > 0 draws only the ``exact`` largest deals one by one and the sum of
    the rest from a normal with its exact mean and variance (clipped at 0).

    >>> t = simulate(np.array([100.0, 50.0]), np.array([0.5, 1.0]), sims=10_000, seed=1)
    >>> round(float(t.mean()) / 10) * 10
    100
    """
    amounts = np.asarray(amounts, dtype=float)
    probabilities = np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0)
    # largest first; equal amounts by probability, so the draws do not depend on the
    # order the engine returned the deals in
    order = np.lexsort((probabilities, -amounts))
    amounts, probabilities = amounts[order], probabilities[order]
    n_exact = amounts.size if exact <= 0 else min(exact, amounts.size)
    a_e, p_e = amounts[:n_exact], probabilities[:n_exact]
    a_r, p_r = amounts[n_exact:], probabilities[n_exact:]
    rest_mean = float(np.dot(a_r, p_r))
    rest_sd = float(np.sqrt(np.dot(a_r * a_r, p_r * (1 - p_r))))
    pool = np.asarray(new_amounts if new_amounts is not None else [], dtype=float)
    if new_wins > 0 and pool.size == 0:
        raise InputError("new pipeline needs past won amounts to draw from; none were found")
    rng = np.random.default_rng(seed)
    p_e32 = p_e.astype(np.float32)  # float32 draws: half the memory traffic
    out = np.empty(sims)
    # rows of the Bernoulli matrix per chunk, so that a chunk stays near 16 MB
    rows = max(1, min(chunk, 2_000_000 // max(n_exact, 1)))
    for lo in range(0, sims, rows):
        c = min(rows, sims - lo)
        total = np.zeros(c)
        if n_exact:
            wins = rng.random((c, n_exact), dtype=np.float32) < p_e32
            total += wins @ a_e
        if a_r.size:
            total += np.maximum(rng.normal(rest_mean, rest_sd, c), 0.0)
        if new_wins > 0:
            k = rng.poisson(new_wins, c)
            draws = pool[rng.integers(0, pool.size, int(k.sum()))]
            total += np.bincount(np.repeat(np.arange(c), k), weights=draws, minlength=c)
        out[lo : lo + c] = total
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class ForecastResult(Result):
    """P10/P50/P90 bookings of a period, P(hit target) and where the bookings come from."""

    title = "forecast"
    commit: pd.DataFrame
    by_team: pd.DataFrame
    by_segment: pd.DataFrame
    distribution: pd.DataFrame
    period_start: datetime
    period_end: datetime
    as_of: datetime
    target: float | None
    booked: float
    p10: float
    p50: float
    p90: float
    mean: float
    probability_hit: float | None
    expected_new_wins: float
    open_count: int
    open_amount: float
    overdue_count: int
    overdue_amount: float
    unpriced_count: int  # open deals with no amount yet, counted at 0
    expected_open: float
    expected_new: float
    expected_wins: float
    actual: float | None
    sims: int
    seed: int
    # bookings week by week up to ``as_of`` (the line the report draws to the fan)
    booked_by_week: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    # the call by forecast category (closed, commit, best case, pipeline, omitted), each
    # with what the model expects of it and the chance to book at least the call
    by_category: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    category_source: str = ""  # where the deals' categories come from

    def headline(self) -> list[str]:
        last = self.period_end - timedelta(days=1)
        lines = [
            f"{self.period_start:%Y-%m-%d}..{last:%Y-%m-%d} bookings forecast as of "
            f"{self.as_of:%Y-%m-%d}: P50 {self.p50:,.0f} (P10 {self.p10:,.0f} – P90 "
            f"{self.p90:,.0f}); already won {self.booked:,.0f}"
        ]
        if self.target is not None and self.probability_hit is not None:
            lines.append(
                f"chance to hit the target of {self.target:,.0f}: {self.probability_hit:.0%}"
            )
        if self.actual is not None:
            inside = self.p10 <= self.actual <= self.p90
            lines.append(
                f"the period has ended: it booked {self.actual:,.0f}, "
                + ("inside" if inside else "outside")
                + f" this forecast's P10–P90 (P50 off by {self.p50 - self.actual:+,.0f})"
            )
        for r in self.commit.itertuples():
            if r.category == "new pipeline" and r.expected > 0:
                lines.append(
                    f"new pipeline: about {r.deals:.1f} deals still to be created and won "
                    f"inside the period, expected {r.expected:,.0f}"
                )
            elif r.category != "won" and r.expected > 0:
                lines.append(
                    f"{r.category}: {r.deals:,.0f} open deals, {r.amount:,.0f} in pipeline, "
                    f"expected {r.expected:,.0f}"
                )
        lines.extend(self._calls())
        if self.unpriced_count:
            lines.append(
                f"{self.unpriced_count:,} open deals have no amount yet: counted at 0 "
                "(give them an amount in the CRM to count them)"
            )
        return lines

    def _calls(self) -> list[str]:
        """The commit and best-case calls against the model, when categories exist."""
        if self.by_category.empty or "the CRM" not in self.category_source:
            return []  # the model's own chances are in the commit table already
        rows = self.by_category.set_index("category")
        lines = []
        for name in ("commit", "best_case"):
            if name not in rows.index or not rows.loc[name, "deals"]:
                continue
            r = rows.loc[name]
            lines.append(
                f"{name.replace('_', ' ')} call {r.call:,.0f} (won + {name.replace('_', ' ')}"
                f"{' + commit' if name == 'best_case' else ''}): the model expects "
                f"{r.expected:,.0f} of its {r.deals:,.0f} open {name.replace('_', ' ')} deals' "
                f"{r.amount:,.0f}; chance to book at least the call: {r.call_probability:.0%}"
            )
        if lines:
            lines.append(f"categories: {self.category_source}")
        return lines


def forecast(
    wh: Warehouse,
    *,
    period: str | None = None,
    as_of: str | datetime | None = None,
    target: str | float | None = None,
    sims: int | None = None,
    seed: int | None = None,
    config: Config | None = None,
) -> ForecastResult:
    """Monte Carlo bookings of ``period`` (default: the quarter of ``as_of``) as of
    ``as_of``; seeded and reproducible.

    >>> import fullfunnel as ff
    >>> ff.forecast(ff.connect("duckdb://:memory:"), period="2026-Q4", as_of="2026-11-01").p50
    0.0
    """
    config = config or default_config()
    as_of_dt = resolve_as_of(wh, as_of)
    period = period or current_quarter(as_of_dt)
    start, end = period_bounds(period)
    goal = parse_amount(target) if target is not None else period_target(wh, start, end).amount
    actual = None
    if end <= as_of_dt:  # a review: the forecast made at the period's start, and the actual
        actual = bookings(wh, start, end, as_of=as_of_dt).amount
        as_of_dt = start
    at = Vantage(as_of_dt, start, end)
    key = ("forecast", at, sims, seed, goal, config.fingerprint)
    made = wh.memo(
        key,
        lambda: forecasts(wh, [at], sims=sims, seed=seed, config=config, targets=[goal])[0],
        reads=("opportunities", "opportunity_history", "accounts"),
    )
    weeks = bookings_by_week(wh, start, end, as_of=as_of_dt)
    return dataclasses.replace(made, actual=actual, booked_by_week=weeks)


def forecasts(
    wh: Warehouse,
    at: Sequence[Vantage],
    *,
    sims: int | None = None,
    seed: int | None = None,
    config: Config | None = None,
    targets: Sequence[float | None] | None = None,
) -> list[ForecastResult]:
    """The forecast at each vantage (its period, as of its date), every one read from
    the same few queries; ``targets`` (one per vantage) give P(hit target)."""
    config = config or default_config()
    cfg = config["forecast"]
    sims = sims or cfg["sims"]
    seed = cfg["seed"] if seed is None else seed
    if not 100 <= sims <= 10_000_000:  # the totals of every run are held in memory
        raise InputError(f"sims {sims}: use 100 to 10,000,000 runs", option="sims")
    if seed < 0:  # numpy seeds are non-negative
        raise InputError(f"seed {seed}: use a whole number 0 or above", option="seed")
    booked = booked_by(wh, at)
    deals, _ = open_deals(wh, at, config=config, segment_column=cfg["segment_column"] or None)
    arrivals = new_pipeline(wh, at, config=config)

    goals = targets if targets is not None else [None] * len(at)
    parts = zip(at, booked, by_vantage(deals, len(at), "vantage"), arrivals, goals, strict=True)
    return [_simulated(*part, sims, seed, cfg) for part in parts]


def _simulated(
    at: Vantage,
    booked: tuple[float, int],
    deals: pd.DataFrame,
    arrivals: tuple[float, np.ndarray],
    goal: float | None,
    sims: int,
    seed: int,
    cfg: dict,
) -> ForecastResult:
    """One vantage's forecast from what the engine returned for it."""
    booked_amt, booked_n = booked
    new_wins, pool = arrivals
    # an open deal without an amount yet books nothing it can be counted on for
    unpriced = int(deals["amount"].isna().sum())
    deals = deals.assign(amount=deals["amount"].fillna(0.0))
    totals = booked_amt + simulate(
        deals["amount"].to_numpy(dtype=float),
        deals["probability"].to_numpy(),
        sims=sims,
        seed=seed,
        chunk=cfg["chunk"],
        exact=cfg["exact_opportunities"],
        new_wins=new_wins,
        new_amounts=pool,
    )
    q = np.quantile(totals, QUANTILES)
    new_expected = new_wins * float(pool.mean()) if pool.size else 0.0
    deals = deals.assign(expected=deals["amount"] * deals["probability"])
    by_category, source = _categories(deals, booked_amt, booked_n, totals, cfg)
    amounts = deals["amount"]
    late = deals["overdue"].astype(bool)
    return ForecastResult(
        commit=_commit(deals, booked_amt, booked_n, new_wins, new_expected, cfg),
        by_team=_by(deals, "owner_team", new_expected),
        by_segment=_by(deals, "segment", new_expected),
        distribution=pd.DataFrame(
            {
                "quantile": np.arange(0.05, 1.0, 0.05).round(2),
                "bookings": np.quantile(totals, np.arange(0.05, 1.0, 0.05)),
            }
        ),
        period_start=at.start,
        period_end=at.end,
        as_of=at.as_of,
        target=goal,
        booked=booked_amt,
        p10=float(q[0]),
        p50=float(q[1]),
        p90=float(q[2]),
        mean=float(totals.mean()),
        probability_hit=float((totals >= goal).mean()) if goal is not None else None,
        expected_new_wins=new_wins,
        open_count=int((~late).sum()),
        open_amount=float(amounts[~late].sum()),
        overdue_count=int(late.sum()),
        overdue_amount=float(amounts[late].sum()),
        unpriced_count=unpriced,
        expected_open=float(deals["expected"].sum()),
        expected_new=new_expected,
        expected_wins=float(deals["probability"].sum()) + new_wins,
        actual=None,
        sims=sims,
        seed=seed,
        by_category=by_category,
        category_source=source,
    )


def new_pipeline(
    wh: Warehouse, at: Sequence[Vantage], *, config: Config
) -> list[tuple[float, np.ndarray]]:
    """At each vantage: expected wins inside its period from deals created after its
    ``as_of``, and the recent won amounts to draw theirs from.

    Pace λ (deals created per day, recent) × ∫ P(created on day u wins in the
    period) du, where P comes from the time-to-win curve G(x) = share of deals
    that won within x days of creation, over cohorts old enough to know.
    """
    pace_days = config["plan"]["pace_days"]
    window = config["metrics"]["window_quarters"] * DAYS_PER_QUARTER
    longest = max(v.horizon_days for v in at)
    xs = np.arange(0.0, longest + CURVE_STEP_DAYS, CURVE_STEP_DAYS)
    bounds = []
    for k, v in enumerate(at):
        # new wins are drawn from the wins behind the shared average deal
        kpi = deal_kpis(wh, as_of=v.as_of, config=config).window
        row: dict[str, datetime | float] = {
            "_v": k,
            "_lately": v.as_of - timedelta(days=pace_days),
            "_recent": kpi.start,
            "_recent_end": kpi.end,
        }
        for j, x in enumerate(xs):
            row[f"_lo_{j}"] = v.as_of - timedelta(days=window + x)
            row[f"_hi_{j}"] = v.as_of - timedelta(days=x)
        bounds.append(row)
    opps = at_each(open_or_known(wh, at), bounds, on="_v")
    won_at = days_between(opps.created_at, opps.close_date)
    is_won = opps._known & (opps.status == "won")
    aggs = {"pace": count_if(opps.created_at > opps._lately)}
    for j, x in enumerate(xs):
        cohort = (opps.created_at >= opps[f"_lo_{j}"]) & (opps.created_at <= opps[f"_hi_{j}"])
        aggs[f"n_{j}"] = count_if(cohort)
        aggs[f"w_{j}"] = count_if(cohort & is_won & (won_at <= x))
    counts = by_vantage(opps.group_by("_v").aggregate(**aggs).execute(), len(at))
    recent = opps.filter(
        is_won, opps.close_date >= opps._recent, opps.close_date < opps._recent_end
    ).select("_v", "amount")
    out = []
    for v, r, won in zip(at, counts, by_vantage(recent.execute(), len(at)), strict=True):
        mine = xs[xs < v.horizon_days + CURVE_STEP_DAYS]  # this vantage's curve points
        n = np.array([count(r[f"n_{j}"].sum()) for j in range(mine.size)])  # one row or none
        w = np.array([count(r[f"w_{j}"].sum()) for j in range(mine.size)])
        pace = count(r["pace"].sum()) / pace_days
        # sorted: draws index into the pool, so its order must not depend on the engine
        pool = np.sort(won["amount"].to_numpy(dtype=float))
        out.append((_expected_new_wins(v, mine, n, w, pace), pool))
    return out


def _expected_new_wins(
    at: Vantage, xs: np.ndarray, n: np.ndarray, w: np.ndarray, pace: float
) -> float:
    """λ × ∫ (G(end − u) − G(start − u)) du over the creation days u after ``as_of``."""
    curve = np.maximum.accumulate(np.where(n > 0, w / np.maximum(n, 1), 0.0))
    horizon, skip = at.horizon_days, at.skip_days
    u = np.linspace(0.0, horizon, 200, endpoint=False) + horizon / 400
    g_end = np.interp(horizon - u, xs, curve)
    g_start = np.where(skip - u > 0, np.interp(np.maximum(skip - u, 0), xs, curve), 0.0)
    return pace * float(np.mean(g_end - g_start)) * horizon


def _tier(p: np.ndarray, cfg: dict, names: tuple[str, str, str]) -> np.ndarray:
    """Each chance's tier: at least ``likely_probability``, at least
    ``possible_probability``, or below, named ``names``."""
    likely, possible, rest = names
    return np.where(
        p >= cfg["likely_probability"],
        likely,
        np.where(p >= cfg["possible_probability"], possible, rest),
    )


def _commit(deals, booked_amt, booked_n, new_wins, new_expected, cfg) -> pd.DataFrame:
    cats = _tier(
        deals["probability"].to_numpy(dtype=float), cfg, ("likely", "possible", "long shot")
    )
    g = deals.assign(category=cats).groupby("category")
    parts = g.agg(deals=("amount", "size"), amount=("amount", "sum"), expected=("expected", "sum"))
    parts = parts.reindex(["likely", "possible", "long shot"], fill_value=0).reset_index()
    won = pd.DataFrame(
        [{"category": "won", "deals": booked_n, "amount": booked_amt, "expected": booked_amt}]
    )
    new = pd.DataFrame(
        [
            {
                "category": "new pipeline",
                "deals": new_wins,
                "amount": float("nan"),
                "expected": new_expected,
            }
        ]
    )
    out = pd.concat([won, parts, new], ignore_index=True)
    out["deals"] = out["deals"].astype(float)
    return out


CATEGORIES = ("closed", "commit", "best_case", "pipeline", "omitted")
# the CRMs' spellings (Salesforce ForecastCategoryName, HubSpot's forecast category)
_SPELLINGS = {"omit": "omitted", "bestcase": "best_case", "best case": "best_case"}


def _categories(
    deals: pd.DataFrame, booked_amt: float, booked_n: int, totals: np.ndarray, cfg: dict
) -> tuple[pd.DataFrame, str]:
    """The forecast rolled up by category: each open deal's CRM forecast category, else
    its CRM probability, else the model's chance, read against ``likely_probability``
    (commit) and ``possible_probability`` (best case). The call of a category adds it
    to the won and to the categories above it; its chance is P(bookings ≥ call)."""
    p_model = deals["probability"].to_numpy(dtype=float)
    crm_p = deals.get("crm_probability", pd.Series(np.nan, index=deals.index)).to_numpy(float)
    by_p = np.where(np.isnan(crm_p), p_model, crm_p)
    from_p = _tier(by_p, cfg, ("commit", "best_case", "pipeline"))
    named = deals.get("crm_category", pd.Series(None, index=deals.index, dtype=object))
    named = named.astype("string").str.strip().str.lower().replace(_SPELLINGS)
    category = named.where(named.isin(CATEGORIES), None).fillna(pd.Series(from_p, deals.index))
    sources = {
        "the CRM's forecast category": int(named.isin(CATEGORIES).sum()),
        "the CRM's probability": int((~named.isin(CATEGORIES) & ~np.isnan(crm_p)).sum()),
        "the model's chance": int((~named.isin(CATEGORIES) & np.isnan(crm_p)).sum()),
    }
    source = ", ".join(f"{where} for {n:,}" for where, n in sources.items() if n)
    g = deals.assign(category=category.to_numpy()).groupby("category")
    rows = g.agg(deals=("amount", "size"), amount=("amount", "sum"), expected=("expected", "sum"))
    rows = rows.reindex(list(CATEGORIES), fill_value=0)
    rows.loc["closed"] += [booked_n, booked_amt, booked_amt]
    rows["call"] = rows["amount"].cumsum()
    rows.loc["omitted", "call"] = np.nan  # an omitted deal is in no call
    rows["call_probability"] = [
        float((totals >= call).mean()) if not np.isnan(call) else np.nan for call in rows["call"]
    ]
    rows["expected_share"] = (rows["expected"] / rows["amount"]).where(rows["amount"] > 0)
    return rows.reset_index(), source or "no open deals"


def _by(deals: pd.DataFrame, column: str, new_expected: float) -> pd.DataFrame:
    if column not in deals.columns:
        frame = pd.DataFrame(columns=[column, "deals", "amount", "expected"])
    else:
        frame = (
            deals.assign(**{column: deals[column].fillna("(none)")})
            .groupby(column, as_index=False)
            .agg(deals=("amount", "size"), amount=("amount", "sum"), expected=("expected", "sum"))
            .sort_values("expected", ascending=False, ignore_index=True)
        )
    new = pd.DataFrame(
        [{column: "new pipeline", "deals": 0, "amount": 0.0, "expected": new_expected}]
    )
    return pd.concat([frame, new], ignore_index=True)
