"""Attribution: hand-worked journeys per model, engine-built paths, ROI, compare, CLI."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import AS_OF as DEMO_AS_OF
from fullfunnel.analytics.attribution import (
    attribute,
    compare_models,
    get_model,
    model_names,
    paths_from_frame,
    read_paths_file,
)
from fullfunnel.analytics.attribution.journeys import journey_paths
from fullfunnel.analytics.attribution.paths import Paths
from fullfunnel.cli import app
from fullfunnel.config import config_from_dict, default_config
from fullfunnel.errors import ConfigError, InputError

SETTINGS = default_config()["attribution"]
AS_OF = datetime(2026, 3, 1)


def paths(rows: list[tuple], *, timed: bool = False) -> Paths:
    """Paths from (path, conversions, value, nulls, lead_pos, opp_pos, won_pos[, days])."""
    cols = ["path", "conversions", "value", "nulls", "lead_pos", "opp_pos", "won_pos"]
    frame = pd.DataFrame(rows, columns=cols + (["days"] if timed else []))
    for c in ("conversions", "value", "nulls"):
        frame[c] = frame[c].astype(float)
    return Paths(frame, timed=timed)


def credits(model: str, p: Paths, **params) -> dict[str, float]:
    out = get_model(model)(p, {**SETTINGS, **params})
    return dict(zip(out["label"], out["conversions"], strict=True))


# --- hand-worked journeys, every model ---------------------------------------------------


def test_one_touch_journey_gets_all_credit_in_every_model():
    p = paths([("a", 3, 30, 2, 0, -1, -1, "4")], timed=True)
    for model in model_names():
        assert credits(model, p) == pytest.approx({"a": 3.0}), model


def test_repeated_channels():
    p = paths([("a > b > a", 1, 10, 0, 0, -1, -1)])
    assert credits("first_touch", p) == pytest.approx({"a": 1, "b": 0})
    assert credits("last_touch", p) == pytest.approx({"a": 1, "b": 0})
    assert credits("linear", p) == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    assert credits("shapley", p) == pytest.approx({"a": 0.5, "b": 0.5})
    # time decay without times: ages 2, 1, 0 touches; half-life 1 → 1/4, 1/2, 1
    assert credits("time_decay", p, half_life_days=1.0) == pytest.approx(
        {"a": 1.25 / 1.75, "b": 0.5 / 1.75}
    )


def test_time_decay_uses_days_and_ties_share_equally():
    # ages 14, 7, 7 days with half-life 7: weights 1/4, 1/2, 1/2
    p = paths([("a > b > c", 2, 20, 0, 0, -1, -1, "14,7,7")], timed=True)
    got = credits("time_decay", p)
    assert got == pytest.approx({"a": 2 * 0.2, "b": 2 * 0.4, "c": 2 * 0.4})


def test_u_w_full_path_shares():
    # first a, lead creation c (pos 2), opportunity creation d (pos 3), won e (pos 4)
    p = paths([("a > b > c > d > e", 1, 100, 0, 2, 3, 4)])
    u = credits("u_shaped", p)  # 0.4 a, 0.4 c, 0.2 over b, d, e
    assert u == pytest.approx({"a": 0.4, "b": 0.2 / 3, "c": 0.4, "d": 0.2 / 3, "e": 0.2 / 3})
    w = credits("w_shaped", p)  # 0.3 a, c, d; 0.1 over b, e
    assert w == pytest.approx({"a": 0.3, "b": 0.05, "c": 0.3, "d": 0.3, "e": 0.05})
    f = credits("full_path", p)  # 0.225 a, c, d, e; 0.1 to b
    assert f == pytest.approx({"a": 0.225, "b": 0.1, "c": 0.225, "d": 0.225, "e": 0.225})


def test_position_models_renormalise_missing_and_shared_anchors():
    # lead creation is the first touch; no opportunity touch: w_shaped has
    # 0.6 on a, 0.1 over b, c → scaled by 1/0.7
    p = paths([("a > b > c", 1, 1, 0, 0, -1, -1)])
    assert credits("w_shaped", p) == pytest.approx(
        {"a": 0.6 / 0.7, "b": 0.05 / 0.7, "c": 0.05 / 0.7}
    )
    # two touches, both anchors: no middle, the 0.2 goes
    p = paths([("a > b", 1, 1, 0, 1, -1, -1)])
    assert credits("u_shaped", p) == pytest.approx({"a": 0.5, "b": 0.5})


def test_markov_matches_a_hand_solved_chain():
    # start→a ½, start→b ½; a→b ½, a→null ½; b→conv ⅔, b→null ⅓
    # P(conv) = ½·½·⅔ + ½·⅔ = ½; without a: ⅓ (RE ⅓); without b: 0 (RE 1)
    p = paths(
        [
            ("a > b", 1, 10, 0, 0, -1, -1),
            ("a", 0, 0, 1, -1, -1, -1),
            ("b", 1, 30, 1, 0, -1, -1),
        ]
    )
    out = get_model("markov")(p, SETTINGS).set_index("label")
    np.testing.assert_allclose(out.removal_effect, [1 / 3, 1.0], atol=1e-12)
    np.testing.assert_allclose(out.conversions, [0.5, 1.5], atol=1e-9)
    np.testing.assert_allclose(out.value, [10.0, 30.0], atol=1e-9)


def test_markov_with_a_cycle():
    # a→b ½, a→conv ½, b→a ½, b→null ½: P(conv from a) = ⅔, from b = ⅓, P = ½
    # without a: 0 (RE 1); without b: ¼ (RE ½) → credits ⅔, ⅓
    p = paths([("a > b > a", 1, 1, 0, 0, -1, -1), ("b", 0, 0, 1, -1, -1, -1)])
    out = get_model("markov")(p, SETTINGS).set_index("label")
    np.testing.assert_allclose(out.removal_effect, [1.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(out.conversions, [2 / 3, 1 / 3], atol=1e-9)


def test_bad_settings_name_the_key():
    p = paths([("a > b", 1, 1, 0, 0, -1, -1)])
    with pytest.raises(ConfigError, match="u_shaped_weights"):
        get_model("u_shaped")(p, {**SETTINGS, "u_shaped_weights": [0.5, 0.5, 0.5]})
    with pytest.raises(ConfigError, match="markov_order"):
        get_model("markov")(p, {**SETTINGS, "markov_order": 5})
    with pytest.raises(InputError, match="Did you mean 'markov'"):
        get_model("markof")


# --- journeys built in the engine ------------------------------------------------------------


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def load_small(wh) -> None:
    """Three contacts, two accounts; touches with a tie, one at the conversion, one too old."""
    touches = [
        ("T0", "C1", "2024-06-01", "partner", None),  # older than the lookback
        ("T1", "C1", "2025-12-31", "seo", None),  # before lead creation: the lead touch
        ("T2", "C1", "2026-01-05", "webinar", None),
        ("T3", "C1", "2026-01-05", "email", 5.0),  # same time as T2: before it by label
        ("T4", "C1", "2026-01-10", "paid_search", 4.0),  # at the conversion: not before it
        ("T5", "C1", "2026-01-20", "events", None),  # after the conversion
        ("T6", "C2", "2026-01-06", "seo", None),
        ("T7", "C2", "2026-01-08", "seo", None),
        ("T8", "C3", "2026-01-03", "referral", None),
    ]
    wh.load_many(
        {
            "contacts": pd.DataFrame(
                {
                    "contact_id": ["C1", "C2", "C3"],
                    "account_id": ["A1", "A1", "A2"],
                    "created_at": [_ts("2026-01-01"), _ts("2026-01-05"), _ts("2026-01-02")],
                }
            ),
            "stage_events": pd.DataFrame(
                {
                    "contact_id": ["C1", "C1", "C3"],
                    "stage": ["mql", "opportunity", "mql"],
                    "ts": [_ts("2026-01-10"), _ts("2026-02-01"), _ts("2026-01-04")],
                }
            ),
            "touchpoints": pd.DataFrame(
                {
                    "touchpoint_id": [t[0] for t in touches],
                    "contact_id": [t[1] for t in touches],
                    "ts": [_ts(t[2]) for t in touches],
                    "channel": [t[3] for t in touches],
                    "campaign": [f"{t[3]}_q1" for t in touches],
                    "kind": ["web_visit"] * len(touches),
                    "cost": [t[4] for t in touches],
                }
            ),
            "opportunities": pd.DataFrame(
                {
                    "opportunity_id": ["O1"],
                    "account_id": ["A1"],
                    "contact_id": ["C1"],
                    "created_at": [_ts("2026-02-01")],
                    "status": ["open"],
                    "amount": [1000.0],
                }
            ),
            "spend": pd.DataFrame(
                {
                    "date": [_ts("2026-01-01").date(), _ts("2026-01-01").date()],
                    "channel": ["seo", "referral"],
                    "campaign": ["seo_q1", "referral_q1"],
                    "amount": [100.0, 50.0],
                }
            ),
        }
    )


def _rows(p: Paths) -> set[tuple]:
    f = p.frame
    cols = ["path", "conversions", "value", "nulls", "lead_pos", "opp_pos", "won_pos"]
    return {tuple(r) for r in f[cols].itertuples(index=False)}


def test_engine_paths_by_contact(engine_wh):
    load_small(engine_wh)
    p = journey_paths(
        engine_wh,
        default_config(),
        conversion="mql",
        lookback_days=365,
        as_of=AS_OF,
        with_days=True,
    )
    assert _rows(p) == {
        ("seo > email > webinar", 1.0, 1.0, 0.0, 0, -1, -1),
        ("seo > seo", 0.0, 0.0, 1.0, -1, -1, -1),
        ("referral", 1.0, 1.0, 0.0, -1, -1, -1),  # no touch before C3 became a lead
    }
    days = dict(zip(p.frame.path, p.frame.days, strict=True))
    assert days["seo > email > webinar"] == "10,5,5"
    # the whole analysis, cost included, on the same engine
    r = attribute(engine_wh, model="u_shaped", conversion="mql", as_of=AS_OF)
    c = r.credits.set_index("channel")
    assert c["conversions"].to_dict() == pytest.approx(
        {"referral": 1.0, "seo": 0.8, "email": 0.1, "webinar": 0.1}
    )
    assert c["cost"].to_dict() == pytest.approx(
        {"referral": 50.0, "seo": 100.0, "email": 5.0, "webinar": np.nan}, nan_ok=True
    )
    assert r.unattributed == 0 and r.journeys == 3


def test_engine_paths_by_account_with_pipeline_value(wh):
    load_small(wh)
    p = journey_paths(
        wh,
        default_config(),
        conversion="opportunity",
        level="account",
        value="pipeline",
        lookback_days=365,
        as_of=AS_OF,
    )
    # A1 converts at C1's opportunity (2026-02-01): every A1 touch before it
    assert _rows(p) == {
        ("seo > email > webinar > seo > seo > paid_search > events", 1.0, 1000.0, 0.0, 0, 6, -1),
        ("referral", 0.0, 0.0, 1.0, -1, -1, -1),
    }


def test_lookback_and_since(wh):
    load_small(wh)
    p = journey_paths(
        wh, default_config(), conversion="mql", lookback_days=5, as_of=AS_OF, by="campaign"
    )
    assert "email_q1 > webinar_q1" in set(p.frame.path)
    p = journey_paths(
        wh,
        default_config(),
        conversion="mql",
        lookback_days=365,
        as_of=AS_OF,
        since=datetime(2026, 1, 5),
    )
    assert p.total_conversions == 1.0  # C3 converted before since: out


def test_attribute_with_cost_and_roi(wh):
    load_small(wh)
    r = attribute(wh, model="last_touch", conversion="mql", as_of=AS_OF)
    c = r.credits.set_index("channel")
    assert c.loc["webinar", "conversions"] == 1.0 and c.loc["referral", "conversions"] == 1.0
    assert c.loc["referral", "cost_per_conversion"] == 50.0
    assert c.loc["email", "cost"] == 5.0  # touch cost only
    assert "roi" not in c  # a count has no return
    r = attribute(wh, model="first_touch", conversion="opportunity", value="pipeline", as_of=AS_OF)
    c = r.credits.set_index("channel")
    # seo: 100 spend; credited pipeline 1000 → ROI 9
    assert c.loc["seo", "roi"] == pytest.approx(9.0)
    assert any("ROI" in line for line in r.headline())
    assert r.to_dict()["kind"] == "attribution"


def test_unattributed_conversions_are_reported(wh):
    load_small(wh)
    r = attribute(wh, model="linear", conversion="mql", as_of=AS_OF, lookback_days=1)
    assert r.unattributed == 1.0  # C3's only touch is 1 day before: C1's are all older
    assert any("no touch" in line for line in r.headline())


def test_unattributed_value_and_the_window_of_a_journey_that_did_not_convert(wh):
    load_small(wh)
    p = journey_paths(
        wh,
        default_config(),
        conversion="opportunity",
        value="pipeline",
        lookback_days=1,
        as_of=AS_OF,
    )
    # C1's opportunity (1000) has no touch in the day before it; C2 and C3 did not
    # convert: C2 keeps the touch at most a day before its latest one, C3 its only one
    assert p.unattributed == 1.0 and p.unattributed_value == 1000.0
    assert _rows(p) == {
        ("seo", 0.0, 0.0, 1.0, -1, -1, -1),
        ("referral", 0.0, 0.0, 1.0, -1, -1, -1),
    }


@pytest.mark.parametrize(
    "options",
    [
        {"conversion": "opportunity", "value": "pipeline", "with_days": True},
        {"conversion": "customer", "level": "account", "value": "bookings", "by": "campaign"},
        {"conversion": "mql", "lookback_days": 30, "since": datetime(2026, 6, 1)},
    ],
    ids=["pipeline-days", "account-bookings", "mql-since"],
)
def test_plain_sql_journeys_equal_the_sorted_lists(demo_wh, monkeypatch, options):
    """Engines without arrays of structs (Postgres) build the same paths in plain SQL."""
    options = {"lookback_days": 365, "as_of": DEMO_AS_OF, **options}
    nested = journey_paths(demo_wh, default_config(), **options).frame
    monkeypatch.setattr(demo_wh.engine, "nested_types", False)
    flat = journey_paths(demo_wh, default_config(), **options).frame
    assert len(nested) > 100 and nested["conversions"].sum() > 10
    pd.testing.assert_frame_equal(flat, nested)


def test_engine_paths_with_many_labels_keep_their_order(wh):
    """Twelve labels need two-digit codes: the path comes back in touch order."""
    load_small(wh)
    chans = [f"ch{i:02d}" for i in range(12)][::-1]  # names out of time order
    extra = pd.DataFrame(
        {
            "touchpoint_id": [f"X{i:02d}" for i in range(12)],
            "contact_id": ["C3"] * 12,
            "ts": [_ts("2025-12-01") + pd.Timedelta(hours=i) for i in range(12)],
            "channel": chans,
            "campaign": chans,
            "kind": ["web_visit"] * 12,
            "cost": [None] * 12,
        }
    )
    wh.load_many({"touchpoints": extra})
    p = journey_paths(wh, default_config(), conversion="mql", lookback_days=365, as_of=AS_OF)
    rows = p.frame.set_index("path")
    assert rows.loc[" > ".join([*chans, "referral"]), "conversions"] == 1.0
    # the touches handed to the models are those of the text, row by row
    from fullfunnel.analytics.attribution.touches import split_touches, touches

    got, want = touches(p), split_touches(p.frame)
    assert list(got.labels) == list(want.labels)
    for field in ("code", "path", "pos", "n", "starts"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


def test_empty_warehouse_gives_empty_results(wh):
    for model in model_names():
        r = attribute(wh, model=model, as_of=AS_OF)
        assert r.credits.empty and r.total_conversions == 0
        assert r.headline() == ["no mql conversions with touches to attribute"]
    c = compare_models(wh, as_of=AS_OF)
    assert c.ranks.empty and c.to_dict()["kind"] == "attribution_compare"


def test_options_fail_with_the_fix(wh):
    with pytest.raises(InputError, match="Did you mean 'channel'"):
        attribute(wh, by="chanel")
    with pytest.raises(ConfigError, match="unknown stage"):
        attribute(wh, conversion="mqll")
    with pytest.raises(InputError, match="value"):
        attribute(wh, value="revenue")
    with pytest.raises(InputError, match="lookback"):
        attribute(wh, lookback_days=0)


def test_config_section_is_read():
    cfg = config_from_dict({"attribution": {"default_model": "linear", "lookback_days": 30}})
    assert cfg["attribution"]["default_model"] == "linear"
    assert cfg["attribution"]["lookback_days"] == 30.0
    with pytest.raises(ConfigError, match="half_life"):
        config_from_dict({"attribution": {"half_life": 3}})


# --- compare ------------------------------------------------------------------------------------


def test_compare_ranks_and_spread():
    p = paths_from_frame(
        pd.DataFrame({"path": ["a > b", "b > c", "c"], "total_conversions": [3, 1, 1]})
    )
    r = compare_models(p, models=["first_touch", "last_touch"])
    t = r.ranks.set_index("channel")
    # first touch: a 3, b 1, c 1; last touch: b 3, c 2, a 0
    assert t.loc["a", "first_touch"] == 1 and t.loc["a", "last_touch"] == 3
    assert t.loc["a", "spread"] == 2
    assert r.credits.set_index("channel").loc["c", "last_touch"] == 2.0
    assert any("disagree most on a" in line for line in r.headline())


# --- path files and the CLI ------------------------------------------------------------------


def test_read_paths_file_and_errors(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("route;conv;nul\na > b ;2;1\n b>a;1;0\na > b;1;0\n", encoding="utf-8")
    p = read_paths_file(f, path_col="route", conv_col="conv", null_col="nul")
    rows = dict(zip(p.frame.path, p.frame.conversions, strict=True))
    assert rows == {"a > b": 3.0, "b > a": 1.0}
    with pytest.raises(InputError, match="Did you mean 'route'"):
        read_paths_file(f, path_col="rout")
    f.write_text("path;total_conversions\na;x\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 2"):
        read_paths_file(f)
    with pytest.raises(InputError, match="not found"):
        read_paths_file(tmp_path / "missing.csv")


def test_cli_attribute_paths_and_compare(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("path;total_conversions;total_null\na > b;2;3\nb;1;4\n", encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["attribute", "--paths", str(f), "--null-col", "total_null"])
    assert out.exit_code == 0, out.output
    assert "markov: 3 conversions" in out.output
    out = runner.invoke(app, ["attribute", "--paths", str(f), "--compare", "-f", "csv"])
    assert out.exit_code == 0 and out.output.startswith("channel,first_touch")
    out = runner.invoke(app, ["attribute", "--paths", str(f), "--model", "markof"])
    assert out.exit_code == 1 and "Did you mean 'markov'" in out.output


def test_cli_attribute_on_warehouse(tmp_path):
    import fullfunnel as ff

    db = tmp_path / "w.duckdb"
    with ff.connect(str(db)) as w:
        load_small(w)
    out = CliRunner().invoke(
        app,
        ["--db", str(db), "attribute", "--model", "linear", "--as-of", "2026-03-01", "-f", "json"],
    )
    assert out.exit_code == 0, out.output
    assert '"model": "linear"' in out.output


# --- planted truth --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["markov", "shapley"])
def test_demo_channel_with_largest_lift_gets_most_credit_per_journey(demo_wh, model):
    truth = demo_wh.table("demo_truth")
    lift = truth.filter(truth.fact == "channel_lift").execute()
    best = lift.loc[lift["value"].idxmax(), "subject"]
    r = attribute(demo_wh, model=model, conversion="mql", as_of=DEMO_AS_OF)
    c = r.credits
    assert c.loc[c["per_1k_journeys"].idxmax(), "channel"] == best
    assert c["conversions"].sum() == pytest.approx(r.total_conversions)


def test_paths_split_in_slices_equal_one_split(monkeypatch):
    from fullfunnel.analytics.attribution import touches as models

    # slices whose labels differ (and come in another order) must share one coding
    paths = ["b > a", "c", "a > c > b", "d > d", "a", "c > a", "b", "d > b > a"] * 3
    frame = pd.DataFrame({"path": paths})
    whole = models.split_touches(frame)
    monkeypatch.setattr(models, "_SPLIT_SLICE", 2)
    monkeypatch.setattr(models.os, "cpu_count", lambda: 4)
    sliced = models.split_touches(frame)
    assert list(sliced.labels) == list(whole.labels) == ["a", "b", "c", "d"]
    assert np.array_equal(sliced.code, whole.code)
    assert np.array_equal(sliced.lengths, whole.lengths)
    assert list(whole.labels[whole.code[:2]]) == ["b", "a"]


@pytest.mark.parametrize("n_labels", [1, 3, 40])
def test_first_touch_of_each_label_per_path(n_labels):
    from fullfunnel.analytics.attribution.touches import touches_from_codes

    rng = np.random.default_rng(n_labels)
    lengths = rng.integers(0, 7, 500)
    codes = rng.integers(0, n_labels, lengths.sum())
    t = touches_from_codes(codes, lengths, np.array([f"l{i:02}" for i in range(n_labels)]))
    want = np.zeros(t.code.size, dtype=bool)
    for p, (start, n) in enumerate(zip(t.starts, t.lengths, strict=True)):
        seen: set[int] = set()
        for i in range(start, start + n):
            want[i] = t.code[i] not in seen
            seen.add(int(t.code[i]))
        assert t.path[start : start + n].tolist() == [p] * n
    np.testing.assert_array_equal(t.first, want)  # a label at a time, or sorted (40)
    np.testing.assert_array_equal(t._first_sorted(), want)
