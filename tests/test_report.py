"""The executive report: every section, offline, charts whose titles state findings."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import itertools
import json
import re
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
import pytest
from typer.testing import CliRunner

import fullfunnel as ff
from fullfunnel.analytics.funnel import FunnelResult
from fullfunnel.analytics.registry import ANALYSES, run_all
from fullfunnel.config import config_from_dict
from fullfunnel.report import charts, render_report, write_report
from fullfunnel.report.html import _plotly_base64, plotly_js
from fullfunnel.report.view import LAYOUT, build_view
from fullfunnel.result import Result

AS_OF = datetime(2026, 11, 23)
CONFIG = ff.default_config()


@pytest.fixture(scope="module")
def results():
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, scenario="balanced", contacts=3000, seed=11, as_of=AS_OF)
    # an ad-hoc step funnel set in the config: the report shows it (none by default)
    steps = "touch:webinar,stage:mql,stage:opportunity,stage:customer"
    out = run_all(wh, config_from_dict({"funnel": {"steps": steps}}), AS_OF)
    wh.close()
    return out


@pytest.fixture(scope="module")
def page(results) -> str:
    return render_report(results, config=ff.default_config(), title="Acme — Q4 review")


def figures(html: str) -> list[tuple[str, dict]]:
    """(title, Plotly spec) of every chart in ``html``."""
    found = re.findall(
        r'<div class="card figure[^"]*">\s*<h3>(.*?)</h3>.*?'
        r'<script type="application/json" class="fig-data"[^>]*>(.*?)</script>',
        html,
        flags=re.S,
    )
    return [(title, json.loads(spec.replace("<\\/", "</"))) for title, spec in found]


def test_report_is_self_contained(page):
    assert "<script src=" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?https?://""", page)
    packed = re.search(
        r'<script type="application/octet-stream" id="plotly-gzip">(.*?)</script>', page
    )
    assert packed is not None  # the library, inlined
    js = gzip.decompress(base64.b64decode(packed.group(1))).decode()
    assert js.startswith("/**\n* plotly.js (cartesian") and "newPlot" in js
    assert 'new DecompressionStream("gzip")' in page
    assert "@media print" in page


def test_report_stays_small(page):
    # the full plotly.js inlined as text made it 5.0 MB; the gzipped partial bundle is 0.66 MB
    size = len(page.encode("utf-8"))
    assert size <= 1_500_000, size
    assert len(_plotly_base64()) < 700_000


# trace types of plotly.js's cartesian bundle, the one the report inlines
CARTESIAN = {"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
             "image", "pie", "scatter", "scatterternary", "violin"}  # fmt: skip


def test_every_chart_draws_a_trace_type_the_bundle_has(page):
    kinds = {trace.get("type", "scatter") for _, spec in figures(page) for trace in spec["data"]}
    assert kinds and kinds <= CARTESIAN, kinds - CARTESIAN


def test_the_bundled_plotly_js_matches_the_python_package():
    import plotly.offline

    header = plotly_js()[:200]
    bundled = re.search(r"v(\d+)\.(\d+)\.(\d+)", header)
    assert bundled is not None, header
    python_side = plotly.offline.get_plotlyjs_version().split(".")
    # figures written by plotly.py are read by the same major version of plotly.js;
    # src/fullfunnel/report/assets/README.md says how to refresh the bundle
    assert bundled.group(1) == python_side[0], (bundled.group(0), python_side)


def test_first_screen_has_what_a_leader_needs(page, results):
    first = page.split('<section class="part"')[0]
    assert 'class="kpis"' in first
    assert "What needs to happen" in first and "<ol>" in first
    titles = [t for t, _ in figures(first)]
    assert {"forecast", "diagnose"} <= set(results)  # the demo runs every analysis
    assert any("chance to hit" in t for t in titles), titles
    assert any("step" in t.lower() or "converts" in t for t in titles), titles
    assert any("leak" in t.lower() for t in titles), titles
    assert any("effort" in t for t in titles), titles


def test_every_analysis_appears_in_a_section(page, results):
    shown = set()
    for names in re.findall(r'data-analyses="([^"]*)"', page):
        shown.update(names.split())
    assert 'id="data-quality"' in page and "data_quality" in results
    shown.add("data_quality")  # the note after the sections, not a section of its own
    assert set(results) <= shown, set(results) - shown
    # every section of the layout has an analysis of the demo's, and is on the page
    for sid, _, _ in LAYOUT:
        assert any(a.section == sid for n, a in ANALYSES.items() if n in results), sid
        assert f'id="{sid}"' in page


def test_every_chart_has_data_and_a_title_with_a_number(page):
    figs = figures(page)
    assert len(figs) >= 6
    for title, spec in figs:
        assert spec["data"], title
        assert re.search(r"\d", title), f"chart title states no finding: {title!r}"
        assert "title" not in spec["layout"] or not spec["layout"]["title"].get("text")


