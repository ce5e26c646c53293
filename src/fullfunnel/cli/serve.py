"""Commands of the outputs: report, serve, apikey."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, spinner, state
from fullfunnel.cli._render import render
from fullfunnel.errors import InputError, did_you_mean

apikey_app = typer.Typer(help="Create, list and revoke API keys (stored hashed).")
app.add_typer(apikey_app, name="apikey")


@app.command()
def report(
    ctx: typer.Context,
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write."),
    period: str | None = typer.Option(
        None, help="Period to report on: 2026-Q4, 2026-11, 2026 or START..END."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate as of this date."),
    title: str = typer.Option("fullfunnel report", help="Title at the top of the report."),
    level: str = typer.Option(
        "contact",
        help="contact, or account: the funnel, velocity, stuck, handoffs and diagnosis of "
        "accounts ([accounts]).",
    ),
) -> None:
    """Write the executive report: one self-contained HTML file that opens offline."""

    from fullfunnel._dates import parse_period
    from fullfunnel.analytics.period import resolve_as_of
    from fullfunnel.analytics.registry import run_all
    from fullfunnel.report import write_report

    st = state(ctx)
    wh, config = st.warehouse(), st.config()
    when = resolve_as_of(wh, as_of)
    params: dict[str, str] = {}
    if level not in ("contact", "account"):
        raise InputError(
            f"--level {level!r} is not one of contact, account."
            + did_you_mean(level, ["contact", "account"])
        )
    if level == "account":
        params["level"] = level
        title += " (accounts)"
    if period:
        parse_period(period)
        params["period"] = period
    with spinner("analysing", transient=False) as step:
        results = run_all(
            wh, config, when, params=params, progress=lambda name: step(f"analysing: {name}")
        )
        step("writing the report")
        path = write_report(out, results, config=config, title=title, period=period)
    print(f"Report written to {path} ({path.stat().st_size / 1e6:.1f} MB, opens offline)")


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1",
        help="Address to listen on (loopback by default); beyond loopback (e.g. 0.0.0.0) "
        "every read needs a read key or a sign-in at /login.",
    ),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Pin 'today' (for a demo generated with a past --as-of)."
    ),
) -> None:
    """Serve the REST API (docs at /docs), the live dashboard (/) and event collection."""
    from fullfunnel._dates import to_datetime
    from fullfunnel.errors import MissingExtraError

    try:
        import uvicorn

        from fullfunnel.server.access import is_loopback
        from fullfunnel.server.app import create_app
        from fullfunnel.server.logs import log_to_stderr
    except ImportError as exc:
        raise MissingExtraError("fullfunnel serve", "server", exc.name or "fastapi") from exc
    from fullfunnel.server import lending

    st = state(ctx)
    wh = st.warehouse(create=True, borrow=False)
    config = st.config()
    # listening beyond loopback, nothing is readable without a key or a sign-in
    require_login = not is_loopback(host)
    app_ = create_app(
        wh, config, as_of=to_datetime(as_of, name="as_of"), require_login=require_login
    )
    if require_login:
        locked = f"; sign-in required (listening beyond loopback, on {host})"
    elif config["server"]["require_key_for_reads"]:
        locked = "; sign-in required (server.require_key_for_reads)"
    else:
        locked = ""
    print(
        f"fullfunnel dashboard on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)"
        + (f"{locked}: reads need a read key or a sign-in at /login" if locked else ""),
        flush=True,
    )
    log_to_stderr()
    # a DuckDB file is held by this process: CLI commands on it borrow it (lending.py)
    near = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    announced = None
    if wh.duckdb_file is not None:
        announced, app_.state.service.lend_token = lending.announce(
            wh.duckdb_file, f"http://{near}:{port}"
        )
    # uvicorn ends on SIGTERM by raising it again once shut down: as an exit here,
    # so that the announcement is withdrawn
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(app_, host=host, port=port, log_level="warning")
    finally:
        if announced is not None:
            lending.withdraw(announced)


@apikey_app.command("create")
def apikey_create(
    ctx: typer.Context,
    fmt: Format | None = FORMAT_OPTION,
    name: str = typer.Option(..., "--name", help="What the key is for, e.g. website."),
    scope: str = typer.Option(
        "read,write",
        "--scope",
        help="read, write, admin, or a list such as read,write (events need write; "
        "managing keys over the API needs admin, which implies read and write).",
    ),
) -> None:
    """Create an API key; it is shown once and stored only as a SHA-256 hash."""
    from fullfunnel.server.keys import create_key

    st = state(ctx, fmt)
    render(create_key(st.warehouse(create=True), name=name, scopes=[scope]), st.format)


@apikey_app.command("list")
def apikey_list(ctx: typer.Context, fmt: Format | None = FORMAT_OPTION) -> None:
    """List API keys (ids, names, scopes, status; never the keys)."""
    from fullfunnel.server.keys import list_keys

    st = state(ctx, fmt)
    render(list_keys(st.warehouse()), st.format)


@apikey_app.command("revoke")
def apikey_revoke(
    ctx: typer.Context,
    key_id: str = typer.Argument(..., help="The key's id (from 'apikey list')."),
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Revoke an API key: it stops working at once."""
    from fullfunnel.server.keys import revoke_key

    st = state(ctx, fmt)
    render(revoke_key(st.warehouse(create=True), key_id), st.format)
