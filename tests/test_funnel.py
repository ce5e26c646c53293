"""The funnel on hand-built data: every number below is worked out by hand.

Contacts (see conftest.load_small_funnel), as of 2024-06-01:
a: lead → mql → (sal implied) → sql → opportunity → customer (03-01, 92 days)
b: lead → mql → disqualified          c: lead → (mql, sal implied) → sql (02-10)
d: lead → mql → recycled → mql again  e: lead (03-01, 92 days, never moved)
"""

from datetime import datetime

import pandas as pd
import pytest

import fullfunnel as ff
from conftest import SMALL_AS_OF, load_small_funnel
from fullfunnel.analytics.stats import wilson
from fullfunnel.errors import InputError


def by_stage(result):
    return result.stages.set_index("stage")


def test_stage_table_by_hand(small_wh):
    st = by_stage(ff.funnel(small_wh, as_of=SMALL_AS_OF))
    # no contact has a sal event of its own: the funnel goes mql → sql
    assert list(st.index) == ["lead", "mql", "sql", "opportunity", "customer", "advocate"]
    assert list(st["reached"]) == [5, 4, 2, 1, 1, 0]
    assert list(st["implied"]) == [0, 1, 0, 0, 0, 0]
    assert st.loc["mql", "entries"] == 4  # b, d twice, a; c is implied
    assert list(st["cumulative"]) == [1.0, 0.8, 0.4, 0.2, 0.2, 0.0]
    assert st.loc["lead", "conversion"] == pytest.approx(4 / 5)
    assert st.loc["mql", "conversion"] == pytest.approx(2 / 4)
    assert st.loc["sql", "conversion"] == pytest.approx(1 / 2)
    # leakage of those that reached mql and not sql: b exited, d stalled (61 days > 2)
    assert (st.loc["mql", "exited"], st.loc["mql", "stalled"], st.loc["mql", "in_flight"]) == (
        1,
        1,
        0,
    )
    # lead: e stalled 92 days > 30; customer: a has not become an advocate in 92 days > 30
    assert st.loc["lead", "stalled"] == 1
    assert st.loc["customer", "stalled"] == 1
    # stock: who is in each stage now
    assert st.loc["mql", "in_stage"] == 1  # d (b exited)
    assert st.loc["sql", "in_stage"] == 1  # c
    # velocity lead→mql: a 4, b 2, c 9, d 1 days → median 3
    assert st.loc["lead", "median_days"] == pytest.approx(3.0)
    assert st.loc["sql", "median_days"] == pytest.approx(12.0)
    assert st.loc["advocate", "conversion"] is None or pd.isna(st.loc["advocate", "conversion"])


def test_period_counts_only_contacts_that_reached_a_stage_in_it(wh):
    load_small_funnel(wh)
    st = by_stage(ff.funnel(wh, since="2024-02-01", until="2024-02-29", as_of=SMALL_AS_OF))
    assert st.loc["lead", "reached"] == 2  # c, d
    assert st.loc["mql", "reached"] == 2  # c (implied 02-10), d (02-06)
    assert st.loc["opportunity", "reached"] == 1  # a on 02-01
    assert st.loc["lead", "cumulative"] == 1.0
    assert st.loc["sql", "cumulative"] == pytest.approx(0.5)


def test_empty_period_reports_no_rates(wh):
    load_small_funnel(wh)
    st = by_stage(ff.funnel(wh, since="2030-01-01", as_of=SMALL_AS_OF))
    assert st["reached"].sum() == 0
    assert st["conversion"].isna().all()


def test_until_before_since_is_a_clear_error(wh):
    with pytest.raises(InputError, match="swap them"):
        ff.funnel(wh, since="2024-03-01", until="2024-01-01")


def test_breakdown_with_nulls(small_wh):
    res = ff.funnel(small_wh, by="source_channel", as_of=SMALL_AS_OF)
    st = res.stages.set_index(["source_channel", "stage"])
    assert st.loc[("paid", "lead"), "reached"] == 2
    assert st.loc[("paid", "lead"), "conversion"] == 1.0
    assert st.loc[("seo", "lead"), "conversion"] == 0.5
    assert st.loc[("(none)", "mql"), "entries"] == 2
    # groups add up to the total
    total = by_stage(ff.funnel(small_wh, as_of=SMALL_AS_OF))
    sums = res.stages.groupby("stage")["reached"].sum()
    assert (sums.reindex(total.index) == total["reached"]).all()


def test_breakdown_by_unknown_column_suggests(wh):
    with pytest.raises(InputError, match="Did you mean 'source_channel'"):
        ff.funnel(wh, by="source_chanel")


