"""simulator limits of each user (per UTC day, queued at once); when each was last served

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What existing accounts get: the defaults of Settings.default_sim_daily_limit and
# Settings.default_sim_max_pending_jobs when this migration was written (frozen here, so
# that the migration does the same whatever the settings are later).
SIM_DAILY_LIMIT = 100
SIM_MAX_PENDING_JOBS = 5
_COLUMNS = {"sim_daily_limit": SIM_DAILY_LIMIT, "sim_max_pending_jobs": SIM_MAX_PENDING_JOBS}


# SQLite must not recreate ``users`` (what batch mode does for most changes): with
# foreign keys on, dropping the old table would cascade to every job of every user.
# Adding and dropping a column are native ALTER TABLE statements there (3.35+), so
# the columns keep their server default: it fills in the existing accounts.


def upgrade() -> None:
    with op.batch_alter_table("users", recreate="never") as batch:
        for name, value in _COLUMNS.items():
            batch.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default=str(value))
            )
        # the fair scheduler's turn order: when a run of the user was last claimed
        batch.add_column(sa.Column("last_claim_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", recreate="never") as batch:
        for name in (*_COLUMNS, "last_claim_at"):
            batch.drop_column(name)
