"""The ASGI application: ``create_app(settings)``.

Route handlers are plain (synchronous) functions: FastAPI runs them in its thread
pool, so a slow database call holds one worker thread, never the event loop, and
the server keeps answering other requests meanwhile. Each query is bounded by its
time budget, which the database itself enforces (``maxTimeMS``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pymongo
from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse

from boom_flow import __version__
from boom_flow.api.encoding import DocumentResponse, envelope
from boom_flow.api.errors import install_handlers
from boom_flow.api.limits import BodyLimit
from boom_flow.api.routes import auth, catalogs, filters, queries, surveys, users, watchlists
from boom_flow.api.state import ApiState
from boom_flow.api.users import UserStore
from boom_flow.config import Settings, load_settings
from boom_flow.metrics.api import ApiMetrics, MetricsMiddleware
from boom_flow.services.checks import ping_mongodb

log = logging.getLogger(__name__)
DOCS_ASSETS = "/docs-assets"
#: RFC 7518 3.2: an HS256 key at least as long as the hash.
MIN_SECRET_BYTES = 32
#: How long the readiness probe waits for the database.
READY_TIMEOUT_S = 2.0


class ApiConfigError(RuntimeError):
    """The configuration lacks what the API needs to start."""


def build_state(settings: Settings) -> ApiState:
    if settings.api.secret_key is None:
        raise ApiConfigError("api.secret_key is not set: set BOOM_FLOW_API__SECRET_KEY "
                             "(or BOOM_FLOW_API__SECRET_KEY_FILE) to sign tokens")
    if len(settings.api.secret_key.get_secret_value().encode()) < MIN_SECRET_BYTES:
        raise ApiConfigError(f"api.secret_key is shorter than {MIN_SECRET_BYTES} bytes: too weak "
                             "to sign HS256 tokens (e.g. `openssl rand -hex 32`)")
    mongo = settings.services.mongodb
    # The database stops queries at their budget (maxTimeMS); the socket timeout only
    # guards against a server that stopped answering altogether.
    client: pymongo.MongoClient = pymongo.MongoClient(
        mongo.connection_uri, socketTimeoutMS=settings.api.max_time_ms_limit + 30_000,
        **mongo.client_options())
    db = client[mongo.database]
    return ApiState(settings=settings, client=client, db=db,
                    users=UserStore(db, settings.api.password_hash_rounds),
                    secret_key=settings.api.secret_key.get_secret_value())


def bootstrap(state: ApiState) -> None:
    """Indexes of the users collection, and the admin account from configuration."""
    state.users.ensure_indexes()
    password = state.settings.api.admin_password
    if password is None:
        log.warning("api.admin_password is not set: no admin account was created or updated "
                    "(set BOOM_FLOW_API__ADMIN_PASSWORD, or use `boom-flow users add --admin`)")
        return
    state.users.ensure_admin(state.settings.api.admin_username, password.get_secret_value())


def create_app(settings: Settings) -> FastAPI:
    """The API over the archive of ``settings.services.mongodb``."""
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        bootstrap(state)
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="boom_flow API", version=__version__, lifespan=lifespan,
                  default_response_class=DocumentResponse, docs_url=None,
                  description="BOOM-compatible access to the alert archive and user filters.")
    app.state.boom = state
    install_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    serve_docs(app)

    @app.get("/", tags=["health"], summary="Health check (no token needed)")
    async def health() -> DocumentResponse:  # no thread needed: answers even when busy
        return envelope("boom_flow API is running", {"version": __version__})

    @app.get("/health/ready", tags=["health"],
             summary="Readiness: the database answers (no token needed)")
    def ready() -> DocumentResponse:
        # A fresh client with a short timeout: the API's own one would wait for its
        # long server-selection timeout while the probe gives up.
        if not ping_mongodb(settings, timeout_s=READY_TIMEOUT_S):
            return envelope("the database does not answer", {"database": False},
                            status_code=503)
        return envelope("ready", {"database": True})

    metrics = ApiMetrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    for module in (auth, queries, catalogs, surveys, filters, watchlists, users):
        app.include_router(module.router)
    return app


def serve_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI's files served by the API itself when the
    ``swagger-ui-bundle-v2`` package is installed (so the page works where no CDN can
    be reached: observatories' networks, CI), else from FastAPI's default CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html

    assets: dict[str, str] = {}
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.info("swagger-ui-bundle-v2 is not installed: /docs loads Swagger UI from its CDN")
    else:
        from starlette.staticfiles import StaticFiles

        app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")
        assets = {"swagger_js_url": f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                  "swagger_css_url": f"{DOCS_ASSETS}/swagger-ui.css",
                  "swagger_favicon_url": f"{DOCS_ASSETS}/favicon-32x32.png"}

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json",
                                   title=f"{app.title} - docs", **assets)


def create_app_from_environment() -> FastAPI:
    """``create_app`` with the configuration of the environment (``BOOM_FLOW_CONFIG`` and
    ``BOOM_FLOW_*``): the factory each uvicorn worker process calls."""
    return create_app(load_settings())
