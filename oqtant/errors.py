"""Exceptions raised by oqtant.

Every error a user can meet derives from :class:`OqtantError`, so one
``except OqtantError`` catches them all; the leaves say exactly what went wrong::

    OqtantError
    ├── ValidationError          an input breaks a rule (the message names field and rule)
    ├── JobError                 something about a job
    │   ├── JobNotFoundError     no such job, or not yours
    │   ├── JobFailed            the job ended FAILED or INCOMPLETE
    │   ├── JobTimeout           waiting for a job took too long
    │   └── JobFileError         a job file is missing, corrupt or foreign
    │       └── JobWriteError    a job file cannot be written (e.g. nothing was submitted)
    ├── ServerError              the service answered with an error or not at all
    │   ├── AuthenticationError  not logged in, bad credentials, expired token
    │   ├── QuotaExceededError   a per-user limit would be exceeded
    │   └── ConnectionError      the service could not be reached
    ├── SimulationError          the simulator could not do what was asked
    └── FitError                 an image could not be fitted (e.g. no atoms)
"""

from __future__ import annotations

__all__ = [
    "OqtantError",
    "ValidationError",
    "JobError",
    "JobNotFoundError",
    "JobFailed",
    "JobTimeout",
    "JobFileError",
    "JobWriteError",
    "ServerError",
    "AuthenticationError",
    "QuotaExceededError",
    "ConnectionError",
    "SimulationError",
    "FitError",
    "format_pydantic_error",
]


class OqtantError(Exception):
    """Root of every oqtant error."""


class ValidationError(OqtantError, ValueError):
    """An input breaks one of the service's rules.

    Attributes:
        errors: list of ``(field_path, message)`` pairs, one per violated rule.
    """

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.errors = errors or []


class JobError(OqtantError):
    """Something about a job went wrong."""


class JobNotFoundError(JobError):
    """No job with that id exists for this user."""


class JobFailed(JobError):
    """A job ended FAILED, or the run asked for failed (in an INCOMPLETE job).

    Attributes:
        job_id: the job's id.
        run: the run that failed (None when the whole job is meant).
        reason: why, as the service reports it (the run's error or the job's
            ``failure_reason``), or None when it gave none.
    """

    def __init__(
        self, message: str, *, job_id: str | None = None, run: int | None = None,
        reason: str | None = None,
    ):
        super().__init__(message)
        self.job_id = job_id
        self.run = run
        self.reason = reason


class JobTimeout(JobError):
    """Waiting for a job took longer than allowed."""


class JobFileError(JobError):
    """A job file is missing, corrupt, truncated or not a job file."""


class JobWriteError(JobFileError):
    """A job file cannot be written: there is no submitted job to write, or no place for it."""


class ServerError(OqtantError):
    """The service answered with an error, or did not answer.

    Attributes:
        status_code: HTTP status of the answer, or None when there was none.
    """

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class AuthenticationError(ServerError):
    """Not logged in, wrong credentials, or an expired or invalid token."""


class QuotaExceededError(ServerError):
    """The request would exceed one of the user's limits."""


class ConnectionError(ServerError):  # noqa: A001 - deliberately scoped to oqtant.errors
    """The service could not be reached."""


class SimulationError(OqtantError):
    """The simulator could not do what was asked."""


class FitError(OqtantError, ValueError):
    """An image could not be fitted, e.g. because it holds no atoms."""


def format_pydantic_error(exc, title: str = "Invalid input") -> ValidationError:
    """Turn a pydantic ValidationError into our ValidationError.

    Each violated rule becomes one line ``field.path: rule``, so a physicist
    sees at once which value to change.
    """
    pairs: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = err.get("msg", "invalid value")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        pairs.append((loc or "(input)", msg))
    lines = "\n".join(f"  {loc}: {msg}" for loc, msg in pairs)
    return ValidationError(f"{title}: {len(pairs)} problem(s)\n{lines}", pairs)
