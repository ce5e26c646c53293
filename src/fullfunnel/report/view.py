"""The report's content as plain data: what the templates show, read from result objects.

:func:`build_view` turns the results of the analyses into the first screen (the key
numbers, the four charts a leader needs, "what needs to happen"), the sections that
follow, and the data-quality note. The HTML report and the live dashboard render
this same view with the same templates; nothing here computes from the warehouse.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fullfunnel.analytics.diagnose import DiagnoseResult
from fullfunnel.analytics.forecast import ForecastResult
from fullfunnel.analytics.funnel import FunnelResult
from fullfunnel.analytics.pipeline import PipelineResult
from fullfunnel.analytics.plan import PlanResult
from fullfunnel.analytics.registry import ANALYSES
from fullfunnel.analytics.stuck import StuckResult
from fullfunnel.config import Config, stage_plural
from fullfunnel.report import charts
from fullfunnel.report.charts import money, of_type, pct
from fullfunnel.report.links import Links, table_links
from fullfunnel.result import Result


@dataclass
class Figure:
    """One chart: its finding (the title, shown as a heading), its Plotly JSON, its text
    alternative and the table of the numbers it draws (HTML)."""

    title: str
    spec: str
    id: str = ""
    alt: str = ""
    table: str = ""


@dataclass
class Section:
    id: str
    title: str
    lead: str = ""
    headline: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[tuple[str, str]] = field(default_factory=list)
    analyses: list[str] = field(default_factory=list)


# (section id, title, one-line purpose); the analyses each shows are those whose
# registry entry names it (their headline, charts and tables), in registry order
LAYOUT: list[tuple[str, str, str]] = [
    (
        "trends",
        "Conversion and velocity by cohort",
        "Is each step converting better or worse than it used to, and how long does it take?",
    ),
    (
        "review",
        "The last period in review",
        "Target against actual, the forecast made when the period began, and where it leaked.",
    ),
    (
        "plan",
        "What needs to happen: the plan and the forecast",
        "The reverse waterfall from the target, and how likely the period is to land.",
    ),
    (
        "team",
        "Stuck leads, dropped handoffs and the ownership matrix",
        "Who has leads past their SLA, which handoffs break, and who works which part "
        "of the funnel.",
    ),
    (
        "diagnosis",
        "Weight diagnosis and recommended tactics",
        "Where effort goes against where the funnel leaks, and what to do about it.",
    ),
    (
        "attribution",
        "What works: attribution by channel, models compared",
        "Which channels create each stage, and how much the answer depends on the model.",
    ),
    ("scores", "Lead-score tiers", "Which leads are worth a call today."),
    (
        "pipeline",
        "Pipeline and reps",
        "Open pipeline and closed-deal metrics, and the same per rep, office and manager.",
    ),
]
# the data-quality note closes the report; its analyses are not a section of their own
QUALITY = "quality"
SECTIONS = {sid for sid, _, _ in LAYOUT} | {QUALITY}


def section_of(name: str) -> str | None:
    """The section analysis ``name`` is shown in (None: not a registered analysis)."""
    analysis = ANALYSES.get(name)
    return analysis.section if analysis else None


def build_view(
    results: Mapping[str, Result],
    config: Config,
    *,
    title: str = "fullfunnel report",
    period: str | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Everything the templates need, from ``results`` (analysis name → Result)."""
    counter = iter(range(1, 10_000))

    def fig(figure) -> Figure | None:
        if figure is None:
            return None
        text = figure.layout.title.text or ""
        figure.update_layout(title=None)
        charts.finish(figure, config)
        spec = figure.to_json(validate=False).replace("</", "<\\/")
        numbers = charts.data_table(figure)
        return Figure(
            title=text,
            spec=spec,
            id=f"fig-{next(counter)}",
            alt=charts.describe(figure, text),
            table=table_html(numbers) if not numbers.empty else "",
        )

    def model(result: Result) -> Config:
        """The stage model ``result`` was computed on: the accounts' at the account level."""
        if result.grain != "account":
            return config
        from fullfunnel.analytics.accounts import account_config

        return account_config(config)

    funnel = of_type(results, FunnelResult)
    diagnosis = of_type(results, DiagnoseResult)
    leaks = charts.leak_table(diagnosis)
    first_screen = [
        fig(charts.bookings_chart(results, config)),
        fig(charts.funnel_chart(funnel, model(funnel))) if funnel else None,
        fig(charts.breakdown_chart(funnel, model(funnel))) if funnel else None,
        fig(charts.dropoff_chart(funnel, model(funnel), leaks)) if funnel else None,
        fig(charts.weight_chart(diagnosis, model(diagnosis))) if diagnosis else None,
    ]
    sections: list[Section] = []
    placed: set[str] = set()
    for sid, stitle, lead in LAYOUT:
        section = Section(id=sid, title=stitle, lead=lead)
        for name in ANALYSES:
            if name in results and section_of(name) == sid:
                placed.add(name)
                _add(section, name, results[name], model(results[name]), fig)
        if section.analyses:
            sections.append(section)
    for name, result in results.items():
        if name in placed or section_of(name) == QUALITY:
            continue
        section = Section(id=name, title=_title(name, result))
        _add(section, name, result, model(result), fig)
        sections.append(section)
    quality = _quality(results, config, fig)
    return {
        "title": title,
        "as_of": _as_of(results),
        "period": period or _period(results),
        "kpis": kpis(results, config),
        "first_screen": [f for f in first_screen if f is not None],
        "actions": actions(results, config),
        "sections": sections,
        "quality": quality,
        "analyses": list(results),
        "notes": list(notes or []),
    }


