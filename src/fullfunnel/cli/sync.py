"""``sync hubspot|salesforce``: live pulls from the CRM APIs, incremental by cursor."""

from __future__ import annotations

import typer

from fullfunnel.cli._app import FORMAT_OPTION, Format, app, spinner, state
from fullfunnel.cli._render import render

sync_app = typer.Typer(
    help="Pull what changed in a CRM since the last sync and load it. The first sync pulls "
    "everything; later ones only records modified since the cursor kept in the warehouse. "
    "Needs the sync extra: pip install 'fullfunnel[sync]'.\n\n"
    "Example: HUBSPOT_TOKEN=pat-… fullfunnel sync hubspot",
)
app.add_typer(sync_app, name="sync")

FULL = typer.Option(
    False, "--full", help="Pull every record again, not only those changed since the last sync."
)


@sync_app.command("hubspot")
def sync_hubspot(
    ctx: typer.Context,
    token: str = typer.Option(
        ..., "--token", envvar="HUBSPOT_TOKEN", help="A private app's access token."
    ),
    full: bool = FULL,
    api_url: str | None = typer.Option(
        None, "--api-url", envvar="HUBSPOT_API_URL", hidden=True, help="Another API host."
    ),
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Companies, contacts (with their lifecycle-stage dates) and deals (with their contacts
    and companies), through the CRM search API."""
    from fullfunnel.sync import hubspot
    from fullfunnel.sync import sync_hubspot as run

    hubspot.require()  # before a warehouse is made: a sync that cannot run creates nothing
    st = state(ctx, fmt)
    wh, config = st.warehouse(create=True), st.config()
    with spinner("connecting", quiet=st.format is not Format.table) as tell:
        result = run(wh, token, host=api_url, full=full, tell=tell, config=config)
    render(result, st.format)


@sync_app.command("salesforce")
def sync_salesforce(
    ctx: typer.Context,
    username: str | None = typer.Option(None, "--username", envvar="SF_USERNAME"),
    password: str | None = typer.Option(None, "--password", envvar="SF_PASSWORD"),
    security_token: str | None = typer.Option(
        None, "--security-token", envvar="SF_SECURITY_TOKEN", help="The user's security token."
    ),
    domain: str = typer.Option("login", "--domain", help="login, or test for a sandbox."),
    instance_url: str | None = typer.Option(
        None, "--instance-url", envvar="SF_INSTANCE_URL", help="e.g. https://acme.my.salesforce.com"
    ),
    session_id: str | None = typer.Option(
        None,
        "--session-id",
        envvar="SF_SESSION_ID",
        help="A session id or OAuth access token (with --instance-url), instead of a password.",
    ),
    full: bool = FULL,
    fmt: Format | None = FORMAT_OPTION,
) -> None:
    """Accounts, contacts, leads, opportunities and their stage history, campaigns and
    members, tasks and events, by SOQL from SystemModstamp on."""
    from fullfunnel.sync import salesforce
    from fullfunnel.sync import sync_salesforce as run

    salesforce.require()  # before a warehouse is made: a sync that cannot run creates nothing
    st = state(ctx, fmt)
    wh, config = st.warehouse(create=True), st.config()
    login = {
        "username": username,
        "password": password,
        "security_token": security_token,
        "domain": domain,
        "instance_url": instance_url,
        "session_id": session_id,
    }
    with spinner("connecting", quiet=st.format is not Format.table) as tell:
        result = run(wh, login=login, full=full, tell=tell, config=config)
    render(result, st.format)
