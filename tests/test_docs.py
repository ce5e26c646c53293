"""The references in docs/ are generated from the code; they must match it."""

from pathlib import Path

import pytest

from fullfunnel.cli._docs import cli_reference, config_reference, documented_settings
from fullfunnel.config import default_toml

DOCS = Path(__file__).resolve().parents[1] / "docs"
REGENERATE = "regenerate with: python -m fullfunnel.cli._docs {} > docs/{}"


@pytest.mark.parametrize(
    ("name", "make", "which"),
    [("cli.md", cli_reference, "cli"), ("configuration.md", config_reference, "config")],
)
def test_generated_reference_is_current(name, make, which):
    assert (DOCS / name).read_text(encoding="utf-8") == make(), REGENERATE.format(which, name)


def test_every_setting_is_explained():
    settings = documented_settings(default_toml())
    assert len(settings) > 50
    unexplained = [key for key, _default, comment in settings if not comment]
    assert unexplained == []


def test_every_command_has_help():
    import typer

    from fullfunnel.cli import app

    def walk(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    missing = [p for p, cmd in walk(typer.main.get_command(app), "fullfunnel") if not cmd.help]
    assert missing == []


def test_readme_commands_exist():
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert "pip install -e . && fullfunnel demo" in readme
    assert 'pip install -e ".[test]" && python -m pytest' in readme


def test_every_analysis_has_the_command_the_benchmarks_time():
    """benchmarks/run.py --cli times each registered analysis as a command; a new
    analysis needs its command there (and in the CLI), and each must parse."""
    import importlib.util

    from typer.testing import CliRunner

    from fullfunnel.analytics.registry import ANALYSES
    from fullfunnel.cli import app

    spec = importlib.util.spec_from_file_location("bench_run", DOCS.parent / "benchmarks/run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert set(ANALYSES) <= set(bench.COMMANDS)
    for name, args in bench.COMMANDS.items():
        out = CliRunner().invoke(app, [*args, "--as-of", "2026-11-23", "--help"])
        assert out.exit_code == 0 and "Usage: " in out.output, (name, out.output)


@pytest.mark.slow
def test_the_scoring_profile_times_every_phase_and_adds_up(tmp_path):
    """benchmarks/profile_scoring.py wraps scoring's functions by name: a renamed one
    must fail here, not in the benchmark; its phases add up to the run."""
    import re
    import subprocess
    import sys

    import fullfunnel as ff

    db = tmp_path / "small.duckdb"
    with ff.connect(f"duckdb://{db}") as wh:
        ff.generate_demo(wh, contacts=3000, seed=1)
    script = DOCS.parent / "benchmarks/profile_scoring.py"
    out = subprocess.run(
        [sys.executable, str(script), str(db)], capture_output=True, text=True, check=True
    ).stdout
    rows = dict(re.findall(r"^\| ([^|]+?) \| \d* ?\| ([\d.]+) \| [\d.]+ \| [\d.]+ \|$", out, re.M))
    timed = set(rows) - {"total"}
    assert {"fit: calibration folds and the booster", "reasons in words"} <= timed
    assert any(name.startswith("open contacts: feature query") for name in timed)
    assert "save the model" not in timed  # nothing is written without --write
    # each phase counted without those inside it: together they are the run's time
    elapsed = float(re.search(r"^the run took ([\d.]+) s", out, re.M)[1])
    assert float(rows["total"]) == pytest.approx(elapsed, abs=0.02)
    assert sum(float(rows[n]) for n in timed) == pytest.approx(elapsed, abs=0.01 * len(timed))


def test_every_command_has_an_example_that_parses(monkeypatch):
    """Each command's --help ends with an example, and the example is a valid call."""
    import shlex

    import typer

    from fullfunnel.cli import app

    def walk(cmd, path):
        subs = getattr(cmd, "commands", {})
        if not subs and not getattr(cmd, "hidden", False):
            yield path, cmd
        for name, sub in subs.items():
            yield from walk(sub, [*path, name])

    root = typer.main.get_command(app)
    for path, cmd in walk(root, []):
        assert (cmd.epilog or "").startswith("Example: "), path
        words = shlex.split(cmd.epilog.removeprefix("Example: "))
        while "=" in words[0]:  # VAR=value before the command: the environment it sets
            name, value = words.pop(0).split("=", 1)
            monkeypatch.setenv(name, value)
        assert words.pop(0) == "fullfunnel", path
        assert words[: len(path)] == path, (path, words)
        # parsed as the command would parse it: an unknown option or value fails here
        cmd.make_context(" ".join(path), words[len(path) :])
