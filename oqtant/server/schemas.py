"""Request and answer shapes of the REST API (kept apart from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from oqtant.schemas.job import Input, JobName, JobStatus, JobType
from oqtant.schemas.limits import jset

__all__ = [
    "Health",
    "JobLimits",
    "JobList",
    "JobSubmit",
    "JobSummary",
    "LimitsUpdate",
    "NumberOnly",
    "QueueList",
    "TokenResponse",
    "UserPublic",
    "VersionInfo",
]


class JobSubmit(BaseModel):
    """A job as the client submits it: what ``OqtantJob`` dumps, plus ``sim``.

    Server-owned fields of the dump (status, times, external_id, job_type,
    input_count) are ignored: the server sets them.
    """

    model_config = ConfigDict(extra="ignore")

    name: JobName
    inputs: Annotated[list[Input], Field(min_length=jset.min_runs, max_length=jset.max_runs)]
    sim: StrictBool = False  # true or false only: 1 or "yes" are refused, not read as true
    job_type: JobType | None = None
    input_count: int | None = None


class JobSummary(BaseModel):
    """One line of a job listing."""

    external_id: UUID
    name: str
    job_type: JobType
    status: JobStatus
    time_submit: datetime
    time_start: datetime | None = None
    time_complete: datetime | None = None
    input_count: int
    notes: str | None = None
    queue_position: int
    est_time: int
    sim: bool = False


class JobList(BaseModel):
    items: list[JobSummary]
    total: int


class QueueList(BaseModel):
    items: list[JobSummary]


class JobLimits(BaseModel):
    """A user's quotas and current use (credits are not used by this service: always 0).

    The reference fields count hardware jobs; the optional ``sim_*`` fields, an
    extension of this service, count simulator jobs.
    """

    daily_limit: int
    daily_remaining: int
    standard_credits: int = 0
    priority_credits: int = 0
    max_runs_per_job: int
    max_pending_jobs: int
    pending_jobs: int
    sim_daily_limit: int | None = None
    sim_daily_remaining: int | None = None
    sim_max_pending_jobs: int | None = None
    sim_pending_jobs: int | None = None


def _number_not_bool_or_text(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        raise ValueError("must be a whole number (true, false and text are not numbers)")
    return value


#: refuses true, false and text where JSON Schema says integer (pydantic would read them);
#: 5.0 stays 5, as in JSON Schema. Placed after the bounds, so that they are described.
NumberOnly = BeforeValidator(_number_not_bool_or_text)


class LimitsUpdate(BaseModel):
    """Any of a user's limits, as an admin sets them (numbers, not booleans or text)."""

    model_config = ConfigDict(extra="forbid")

    daily_limit: Annotated[int, Field(ge=0, le=1_000_000), NumberOnly] | None = None
    max_runs_per_job: Annotated[int, Field(ge=1, le=jset.max_runs), NumberOnly] | None = None
    max_pending_jobs: Annotated[int, Field(ge=0, le=1_000_000), NumberOnly] | None = None
    sim_daily_limit: Annotated[int, Field(ge=0, le=1_000_000), NumberOnly] | None = None
    sim_max_pending_jobs: Annotated[int, Field(ge=0, le=1_000_000), NumberOnly] | None = None


class UserPublic(BaseModel):
    """An account as an admin sees it (never its password hash)."""

    name: str
    external_id: UUID
    is_admin: bool
    created_at: datetime
    limits: JobLimits


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class VersionInfo(BaseModel):
    version: str
    api: str = "v1"


class Health(BaseModel):
    status: str
    database: str
