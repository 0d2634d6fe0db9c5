"""Apply and check the Alembic migrations shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from oqtant.settings import Settings

__all__ = [
    "alembic_config",
    "check_schema_current",
    "head_revision",
    "prepare_database",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration pointing at the packaged migrations and ``database_url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': escape it (URL-encoded passwords contain it)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Bring the schema of ``database_url`` up to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    """The newest migration shipped with this code."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    if head is None:  # the package ships its migrations: never without a head
        raise RuntimeError("no migration found in oqtant/server/migrations")
    return head


def check_schema_current(engine: Engine) -> None:
    """Raise RuntimeError, saying how to fix it, if the database schema is not the code's."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = head_revision()
    if current != head:
        raise RuntimeError(
            f"the database schema is at revision {current or 'none (empty database)'}, "
            f"this version of oqtant needs {head}: run `oqtant db upgrade` "
            f"(with the same OQTANT_DATABASE_URL) and start again"
        )


def prepare_database(settings: Settings) -> None:
    """Migrate a SQLite database to the newest schema; check any other is current.

    PostgreSQL (or any shared database) is upgraded deliberately with
    ``oqtant db upgrade``; the server refuses to start on an older schema.
    """
    from oqtant.server.db.session import make_engine

    if settings.is_sqlite:
        settings.ensure_data_dir()
        upgrade_database(settings.resolved_database_url)
    else:
        engine = make_engine(settings.resolved_database_url, settings=settings)
        try:
            check_schema_current(engine)
        finally:
            engine.dispose()
