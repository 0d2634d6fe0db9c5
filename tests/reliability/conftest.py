"""Fixtures of the reliability tests: the server tests' app, client and accounts."""

from tests.server.conftest import admin, alice, app, bob, client, settings  # noqa: F401
