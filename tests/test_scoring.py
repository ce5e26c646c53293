"""Lead scoring: features as of a cut-off (no leakage), engines agree, the model
recovers the demo's planted signal, beats the points baseline, is calibrated and
reproducible, and works on a plain lead list."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import joblib
import numpy as np
import pandas as pd
import pytest

import fullfunnel as ff
from fullfunnel.analytics.scoring import explain, latest_scores, parse_horizon, score
from fullfunnel.analytics.scoring.features import features
from fullfunnel.analytics.scoring.frames import feature_frame
from fullfunnel.analytics.scoring.reasons import contributions, feature_groups
from fullfunnel.analytics.scoring.tiers import tiers_of as _tiers
from fullfunnel.analytics.scoring.vocabulary import vocabulary
from fullfunnel.config import config_from_dict, default_config
from fullfunnel.errors import InputError

CUT = datetime(2026, 6, 1)
# fast settings for tests: fewer trees and folds, no refit
FAST = {
    "max_iter": 60,
    "calibration_folds": 2,
    "refit": False,
    "cutoffs": 6,
    "learning_rate": 0.1,
}


def fast_config(**extra):
    return config_from_dict({"scoring": {**FAST, **extra}})


def d(days: float) -> datetime:
    return CUT + timedelta(days=days)


def small_tables() -> dict[str, pd.DataFrame]:
    """Four contacts around CUT: open lead, open mql, one already at sql, one exited."""
    contacts = pd.DataFrame(
        {
            "contact_id": ["c1", "c2", "c3", "c4"],
            "account_id": ["a1", "a1", "a2", None],
            "created_at": [d(-40), d(-20), d(-60), d(-10)],
            "source_channel": ["seo", "referral", "paid_search", "seo"],
            "title": ["VP Sales", "Marketing Analyst", "Chief Revenue Officer", "Student"],
            "industry": ["software", None, "retail", None],
            "employees": [500, None, 40, 10],
            "country": ["US", "US", "DE", None],
        }
    )
    accounts = pd.DataFrame(
        {"account_id": ["a1", "a2"], "industry": ["software", "retail"], "employees": [500, 40]}
    )
    stage_events = pd.DataFrame(
        {
            "contact_id": ["c2", "c3", "c4"],
            "stage": ["mql", "sql", "disqualified"],
            "ts": [d(-5), d(-30), d(-2)],
        }
    )
    rows = [
        ("t1", "c1", "a1", d(-3), "seo", "pricing_page", "web_visit", "marketing", "inbound"),
        ("t2", "c1", "a1", d(-20), "seo", "seo_content", "web_visit", "marketing", "inbound"),
        ("t3", "c1", "a1", d(-100), "email", "nurture_email", "email", "marketing", "inbound"),
        ("t4", "c2", "a1", d(-1), "outbound", "bdr_follow_up", "call", "bdr", "outbound"),
        ("t5", "c3", "a2", d(-50), "paid_search", "ads", "ad_click", "marketing", "inbound"),
    ]
    cols = ["touchpoint_id", "contact_id", "account_id", "ts", "channel", "tactic", "kind"]
    touchpoints = pd.DataFrame(rows, columns=[*cols, "team", "direction"])
    return {
        "contacts": contacts,
        "accounts": accounts,
        "stage_events": stage_events,
        "touchpoints": touchpoints,
    }


def small_features(wh, vocab=None) -> pd.DataFrame:
    cfg = default_config()
    return feature_frame(features(wh, cutoff=CUT, config=cfg, target="sql", vocab=vocab))


def test_features_by_hand(wh):
    wh.load_many(small_tables())
    f = small_features(wh).set_index("contact_id")
    assert list(f.index) == ["c1", "c2"]  # c3 reached sql, c4 exited
    c1, c2 = f.loc["c1"], f.loc["c2"]
    assert c1["title_level"] == 4 and c1["title_function"] == "sales"
    assert c2["title_level"] == 1 and c2["title_function"] == "marketing"
    assert c2["industry"] == "software" and c2["employees"] == 500  # from the account
    assert c1["touches_7d"] == 1 and c1["touches_30d"] == 2 and c1["touches_ever"] == 3
    assert c1["kind__web_visit__7d"] == 1 and c1["kind__web_visit__30d"] == 2
    assert c1["tactic__pricing_page__30d"] == 1
    assert c1["last_touch_days"] == pytest.approx(3)
    assert c1["current_stage"] == "lead" and c1["days_in_stage"] == pytest.approx(40)
    assert c2["current_stage"] == "mql" and c2["days_since_mql"] == pytest.approx(5)
    assert c2["team__bdr__7d"] == 1 and c2["outbound_30d"] == 1
    assert c1["account_contacts"] == 2 and c1["account_touches_30d"] == 3


def test_no_feature_reads_after_the_cutoff(wh):
    """Adding touches and stage events at or after the cut-off changes no feature."""
    tables = small_tables()
    wh.load_many(tables)
    vocab = vocabulary(wh, before=CUT)
    before = small_features(wh, vocab)
    late_touch = pd.DataFrame(
        [
            ("t9", "c1", "a1", CUT, "seo", "pricing_page", "web_visit", "marketing", "inbound"),
            ("t10", "c2", "a1", d(3), "outbound", "bdr_follow_up", "call", "bdr", "outbound"),
        ],
        columns=tables["touchpoints"].columns,
    )
    late_stage = pd.DataFrame(
        {"contact_id": ["c1", "c2"], "stage": ["mql", "sql"], "ts": [d(1), d(2)]}
    )
    late_contact = pd.DataFrame(
        {"contact_id": ["c5"], "account_id": ["a1"], "created_at": [d(1)], "title": ["VP"]}
    )
    wh.load("touchpoints", late_touch)
    wh.load("stage_events", late_stage)
    wh.load("contacts", late_contact)
    after = small_features(wh, vocab)
    pd.testing.assert_frame_equal(before, after)


def test_target_stage_is_never_a_feature(wh):
    wh.load_many(small_tables())
    cfg = default_config()
    for target in ("mql", "sql", "opportunity"):
        cols = features(wh, cutoff=CUT, config=cfg, target=target).columns
        later = cfg.stage_names[cfg.index(target) :]
        assert not [c for c in cols if any(c.endswith(f"_{s}") for s in later)]


def test_features_agree_across_engines(engine_wh):
    """The same hand-built data gives the same features on every engine."""
    tables = small_tables()
    engine_wh.load_many(tables)
    ref = ff.connect("duckdb://:memory:")
    ref.load_many(tables)
    vocab = vocabulary(ref, before=CUT)
    got = small_features(engine_wh, vocab)
    want = small_features(ref, vocab)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)


def test_parse_horizon_and_tiers():
    assert parse_horizon("90d", 30) == 90
    assert parse_horizon("12w", 30) == 84
    assert parse_horizon(None, 30) == 30
    with pytest.raises(InputError, match="90d"):
        parse_horizon("soon", 30)
    tiers = _tiers(np.linspace(1, 0, 100), [0.1, 0.15, 0.25])
    assert (pd.Series(tiers).value_counts().sort_index() == [10, 15, 25, 50]).all()


def test_too_little_history_says_what_to_do(wh):
    wh.load_many(small_tables())
    with pytest.raises(InputError, match="horizon_days"):
        score(wh, as_of=CUT, config=fast_config(cutoffs=2, validation_cutoffs=1))


# --- the demo: planted signal, baseline, calibration ------------------------------------

AS_OF = datetime(2026, 11, 23)


@pytest.fixture(scope="module")
def demo_scored(tmp_path_factory):
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=8000, seed=11, as_of=AS_OF)
    models = tmp_path_factory.mktemp("models")
    result = score(wh, as_of=AS_OF, config=fast_config(), model_dir=models)
    yield wh, result
    wh.close()


def test_model_beats_points_baseline_on_held_out_data(demo_scored):
    _, r = demo_scored
    m = r.metrics.set_index("scorer")
    assert r.validation_rows > 1000
    assert m.loc["model", "auc"] > m.loc["baseline", "auc"]
    assert m.loc["model", "average_precision"] > m.loc["baseline", "average_precision"]
    assert m.loc["model", "top_decile_lift"] > 3


def test_calibrated_on_held_out_data(demo_scored):
    _, r = demo_scored
    model = r.metrics.set_index("scorer").loc["model"]
    assert model["calibration_error"] < 0.01
    assert model["mean_predicted"] == pytest.approx(model["observed_rate"], abs=0.01)
    top = r.calibration[(r.calibration["scorer"] == "model") & (r.calibration["bin"] == 9)]
    assert float(top["predicted"].iloc[0]) == pytest.approx(
        float(top["observed"].iloc[0]), abs=0.05
    )


def test_planted_signal_ranks_at_the_top(demo_scored):
    """Title seniority is among the strongest signals (permutation importance), and the
    planted pricing-page visits are among the three tactics that move the model most
    (model-based: each tactic's effect on the log-odds of the leads that had it; the
    planted channel lifts, e.g. webinars, compete with it)."""
    wh, r = demo_scored
    ranked = list(r.importance["feature"])
    assert ranked.index("title") < 4
    saved = joblib.load(r.model_path)
    model = saved["model"]
    current = feature_frame(
        features(wh, cutoff=AS_OF, config=default_config(), target="sql", vocab=saved["vocab"])
    )
    groups = {g: c for g, c in feature_groups(model.columns).items() if g.startswith("tactic:")}
    effects = contributions(model, current, groups)
    had = {g: current[cols].sum(axis=1) > 0 for g, cols in groups.items()}
    mean_effect = pd.Series({g: effects.loc[had[g], g].mean() for g in groups if had[g].sum() > 30})
    top3 = list(mean_effect.sort_values(ascending=False).index[:3])
    assert "tactic:pricing_page" in top3, mean_effect.sort_values()
    assert mean_effect["tactic:pricing_page"] > 0.05


def test_scores_table_tiers_and_reasons(demo_scored):
    wh, r = demo_scored
    s = latest_scores(wh).execute()
    assert len(s) == r.scored > 0
    assert set(s["tier"]) == {"A", "B", "C", "D"}
    assert s["score"].between(0, 1).all()
    assert (s.groupby("tier")["score"].mean().sort_index().diff().dropna() < 0).all()
    a = s[s["tier"] == "A"]
    reasons = [json.loads(x) for x in a["reasons"]]
    assert all(isinstance(x, list) for x in reasons)
    assert sum(1 for x in reasons if x) > 0.9 * len(a)
    assert set(s["target_stage"]) == {"sql"} and set(s["horizon_days"]) == {90}
    assert r.headline() and "AUC" in r.headline()[2]
    json.dumps(r.to_dict())


# --- a plain lead list: attributes and a converted flag ---------------------------------


def lead_list(n: int = 2000, seed: int = 3) -> dict[str, pd.DataFrame]:
    """Leads as a CSV would carry them: attributes, an extra budget column and a
    converted flag with its date, mapped to contacts + an sql stage event."""
    rng = np.random.default_rng(seed)
    created = (AS_OF - pd.to_timedelta(rng.uniform(0, 700, n), unit="D")).floor("s")
    titles = np.array(["VP Sales", "Analyst", "Director of IT", "Student"])
    title = rng.integers(0, 4, n)
    budget = rng.lognormal(10, 1, n).round()
    p = np.array([0.35, 0.12, 0.2, 0.03])[title] * np.where(budget > 30000, 2.0, 1.0)
    converted = rng.random(n) < np.clip(p, 0, 0.9)
    conv_at = (created + pd.to_timedelta(rng.lognormal(np.log(20), 0.5, n), unit="D")).floor("s")
    converted &= conv_at <= AS_OF
    contacts = pd.DataFrame(
        {
            "contact_id": [f"L{i:05d}" for i in range(n)],
            "created_at": created,
            "title": titles[title],
            "country": rng.choice(["US", "GB", "DE"], n),
            "budget": budget,
            "segment": rng.choice(["smb", "mid", "ent"], n),
            "converted": converted,
        }
    )
    events = pd.DataFrame(
        {"contact_id": contacts["contact_id"][converted], "stage": "sql", "ts": conv_at[converted]}
    )
    return {"contacts": contacts, "stage_events": events}


def test_plain_lead_list_with_extra_columns(tmp_path):
    wh = ff.connect(tmp_path / "leads.duckdb")
    wh.load_many(lead_list())
    cfg = fast_config(exclude_columns=["converted"], cutoffs=3, validation_cutoffs=2)
    r = score(wh, as_of=AS_OF, config=cfg)
    m = r.metrics.set_index("scorer")
    assert m.loc["model", "auc"] > 0.6
    assert "extra:budget" in set(r.importance["feature"])
    assert "extra:converted" not in set(r.importance["feature"])  # excluded: it is the answer
    assert r.model_path and (tmp_path / "fullfunnel-models").is_dir()
    again = score(wh, as_of=AS_OF, config=cfg, write=False)
    assert again.model_version == r.model_version
    pd.testing.assert_frame_equal(again.top_leads, r.top_leads)
    e = explain(wh, r.top_leads["contact_id"].iloc[0], config=cfg)
    assert e.score == pytest.approx(r.top_leads["score"].iloc[0])
    assert {"title", "extra:budget"} <= set(e.factors["factor"])
    assert e.headline()[0].startswith(e.contact_id)


def test_cli_score_and_explain(tmp_path):
    from typer.testing import CliRunner

    from fullfunnel.cli import app

    db = tmp_path / "leads.duckdb"
    wh = ff.connect(db)
    wh.load_many(lead_list(n=2000, seed=5))
    wh.close()
    cfg = tmp_path / "fullfunnel.toml"
    cfg.write_text(
        "[scoring]\nmax_iter = 40\nrefit = false\ncalibration_folds = 2\n"
        'exclude_columns = ["converted"]\ncutoffs = 3\nvalidation_cutoffs = 2\n'
    )
    runner = CliRunner()
    base = ["--db", str(db), "--config", str(cfg)]
    out = runner.invoke(app, [*base, "score", "--as-of", "2026-11-23", "--format", "json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    top = payload["top_leads"][0]["contact_id"]
    out = runner.invoke(app, [*base, "score", "--explain", top])
    assert out.exit_code == 0, out.output
    assert top in out.output and "tier" in out.output
    out = runner.invoke(app, [*base, "score", "--explain", "nobody"])
    assert out.exit_code == 1 and "not in the contacts table" in out.output
    out = runner.invoke(app, [*base, "score", "--horizon", "soon"])
    assert out.exit_code == 1 and "90d" in out.output


def test_refit_scores_with_a_model_trained_on_held_out_cutoffs_too(demo_scored, tmp_path):
    wh, first = demo_scored
    again = score(wh, as_of=AS_OF, config=fast_config(refit=True), model_dir=tmp_path, write=False)
    assert again.scored == first.scored
    # the same validation (metrics), but the final model saw more examples: other scores
    assert again.metrics.equals(first.metrics)
    stored = wh.table("scores").to_pandas().set_index("contact_id")["score"]
    top = again.top_leads.set_index("contact_id")["score"]
    assert not np.allclose(top.to_numpy(), stored.reindex(top.index).to_numpy())


def test_a_read_reuses_the_stored_run_until_the_data_or_a_setting_changes(tmp_path):
    """The report and the dashboard read the scores without training again while the
    data and the settings are those of the last 'score' run; a read stores nothing."""
    wh = ff.connect(tmp_path / "d.duckdb")
    ff.generate_demo(wh, contacts=3000, seed=4, as_of=AS_OF)
    cfg = fast_config()
    first = score(wh, as_of=AS_OF, config=cfg)
    runs = tmp_path / "fullfunnel-models" / "runs"
    assert len(list(runs.iterdir())) == 1
    again = score(wh, as_of=AS_OF, config=cfg, write=False)
    assert again.reused and not first.reused
    pd.testing.assert_frame_equal(again.top_leads, first.top_leads)
    assert again.model_version == first.model_version
    assert any("reused" in line for line in again.headline())
    assert not score(wh, as_of=AS_OF, config=cfg, write=False, seed=99).reused
    assert not score(wh, as_of=AS_OF, config=fast_config(max_iter=30), write=False).reused
    touch = wh.table("touchpoints").limit(1).to_pandas().assign(touchpoint_id="one-more")
    wh.load("touchpoints", touch)
    assert not score(wh, as_of=AS_OF, config=cfg, write=False).reused
    assert len(list(runs.iterdir())) == 1
