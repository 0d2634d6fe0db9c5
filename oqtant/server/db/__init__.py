"""Storage of the job service: tables, engine, migrations and keyword-only CRUD."""

from oqtant.server.db.migrate import check_schema_current, upgrade_database
from oqtant.server.db.models import Base
from oqtant.server.db.session import begin_write, make_engine, make_session_factory

__all__ = [
    "Base",
    "begin_write",
    "check_schema_current",
    "make_engine",
    "make_session_factory",
    "upgrade_database",
]
