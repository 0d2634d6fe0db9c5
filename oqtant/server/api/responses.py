"""The error answers of the API as the OpenAPI description declares them.

Every error is JSON with a ``detail`` a person can read (:class:`ErrorAnswer`);
bad input (422) also lists each broken rule with its field
(:class:`ValidationErrorAnswer`). Routes declare which of these they can
answer with :func:`error_responses`, so the description lists every status a
client can meet.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = [
    "BODY_ERRORS",
    "ERROR_DESCRIPTIONS",
    "ErrorAnswer",
    "FieldProblem",
    "OAuthErrorAnswer",
    "ValidationErrorAnswer",
    "error_responses",
    "token_error_responses",
]


class FieldProblem(BaseModel):
    """One broken rule: the dotted path of the field and the rule it breaks."""

    field: str
    rule: str


class ErrorAnswer(BaseModel):
    """Any error answer: what went wrong, in words."""

    detail: str


class ValidationErrorAnswer(ErrorAnswer):
    """A 422 answer: the summary in ``detail``, and one entry per broken rule."""

    errors: list[FieldProblem]


ERROR_DESCRIPTIONS = {
    400: "The request is malformed (a body that is not UTF-8 JSON or nested too deeply, "
    "a bad Content-Length)",
    401: "Not logged in, or the token is invalid or expired",
    403: "Logged in, but not allowed (admins only)",
    404: "No such resource, or not yours",
    409: "The request conflicts with the resource's state (e.g. cancelling a finished job)",
    413: "The request body is larger than the server's limit",
    415: "The body is not sent as application/json",
    422: "A field breaks a rule: every broken rule is listed with its field",
    429: "A quota or rate limit is reached",
    503: "The database is unavailable or busy: try again after Retry-After seconds",
}

#: what any request with a body (POST, PUT) can be refused with before it reaches the route
BODY_ERRORS = (400, 413, 415)

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "string"},
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "the scheme to log in with", "schema": {"type": "string"}}
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` declaration of the error answers ``codes`` (JSON, shared models)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "model": ValidationErrorAnswer if code == 422 else ErrorAnswer,
            "description": ERROR_DESCRIPTIONS[code],
        }
        if code in (429, 503):
            entry["headers"] = _RETRY_AFTER
        if code == 401:
            entry["headers"] = _WWW_AUTHENTICATE
        out[code] = entry
    return out


class OAuthErrorAnswer(ErrorAnswer):
    """A refused token request, as RFC 6749 spells it (``detail`` repeats the description)."""

    error: str
    error_description: str


def token_error_responses() -> dict[int | str, dict[str, Any]]:
    """The error answers of ``/oauth/token``: RFC 6749's 400s, then the common ones."""
    return {
        400: {
            "model": OAuthErrorAnswer,
            "description": "The grant is refused (invalid_request, invalid_grant, "
            "unsupported_grant_type)",
        },
        **error_responses(413, 422, 429, 503),
    }
