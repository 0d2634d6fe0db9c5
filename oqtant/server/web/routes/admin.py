"""The user's limits, and the administrators' page of accounts and their limits."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import (
    HTMLResponse,
    RedirectResponse,
)
from pydantic import ValidationError as PydanticValidationError

from oqtant.errors import format_pydantic_error
from oqtant.server.api.deps import in_db
from oqtant.server.db import crud
from oqtant.server.db.models import User
from oqtant.server.schemas import LimitsUpdate
from oqtant.server.web.routes._common import (
    _DONE_MESSAGES,
    _error_page,
    _page,
    _require_csrf,
    _require_user,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


_ACCOUNT_ACTIONS = ("disable", "enable", "revoke-tokens", "delete")


@router.get("/limits", response_class=HTMLResponse)
async def limits_page(request: Request):
    def work(session):
        user = _require_user(session, request)
        return user, crud.job_limits(session=session, user=user)

    user, limits = await in_db(request, work)
    return _page(request, "limits.html", {"limits": limits}, user=user)


def _admin_rows(session) -> list[dict]:
    return [
        {
            "name": u.name,
            "is_admin": u.is_admin,
            "disabled": u.disabled,
            "created": u.created_at,
            "limits": limits,
        }
        for u, limits in crud.users_with_limits(session=session)
    ]


@router.get("/admin", response_class=HTMLResponse)
async def admin_page(request: Request, done: str | None = None):
    def work(session):
        user = _require_user(session, request)
        return user, (_admin_rows(session) if user.is_admin else None)

    user, rows = await in_db(request, work)
    if rows is None:
        return _error_page(request, user, 403, "Admins only", "This page is for administrators.")
    return _page(
        request,
        "admin.html",
        {"users": rows, "message": _DONE_MESSAGES.get(done or ""), "errors": {}},
        user=user,
    )


class _Refused(Exception):
    """An admin form that cannot be applied: ``outcome`` is 'forbidden' or 'missing'."""

    def __init__(self, user: User, outcome: str):
        super().__init__(outcome)
        self.user, self.outcome = user, outcome


def _admin_and_target(session, request: Request, csrf: str | None, name: str) -> tuple[User, User]:
    """The administrator posting a form about account ``name``, and that account.

    Raises _Refused when the poster is no administrator or there is no such
    account; a stale CSRF token is refused (403) before anything is looked up.
    """
    user = _require_user(session, request)
    if not user.is_admin:
        raise _Refused(user, "forbidden")
    _require_csrf(request, csrf)
    target = crud.get_user_by_name(session=session, name=name)
    if target is None:
        raise _Refused(user, "missing")
    return user, target


def _refusal_page(request: Request, refused: _Refused, name: str) -> HTMLResponse:
    if refused.outcome == "forbidden":
        return _error_page(
            request, refused.user, 403, "Admins only", "This page is for administrators."
        )
    return _error_page(
        request, refused.user, 404, "No such user", f"There is no user named {name}."
    )


def _form_number(text: str) -> int | str | None:
    """A form field as a whole number when it is one (else as typed, refused by the model)."""
    text = text.strip()
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else (text or None)


@router.post("/admin/users/{name}/limits")
async def admin_set_limits(
    request: Request,
    name: str,
    daily_limit: Annotated[str, Form(max_length=20)] = "",
    max_runs_per_job: Annotated[str, Form(max_length=20)] = "",
    max_pending_jobs: Annotated[str, Form(max_length=20)] = "",
    sim_daily_limit: Annotated[str, Form(max_length=20)] = "",
    sim_max_pending_jobs: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str | None, Form(max_length=200)] = None,
):
    form = {
        "daily_limit": _form_number(daily_limit),
        "max_runs_per_job": _form_number(max_runs_per_job),
        "max_pending_jobs": _form_number(max_pending_jobs),
        "sim_daily_limit": _form_number(sim_daily_limit),
        "sim_max_pending_jobs": _form_number(sim_max_pending_jobs),
    }
    problems: list[str] = []
    try:
        update = LimitsUpdate.model_validate(form)
    except PydanticValidationError as err:
        update = None
        problems = [f"{field}: {rule}" for field, rule in format_pydantic_error(err).errors]

    def work(session):
        user, target = _admin_and_target(session, request, csrf, name)
        if update is not None:
            crud.set_user_limits(session=session, user_id=target.id, **update.model_dump())
            return user, "saved"
        return user, _admin_rows(session)

    try:
        user, outcome = await in_db(request, work)
    except _Refused as refused:
        return _refusal_page(request, refused, name)
    if outcome == "saved":
        return RedirectResponse("/admin?done=limits", status_code=status.HTTP_303_SEE_OTHER)
    return _page(
        request,
        "admin.html",
        {"users": outcome, "message": None, "errors": {name: problems}},
        code=422,
        user=user,
    )


def _account_action(session, target: User, action: str, confirm: str) -> str:
    """Apply ``action`` to ``target``; the outcome's key (a message), or a problem as text."""
    if action == "delete":
        if confirm.strip() != target.name:
            return f"problem:to delete the account, type its name ({target.name}) in the box"
        crud.delete_user(session=session, user_id=target.id)
        return "removed"
    if action == "revoke-tokens":
        crud.revoke_user_tokens(session=session, user_id=target.id)
        return "revoked"
    disabled = action == "disable"
    crud.set_user_disabled(session=session, user_id=target.id, disabled=disabled)
    return "disabled" if disabled else "enabled"


@router.post("/admin/users/{name}/account")
async def admin_account(
    request: Request,
    name: str,
    action: Annotated[str, Form(max_length=20)] = "",
    confirm: Annotated[str, Form(max_length=100)] = "",
    csrf: Annotated[str | None, Form(max_length=200)] = None,
):
    """Disable, enable, revoke the tokens of, or delete an account (not one's own)."""

    def work(session):
        user, target = _admin_and_target(session, request, csrf, name)
        if action not in _ACCOUNT_ACTIONS:
            return user, f"problem:action must be one of {', '.join(_ACCOUNT_ACTIONS)}"
        if target.id == user.id and action in ("disable", "delete"):
            return user, "problem:you cannot disable or delete your own account here"
        return user, _account_action(session, target, action, confirm)

    try:
        user, outcome = await in_db(request, work)
    except _Refused as refused:
        return _refusal_page(request, refused, name)
    if outcome.startswith("problem:"):
        rows = await in_db(request, _admin_rows)
        return _page(
            request,
            "admin.html",
            {"users": rows, "message": None, "errors": {name: [outcome[len("problem:") :]]}},
            code=422,
            user=user,
        )
    if outcome == "revoked" and name == user.name:  # one's own session went with the rest
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    return RedirectResponse(f"/admin?done={outcome}", status_code=status.HTTP_303_SEE_OTHER)
