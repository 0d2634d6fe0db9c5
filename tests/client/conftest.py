"""An in-process job service (FastAPI app, SQLite in tmp_path, fast backend) for client tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from oqtant.login import ClientSettings, password_login
from oqtant.oqtant_client import OqtantClient

FAST_BACKEND = "tests.server.fast_backend:FastBackend"


@dataclass
class Service:
    """An app running in-process, reached through ``http`` (a TestClient)."""

    app: object
    http: TestClient
    settings: ClientSettings

    def add_user(self, name: str, password: str = "pw-" + "x" * 8, **limits) -> None:
        from oqtant.server.db import crud

        base = dict(daily_limit=100, max_runs_per_job=30, max_pending_jobs=20)
        base.update(limits)
        with self.app.state.session_factory() as session:
            crud.create_user(session=session, name=name, password=password, **base)

    def client_for(self, name: str, password: str = "pw-" + "x" * 8) -> OqtantClient:
        token = password_login(name, password, settings=self.settings, transport=self.http)
        client = OqtantClient(settings=self.settings, token=token, transport=self.http)
        client.verbosity = 0
        return client


def _service(tmp_path, *, workers: int, backend: str = FAST_BACKEND) -> Iterator[Service]:
    from oqtant.server.app import create_app
    from oqtant.settings import Settings

    settings = Settings(
        data_dir=tmp_path / "server",
        secret_key="client-test-secret-of-at-least-32-bytes",
        workers=workers,
        executor="thread", poll_seconds=0.02, backend=backend,
    )
    app = create_app(settings, backend=backend, start_dispatcher=workers > 0)
    client_settings = ClientSettings(
        url="http://testserver", poll_interval_s=0.02, backoff_s=0.0, max_backoff_s=0.0,
        token_cache_file=tmp_path / "token.json",
    )
    with TestClient(app) as http:
        yield Service(app=app, http=http, settings=client_settings)


@pytest.fixture
def service(tmp_path) -> Iterator[Service]:
    """A service whose dispatcher runs jobs on one thread."""
    yield from _service(tmp_path, workers=1)


@pytest.fixture
def idle_service(tmp_path) -> Iterator[Service]:
    """A service that queues jobs but never runs them (to test pending jobs)."""
    yield from _service(tmp_path, workers=0)


@pytest.fixture
def failing_service(tmp_path) -> Iterator[Service]:
    """A service whose backend fails every run with a final RF frequency above 1 MHz."""
    yield from _service(tmp_path, workers=1, backend="tests.server.fast_backend:FailingBackend")
