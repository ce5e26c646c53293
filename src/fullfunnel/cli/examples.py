"""One example per command, shown at the end of its ``--help`` (and in docs/cli.md)."""

from __future__ import annotations

from typing import Any

from fullfunnel.analytics.registry import ANALYSES

# the commands that are not analyses (an analysis' example is in its registry entry)
_OTHERS = {
    "demo": "fullfunnel demo --scenario top-heavy --contacts 5000 --out report.html",
    "loads": "fullfunnel loads --format csv",
    "unload": "fullfunnel unload 20261207-091541-2d38d0",
    "rejects": "fullfunnel rejects --load 20261207-091541-2d38d0 --limit 20",
    "playbook": "fullfunnel playbook --problem closing --team sales",
    "report": "fullfunnel report --period 2026-Q4 --out q4.html",
    "serve": "fullfunnel serve --host 0.0.0.0 --port 8000",
    "config show": "fullfunnel config show --format json",
    "config init": "fullfunnel config init fullfunnel.toml",
    "target set": "fullfunnel target set --period 2026-Q4 --bookings 2.5M",
    "target import": "fullfunnel target import targets.csv",
    "ingest csv": "fullfunnel ingest csv touches.csv --table touchpoints --mapping touches.toml",
    "ingest parquet": "fullfunnel ingest parquet events/ --table stage_events",
    "ingest jsonl": "fullfunnel ingest jsonl touches.jsonl --table touchpoints -m touches.toml",
    "ingest hubspot": "fullfunnel ingest hubspot exports/ --timezone Europe/Berlin",
    "ingest salesforce": "fullfunnel ingest salesforce dataloader/",
    "sync hubspot": "HUBSPOT_TOKEN=pat-na1-… fullfunnel sync hubspot",
    "sync salesforce": "fullfunnel sync salesforce --username ops@acme.com --password … "
    "--security-token …",
    "apikey create": "fullfunnel apikey create --name dashboard --scope read",
    "apikey list": "fullfunnel apikey list",
    "alert": "fullfunnel alert --to 'json://hooks.example.com/revenue' --dry-run",
    "digest": "fullfunnel digest --to 'mailtos://user:pass@smtp.example.com?to=cro@example.com'",
    "apikey revoke": "fullfunnel apikey revoke k3f9a2",
}


EXAMPLES = {
    **{a.command: a.example for a in ANALYSES.values() if a.switch is None},
    **_OTHERS,
}


def attach(app: Any, prefix: str = "") -> None:
    """Put each command's example into its help epilog (commands of sub-apps too)."""
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        example = EXAMPLES.get(f"{prefix}{name}")
        if example and not info.epilog:
            info.epilog = f"Example: {example}"
    for group in app.registered_groups:
        attach(group.typer_instance, f"{prefix}{group.name} ")
