"""The exception names of the reference client, as members of our own error tree.

Each class here derives from the matching class of :mod:`oqtant.errors`, so an
``except oqtant.errors.OqtantError`` (or ``JobError``, ``FitError``, ...) also
catches them. Our own code raises the classes of :mod:`oqtant.errors`; these
names exist so that code written for the reference imports and raises them.
"""

from __future__ import annotations

from oqtant import errors

__all__ = [
    "OqtantError",
    "OqtantAuthorizationError",
    "OqtantRequestError",
    "OqtantTokenError",
    "JobError",
    "JobReadError",
    "JobWriteError",
    "OqtantJobError",
    "OqtantJobListLimitError",
    "OqtantJobParameterError",
    "OqtantJobUnsupportedTypeError",
    "OqtantJobValidationError",
    "JobPlotFitError",
    "JobPlotFitMismatchError",
    "SimSubmitError",
    "SimValueError",
    "VersionWarning",
]


class _Message:
    """An error made from one message (none by default)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")  # type: ignore[call-arg]
        self.message = message


class OqtantError(_Message, errors.OqtantError):
    """Root of the reference's error names."""


class OqtantAuthorizationError(OqtantError, errors.AuthenticationError):
    """Not allowed: not logged in, or the token does not grant it."""


class OqtantRequestError(OqtantError, errors.ServerError):
    """A request to the service failed."""


class OqtantTokenError(OqtantError, errors.AuthenticationError):
    """The access token is missing, expired or invalid."""


class JobError(_Message, errors.JobError):
    """Something about a job went wrong."""


class JobReadError(JobError, errors.JobFileError):
    """A job file could not be read."""


class JobWriteError(JobError, errors.JobFileError):
    """A job file could not be written."""


class OqtantJobError(_Message, errors.JobError):
    """A job could not be made, submitted or fetched."""


class OqtantJobListLimitError(OqtantJobError):
    """Too many jobs asked for at once."""


class OqtantJobParameterError(OqtantJobError):
    """A job parameter breaks a rule."""


class OqtantJobUnsupportedTypeError(OqtantJobError):
    """A job of a type the service does not run."""


class OqtantJobValidationError(OqtantJobError):
    """A job does not validate."""


class JobPlotFitError(OqtantJobError, errors.FitError):
    """An output image could not be fitted."""


class JobPlotFitMismatchError(OqtantJobError, errors.FitError):
    """A fit was asked of an image of the wrong kind."""


class SimSubmitError(_Message, errors.SimulationError):
    """A job could not be run on the simulator."""


class SimValueError(_Message, errors.SimulationError, ValueError):
    """The simulator was given a value it cannot use."""


class VersionWarning(OqtantError):
    """The client is older than the service expects."""
