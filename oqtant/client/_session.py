"""The current client and the ways to get one; the client layer the user objects use.

:func:`get_client` logs in (browser or cached token), :func:`get_oqtant_client`
takes a token you have; either makes its client the :func:`current_client`.
:data:`LAYER` is what ``oqtant.matter`` reaches the service through (registered
by ``oqtant.client`` on import, see :mod:`oqtant.matter._services`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oqtant.client import jobfiles, login
from oqtant.client._client import OqtantClient
from oqtant.client.login import ClientSettings, Login
from oqtant.schemas.job import OqtantJob

__all__ = ["LAYER", "ClientLayerImpl", "current_client", "get_client", "get_oqtant_client"]

_current: list[OqtantClient] = []


def current_client() -> OqtantClient | None:
    """The client the last :func:`get_client` or :func:`get_oqtant_client` made, if any.

    A QuantumMatter (or factory) without a client of its own submits and
    fetches with it, so ``client = get_client()`` then ``matter.submit()`` works.
    """
    return _current[-1] if _current else None


def _make_current(client: OqtantClient) -> OqtantClient:
    _current[:] = [client]
    return client


def get_oqtant_client(token: str) -> OqtantClient:
    """A client for the server at ``OQTANT_URL`` using an access token you already have.

    Checks the version against the server's (a warning if this client is older)
    and prints nothing; ``client.show_job_limits()`` prints your limits. The
    client becomes the :func:`current_client`.
    """
    client = OqtantClient(settings=ClientSettings(), token=token)
    client.check_version()
    return _make_current(client)


def get_client(port: int = 8080, **login_options: Any) -> OqtantClient:
    """Log in through the browser (or reuse a cached token) and return a client.

    The client becomes the :func:`current_client`.

    Args:
        port: local port that catches the login redirect.
        login_options: passed to :func:`oqtant.login.get_user_token` (``settings``,
            ``open_browser``, ``use_cache``, ``timeout_s``).
    """
    settings = login_options.get("settings") or ClientSettings()
    login_options["settings"] = settings
    token = login.get_user_token(port, **login_options)
    return _make_current(OqtantClient(settings=settings, token=token))


class ClientLayerImpl:
    """The client layer as the user objects see it (``oqtant.matter._services.ClientLayer``)."""

    def current_client(self) -> OqtantClient | None:
        return current_client()

    def connect(self, token: str | None) -> OqtantClient:
        return get_oqtant_client(token) if token else get_client()

    def login(self, port: int, **login_options: Any) -> Login:
        settings = login_options.get("settings") or ClientSettings()
        login_options["settings"] = settings
        return Login(login.get_user_token(port, **login_options), settings)

    def read_job_file(self, path: str | Path) -> OqtantJob:
        return jobfiles.read_job_file(path)

    def write_job_file(self, job: OqtantJob, path: str | Path) -> None:
        jobfiles.write_job_file(job, Path(path))

    def default_job_file_name(self, job: OqtantJob) -> str:
        return jobfiles.default_job_file_name(job)


LAYER = ClientLayerImpl()
