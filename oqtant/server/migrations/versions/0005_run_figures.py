"""the figures of each run, drawn as it completes (PNG)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Runs done before this revision have no stored figures: the console draws each
# when it is first asked for, and stores it then.


def upgrade() -> None:
    op.create_table(
        "run_figures",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "run", "kind"),
    )


def downgrade() -> None:
    op.drop_table("run_figures")