def test_data_quality_note_names_rejects_and_implied_stages(page):
    note = page.split('id="data-quality"')[1]
    assert "implied" in note
    assert "file loads" in note or "rejected" in note


def test_funnel_chart_title_names_the_weakest_step_by_hand():
    config = ff.default_config()
    stages = pd.DataFrame(
        {
            "stage": ["lead", "mql", "sal"],
            "next_stage": ["mql", "sal", None],
            "reached": [1000, 300, 90],
            "conversion": [0.30, 0.30, None],
            "benchmark": [0.15, 0.40, None],
            "immature": [False, False, False],
            "converted": [300, 90, None],
            "exited": [200, 150, None],
            "recycled": [0, 10, None],
            "stalled": [400, 40, None],
            "in_flight": [100, 10, None],
            "implied": [0, 30, 0],
        }
    )
    result = FunnelResult(
        stages=stages,
        cohorts=pd.DataFrame(),
        conversion=pd.DataFrame(),
        as_of=AS_OF,
        since=None,
        until=None,
        by=None,
        cohort="month",
    )
    fig = charts.funnel_chart(result, config)
    assert fig.layout.title.text == "Weakest step: MQL → SAL converts 30% vs a 40% benchmark"
    drop = charts.dropoff_chart(result, config)
    # lead: (200 lost + 400 stalled) / 1000 = 60%; mql: (150 + 40) / 300 = 63%
    assert drop.layout.title.text.startswith("MQL → SAL leaks most: 63% of the 300")
    leaks = pd.DataFrame({"stage": ["lead", "mql"], "lost_revenue": [1.5e6, 2.5e5]})
    drop = charts.dropoff_chart(result, config, leaks)
    assert drop.layout.title.text == "Largest leak in money: 1.5M of expected bookings lost at lead"


@dataclasses.dataclass(frozen=True, eq=False)
class _Unknown(Result):
    title = "churn risk"
    accounts: pd.DataFrame
    at_risk: int

    def headline(self) -> list[str]:
        return [f"{self.at_risk} accounts at risk"]


@dataclasses.dataclass(frozen=True, eq=False)
class _OddForecast(Result):
    title = "forecast"
    table: pd.DataFrame
    p50: str  # not a number: the chart must give up, not crash


def test_any_result_renders_generically_and_odd_shapes_do_not_crash(results):
    odd = {
        "churn": _Unknown(
            accounts=pd.DataFrame({"account": ["a", "b"], "risk": [0.9, 0.4]}), at_risk=2
        ),
        "forecast": _OddForecast(table=pd.DataFrame({"x": [1]}), p50="lots"),
        "funnel": results["funnel"],
    }
    html = render_report(odd)
    assert 'id="churn"' in html and "2 accounts at risk" in html
    assert "<td" in html and "0.9" in html
    view = build_view(odd, ff.default_config())
    assert [s.title for s in view["sections"]][-1] == "Churn risk"


def test_empty_warehouse_still_gives_a_report(wh):
    from fullfunnel.analytics.registry import run

    names = ("funnel", "velocity", "pipeline", "data_quality", "plan", "stuck", "handoffs")
    out = {n: run(n, wh, ff.default_config(), AS_OF) for n in names if n in ANALYSES}
    html = render_report(out)
    assert 'id="summary"' in html and 'id="data-quality"' in html


def test_write_report_keeps_the_demo_signature(tmp_path, results):
    path = write_report(tmp_path / "sub" / "r.html", results, config=ff.default_config(), title="t")
    assert path.exists() and path.read_text(encoding="utf-8").startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("value", "text"),
    [(1234567, "1.23M"), (45600, "45.6k"), (999, "999"), (None, "–"), (2.5e9, "2.5B")],
)
def test_money(value, text):
    assert charts.money(value) == text


def test_period_label():
    @dataclasses.dataclass(frozen=True, eq=False)
    class P(Result):
        period_start: datetime
        period_end: datetime

    assert charts.period_label(P(datetime(2026, 10, 1), datetime(2027, 1, 1))) == "2026-Q4"
    assert charts.period_label(P(datetime(2026, 11, 1), datetime(2026, 12, 1))) == "2026-11"
    assert charts.period_label(P(datetime(2026, 1, 1), datetime(2027, 1, 1))) == "2026"
    assert charts.period_label(P(datetime(2026, 1, 5), datetime(2026, 2, 1))) == (
        "2026-01-05..2026-01-31"
    )