def _add(section: Section, name: str, result: Result, config: Config, fig) -> None:
    section.analyses.append(name)
    section.headline.extend(_headline(result))
    for figure in charts.for_result(name, result, config):
        made = fig(figure)
        if made is not None:
            section.figures.append(made)
    for label, frame in result.tables().items():
        if not frame.empty:
            links = table_links(name, label, result, config)
            html_table = table_html(frame, links=links)
            section.tables.append((f"{name}: {label.replace('_', ' ')}", html_table))


def _headline(result: Result) -> list[str]:
    return [str(line) for line in result.headline()]


def _title(name: str, result: Result) -> str:
    text = str(getattr(result, "title", "") or name)
    return text[:1].upper() + text[1:]


# --- the first screen ------------------------------------------------------------


def kpis(results: Mapping[str, Result], config: Config) -> list[dict[str, str]]:
    """The key numbers across the top of the first screen: value, label, note, tone."""
    out = []
    fc, plan = of_type(results, ForecastResult), of_type(results, PlanResult)
    target = next((r.target for r in (fc, plan) if r is not None and r.target), None)
    booked = next((r.booked for r in (fc, plan) if r is not None), None)
    if target:
        out.append(
            {
                "label": f"booked of {money(target)} target",
                "value": money(booked),
                "note": f"{booked / target:.0%} of target" if booked is not None else "",
                "tone": "neutral",
            }
        )
    if fc is not None:
        out.append(
            {
                "label": "forecast (P50)",
                "value": money(fc.p50),
                "note": f"P10–P90 {money(fc.p10)}–{money(fc.p90)}",
                "tone": "neutral",
            }
        )
        p_hit = fc.probability_hit
        if p_hit is not None:
            tone = "good" if p_hit >= 0.7 else "bad" if p_hit < 0.4 else "warn"
            out.append(
                {"label": "chance to hit target", "value": pct(p_hit), "note": "", "tone": tone}
            )
    pipe = of_type(results, PipelineResult)
    if pipe is not None:
        out.append(
            {
                "label": "open pipeline",
                "value": money(pipe.open_amount),
                "note": f"win rate {pct(pipe.win_rate)}" if pipe.win_rate is not None else "",
                "tone": "neutral",
            }
        )
    diagnosis = of_type(results, DiagnoseResult)
    if diagnosis is not None:
        out.append(
            {
                "label": "weight verdict",
                "value": diagnosis.verdict.replace("_", "-"),
                "note": f"problem area: {diagnosis.problem_area.replace('_', ' ')}",
                "tone": "good" if diagnosis.verdict == "balanced" else "warn",
            }
        )
    stages = _overall_stages(results)
    if stages is not None:
        out.append(
            {
                "label": "contacts entered the funnel",
                "value": f"{int(stages['reached'].iloc[0]):,}",
                "note": _won_note(stages, config),
                "tone": "neutral",
            }
        )
        weakest = charts.weakest_step(stages[stages["reached"] > 0])
        if weakest is not None:
            bad = weakest.conversion < weakest.benchmark
            out.append(
                {
                    "label": f"weakest step: {charts.stage_label(config, weakest.stage)} → "
                    f"{charts.stage_label(config, weakest.next_stage)}",
                    "value": pct(weakest.conversion),
                    "note": f"benchmark {pct(weakest.benchmark)}",
                    "tone": "bad" if bad else "good",
                }
            )
    return out[:6]


def _overall_stages(results: Mapping[str, Result]) -> pd.DataFrame | None:
    """The funnel's stage table when it is not broken down (and not a lead list)."""
    funnel = of_type(results, FunnelResult)
    if funnel is None or funnel.by is not None or funnel.stages.empty:
        return None
    return funnel.stages


def _won_note(stages: pd.DataFrame, config: Config) -> str:
    won_stage = config.won_stage
    if won_stage not in set(stages["stage"]):
        return ""
    won = int(stages.loc[stages["stage"] == won_stage, "reached"].iloc[0])
    return f"{won:,} {stage_plural(won_stage)}"


