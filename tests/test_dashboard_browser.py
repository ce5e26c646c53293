"""A real browser: headless chromium, driven by Playwright, against a live ``fullfunnel serve``
(on loopback, and listening on every interface, where the dashboard needs a sign-in).

Uses the system chromium (``/usr/bin/chromium``, installed with apt); no browser is
ever downloaded. Screenshots land in the test's tmp directory.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import httpx
import pytest

import fullfunnel as ff
from fullfunnel.analytics.registry import ANALYSES
from serve_process import serving

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AS_OF = datetime(2026, 11, 23)
SLOW = ("scoring", "backtest", "attribution_compare")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt install chromium)",
    ),
]


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dash") / "demo.duckdb"
    with ff.connect(str(path)) as wh:
        ff.generate_demo(wh, scenario="balanced", contacts=800, seed=5, as_of=AS_OF)
    return path


@pytest.fixture(scope="module")
def server(demo_file):
    """``fullfunnel serve`` in a subprocess on a free loopback port."""
    # the live view without the slowest analyses (model training, backtests)
    config = demo_file.with_name("fullfunnel.toml")
    config.write_text(
        "[server]\ndashboard_analyses = ["
        + ", ".join(f'"{n}"' for n in ANALYSES if n not in SLOW)
        + "]\n",
        encoding="utf-8",
    )
    with serving(
        demo_file, "--config", str(config), serve=("--as-of", "2026-11-23"), ready=True
    ) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _charts_rendered(page) -> tuple[int, int]:
    """(charts expected, charts with a non-empty SVG)."""
    return page.evaluate(
        """() => {
            const want = document.querySelectorAll('script.fig-data').length;
            let ok = 0;
            document.querySelectorAll('.chart').forEach(el => {
                const svg = el.querySelector('svg.main-svg');
                if (svg && svg.querySelectorAll('path, rect, text').length > 3
                    && el.getBoundingClientRect().height > 100) { ok += 1; }
            });
            return [want, ok];
        }"""
    )


def _kpis(page) -> list[str]:
    return page.eval_on_selector_all(".kpi .value", "els => els.map(e => e.textContent.trim())")


def test_dashboard_renders_every_chart_and_filters_requery(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/", wait_until="load", timeout=180_000)
    page.wait_for_function(
        "document.querySelectorAll('.chart .main-svg').length >= "
        "document.querySelectorAll('script.fig-data').length",
        timeout=60_000,
    )
    want, ok = _charts_rendered(page)
    assert want >= 6 and ok == want, (want, ok)
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    before = _kpis(page)
    trends_before = page.text_content("#trends")

    page.fill("input[name=period]", "2026-Q3")
    page.dispatch_event("input[name=period]", "change")
    page.wait_for_function(
        "document.body.dataset.state === 'ready' && location.search.includes('2026-Q3')",
        timeout=180_000,
    )
    after = _kpis(page)
    assert after != before, (before, after)
    assert page.text_content("#trends") != trends_before
    want, ok = _charts_rendered(page)
    assert ok == want, (want, ok)
    page.screenshot(path=str(tmp_path / "dashboard-q3.png"), full_page=True)

    page.select_option("select[name=by]", "source_channel")
    page.wait_for_function(
        "document.body.dataset.state === 'ready' && location.search.includes('source_channel')",
        timeout=180_000,
    )
    titles = page.eval_on_selector_all("#summary h3", "els => els.map(e => e.textContent)")
    assert any(t.startswith("By source_channel") for t in titles), titles
    want, ok = _charts_rendered(page)
    assert ok == want, (want, ok)
    page.screenshot(path=str(tmp_path / "dashboard-by-channel.png"), full_page=True)
    assert (tmp_path / "dashboard-by-channel.png").stat().st_size > 10_000

    page.fill("input[name=period]", "2026-Q9")
    page.dispatch_event("input[name=period]", "change")
    page.wait_for_function("document.body.dataset.state === 'error'", timeout=60_000)
    assert "not understood" in page.text_content("#status")
    assert not errors, errors
    page.close()


def test_report_opens_with_no_network(server, browser, tmp_path):
    got = httpx.get(f"{server}/report.html", timeout=300)
    assert got.status_code == 200
    assert len(got.content) <= 1_500_000, len(got.content)  # the chart library packed inside
    path = tmp_path / "report.html"
    path.write_bytes(got.content)
    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 1000})
    asked: list[str] = []

    def block(route):
        asked.append(route.request.url)
        route.abort()

    context.route("http*://**/*", block)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(
        "document.querySelectorAll('.chart .main-svg').length >= "
        "document.querySelectorAll('script.fig-data').length",
        timeout=60_000,
    )
    want, ok = _charts_rendered(page)
    assert want >= 6 and ok == want
    ticks = page.evaluate(
        """() => Array.from(document.querySelectorAll('.card.figure')).map(c => [
            c.querySelector('.chart').getAttribute('aria-label') || '',
            Array.from(c.querySelectorAll('.xtick text, .ytick text, .y2tick text'))
                 .map(t => t.textContent)])"""
    )
    assert len(ticks) == want
    assert all(alt.endswith("The table below holds its numbers.") for alt, _ in ticks)
    labels = [t for _, texts in ticks for t in texts]
    assert not [t for t in labels if t.endswith("%") and t[0] in "−-"], labels
    assert any("%" in t for t in labels) and any(
        re.fullmatch(r"\d{1,3}(,\d{3})+", t) for t in labels
    )
    for section in ("summary", "what-needs-to-happen", "trends", "pipeline", "data-quality"):
        assert page.locator(f"#{section}").count() == 1, section
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert not asked, asked
    assert not errors, errors
    context.close()


# --- the sign-in: a server listening beyond loopback -------------------------------------


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory):
    """``fullfunnel serve --host 0.0.0.0`` on its own demo file, with a read key and a
    write-only key; visited through 127.0.0.1. Yields (url, read key, write key)."""
    from fullfunnel.server.keys import create_key

    path = tmp_path_factory.mktemp("locked") / "demo.duckdb"
    with ff.connect(str(path)) as wh:
        ff.generate_demo(wh, scenario="balanced", contacts=800, seed=5, as_of=AS_OF)
        read = create_key(wh, name="browser", scopes=["read"]).key
        write = create_key(wh, name="collector", scopes=["write"]).key
    config = path.with_name("fullfunnel.toml")
    config.write_text(
        '[server]\ndashboard_analyses = ["pipeline", "funnel", "velocity", "plan", "data_quality"]'
        "\n",
        encoding="utf-8",
    )
    serve = ("--host", "0.0.0.0", "--as-of", "2026-11-23")
    with serving(path, "--config", str(config), serve=serve, ready=True) as url:
        yield url, read, write


def test_beyond_loopback_the_dashboard_needs_a_sign_in(locked_server, browser, tmp_path):
    url, read_key, write_key = locked_server
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # refused: the dashboard sends the browser to the sign-in, and shows no data
    page.goto(url + "/?period=2026-Q3", wait_until="load", timeout=60_000)
    assert page.url.startswith(url + "/login?next="), page.url
    assert page.locator("form.login button", has_text="Sign in").count() == 1
    assert page.locator(".kpi").count() == 0 and "open pipeline" not in page.content()
    api = page.evaluate("fetch('/api/view').then(r => r.status)")
    assert api == 401

    # a key that is not a read key: the form again, with the reason, and no cookie
    page.fill("input[name=key]", write_key)
    with page.expect_navigation():
        page.click("form.login button")
    assert page.text_content("#login-error") == "not a valid read key"
    assert page.locator(".kpi").count() == 0 and "open pipeline" not in page.content()
    assert context.cookies() == []
    page.screenshot(path=str(tmp_path / "login-refused.png"), full_page=True)

    # a real read key: the dashboard with its numbers, the filters kept from the first visit
    page.fill("input[name=key]", read_key)
    with page.expect_navigation(timeout=180_000):
        page.click("form.login button")
    assert page.url == url + "/?period=2026-Q3", page.url
    page.wait_for_function(
        "document.querySelectorAll('.chart .main-svg').length >= "
        "document.querySelectorAll('script.fig-data').length",
        timeout=60_000,
    )
    want, ok = _charts_rendered(page)
    assert want >= 1 and ok == want, (want, ok)
    kpis = _kpis(page)
    assert kpis and all(re.search(r"\d", k) for k in kpis), kpis
    assert "open pipeline" in page.content() and read_key not in page.content()
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert read_key not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # out of the scripts' reach
    page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)

    # the filters re-query over the session, with no key in the page
    page.select_option("select[name=by]", "source_channel")
    page.wait_for_function(
        "document.body.dataset.state === 'ready' && location.search.includes('source_channel')",
        timeout=180_000,
    )

    # signing out ends it: the dashboard is refused again
    with page.expect_navigation():
        page.click("text=Sign out")
    assert page.url.startswith(url + "/login"), page.url
    page.goto(url + "/", wait_until="load")
    assert page.url.startswith(url + "/login"), page.url
    assert not errors, errors
    context.close()
