"""Checking a job composed in the browser with the wire schemas, before anything is sent."""

from __future__ import annotations

from pydantic import ValidationError as PydanticValidationError

from oqtant.errors import format_pydantic_error
from oqtant.server.schemas import JobSubmit

__all__ = ["RUN_PREFIX", "check_job"]

#: the path of the (one) composed run's values in the job; fields are named without it
RUN_PREFIX = "inputs.0.values."


def _short(field: str) -> str:
    return field.removeprefix(RUN_PREFIX)


def check_job(payload: object) -> tuple[JobSubmit | None, list[dict]]:
    """The job, or the problems as ``[{"field", "rule"}]`` (the client's messages).

    Fields of the run's values are named as in the wire format
    (``rf_evaporation.frequencies_mhz``, ``optical_barriers.0.heights_khz``).
    """
    if not isinstance(payload, dict):
        return None, [{"field": "(job)", "rule": "expected a JSON object"}]
    try:
        return JobSubmit.model_validate(payload), []
    except PydanticValidationError as err:
        problems = format_pydantic_error(err, "Invalid job").errors
        return None, [{"field": _short(field), "rule": rule} for field, rule in problems]
