from pathlib import Path

import pytest

from fullfunnel.config import config_from_dict, default_config, default_toml, load_config
from fullfunnel.errors import ConfigError


def test_defaults_follow_the_design_table():
    cfg = default_config()
    assert cfg.stage_names == ("lead", "mql", "sal", "sql", "opportunity", "customer", "advocate")
    assert [s.segment for s in cfg.stages] == [
        "tofu",
        "tofu",
        "mofu",
        "mofu",
        "bofu",
        "bofu",
        "post",
    ]
    assert cfg.stage("mql").sla_days == 2
    assert cfg.stage("advocate").sla_days is None
    assert cfg.exits == ("disqualified", "closed_lost", "recycled")
    assert cfg.terminal_exits == ("disqualified", "closed_lost")
    assert cfg.ownership["bdr"] == ("tofu", "mofu")
    handoffs = [(h.stage, h.from_team, h.to_team) for h in cfg.handoffs()]
    assert handoffs == [
        ("mql", "marketing", "bdr"),
        ("sql", "bdr", "sales"),
        ("customer", "sales", "am"),
    ]


def test_user_file_overrides_key_by_key(tmp_path: Path):
    path = tmp_path / "fullfunnel.toml"
    path.write_text("[funnel]\nstale_days = 21\n\n[benchmarks]\nlead = 0.2\n")
    cfg = load_config(path)
    assert cfg["funnel"]["stale_days"] == 21
    assert cfg["funnel"]["stuck_rule"] == "sla"
    assert cfg.benchmarks == {"lead": 0.2}
    assert cfg.path == str(path)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"funnel": {"stale_dayz": 3}},
            "unknown key 'stale_dayz' in [funnel]. Did you mean 'stale_days'?",
        ),
        ({"funnell": {}}, "unknown section [funnell]"),
        ({"funnel": {"stale_days": "two"}}, "'funnel.stale_days' must be int"),
        ({"funnel": {"stuck_rule": "p95"}}, "stuck_rule must be 'sla' or 'p90'"),
        ({"funnel": {"recycle_to": "nurture"}}, "recycle_to 'nurture' is not a stage"),
        ({"benchmarks": {"lead": 1.5}}, "benchmarks.lead must be a rate between 0 and 1"),
        ({"benchmarks": {"leed": 0.1}}, "Did you mean 'lead'?"),
        (
            {
                "stages": [
                    {"name": "lead", "segment": "bofu", "owner": "marketing"},
                    {"name": "mql", "segment": "tofu", "owner": "bdr"},
                ]
            },
            "list stages in funnel order",
        ),
        (
            {
                "stages": [
                    {"name": "lead", "segment": "tofu", "owner": "marketing", "sla_days": -1},
                    {"name": "mql", "segment": "tofu", "owner": "bdr"},
                ]
            },
            "sla_days must be a number of days, 0 or more",
        ),
        (
            {
                "stages": [
                    {"name": "lead", "segment": "tofu", "owner": "marketing"},
                    {"name": "mql", "segment": "tofu", "owner": "bdrr"},
                ]
            },
            "team 'bdrr', which is not in [ownership]",
        ),
        (
            {
                "stages": [
                    {"name": "lead", "segment": "tofu", "owner": "marketing"},
                    {"name": "lead", "segment": "tofu", "owner": "bdr"},
                ]
            },
            "listed twice",
        ),
    ],
)
def test_bad_config_names_the_key_and_the_fix(raw, message):
    with pytest.raises(ConfigError) as exc:
        config_from_dict(raw, path="my.toml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("my.toml")


def test_invalid_toml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[funnel\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config init"):
        load_config(tmp_path / "absent.toml")


def test_default_file_is_the_defaults():
    import tomllib

    assert config_from_dict(tomllib.loads(default_toml())).to_dict() == default_config().to_dict()


def test_custom_stage_model(tmp_path: Path):
    cfg = config_from_dict(
        {
            "stages": [
                {"name": "subscriber", "segment": "tofu", "owner": "marketing"},
                {"name": "lead", "segment": "tofu", "owner": "marketing", "sla_days": 10},
                {"name": "won", "segment": "bofu", "owner": "sales"},
            ],
            "benchmarks": {"lead": 0.3},
        }
    )
    assert cfg.stage_names == ("subscriber", "lead", "won")
    assert cfg.next_stage("lead") == "won"
    assert [h.stage for h in cfg.handoffs()] == ["won"]
