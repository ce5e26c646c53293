"""Diagnose the funnel: one verdict with its evidence, the leaks, the people, the fix.

:func:`diagnose` composes the other analyses on one timeline: the weight verdict
and problem area (:mod:`~fullfunnel.analytics.weight`), the leaks in money
(:mod:`~fullfunnel.analytics.leakage`), stuck contacts
(:mod:`~fullfunnel.analytics.stuck`) and dropped handoffs
(:mod:`~fullfunnel.analytics.handoffs`) by team, and the playbook's tactics for
the problem area and the stage to work on first.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pandas as pd

from fullfunnel.analytics._economics import stage_economics
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
        leaking = self.leaks[self.leaks["lost_revenue"] > 0] if not self.leaks.empty else self.leaks
        if not self.leaks.empty and leaking.empty:
            lines.append(
                "Biggest leaks per quarter: none measured (no stage loses money in the window)"
            )
        if not leaking.empty:
            lines.append(
                "Biggest leaks per quarter (what the drop-outs would have booked had they moved "
                "on at today's later rates):"
            )
            for r in leaking.itertuples():
                lines.append(
                    f"  {r.stage} → {r.next_stage} ({r.owner}): {r.lost_revenue:,.0f} lost; "
                    f"+{self.leakage.lift_points:g} points would add {r.what_if_bookings:,.0f}"
                )
        lk = self.leakage
        if lk.lift_stage and lk.lifted_bookings is not None and lk.baseline_bookings:
            lines.append(
                f"What-if: {lk.lift_stage} +{lk.lift_points:g} points → "
                f"{lk.lifted_bookings:,.0f} bookings per quarter (from {lk.baseline_bookings:,.0f})"
            )
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
    focus, reason = _focus(lk, w)
    tactics = recommend(
        problem_area=w.problem_area,
        weakest_stage=focus,
        stage_evidence=stage_evidence,
        # no tactics without something to fix: a problem area or a stage that leaks money
        limit=0
        if w.data_note or (focus is None and w.problem_area == "neither")
        else config["diagnose"]["tactics"],
        config=config,
    )
    leaks = lk.leaks.head(3)[["stage", "next_stage", "owner", "lost_revenue", "what_if_bookings"]]
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
    )


def _focus(lk: LeakageResult, w: WeightResult) -> tuple[str | None, str | None]:
    """The stage whose leak costs the most money (the first of the printed leaks), and
    the figures that make it so."""
    if w.data_note or lk.leaks.empty:
        return None, None
    top = lk.leaks.iloc[0]
    if not top["lost_revenue"] > 0:  # nothing leaks money by these figures: no stage first
        return None, None
    reason = (
        f"{top['stage']} → {top['next_stage']} loses {top['lost_revenue']:,.0f} a quarter, "
        f"the most of any stage; +{lk.lift_points:g} points there would add "
        f"{top['what_if_bookings']:,.0f} a quarter"
    )
    if len(lk.leaks) > 1:
        nxt = lk.leaks.iloc[1]
        reason += f" (next: {nxt['stage']} → {nxt['next_stage']}, {nxt['lost_revenue']:,.0f})"
    return str(top["stage"]), reason


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