def test_report_command(tmp_path, monkeypatch):
    from fullfunnel.analytics import registry as analyses
    from fullfunnel.cli import app

    # the command's own work (options, period, file) needs only a few analyses
    keep = ("funnel", "pipeline", "plan", "data_quality")
    monkeypatch.setattr(analyses, "ANALYSES", {k: analyses.ANALYSES[k] for k in keep})

    db = tmp_path / "r.duckdb"
    with ff.connect(str(db)) as wh:
        ff.generate_demo(wh, scenario="balanced", contacts=400, seed=1, as_of=AS_OF)
    out = tmp_path / "report.html"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "--db",
            str(db),
            "report",
            "--out",
            str(out),
            "--period",
            "2026-Q4",
            "--as-of",
            "2026-11-23",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "opens offline" in r.output
    html = out.read_text(encoding="utf-8")
    assert "period 2026-Q4" in html
    bad = runner.invoke(app, ["--db", str(db), "report", "--period", "2026-Q7"])
    assert bad.exit_code == 1 and "not understood" in bad.output


def test_every_registered_analysis_ran(results):
    assert set(results) == set(ANALYSES)
    assert results["steps"].n > 0 and results["steps"].steps.reached.iloc[-1] > 0


def test_an_analysis_needing_a_setting_runs_only_with_it():
    steps = ANALYSES["steps"]
    assert not steps.configured(CONFIG)
    assert steps.configured(config_from_dict({"funnel": {"steps": "stage:lead,stage:mql"}}))


# --- rules every chart keeps ------------------------------------------------------------


def _values(data) -> list:
    """A trace's array as written to the page (a list, or Plotly's typed-array form)."""
    if isinstance(data, dict) and "bdata" in data:
        import numpy as np

        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def _axes(spec: dict) -> dict[str, dict]:
    return {k: v for k, v in spec["layout"].items() if k.startswith(("xaxis", "yaxis"))}


def test_pipeline_stages_follow_the_config_order_not_the_alphabet(results):
    pipe = results["pipeline"]
    alphabetical = pd.DataFrame(
        {"stage": ["discovery", "proposal", "solution"], "opportunities": [5, 2, 3],
         "amount": [50_000.0, 20_000.0, 30_000.0]}
    )  # fmt: skip
    fig = charts.pipeline_chart(dataclasses.replace(pipe, open_by_stage=alphabetical), CONFIG)
    charts.finish(fig, CONFIG)
    assert fig.layout.xaxis.categoryorder == "array"
    assert list(fig.layout.xaxis.categoryarray) == ["discovery", "solution", "proposal"]
    order = ["solution", "proposal", "discovery"]
    custom = config_from_dict({"funnel": {"pipeline_stages": order}})
    fig = charts.finish(charts.pipeline_chart(pipe, custom), custom)
    shown = list(fig.layout.xaxis.categoryarray)
    assert len(shown) >= 2 and shown == [s for s in order if s in shown]
    unknown = alphabetical.assign(stage=["discovery", "a_custom_stage", "proposal"])
    fig = charts.finish(
        charts.pipeline_chart(dataclasses.replace(pipe, open_by_stage=unknown), CONFIG), CONFIG
    )
    assert list(fig.data[0].x) == ["discovery", "proposal", "a_custom_stage"]


def test_funnel_stages_and_steps_on_any_axis_follow_the_funnel_order():
    fig = go.Figure()
    fig.add_bar(x=["SQL", "lead", "customer", "MQL"], y=[3, 9, 1, 5])
    steps = ["SQL → opportunity", "lead → MQL"]
    fig.add_bar(y=steps, x=[0.4, 0.2], orientation="h", xaxis="x2", yaxis="y2")
    fig.add_bar(x=["bookings", "lead"], y=[1, 2], xaxis="x3", yaxis="y3")  # not all stages
    charts.finish(fig, CONFIG)
    assert list(fig.layout.xaxis.categoryarray) == ["lead", "MQL", "SQL", "customer"]
    assert list(fig.layout.yaxis2.categoryarray) == ["lead → MQL", "SQL → opportunity"]
    layout = fig.layout.to_plotly_json()
    assert "categoryarray" not in layout.get("xaxis3", {})
    assert "categoryarray" not in layout.get("yaxis", {})


def test_every_stage_axis_in_the_report_is_in_funnel_order(page):
    rank = {label: i for i, label in enumerate(charts.stage_order(CONFIG))}
    ordered = 0
    for title, spec in figures(page):
        for name, axis in _axes(spec).items():
            cats = axis.get("categoryarray")
            if cats:
                keys = [tuple(rank[p] for p in c.split(" → ")) for c in cats]
                assert keys == sorted(keys), (title, name, cats)
                ordered += 1
    assert ordered >= 4


