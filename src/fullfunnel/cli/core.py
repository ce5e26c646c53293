"""Commands of the core: demo and config."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, spinner, state

config_app = typer.Typer(help="Show or create the configuration (fullfunnel.toml).")
app.add_typer(config_app, name="config")


@app.command()
def demo(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    scenario: str = typer.Option(
        "balanced", help="balanced, top-heavy or bottom-heavy: the company to simulate."
    ),
    contacts: int = typer.Option(20_000, min=100, help="Contacts to generate."),
    seed: int = typer.Option(7, help="Random seed; the same seed gives the same company."),
    as_of: str | None = typer.Option(None, "--as-of", help="Simulated 'today' [default: today]."),
    out: Path = typer.Option(Path("report.html"), help="Where to write the HTML report."),
    force: bool = typer.Option(
        False, "--force", help="Replace a warehouse that holds data of its own (not a demo's)."
    ),
) -> None:
    """Generate a synthetic company into the warehouse, run every analysis, write the report."""
    from rich.console import Console

    from fullfunnel._dates import to_datetime
    from fullfunnel.analytics.period import resolve_as_of
    from fullfunnel.analytics.registry import run_all
    from fullfunnel.demo import generate_demo
    from fullfunnel.report import write_report

    st = state(ctx, fmt)
    wh, config = st.warehouse(create=True), st.config()
    quiet = st.format is not Format.table
    with spinner(f"demo company '{scenario}'", quiet=quiet, transient=False) as step:
        summary = generate_demo(
            wh,
            scenario=scenario,
            contacts=contacts,
            seed=seed,
            as_of=to_datetime(as_of, name="as_of"),
            progress=step,
            force=force,
        )
        # the analyses read the demo as any later command would (the as-of rule), so
        # 'fullfunnel demo' and then 'fullfunnel plan' give the same figures
        when = resolve_as_of(wh, as_of)
        results = run_all(
            wh,
            config,
            when,
            params={"write": True},  # the demo keeps its lead scores, for stuck and diagnose
            progress=lambda name: step(f"analysing: {name}"),
        )
        step("writing the report")
        write_report(out, results, config=config, title=f"fullfunnel demo — {scenario}")
    if st.format is Format.json:
        payload = {
            "scenario": scenario,
            "seed": seed,
            "as_of": when.isoformat(),
            "rows": summary.rows,
            "report": str(out),
            "results": {name: r.to_dict() for name, r in results.items()},
        }
        print(json.dumps(payload, indent=2))
        return
    out_console = Console()
    rows = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in summary.rows.items() if v)
    out_console.print(
        f"[bold]Demo company '{scenario}'[/] (seed {seed}) as of {summary.as_of:%Y-%m-%d}"
    )
    out_console.print(f"Generated {rows} into {wh.url}")
    for name, result in results.items():
        lines = result.headline()
        if lines:
            out_console.print(f"\n[bold]{name}[/]")
            for line in lines:
                out_console.print(f"  {line}", markup=False)
    out_console.print(f"\nReport written to [bold]{out}[/]")


@config_app.command("show")
def config_show(ctx: typer.Context, fmt: Format | None = FORMAT_OPTION) -> None:
    """Print the effective configuration (defaults merged with your file)."""
    st = state(ctx, fmt)
    cfg = st.config()
    if st.format is Format.json:
        print(json.dumps(cfg.to_dict(), indent=2))
        return
    import pandas as pd
    from rich.console import Console

    from fullfunnel.cli._render import frame_table

    console = Console()
    console.print(f"config: {cfg.path or 'built-in defaults'}")
    stages = pd.DataFrame(cfg.to_dict()["stages"])
    stages["support"] = stages["support"].map(", ".join)
    console.print(frame_table(stages, title="stages"))
    for section, values in cfg.to_dict().items():
        if section != "stages":
            console.print(f"[bold]\\[{section}][/]")
            for key, value in values.items():
                console.print(f"  {key} = {json.dumps(value)}", markup=False)


@config_app.command("init")
def config_init(
    path: Path = typer.Argument(Path("fullfunnel.toml"), help="File to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write the commented default configuration to edit."""
    from fullfunnel.config import default_toml
    from fullfunnel.errors import InputError

    if path.exists() and not force:
        raise InputError(f"{path} exists; pass --force to overwrite it")
    path.write_text(default_toml(), encoding="utf-8")
    print(f"wrote {path}")
