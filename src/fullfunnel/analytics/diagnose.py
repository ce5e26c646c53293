"""Diagnose the funnel: one verdict with its evidence, the leaks, the people, the fix.

:func:`diagnose` composes the other analyses on one timeline: the weight verdict
and problem area (:mod:`~fullfunnel.analytics.weight`), the leaks in money
(:mod:`~fullfunnel.analytics.leakage`), stuck contacts
(:mod:`~fullfunnel.analytics.stuck`) and dropped handoffs
(:mod:`~fullfunnel.analytics.handoffs`) by team, and the playbook's tactics for
the problem area and the stage to work on first, with multithreading first when
open deals miss a buyer role whose engagement the closed deals show to win more
(:mod:`~fullfunnel.analytics.buying_group`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pandas as pd

from fullfunnel.analytics._economics import stage_economics
from fullfunnel.analytics.buying_group import buying_group
from fullfunnel.analytics.handoffs import HandoffsResult, measure_handoffs
from fullfunnel.analytics.leakage import LeakageResult, leak
from fullfunnel.analytics.period import snapshot_as_of
from fullfunnel.analytics.stats import TOO_CLOSE
from fullfunnel.analytics.stuck import StuckResult, find_stuck
from fullfunnel.analytics.weight import WeightResult, weigh
from fullfunnel.config import Config, default_config
from fullfunnel.lifecycle import held, timeline
from fullfunnel.playbook.recommend import recommend
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

LEAK_COLUMNS = ["stage", "next_stage", "owner", "rate", "rate_low", "rate_high", "benchmark"]
LEAK_COLUMNS += ["gap_to_benchmark", "what_if_bookings", "lost_revenue"]
ROLE_TACTIC = "multithreading"  # the playbook's tactic for a buyer role missing on deals


@dataclasses.dataclass(frozen=True, eq=False)
class DiagnoseResult(Result):
    """The diagnosis: evidence first, then leaks, people and tactics; parts in full."""

    title = "diagnose"
    evidence: pd.DataFrame
    leaks: pd.DataFrame
    teams: pd.DataFrame
    tactics: pd.DataFrame
    push: pd.DataFrame
    verdict: str
    problem_area: str
    focus_stage: str | None
    focus_reason: str | None
    weight: WeightResult
    leakage: LeakageResult
    stuck: StuckResult
    handoffs: HandoffsResult
    as_of: datetime
    by: str | None = None  # owner, manager, office or team: the people per group too
    buyer_gap: str | None = None  # open deals missing a buyer role shown to win more

    def tables(self) -> dict[str, pd.DataFrame]:
        out = super().tables()
        if self.by:  # the people per owner group: stuck, and handoffs
            out["stuck_by_" + self.by] = self.stuck.by_owner
            out["handoffs_by_" + self.by] = self.handoffs.by_owner
        return out

    def headline(self) -> list[str]:
        w = self.weight
        if w.data_note:  # no verdict and no money on thin data; the people still show
            return [f"Verdict: none — {w.data_note}", *self._people()]
        lines = [
            f"Verdict: {self.verdict.upper()} — problem area: {self.problem_area}"
            + (f" — work first on: {self.focus_stage}" if self.focus_stage else ""),
        ]
        if self.focus_reason:
            lines.append(f"  why {self.focus_stage}: {self.focus_reason}")
        decided = self.evidence[self.evidence["decides"] | (self.evidence["status"] == TOO_CLOSE)]
        for r in decided.itertuples():
            lines.append(f"  {r.finding} — threshold {r.threshold}: {r.status}")
        if w.bookings_target is not None:
            kpis = w.close_ratio
            lines.append(
                f"  target {w.bookings_target:,.0f} bookings per quarter ({w.target_period}), "
                f"average deal {w.average_deal or 0:,.0f}, win rate "
                + (f"{kpis:.1%}" if kpis is not None else "n/a")
            )
        pays = self.leaks[(self.leaks["what_if_bookings"] > 0) | (self.leaks["lost_revenue"] > 0)]
        if not self.leaks.empty and pays.empty:
            lines.append(
                "Where better conversion pays most per quarter: none measured (no stage "
                "loses money in the window)"
            )
        elif not self.leaks.empty:
            lines.append(
                f"Where better conversion pays most per quarter (at benchmark, and "
                f"+{self.leakage.lift_points:g} points):"
            )
            for r in self.leaks.itertuples():
                lines.append(f"  {_leak_line(r, self.leakage.lift_points)}")
        lk = self.leakage
        if lk.lift_stage and lk.lifted_bookings is not None and lk.baseline_bookings:
            lines.append(
                f"What-if: {lk.lift_stage} +{lk.lift_points:g} points → "
                f"{lk.lifted_bookings:,.0f} bookings per quarter (from {lk.baseline_bookings:,.0f})"
            )
        if self.buyer_gap:
            lines.append(f"Buying groups: {self.buyer_gap}")
        if not self.tactics.empty:
            lines.append(
                "Do next: " + "; ".join(f"{r.label} ({r.team})" for r in self.tactics.itertuples())
            )
        return lines + self._people()

    def _people(self) -> list[str]:
        """Stuck contacts, dropped handoffs and the leads to push (and per owner group)."""
        lines = [*self.stuck.summary(), *self.handoffs.summary()]
        if self.by and self.stuck.judged and not self.stuck.by_owner.empty:
            top = self.stuck.by_owner[self.stuck.by_owner["stuck"] > 0].head(3)
            lines.append(
                f"Most value at risk by {self.by}: "
                + "; ".join(
                    f"{getattr(r, self.by)} ({r.stuck:,} stuck, {r.value_at_risk:,.0f})"
                    for r in top.itertuples()
                )
            )
        if not self.push.empty:
            lines.append(
                "Push these high-score leads stalled in their stage: "
                + "; ".join(
                    f"{r.contact_id} ({r.stage}, {r.days_in_stage:.0f} days, score {r.score:.0%},"
                    f" {r.owner})"
                    for r in self.push.itertuples()
                )
            )
        return lines


def diagnose(
    wh: Warehouse,
    *,
    lift_stage: str | None = None,
    lift_points: float | None = None,
    by: str | None = None,
    as_of: str | datetime | None = None,
    period: str | None = None,
    config: Config | None = None,
) -> DiagnoseResult:
    """Verdict, problem area, evidence, leaks in money, stuck and dropped by team, tactics.

    >>> import fullfunnel as ff
    >>> ff.diagnose(ff.connect("duckdb://:memory:")).verdict
    'not enough data'
    """
    full = config or default_config()
    # conversion steps between the stages the data holds (as the funnel and plan count
    # them); stuck and handoffs look at each stage's entry, so they keep every stage
    config = held(wh, full)
    as_of_dt, span = snapshot_as_of(wh, as_of, period)
    tl = timeline(wh, config, as_of=as_of_dt)
    econ = stage_economics(wh, tl, config, as_of_dt, span)
    w = weigh(wh, tl, econ, config, as_of_dt, span)
    lk = leak(econ, config, as_of_dt, lift_stage=lift_stage, lift_points=lift_points)
    if config is not full:
        tl = timeline(wh, full, as_of=as_of_dt)
        econ = stage_economics(wh, tl, full, as_of_dt, span)
    st = find_stuck(wh, tl, econ, full, as_of_dt, by=by)
    ho = measure_handoffs(wh, tl, full, as_of_dt, by=by)
    teams = _teams(st, ho, config)
    stage_evidence = {}
    if not econ.rates.empty:
        for r in econ.rates.itertuples():
            if pd.notna(r.rate) and r.benchmark is not None and pd.notna(r.benchmark):
                stage_evidence[r.stage] = f"{r.rate:.0%} vs benchmark {r.benchmark:.0%}"
    if w.problem_area == "lead generation" and w.leads_needed_per_quarter:
        stage_evidence[config.stage_names[0]] = (
            f"{w.leads_per_quarter:,.0f} new a quarter vs {w.leads_needed_per_quarter:,.0f} needed"
        )
    focus, reason = _focus(lk, w, config)
    gap = _buyer_gap(wh, full, as_of_dt)
    tactics = recommend(
        problem_area=w.problem_area,
        weakest_stage=focus,
        stage_evidence=stage_evidence,
        signals={ROLE_TACTIC: gap} if gap else None,
        # no tactics without something to fix: a problem area, a stage that leaks money
        # or a buyer role missing on open deals
        limit=0
        if w.data_note or (focus is None and w.problem_area == "neither" and not gap)
        else config["diagnose"]["tactics"],
        config=config,
    )
    leaks = _ranked(lk.leaks).head(3)[LEAK_COLUMNS]
    return DiagnoseResult(
        push=_push(st, config["diagnose"]["tactics"]),
        evidence=w.evidence[["check", "finding", "threshold", "flagged", "status", "decides"]],
        leaks=leaks.reset_index(drop=True),
        teams=teams,
        tactics=tactics[["label", "team", "segment", "effort", "why"]],
        verdict=w.verdict,
        problem_area=w.problem_area,
        focus_stage=focus,
        focus_reason=reason,
        weight=w,
        leakage=lk,
        stuck=st,
        handoffs=ho,
        as_of=as_of_dt,
        by=by,
        buyer_gap=gap,
    )


def _buyer_gap(wh: Warehouse, config: Config, as_of_dt: datetime) -> str | None:
    """The open deals missing a required buyer role whose effect the closed deals show
    (the coverage's ``shown``): the measured reason to multithread. None otherwise."""
    bg = buying_group(wh.base, as_of=as_of_dt, config=config)
    if not bg.judged or bg.open_deals.empty:
        return None
    known = bg.open_deals[bg.open_deals["group_from"] != "none"]
    missing = known["missing"].fillna("").str.split(", ")
    parts = []
    for r in bg.coverage.itertuples():
        if r.role not in bg.required or not r.shown:
            continue
        short = known[missing.apply(lambda roles, role=r.role: role in roles)]
        if short.empty:
            continue
        parts.append(
            f"{len(short):,} open deals ({short['amount'].fillna(0.0).sum():,.0f}) miss an "
            f"engaged {r.role.replace('_', ' ')}, and {r.verdict}"
        )
    return "; ".join(parts) or None


def _ranked(leaks: pd.DataFrame) -> pd.DataFrame:
    """The leaks by what working on them pays: the bookings a rate at benchmark would
    add where a stage is clearly below it (its interval under the benchmark), then the
    bookings a lift of a few points would add."""
    if leaks.empty:
        return leaks
    below = _clearly_below(leaks)
    keyed = leaks.assign(_gap=leaks["gap_to_benchmark"].where(below, 0.0).fillna(0.0))
    keyed = keyed.sort_values(["_gap", "what_if_bookings"], ascending=False, kind="stable")
    return keyed.drop(columns="_gap").reset_index(drop=True)


def _clearly_below(leaks: pd.DataFrame) -> pd.Series:
    high = leaks["rate_high"].astype(float)
    return (high < leaks["benchmark"].astype(float)).fillna(False)


def _leak_line(r, points: float) -> str:
    """One stage's rate against its benchmark and what better conversion there adds."""
    text = f"{r.stage} → {r.next_stage} ({r.owner}): "
    text += f"{r.rate:.0%}" if pd.notna(r.rate) else "n/a"
    if pd.notna(r.rate_low) and pd.notna(r.rate_high):
        text += f" ({r.rate_low:.0%}–{r.rate_high:.0%})"
    if pd.notna(r.benchmark):
        text += f" vs benchmark {r.benchmark:.0%}"
        if pd.notna(r.rate_high) and r.rate_high < r.benchmark:
            text += f", clearly below: at benchmark +{r.gap_to_benchmark:,.0f}"
    return text + f"; +{points:g} points +{r.what_if_bookings:,.0f}"


def _focus(lk: LeakageResult, w: WeightResult, config: Config) -> tuple[str | None, str | None]:
    """The stage to work on first, and the figures that make it so: where lead
    generation is the problem, the first stage; else the stage clearly below its
    benchmark whose rate at benchmark would add the most bookings; else the stage
    where a lift of a few points would add the most. None when nothing would add."""
    if w.data_note or lk.leaks.empty:
        return None, None
    ranked = _ranked(lk.leaks)
    top = ranked.iloc[0]
    points = lk.lift_points
    if w.problem_area == "lead generation" and w.leads_needed_per_quarter:
        return config.stage_names[0], (
            f"{w.leads_per_quarter:,.0f} new leads a quarter against "
            f"{w.leads_needed_per_quarter:,.0f} needed"
        )
    if _clearly_below(ranked).iloc[0] and top["gap_to_benchmark"] > 0:
        return str(top["stage"]), (
            f"{top['stage']} → {top['next_stage']} converts {top['rate']:.0%} "
            f"({top['rate_low']:.0%}–{top['rate_high']:.0%}), clearly below the benchmark "
            f"{top['benchmark']:.0%}; at benchmark it would add {top['gap_to_benchmark']:,.0f} "
            "bookings a quarter, more than any other stage"
        )
    if not top["what_if_bookings"] > 0:
        return None, None
    share = (
        f", {top['what_if_bookings'] / lk.baseline_bookings:.0%} more than today's "
        f"{lk.baseline_bookings:,.0f}"
        if lk.baseline_bookings
        else ""
    )
    return str(top["stage"]), (
        f"no stage is clearly below its benchmark; +{points:g} points at {top['stage']} → "
        f"{top['next_stage']} would add the most: {top['what_if_bookings']:,.0f} bookings a "
        f"quarter{share}"
    )


def _teams(st: StuckResult, ho: HandoffsResult, config: Config) -> pd.DataFrame:
    """Stuck contacts and handoffs received, dropped and late, per team."""
    frame = pd.DataFrame({"team": list(config.teams)})
    frame = frame.merge(st.by_team, on="team", how="left")
    recv = ho.by_team.rename(columns={"to_team": "team", "entered": "handed_over"})
    cols = ["team", "handed_over", "dropped", "dropped_pct", "late", "sla_met_pct"]
    frame = frame.merge(recv[[c for c in cols if c in recv]], on="team", how="left")
    for col in ("stuck", "handed_over", "dropped", "late"):
        frame[col] = frame[col].fillna(0).astype(int)
    frame["value_at_risk"] = frame["value_at_risk"].fillna(0.0)
    return frame[["team", "stuck", "value_at_risk", *cols[1:]]]


def _push(st: StuckResult, limit: int) -> pd.DataFrame:
    """The stuck contacts with the highest lead scores: the ones to push first."""
    cols = ["contact_id", "stage", "owner", "days_in_stage", "score", "value"]
    scored = st.contacts[st.contacts["score"].notna()] if "score" in st.contacts else st.contacts
    if scored.empty or "score" not in scored:
        return pd.DataFrame(columns=cols)
    top = scored.sort_values("score", ascending=False, kind="stable").head(limit)
    return top[[c for c in cols if c in top.columns]].reset_index(drop=True)
