"""``/docs`` (Swagger UI) and ``/redoc`` served with their assets from the app, no CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank on a
network without one. The ``fastapi-offline`` package ships those files; they are
mounted under ``/docs-assets`` and both pages point at them (same origin only).
"""

from __future__ import annotations

from importlib.resources import files

from fullfunnel.errors import MissingExtraError

try:
    from fastapi import FastAPI, Request
    from fastapi.openapi.docs import (
        get_redoc_html,
        get_swagger_ui_html,
        get_swagger_ui_oauth2_redirect_html,
    )
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("fullfunnel serve", "server", "fastapi") from exc

ASSETS = "/docs-assets"


def _assets_dir() -> str:
    try:
        return str(files("fastapi_offline") / "static")
    except ModuleNotFoundError as exc:
        raise MissingExtraError("fullfunnel serve", "server", "fastapi-offline") from exc


def add_offline_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/docs/oauth2-redirect`` and ``/redoc`` to ``app`` (created with
    ``docs_url=None, redoc_url=None``), their scripts and styles under ``/docs-assets``."""
    app.mount(ASSETS, StaticFiles(directory=_assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} API",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(redirect_url, include_in_schema=False)
    def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
