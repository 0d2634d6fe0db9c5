"""Alembic environment: the URL comes from the Alembic config or from oqtant's Settings."""

from __future__ import annotations

from alembic import context

from oqtant.server.db.models import Base
from oqtant.server.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from oqtant.settings import Settings

    return Settings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # batch migrations copy a table and drop the old one: with foreign keys on,
            # the drop would cascade-delete every row that refers to it (a user's jobs).
            # The pragma only takes effect outside a transaction, so on the raw connection.
            raw = connection.connection.dbapi_connection
            assert raw is not None  # a connection just opened has its DBAPI connection
            raw.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
