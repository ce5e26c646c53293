"""Lead scoring at scale: the training sample is drawn in the engine (the same on
every engine, seeded, about the size asked for), a sampled feature row equals the
full one, binned prediction gives the model's exact log-odds and reasons, and
reasons are stored for the worked tiers only while any lead can be explained."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

import fullfunnel as ff
from fullfunnel.analytics.scoring import explain, latest_scores, score
from fullfunnel.analytics.scoring.features import features, sample_touches
from fullfunnel.analytics.scoring.fit import examples, sample_contacts
from fullfunnel.analytics.scoring.frames import feature_frame
from fullfunnel.analytics.scoring.model import LeadModel
from fullfunnel.analytics.scoring.reasons import (
    MIN_EFFECT,
    _contributions_by_value,
    contributions,
    describe,
    feature_groups,
    top_reasons,
)
from fullfunnel.analytics.scoring.run import _best
from fullfunnel.analytics.scoring.vocabulary import vocabulary
from fullfunnel.config import default_config
from test_scoring import fast_config, lead_list, small_tables

CUT = datetime(2026, 6, 1)
AS_OF = datetime(2026, 11, 23)


def many_contacts(n: int = 400) -> dict[str, pd.DataFrame]:
    contacts = pd.DataFrame(
        {
            "contact_id": [f"c{i:04d}" for i in range(n)],
            "created_at": [CUT - timedelta(days=1 + i % 50) for i in range(n)],
        }
    )
    events = pd.DataFrame({"contact_id": ["c0000"], "stage": ["sql"], "ts": [CUT - timedelta(1)]})
    return {"contacts": contacts, "stage_events": events}


def sampled(wh, limit: int, seed: int) -> set[str]:
    table = sample_contacts(wh, [CUT, CUT], default_config(), "sql", limit, seed, known_at=AS_OF)
    return set() if table is None else set(table.execute()["contact_id"])


def test_engine_sample_is_seeded_sized_and_the_same_on_every_engine(engine_wh):
    tables = many_contacts()
    engine_wh.load_many(tables)
    ref = ff.connect("duckdb://:memory:")
    ref.load_many(tables)
    got = sampled(engine_wh, 200, 7)  # 399 open at each of 2 cut-offs: about 100 contacts
    assert got == sampled(ref, 200, 7)
    assert 80 <= len(got) <= 120
    assert got != sampled(ref, 200, 8)
    everyone = sample_contacts(ref, [CUT], default_config(), "sql", 1000, 7, known_at=AS_OF)
    assert everyone is None  # all fit


def test_features_within_a_sample_equal_the_full_rows(wh):
    wh.load_many(small_tables())
    cfg = default_config()
    vocab = vocabulary(wh, before=CUT)
    full = feature_frame(features(wh, cutoff=CUT, config=cfg, target="sql", vocab=vocab))
    within = wh.table("contacts").filter(lambda t: t.contact_id.isin(["c1", "c2"]))
    part = feature_frame(
        features(wh, cutoff=CUT, config=cfg, target="sql", vocab=vocab, within=within)
    )
    assert list(part["contact_id"]) == ["c1", "c2"]
    want = full[full["contact_id"].isin(["c1", "c2"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, want)  # account aggregates still count everyone


def test_features_for_some_columns_equal_those_of_every_column(wh):
    """Scoring asks only for the counts its model reads: the rows are those of the
    full query, less the counts left out (the others are always there)."""
    wh.load_many(small_tables())
    kw = {"cutoff": CUT, "config": default_config(), "target": "sql"}
    kw["vocab"] = vocabulary(wh, before=CUT)
    full = feature_frame(features(wh, **kw))
    counts = [c for c in full.columns if c.split("__")[0] in ("kind", "channel", "team", "tactic")]
    wanted = {counts[0], counts[-1], "title"}
    part = feature_frame(features(wh, columns=wanted, **kw))
    left_out = [c for c in counts if c not in wanted]
    assert len(left_out) == len(counts) - 2 and "touches_30d" in part
    pd.testing.assert_frame_equal(part, full.drop(columns=left_out))


def test_rows_without_the_columns_no_split_reads_score_the_same():
    rng = np.random.default_rng(4)
    n = 2000
    frame = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(n)],
            "touches_30d": rng.poisson(2, n).astype(float),
            "noise": rng.normal(size=n),
            # a column the model keeps but no split can read: its rare value sets
            # apart fewer rows than a leaf needs (min_samples_leaf 20)
            "rare": np.where(np.arange(n) < 5, 1.0, 0.0),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(3 - frame["touches_30d"]))).astype(int)
    model = small_model(frame, y, trees=10, leaves=7, seed=1)
    read = model.read_columns()
    assert "rare" in model.columns
    assert "touches_30d" in read and "rare" not in read
    np.testing.assert_array_equal(model.predict(frame[["contact_id", *read]]), model.predict(frame))


@pytest.mark.parametrize("sample", [["c1"], ["c2"]])
def test_a_samples_own_touches_give_the_rows_that_every_touch_gives(wh, sample):
    """The examples read only the touches their sample's features need: all of its
    own (c1 has one 100 days old) and, of its accounts', those in the account window
    before the earliest cut-off (c1's touch 20 days before CUT counts for c2 at
    CUT - 10 days)."""
    wh.load_many(small_tables())
    cfg = default_config()
    vocab = vocabulary(wh, before=CUT)
    cuts = [CUT - timedelta(days=10), CUT]
    within = wh.table("contacts").filter(lambda t: t.contact_id.isin(sample))
    touches = wh.cache(sample_touches(wh, within, cutoffs=cuts))
    kw = {"cutoff": cuts, "config": cfg, "target": "sql", "vocab": vocab, "within": within}
    got = feature_frame(features(wh, touches=touches, **kw))
    want = feature_frame(features(wh, **kw))
    assert len(got) == 2 and got["account_touches_30d"].sum() > 0
    pd.testing.assert_frame_equal(got, want)


def test_features_at_many_cutoffs_in_one_query_equal_each_cutoff_alone(engine_wh):
    """The training examples' single query (every cut-off, a sample or everyone) gives
    the rows that each cut-off's own query gives (a1's contacts counted by cut-off: c5
    joins it at the time c2 does)."""
    tables = small_tables()
    c5 = tables["contacts"].iloc[[1]].assign(contact_id="c5", title="Intern")
    tables["contacts"] = pd.concat([tables["contacts"], c5], ignore_index=True)
    engine_wh.load_many(tables)
    cfg = default_config()
    vocab = vocabulary(engine_wh, before=CUT)
    cuts = [CUT - timedelta(days=45), CUT - timedelta(days=4), CUT]
    within = engine_wh.table("contacts").filter(lambda t: t.contact_id.isin(["c1", "c3"]))
    for part in (None, within):
        kw = {"config": cfg, "target": "sql", "vocab": vocab, "within": part}
        many = feature_frame(features(engine_wh, cutoff=cuts, **kw))
        alone = [feature_frame(features(engine_wh, cutoff=c, **kw)) for c in cuts]
        want = pd.concat(alone, ignore_index=True)
        assert want["cutoff"].nunique() == 3  # every cut-off has open contacts
        pd.testing.assert_frame_equal(many, want, check_dtype=False)
        c1 = many[many["contact_id"] == "c1"].set_index("cutoff")["account_contacts"]
        assert c1.to_dict() == {CUT - timedelta(days=4): 3, CUT: 3}


def small_model(frame: pd.DataFrame, y: np.ndarray, *, trees: int, leaves: int, seed: int):
    """A quick booster on ``frame`` (each contact its own group)."""
    params = {"max_iter": trees, "learning_rate": 0.1, "max_leaf_nodes": leaves}
    params |= {"min_samples_leaf": 20, "l2_regularization": 1.0}
    return LeadModel.fit(frame, y, groups=frame["contact_id"].to_numpy(), params=params, seed=seed)


def test_binned_prediction_and_reasons_are_exact():
    rng = np.random.default_rng(1)
    n = 3000
    frame = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(n)],
            "title": None,
            "industry": rng.choice(["software", "retail", None], n).astype(object),
            "touches_30d": rng.poisson(2, n).astype(float),
            "days_in_stage": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 90, n)),
            "tactic__pricing_page__30d": (rng.random(n) < 0.1).astype(float),
        }
    )
    logit = frame["touches_30d"] - 3 + 2 * frame["tactic__pricing_page__30d"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = small_model(frame, y, trees=30, leaves=15, seed=3)
    X = model.matrix(frame)
    np.testing.assert_array_equal(model.decision(X), model.booster.decision_function(X))
    groups = feature_groups(model.columns)
    got = contributions(model, frame, groups)
    want = _contributions_by_value(model, X, groups)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    Xb = model.binned(frame)  # as scoring passes them: the bins at hand
    given = contributions(model, frame, groups, binned=Xb)
    pd.testing.assert_frame_equal(given, want, check_exact=True)


def test_bins_read_off_the_frame_equal_scikit_learns():
    """LeadModel.binned reads the bins off feature rows; scikit-learn's encoder and
    bin mapper on the model's matrix give the same bytes: values on a bin edge,
    missing values, categories unseen in training and a column the rows lack."""
    rng = np.random.default_rng(5)
    n = 2000
    train = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(n)],
            "industry": rng.choice(["software", "retail", "health", None], n).astype(object),
            "country": rng.choice(["US", "DE"], n).astype(object),
            "touches_30d": rng.poisson(2, n).astype(float),
            "days_in_stage": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 90, n)),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(3 - train["touches_30d"]))).astype(int)
    model = small_model(train, y, trees=10, leaves=7, seed=1)
    mapper = model.booster._bin_mapper
    edges = mapper.bin_thresholds_[model.binned_columns().index("days_in_stage")]
    rows = pd.DataFrame(
        {
            "industry": ["software", "mining", None, "retail", "health"],
            "touches_30d": [0.0, np.nan, 2.0, 50.0, -1.0],
            "days_in_stage": [edges[0], edges[3], np.nan, 1e9, edges[-1]],
        }
    )  # no "country" column: every row missing it

    def sklearn_bins(frame: pd.DataFrame) -> np.ndarray:
        X = model.matrix(frame)
        return mapper.transform(model.booster._preprocess_X(X, reset=False))

    for frame in (train, rows):
        want = sklearn_bins(frame)
        np.testing.assert_array_equal(model.binned(frame), want)
        np.testing.assert_array_equal(model.binned(model.matrix(frame)), want)
    assert model.binned(rows)[:, model.binned_columns().index("country")].tolist() == [
        mapper.missing_values_bin_idx_
    ] * len(rows)


def test_reasons_for_the_worked_tiers_and_any_lead_explained(tmp_path):
    wh = ff.connect(tmp_path / "leads.duckdb")
    wh.load_many(lead_list())
    cfg = fast_config(
        exclude_columns=["converted"], cutoffs=3, validation_cutoffs=2, reason_tiers=["A"]
    )
    r = score(wh, as_of=AS_OF, config=cfg)
    s = latest_scores(wh).execute()
    reasons = s["reasons"].map(json.loads)
    assert (reasons[s["tier"] != "A"].map(len) == 0).all()
    assert (reasons[s["tier"] == "A"].map(len) > 0).mean() > 0.9
    assert r.explained == int((s["tier"] == "A").sum()) < r.scored
    assert "--explain" in r.headline()[-1]
    d = s[s["tier"] == "D"]["contact_id"].iloc[0]
    e = explain(wh, d, config=cfg)
    assert e.contact_id == d and len(e.factors) > 0
    assert e.score == pytest.approx(float(s.set_index("contact_id").loc[d, "score"]))


def test_reasons_written_once_per_value_equal_row_by_row_sentences():
    """top_reasons writes each factor's sentence once per distinct value; the result is
    the same as describing every row on its own."""
    rng = np.random.default_rng(5)
    n = 500
    frame = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(n)],
            "title": rng.choice(["VP Sales", "Analyst", None], n).astype(object),
            "title_level": rng.choice([4.0, 1.0, np.nan], n),
            "current_stage": rng.choice(["lead", "mql"], n).astype(object),
            "days_in_stage": rng.uniform(0, 40, n).round(1),  # some x.5: half to even
            "touches_30d": rng.poisson(2, n).astype(float),
            "touches_90d": rng.poisson(5, n).astype(float),  # engagement, not in its sentence
            "last_touch_days": np.where(
                rng.random(n) < 0.2, np.nan, rng.choice([0.4, 0.5, 1.5, 2.5, 7.49, 7.51], n)
            ),
            "days_since_created": rng.uniform(0, 400, n),
            "account_contacts": rng.integers(1, 5, n).astype(float),
            "account_touches_30d": rng.poisson(4, n).astype(float),
            "account_active_contacts_30d": rng.integers(0, 3, n).astype(float),  # not shown
            "kind__web_visit__7d": rng.poisson(1, n).astype(float),
            "kind__web_visit__30d": rng.poisson(3, n).astype(float),
            "industry": rng.choice(["software", "retail", None], n).astype(object),
            "days_since_mql": np.where(rng.random(n) < 0.5, np.nan, rng.uniform(0, 90, n)),
            "recycled_count": rng.integers(0, 2, n).astype(float),
            "entries_mql": rng.integers(0, 3, n).astype(float),  # stage history, not shown
            "x__plan": rng.choice(["pro", "free"], n).astype(object),
        }
    )
    groups = feature_groups([c for c in frame.columns if c not in ("contact_id", "title")])
    effects = pd.DataFrame(rng.normal(0, 0.3, (n, len(groups))), columns=list(groups))
    got = top_reasons(effects, frame, n=3, groups=groups)
    values = effects.to_numpy()
    want = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        best = np.argsort(-values[i], kind="stable")[:3]
        picked = [effects.columns[j] for j in best if values[i, j] >= MIN_EFFECT]
        want.append(json.dumps([describe(g, row) for g in picked]))
    assert got == want
    assert any(json.loads(r) for r in got) and any(not json.loads(r) for r in got)


def test_permutation_importance_on_bins_equals_on_values(monkeypatch):
    """Shuffling a factor's bins gives the importance that shuffling its values gives."""
    from fullfunnel.analytics.scoring import model as model_module

    rng = np.random.default_rng(2)
    n = 2000
    frame = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(n)],
            "industry": rng.choice(["software", "retail", None], n).astype(object),
            "touches_30d": rng.poisson(2, n).astype(float),
            "days_in_stage": rng.uniform(0, 90, n),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(3 - frame["touches_30d"]))).astype(int)
    model = small_model(frame, y, trees=20, leaves=15, seed=3)
    groups = feature_groups(model.columns)
    on_bins = model_module.group_importance(model, frame, y, groups, seed=4, sample=1500)
    monkeypatch.setattr(model_module, "_can_bin", lambda booster: False)
    on_values = model_module.group_importance(model, frame, y, groups, seed=4, sample=1500)
    pd.testing.assert_frame_equal(on_bins, on_values)


