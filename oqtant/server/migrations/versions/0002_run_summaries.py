"""the few numbers of each run's output, for lists of runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 200


def upgrade() -> None:
    from oqtant.server.summaries import output_summary

    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("summary_json", sa.Text(), nullable=True))
    runs = sa.table(
        "runs",
        sa.column("id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("output_json", sa.Text),
        sa.column("summary_json", sa.Text),
    )
    conn = op.get_bind()
    last = 0
    while True:  # the runs already done, a batch at a time (outputs are large)
        rows = conn.execute(
            sa.select(runs.c.id, runs.c.output_json)
            .where(runs.c.status == "COMPLETE", runs.c.id > last)
            .order_by(runs.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for run_id, output_json in rows:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(summary_json=output_summary(output_json))
            )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("summary_json")
