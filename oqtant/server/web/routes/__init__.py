"""Pages of the web console, one module per page group, joined in one router.

Groups: :mod:`.static` (CSS, JavaScript), :mod:`.login` (login, logout),
:mod:`.jobs_list` (the job list, cancel, delete), :mod:`.job_page` (one job, its
figures and downloads), :mod:`.sweeps` (a job's sweep section, runs compared
across jobs), :mod:`.composer` (a new job), :mod:`.admin` (limits and
accounts). What every page shares is in :mod:`._common`. The order below is the
order routes are matched in (``/jobs/rows`` before ``/jobs/{job_id}``).
"""

from __future__ import annotations

from fastapi import APIRouter

from oqtant.server.web.routes import (
    admin,
    composer,
    job_page,
    jobs_list,
    login,
    static,
    sweeps,
)
from oqtant.server.web.routes._common import templates

__all__ = ["router", "templates"]

router = APIRouter(include_in_schema=False)
for _group in (static, login, jobs_list, job_page, sweeps, composer, admin):
    router.include_router(_group.router)