def test_labels_from_todays_timeline_equal_a_timeline_as_of_each_horizon():
    """A first reach known at cut-off + horizon is the one known today when it falls by
    then: the labels read off today's timeline equal those of a timeline built as of
    cut-off + horizon (recycled and re-entering contacts included)."""
    from fullfunnel._dates import literal_table
    from fullfunnel.analytics.scoring.features import label
    from fullfunnel.lifecycle import reached, timeline_expr

    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=3000, seed=4, as_of=AS_OF)
    cfg = default_config()
    cuts = (datetime(2026, 3, 1), datetime(2026, 6, 15), datetime(2026, 8, 25))
    rows = wh.table("contacts").select("contact_id")
    rows = rows.cross_join(literal_table([{"cutoff": c} for c in cuts]))
    hits = 0
    for target in ("mql", "sql", "customer"):
        got = label(wh, rows, horizon_days=90, config=cfg, target=target, known_at=AS_OF)
        got = got.execute()
        assert len(got) == 3 * 3000
        for cut in cuts:
            then = timeline_expr(wh, cfg, as_of=cut + timedelta(days=90))
            at = then[reached(target)]
            want = then.select(
                "contact_id", label=(at.notnull() & (at > cut)).cast("int8")
            ).execute()
            merged = got[got["cutoff"] == cut].merge(
                want, on="contact_id", how="left", suffixes=("", "_then")
            )
            merged["label_then"] = merged["label_then"].fillna(0)
            assert (merged["label"] == merged["label_then"]).all(), (target, cut)
            hits += int(merged["label"].sum())
    assert hits > 100  # the labels are not all zero
    with pytest.raises(ValueError, match="needs data known"):
        examples(wh, [AS_OF], cfg, "sql", 90, vocabulary(wh, before=AS_OF), known_at=AS_OF)


