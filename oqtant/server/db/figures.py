"""The stored figures of runs (``run_figures``): PNG bytes per (job, run, kind).

A run's worker draws its figures as it completes (``complete_run`` stores them in
the transaction that stores the output); the console stores the ones it draws
later for older runs. A figure is stored once: storing it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from oqtant.server.db.models import Run, RunFigure
from oqtant.server.db.session import is_postgresql, write_transaction

__all__ = ["insert_figures", "run_figure", "store_figures"]

_Q_FIGURE = select(RunFigure.png).where(
    RunFigure.job_id == bindparam("job_id"),
    RunFigure.run == bindparam("run"),
    RunFigure.kind == bindparam("kind"),
)


def run_figure(*, session: Session, job_id: int, run: int, kind: str) -> bytes | None:
    """The stored PNG of figure ``kind`` of run ``run`` of job ``job_id``, or None."""
    return session.execute(_Q_FIGURE, {"job_id": job_id, "run": run, "kind": kind}).scalar()


def insert_figures(session: Session, job_id: int, run: int, figures: Mapping[str, bytes]) -> int:
    """Insert figures in the current (write) transaction; those already stored are kept.

    Returns how many were new.
    """
    if not figures:
        return 0
    dialect = postgresql if is_postgresql(session) else sqlite
    rows = [{"job_id": job_id, "run": run, "kind": k, "png": png} for k, png in figures.items()]
    statement = dialect.insert(RunFigure).on_conflict_do_nothing()
    # a Core executemany on the session's connection (not an ORM bulk insert): one statement
    return session.connection().execute(statement, rows).rowcount


def store_figures(*, session: Session, job_id: int, run: int, figures: Mapping[str, bytes]) -> int:
    """Store figures drawn for a run that exists (a run deleted meanwhile gets none).

    Returns how many were new.
    """
    with write_transaction(session):
        exists = session.execute(
            select(Run.id).where(Run.job_id == job_id, Run.run == run)
        ).scalar()
        if exists is None:
            return 0
        return insert_figures(session, job_id, run, figures)
