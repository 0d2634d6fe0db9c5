"""Alembic migrations of the job service (applied by `oqtant db upgrade`)."""