def test_no_line_is_drawn_from_fewer_than_three_points(page):
    fig = go.Figure()
    fig.add_scatter(x=[1, 2], y=[0.1, 0.3], mode="lines")
    fig.add_scatter(x=[1, 2, 3], y=[0.1, None, 0.3], mode="lines+markers", fill="tozeroy")
    fig.add_scatter(x=[1, 2, 3], y=[1, 2, 3], mode="lines")
    charts.finish(fig, CONFIG)
    assert [t.mode for t in fig.data] == ["markers", "markers", "lines"]
    assert fig.data[1].fill is None
    lines = 0
    for title, spec in figures(page):
        for trace in spec["data"]:
            if trace.get("type", "scatter") == "scatter" and "lines" in trace.get("mode", ""):
                if trace.get("fill") == "toself":
                    continue
                points = [y for y in _values(trace["y"]) if y is not None and y == y]
                assert len(points) >= 3, (title, trace.get("name"), points)
                lines += 1
    assert lines >= 3


def test_percent_axes_stay_inside_0_to_100_and_money_axes_show_separators(page):
    fig = go.Figure()
    fig.add_bar(x=["a", "b"], y=[0.0, 0.0])  # all zero: Plotly alone shows −1%…1%
    fig.update_layout(yaxis={"tickformat": ".0%"}, xaxis={"tickformat": ".0%", "range": [-0.2, 1]})
    charts.finish(fig, CONFIG)
    assert fig.layout.yaxis.autorangeoptions.clipmin == 0
    assert fig.layout.yaxis.autorangeoptions.clipmax == 1
    assert fig.layout.xaxis.range == (0, 1)
    percent = money_axes = 0
    for title, spec in figures(page):
        for name, axis in _axes(spec).items():
            fmt = axis.get("tickformat", "")
            assert fmt != "~s", (title, name)  # SI (1.5M) is for titles, not axes
            if "%" in fmt:
                assert axis["autorangeoptions"]["clipmin"] == 0, (title, name)
                percent += 1
            money_axes += fmt == charts.MONEY
    assert percent >= 4 and money_axes >= 2


def test_every_chart_has_a_text_alternative_and_its_numbers(page):
    cards = re.findall(
        r'<div class="card figure[^"]*">\s*<h3>(.*?)</h3>\s*'
        r'<div class="chart" id="[^"]+" role="img" aria-label="([^"]+)"></div>.*?'
        r'<details class="chart-data"><summary>[^<]+</summary>(.*?)</details>',
        page,
        flags=re.S,
    )
    assert len(cards) == len(figures(page)) >= 10
    for title, alt, table in cards:
        assert title in alt and alt.endswith("The table below holds its numbers."), alt
        assert table.count("<td") >= 2, title


def test_the_table_behind_a_chart_shows_its_numbers_as_its_axes_do():
    fig = go.Figure()
    fig.add_bar(x=["lead", "MQL"], y=[0.25, 0.5], name="conversion")
    fig.add_bar(x=["lead", "MQL"], y=[1_250_000, 40_000], name="amount", yaxis="y2")
    fig.update_layout(yaxis={"tickformat": ".0%"}, yaxis2={"tickformat": charts.MONEY})
    table = charts.data_table(fig)
    assert table.to_dict("list") == {
        "": ["lead", "MQL"],
        "conversion": ["25.0%", "50.0%"],
        "amount": ["1,250,000", "40,000"],
    }
    assert charts.describe(fig, "Lead converts worst") == (
        "Bar chart: Lead converts worst. Series: conversion, amount. "
        "The table below holds its numbers."
    )


def test_booked_so_far_is_drawn_week_by_week_to_the_forecast(results, page):
    fc = results["forecast"]
    assert fc.booked_by_week.bookings.sum() == pytest.approx(fc.booked)
    booked = [
        trace
        for _, spec in figures(page)
        for trace in spec["data"]
        if re.fullmatch(r"booked [\d.]+[kM]?", str(trace.get("name", "")))
    ]
    assert len(booked) == 1
    y = _values(booked[0]["y"])
    # from 0 at the quarter's start to the booked total at the as-of date, never falling
    assert y[0] == 0 and y[-1] == pytest.approx(fc.booked) and len(y) >= 3
    assert all(b >= a for a, b in itertools.pairwise(y))


def test_every_chart_maker_draws_its_result_on_the_demo(results):
    """Dispatch is by result type, and each maker draws the demo's result of its type:
    a field renamed under a maker makes this fail, not a chart vanish at run time."""
    config = ff.default_config()
    drawn = set()
    for result in results.values():
        for kind, makers in charts.makers().items():
            if isinstance(result, kind):
                for maker in makers:
                    assert maker(result, config) is not None, (kind.__name__, maker.__name__)
                    drawn.add(maker.__name__)
    every = {m.__name__ for makers in charts.makers().values() for m in makers}
    assert drawn == every, every - drawn