def test_conversion_within_a_window(wh):
    load_small_funnel(wh)
    st = by_stage(ff.funnel(wh, within_days=3, as_of=SMALL_AS_OF))
    # lead→mql within 3 days: b (2), d (1); a took 4, c 9
    assert st.loc["lead", "conversion_within"] == pytest.approx(2 / 5)


def test_immature_cohorts_are_flagged_not_reported_low(wh):
    load_small_funnel(wh)
    # as of 2024-03-05 the March lead cohort (e) is days old; lead→mql p90 is 7.5 days
    res = ff.funnel(wh, as_of=datetime(2024, 3, 5))
    co = res.cohorts.set_index(["stage", "cohort_start"])
    march = co.loc[("lead", pd.Timestamp("2024-03-01"))]
    assert bool(march["immature"]) and pd.isna(march["rate"])
    assert march["rate_so_far"] == 0.0
    jan = co.loc[("lead", pd.Timestamp("2024-01-01"))]
    assert not jan["immature"] and jan["rate"] == 1.0
    # a mature cohort's rate has its Wilson interval; an immature one has none
    lo, hi = wilson(jan["converted"], jan["entered"], confidence=0.9)
    assert (jan["rate_low"], jan["rate_high"]) == pytest.approx((float(lo), float(hi)))
    assert jan["rate_low"] < 1.0 == jan["rate_high"]
    assert pd.isna(march["rate_low"]) and pd.isna(march["rate_high"])
    # a period that ended too recently is flagged on the stage table too
    st = by_stage(ff.funnel(wh, since="2024-03-01", until="2024-03-04", as_of=datetime(2024, 3, 5)))
    assert st.loc["lead", "immature"]


def test_quarter_cohorts(small_wh):
    co = ff.funnel(small_wh, cohort="quarter", as_of=SMALL_AS_OF).cohorts
    lead = co[co.stage == "lead"]
    assert list(lead.entered) == [5]
    assert list(lead.converted) == [4]


def test_velocity_by_hand(small_wh):
    v = ff.velocity(small_wh, as_of=SMALL_AS_OF).steps.set_index(["from_stage", "to_stage"])
    assert v.loc[("lead", "mql"), "contacts"] == 4
    assert v.loc[("lead", "mql"), "median_days"] == pytest.approx(3.0)
    assert v.loc[("lead", "mql"), "p90_days"] == pytest.approx(7.5)
    assert v.loc[("lead", "customer"), "median_days"] == pytest.approx(60.0)


def test_pipeline_by_hand(small_wh):
    p = ff.pipeline(small_wh, as_of=SMALL_AS_OF)
    assert (p.open_count, p.open_amount) == (1, 800.0)
    assert (p.kpis.won, p.kpis.lost, p.win_rate) == (1, 1, 0.5)
    assert p.average_deal == 1000.0
    assert p.kpis.sales_cycle_days.value == pytest.approx(29.0)
    # 1 of 2: the 90% Wilson interval is wide, and said so
    assert (p.kpis.win_rate.low, p.kpis.win_rate.high) == pytest.approx((0.1209, 0.8791), abs=1e-4)
    assert "1 of 2 opportunities closed" in p.headline()[1]
    # as of before the deals closed, all three were open
    early = ff.pipeline(small_wh, as_of=datetime(2024, 3, 2))
    assert early.open_count == 2 and early.kpis.won == 1


def test_results_are_json_safe(small_wh):
    import json

    for result in (
        ff.funnel(small_wh, by="source_channel", as_of=SMALL_AS_OF),
        ff.velocity(small_wh, as_of=SMALL_AS_OF),
        ff.pipeline(small_wh, as_of=SMALL_AS_OF),
    ):
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert data["kind"] == result.title


def test_the_won_stage_stays_when_the_data_skips_it(wh):
    """Advocates recorded but no customer event: the funnel keeps customer (every
    KPI is counted at it) and leaves out the stages only ever implied."""
    day = pd.Timestamp("2024-01-02")
    ids = ["a", "b", "c"]
    wh.load("contacts", pd.DataFrame({"contact_id": ids, "created_at": [day] * 3}))
    events = [("a", "mql", 1), ("a", "advocate", 40), ("b", "mql", 2), ("c", "mql", 3)]
    wh.load(
        "stage_events",
        pd.DataFrame(
            {
                "contact_id": [c for c, _, _ in events],
                "stage": [s for _, s, _ in events],
                "ts": [day + pd.Timedelta(days=d) for _, _, d in events],
                "source": ["test"] * len(events),
            }
        ),
    )
    st = ff.funnel(wh, as_of=datetime(2024, 6, 1)).stages.set_index("stage")
    assert list(st.index) == ["mql", "customer", "advocate"]
    assert st.loc["customer", "reached"] == 1 and st.loc["customer", "implied"] == 1
