"""Every registered analysis is reachable from the CLI, the API and the report, with
the options its registry entry declares, and nothing else decides what they offer."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import typer
from typer.testing import CliRunner

from fullfunnel.analytics.registry import ANALYSES, FILTERS, LEVEL, Analysis, command_analyses
from fullfunnel.cli import app
from fullfunnel.report.view import LAYOUT, SECTIONS, build_view

runner = CliRunner()
AS_OF = "2026-11-23"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    import fullfunnel as ff

    path = tmp_path_factory.mktemp("registry") / "demo.duckdb"
    with ff.connect(str(path)) as wh:
        ff.generate_demo(wh, contacts=1500, seed=3, as_of=datetime(2026, 11, 23))
    return path


def _click_command(command: str):
    cmd = typer.main.get_command(app)
    for word in command.split():
        cmd = cmd.commands[word]
    return cmd


@pytest.mark.parametrize("name", list(ANALYSES))
def test_every_entry_loads_its_function_and_result_type(name):
    analysis = ANALYSES[name]
    import inspect

    fn = analysis.load()
    accepted = inspect.signature(fn).parameters
    for option in analysis.options:
        if option is LEVEL:  # Analysis.run takes it: the analysis runs on the account view
            continue
        assert option.name in accepted, (name, option.name)
    for key in analysis.report:
        assert key in accepted, (name, key)
    assert analysis.result_type().__name__ == analysis.result.rpartition(":")[2]
    assert analysis.section in SECTIONS
    assert analysis.example.startswith(f"fullfunnel {analysis.command}")


@pytest.mark.parametrize("name", list(ANALYSES))
def test_every_option_is_a_cli_option_with_its_default_and_help(name):
    analysis = ANALYSES[name]
    cmd = _click_command(analysis.command)
    params = {p.name: p for p in cmd.params}
    for option in analysis.options:
        param = params[option.name]
        assert option.cli_flag in param.opts, (name, option.name, param.opts)
        assert param.default == option.default, (name, option.name)
        assert param.help == option.help
    if analysis.switch:
        assert f"--{analysis.switch}" in params[analysis.switch].opts
    help_text = runner.invoke(app, [*analysis.command.split(), "--help"]).output
    main = command_analyses(analysis.command)[0]
    flat = " ".join(help_text.replace("-\n  ", "-").split())
    assert f"Example: {main.example}" in flat


def test_a_command_runs_its_analysis_and_a_switch_the_other(demo_db):
    """Each command (and switch) gives the result type of its registry entry; an
    option the chosen analysis does not take is refused, not ignored."""
    cheap = [a for a in ANALYSES.values() if a.name not in ("scoring", "backtest")]
    for analysis in cheap:
        args = ["--db", str(demo_db), "-f", "json", *analysis.command.split()]
        args += [f"--{analysis.switch}"] if analysis.switch else []
        args += ["stage:lead,stage:mql"] if analysis.valued_switch else []
        out = runner.invoke(app, [*args, "--as-of", AS_OF])
        assert out.exit_code == 0, (analysis.name, out.output)
        assert json.loads(out.stdout)["kind"] == analysis.result_type().title
    stray = runner.invoke(app, ["--db", str(demo_db), "forecast", "--backtest", "--target", "1M"])
    assert stray.exit_code == 1 and "--target does not apply to 'forecast --backtest'" in (
        stray.output
    )
    wrong = runner.invoke(app, ["--db", str(demo_db), "attribute", "--model", "markof"])
    assert wrong.exit_code == 1 and "Did you mean 'markov'" in wrong.output


def test_every_entry_is_an_api_route_with_its_options(demo_db):
    pytest.importorskip("fastapi")
    from fullfunnel.server.app import create_app

    schema = create_app(str(demo_db)).openapi()
    for name, analysis in ANALYSES.items():
        route = schema["paths"][f"/api/{name}"]["get"]
        query = {p["name"]: p for p in route["parameters"] if p["in"] == "query"}
        for option in analysis.options:
            param = query[option.name]
            assert param.get("description") == option.help, (name, option.name)
            assert param["schema"].get("default") == option.default, (name, option.name)
            if option.choices:
                assert param["schema"]["enum"] == list(option.choices), (name, option.name)


def test_the_api_answers_as_the_cli_does(demo_db):
    """The same options give the same figure on both faces (the API has the CLI's
    defaults, not the report's)."""
    pytest.importorskip("fastapi")
    from conftest import AsgiClient
    from fullfunnel.server.app import create_app

    client = AsgiClient(create_app(str(demo_db)))
    api = client.get("/api/attribution", params={"as_of": AS_OF}).json()
    cli = runner.invoke(app, ["--db", str(demo_db), "-f", "json", "attribute", "--as-of", AS_OF])
    assert api["conversion"] == json.loads(cli.stdout)["conversion"] == "mql"
    assert api["total_conversions"] == json.loads(cli.stdout)["total_conversions"] > 0
    assert api["credits"] == json.loads(cli.stdout)["credits"]


def test_every_entry_has_a_place_in_the_report():
    """Each registered analysis is placed in its section, in registry order."""
    from fullfunnel.result import Result

    class Stand(Result):
        title = "stand-in"

    results = {name: Stand() for name in ANALYSES}
    view = build_view(results, ff_config())
    placed = {name: s.id for s in view["sections"] for name in s.analyses}
    placed.update({name: "quality" for name in view["quality"].analyses})
    for name, analysis in ANALYSES.items():
        assert placed[name] == analysis.section, name
    assert [sid for sid, *_ in LAYOUT] == [s.id for s in view["sections"]]


def test_dashboard_filters_are_options_analyses_take():
    for name, option in FILTERS.items():
        takers = [a for a in ANALYSES.values() if a.option(name)]
        assert takers, name
        assert option.check is not None or option.choices


def test_a_new_analysis_is_one_entry(monkeypatch, demo_db):
    """A registry entry alone gives a command, a route and a report section."""
    pytest.importorskip("fastapi")
    from conftest import AsgiClient
    from fullfunnel.analytics import registry
    from fullfunnel.cli.analyses import add_command
    from fullfunnel.server.app import create_app

    extra = Analysis(
        "velocity_by_owner",
        "fullfunnel.analytics.velocity:velocity",
        "fullfunnel.analytics.velocity:VelocityResult",
        "Velocity per owner.",
        section="trends",
        command="owner-velocity",
        options=(registry.AS_OF,),
        report={"by": "owner"},
        example="fullfunnel owner-velocity",
    )
    monkeypatch.setitem(registry.ANALYSES, extra.name, extra)
    add_command("owner-velocity")
    try:
        out = runner.invoke(
            app, ["--db", str(demo_db), "-f", "json", "owner-velocity", "--as-of", AS_OF]
        )
        assert out.exit_code == 0 and json.loads(out.stdout)["kind"] == "velocity"
        client = AsgiClient(create_app(str(demo_db)))
        got = client.get("/api/velocity_by_owner", params={"as_of": AS_OF})
        assert got.status_code == 200 and got.json()["by"] == "owner"
    finally:
        app.registered_commands[:] = [
            c for c in app.registered_commands if c.name != "owner-velocity"
        ]


def ff_config():
    import fullfunnel as ff

    return ff.default_config()


def test_library_errors_name_the_option_the_library_way(demo_db):
    """A notebook user reads ``lift_points``; the CLI user reads ``--lift-points``."""
    import fullfunnel as ff
    from fullfunnel.errors import InputError

    with pytest.raises(InputError, match=r"^lift_points 200: give points") as caught:
        ff.diagnose(ff.connect(str(demo_db)), lift_points=200, as_of=datetime(2026, 11, 23))
    assert caught.value.option == "lift_points"
    assert caught.value.spelt(lambda o: "--" + o.replace("_", "-")).startswith("--lift-points")
    with pytest.raises(InputError, match=r"^cohort 'week'") as caught:
        ff.funnel(ff.connect(str(demo_db)), cohort="week")
    from fullfunnel.cli._app import flag

    assert caught.value.spelt(flag).startswith("--cohort 'week'")
    assert flag("within_days") == "--within"  # the registry's spelling
