"""Every database operation of the service; keyword-only, each takes its ``session``.

One module per aggregate, re-exported here so that callers write ``crud.X``:
:mod:`~oqtant.server.db.users` (accounts, revocation), :mod:`~oqtant.server.db.jobs`
(submit under quotas, search, cancel, delete), :mod:`~oqtant.server.db.runs` (the
queue: leases, finishing runs, wait estimates), :mod:`~oqtant.server.db.figures` (the
stored figures of runs), :mod:`~oqtant.server.db.oauth`
(authorization codes), :mod:`~oqtant.server.db.logins` (the login limiter's counts;
its rules are :mod:`oqtant.server.auth.ratelimit`). A function that writes is one
:func:`~oqtant.server.db.session.write_transaction`: one atomic step, committed
before it returns. Every timestamp comes from :mod:`oqtant.server.db.clock`.
"""

from __future__ import annotations

from oqtant.server.db.figures import run_figure, store_figures
from oqtant.server.db.jobs import (
    StateConflict,
    cancel_job,
    delete_job,
    failed_runs,
    get_job,
    get_run,
    get_runs_with_images,
    job_limits,
    queue_jobs,
    raw_frames,
    run_seed,
    run_summaries,
    runs_of_jobs,
    search_jobs,
    start_of_day,
    submit_job,
)
from oqtant.server.db.logins import (
    give_back_login_attempt,
    login_attempts,
    reserve_login_attempt,
)
from oqtant.server.db.models import ACTIVE_STATUSES, TERMINAL_STATUSES
from oqtant.server.db.oauth import consume_oauth_code, create_oauth_code
from oqtant.server.db.runs import (
    DEFAULT_RUN_SECONDS,
    ClaimedRun,
    QueueInfo,
    claim_next_run,
    complete_run,
    fail_run,
    queue_info,
    recent_run_seconds,
    release_run,
    renew_leases,
)
from oqtant.server.db.users import (
    NameTaken,
    TokenRejected,
    create_user,
    delete_user,
    get_user_by_external_id,
    get_user_by_name,
    list_users,
    revoke_session_token,
    revoke_user_tokens,
    set_user_disabled,
    set_user_limits,
    set_user_password,
    user_of_claims,
    user_of_token,
    users_with_limits,
)
from oqtant.server.summaries import output_summary, summary_json

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_RUN_SECONDS",
    "TERMINAL_STATUSES",
    "ClaimedRun",
    "NameTaken",
    "QueueInfo",
    "StateConflict",
    "TokenRejected",
    "cancel_job",
    "claim_next_run",
    "complete_run",
    "consume_oauth_code",
    "create_oauth_code",
    "create_user",
    "delete_job",
    "delete_user",
    "fail_run",
    "failed_runs",
    "get_job",
    "get_run",
    "get_runs_with_images",
    "get_user_by_external_id",
    "get_user_by_name",
    "give_back_login_attempt",
    "job_limits",
    "list_users",
    "login_attempts",
    "output_summary",
    "queue_info",
    "queue_jobs",
    "raw_frames",
    "recent_run_seconds",
    "release_run",
    "renew_leases",
    "reserve_login_attempt",
    "revoke_session_token",
    "revoke_user_tokens",
    "run_figure",
    "run_seed",
    "run_summaries",
    "runs_of_jobs",
    "search_jobs",
    "set_user_disabled",
    "set_user_limits",
    "set_user_password",
    "start_of_day",
    "store_figures",
    "submit_job",
    "summary_json",
    "user_of_claims",
    "user_of_token",
    "users_with_limits",
]