@pytest.mark.parametrize("can_bin", [True, False])
def test_open_contacts_scored_in_batches_equal_one_batch(monkeypatch, can_bin):
    """Scoring the open contacts a few rows at a time keeps only some columns of each
    batch; the scores, tiers, reasons and top leads are those of one batch."""
    from fullfunnel.analytics.scoring import model as model_module
    from fullfunnel.analytics.scoring import run as run_module

    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=3000, seed=6, as_of=AS_OF)
    cfg = fast_config(reason_tiers=["A", "B"])
    if not can_bin:
        monkeypatch.setattr(model_module, "_can_bin", lambda booster: False)
    batches, feature_batches = [], run_module.feature_batches

    def counted(expr, rows):
        for frame in feature_batches(expr, rows):
            batches.append(len(frame))
            yield frame

    def run(rows: int):
        batches.clear()
        monkeypatch.setattr(run_module, "BATCH_ROWS", rows)
        with monkeypatch.context() as patch:
            patch.setattr(run_module, "feature_batches", counted)
            result = score(wh, as_of=AS_OF, config=cfg)
        got = latest_scores(wh).execute().sort_values("contact_id", ignore_index=True)
        return result, got, list(batches)

    one, one_scores, one_batches = run(10**9)
    many, many_scores, many_batches = run(97)
    assert len(one_batches) == 1 and len(many_batches) > 5
    assert sum(many_batches) == one_batches[0] == one.scored == many.scored
    pd.testing.assert_frame_equal(many_scores, one_scores)
    given = many_scores["reasons"] != "[]"
    assert given.any() and not given[~many_scores["tier"].isin(["A", "B"])].any()
    pd.testing.assert_frame_equal(many.top_leads, one.top_leads)
    pd.testing.assert_frame_equal(many.tiers, one.tiers)


@pytest.mark.parametrize("top", [0, 1, 3, 7, 50])
def test_best_leads_equal_a_full_sort(top):
    # ties at the cut (0.5 three times) are broken by contact id, as the full sort does
    rng = np.random.default_rng(3)
    score = np.concatenate([[0.9, 0.5, 0.5, 0.5, 0.1], rng.choice([0.2, 0.4, 0.5], 15)])
    ids = [f"c{i:02d}" for i in rng.permutation(len(score))]
    scores = pd.DataFrame({"contact_id": ids, "score": score})
    want = scores.sort_values(["score", "contact_id"], ascending=[False, True]).head(top)
    pd.testing.assert_frame_equal(_best(scores, top), want)
