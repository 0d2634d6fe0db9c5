"""The application factory of the job service."""

from __future__ import annotations

import concurrent.futures as cf
from contextlib import asynccontextmanager

from fastapi import FastAPI

from oqtant import __version__
from oqtant.backend import Backend
from oqtant.server.api import docs
from oqtant.server.api.errors import install_error_handlers
from oqtant.server.api.limits import RequestGuardMiddleware
from oqtant.server.api.main import api_router
from oqtant.server.auth.ratelimit import LoginLimiter
from oqtant.server.db import make_engine, make_session_factory
from oqtant.server.db.migrate import prepare_database
from oqtant.server.headers import AllowHeaderMiddleware, SecurityHeadersMiddleware
from oqtant.server.queue.dispatcher import Dispatcher
from oqtant.server.web import web_router
from oqtant.settings import Settings

__all__ = ["create_app", "prepare_database"]


def create_app(
    settings: Settings | None = None,
    *,
    backend: str | Backend | None = None,
    sim_backend: str | Backend | None = None,
    executor: cf.Executor | None = None,
    start_dispatcher: bool = True,
    migrate: bool = True,
) -> FastAPI:
    """The FastAPI app of the service, with its database and (optionally) its dispatcher.

    Args:
        settings: configuration (default: read from ``OQTANT_*`` variables).
        backend: backend object or ``"module:Class"`` spec replacing ``settings.backend``.
        sim_backend: the same for simulator jobs.
        executor: an Executor for runs instead of the one made from ``settings``.
        start_dispatcher: run the dispatcher thread while the app runs (needs
            ``settings.workers >= 1``); without it, ``app.state.dispatcher`` can still be
            stepped by hand.
        migrate: prepare the database first (see :func:`prepare_database`).
    """
    settings = settings or Settings()
    if migrate:
        prepare_database(settings)
    engine = make_engine(settings.resolved_database_url, settings=settings)
    session_factory = make_session_factory(engine)
    dispatcher = Dispatcher(
        session_factory,
        settings,
        backend=backend,
        sim_backend=sim_backend,
        executor=executor,
        capacity=getattr(executor, "_max_workers", None),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        run_dispatcher = start_dispatcher and settings.workers > 0
        if run_dispatcher:
            dispatcher.start()
        try:
            yield
        finally:
            if run_dispatcher:
                dispatcher.stop(timeout=settings.shutdown_grace_seconds)
            engine.dispose()

    app = FastAPI(
        title="oqtant job service",
        version=__version__,
        description="Queue, run and fetch quantum-matter experiments.",
        lifespan=lifespan,
        docs_url=None,  # served by oqtant.server.api.docs, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.secret_key = settings.resolved_secret_key()
    app.state.dispatcher = dispatcher
    app.state.login_limiter = LoginLimiter.from_settings(session_factory, settings)
    install_error_handlers(app)
    app.add_middleware(RequestGuardMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AllowHeaderMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: on every answer
    app.include_router(api_router)
    app.include_router(web_router)
    app.include_router(docs.router)
    return app