def actions(results: Mapping[str, Result], config: Config) -> list[str]:
    """'What needs to happen': the plan's lines first, then the diagnosis', then the data's."""
    out: list[str] = []
    plan = of_type(results, PlanResult)
    if plan is not None:
        out.extend(plan.actions[:5] or _headline(plan)[:4])
    diagnosis = of_type(results, DiagnoseResult)
    if diagnosis is not None and not diagnosis.tactics.empty:
        picks = [f"{r.label} ({r.team})" for r in diagnosis.tactics.head(3).itertuples()]
        out.append("Start these tactics: " + "; ".join(picks) + ".")
    stuck = of_type(results, StuckResult)
    if stuck is not None and len(out) < 6:
        out.extend(_headline(stuck)[:1])
    stages = _overall_stages(results)
    if stages is not None and len(out) < 3:
        weakest = charts.weakest_step(stages[stages["reached"] > 0])
        if weakest is not None and weakest.conversion < weakest.benchmark:
            gained = int(weakest.reached * (weakest.benchmark - weakest.conversion))
            out.append(
                f"Lift {charts.stage_label(config, weakest.stage)} → "
                f"{charts.stage_label(config, weakest.next_stage)} from "
                f"{pct(weakest.conversion)} to "
                f"the {pct(weakest.benchmark)} benchmark: {gained:,} more contacts would "
                "move on from the same volume."
            )
        elif weakest is not None:
            out.append(
                "Every step converts at or above its benchmark: the number depends on volume "
                "at the top and on speed."
            )
    pipe = of_type(results, PipelineResult)
    if pipe is not None and len(out) < 3:
        out.extend(_headline(pipe)[:1])
    return list(dict.fromkeys(line for line in out if line))[:7]


# --- data quality --------------------------------------------------------------------


def _quality(results: Mapping[str, Result], config: Config, fig) -> Section:
    section = Section(
        id="data-quality",
        title="Data quality",
        lead="How far to trust the numbers above: rows rejected at load, implied stages, orphans.",
    )
    for name, result in results.items():
        if section_of(name) != QUALITY:
            continue
        section.analyses.append(name)
        section.headline.extend(_headline(result))
        for label, frame in result.tables().items():
            if not frame.empty:
                section.tables.append((label.replace("_", " "), table_html(frame)))
    stages = _overall_stages(results)
    if stages is not None:
        rows = stages[(stages["reached"] > 0) & (stages["implied"] > 0)]
        if rows.empty:
            section.headline.append("every stage reach has its own stage event (none implied)")
        else:
            parts = [
                f"{charts.stage_label(config, r.stage)} {r.implied / r.reached:.0%}"
                for r in rows.itertuples()
            ]
            section.headline.append(
                "share of stage reaches implied by a later stage (no event of their own): "
                + ", ".join(parts)
            )
        immature = stages[stages["immature"].astype(bool)]
        if not immature.empty:
            section.headline.append(
                "immature (too recent to judge): "
                + ", ".join(charts.stage_label(config, s) for s in immature["stage"])
            )
    if not section.headline:
        section.headline.append("no data-quality information was collected for this report")
    return section


def _as_of(results: Mapping[str, Result]) -> str:
    for result in results.values():
        value = getattr(result, "as_of", None)
        if value is not None:
            return pd.Timestamp(value).strftime("%Y-%m-%d")
    return ""


def _period(results: Mapping[str, Result]) -> str:
    for kind in (ForecastResult, PlanResult):
        value = charts.period_label(of_type(results, kind))
        if value:
            return value
    return ""


def table_html(frame: pd.DataFrame, limit: int = 60, *, links: Links | None = None) -> str:
    """A compact HTML table of ``frame`` (the first ``limit`` rows), values formatted;
    the numbers of the columns in ``links`` link to the records behind them."""
    from fullfunnel.formatting import cell, plain_columns

    plain = plain_columns(frame)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool for c in frame]
    head = "".join(
        f'<th class="{"num" if n else ""}">{html.escape(str(c).replace("_", " "))}</th>'
        for c, n in zip(frame.columns, numeric, strict=True)
    )
    links = links or {}
    shown = frame.head(limit)
    rows = shown.to_dict(orient="records") if links else [{}] * len(shown)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if n else ""}">'
            + _linked(html.escape(_cell(cell, str(c), v, str(c) in plain)), links.get(str(c)), rec)
            + "</td>"
            for c, v, n in zip(frame.columns, row, numeric, strict=True)
        )
        + "</tr>"
        for row, rec in zip(shown.itertuples(index=False), rows, strict=True)
    )
    more = f"<caption>{limit} of {len(frame):,} rows</caption>" if len(frame) > limit else ""
    return f"<table>{more}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _linked(text: str, link, row: dict[str, Any]) -> str:
    """The cell's text, as a link to the records behind it where it has one."""
    href = link(row) if link is not None and text else None
    return (
        f'<a class="drill" href="{html.escape(href)}" title="the records behind this number">'
        f"{text}</a>"
        if href
        else text
    )


def _cell(cell, column: str, value: Any, plain: bool) -> str:
    try:
        return cell(column, value, plain=plain)
    except (TypeError, ValueError):
        return str(value)
