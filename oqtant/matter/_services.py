"""How the user objects reach the service: the client layer registers itself here.

``matter/`` sits below ``client/`` and imports nothing of it. What a
QuantumMatter or its factory needs of the service (the current client, a
login, a connection, job files) is the small :class:`ClientLayer` protocol;
``oqtant.client`` registers its implementation when it is imported.
:func:`client_layer` is the one place that may import ``oqtant.client`` (by
name, when nothing has registered yet): the single upward edge of this package.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from oqtant.schemas.job import OqtantJob

__all__ = ["ClientLayer", "client_layer", "register_client_layer"]


class ClientLayer(Protocol):
    """What the user objects use of the client layer."""

    def current_client(self) -> Any | None:
        """The client ``get_client()`` made last, or None."""

    def connect(self, token: str | None) -> Any:
        """A client with ``token``, or by logging in when None; it becomes the current one."""

    def login(self, port: int, **login_options: Any) -> Any:
        """Log in (browser or cached token); returns a Login (``access_token``, ``settings``)."""

    def read_job_file(self, path: str | Path) -> OqtantJob:
        """The job of a job file."""

    def write_job_file(self, job: OqtantJob, path: str | Path) -> None:
        """Write a job file atomically."""

    def default_job_file_name(self, job: OqtantJob) -> str:
        """The file name a job is written to when none is given."""


_registered: list[ClientLayer] = []


def register_client_layer(layer: ClientLayer) -> None:
    """Make ``layer`` the one the user objects use (the client layer calls this on import)."""
    _registered[:] = [layer]


def client_layer() -> ClientLayer:
    """The registered client layer; imports ``oqtant.client`` when none has registered yet.

    The single upward edge of ``oqtant.matter``: a module is named, never imported
    at module level, so the user objects load without the client.
    """
    if not _registered:
        importlib.import_module("oqtant.client")  # registers itself
    return _registered[-1]
