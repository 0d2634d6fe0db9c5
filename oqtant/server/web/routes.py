"""Pages of the web console: login, jobs, one job, compose, limits, admin.

Every page reads the user from the session cookie (see :mod:`.session`); pages
send anonymous visitors to ``/login``, fragments and JSON answer 401. Every
POST checks the session's CSRF token. A job is looked up with its owner's id,
so another user's job answers 404 exactly like a job that does not exist.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from oqtant.errors import OqtantError, QuotaExceededError
from oqtant.schemas.job import (
    InputValues,
    InterpolationType,
    JobStatus,
    JobType,
    OqtantJob,
    RfInterpolationType,
    ShapeType,
)
from oqtant.schemas.limits import jset, pset, tset
from oqtant.server.api.deps import in_db
from oqtant.server.auth.login import check_login, login_code, login_problem
from oqtant.server.auth.security import check_csrf_token, new_csrf_token
from oqtant.server.db import crud
from oqtant.server.db.models import ACTIVE_STATUSES, Run, User
from oqtant.server.schemas import LimitsUpdate
from oqtant.server.web import plots
from oqtant.server.web.compose import check_job
from oqtant.server.web.session import (
    CSRF_HEADER,
    clear_session,
    csrf_for,
    csrf_ok,
    session_claims,
    session_subject,
    start_session,
)

__all__ = ["router", "templates"]

router = APIRouter(include_in_schema=False)

_HERE = Path(__file__).resolve().parent
_STATIC = _HERE / "static"
_AUTH_TEMPLATES = _HERE.parent / "auth" / "templates"
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader([str(_HERE / "templates"), str(_AUTH_TEMPLATES)]),
        autoescape=select_autoescape(["html"]),
    )
)
LOGIN_CSRF_COOKIE = "oqtant_web_login"
PAGE_SIZE = 50
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; script-src 'self'; "
        "style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_DONE_MESSAGES = {
    "cancelled": "The job was cancelled.",
    "deleted": "The job was deleted.",
    "finished": "The job had already finished: nothing to cancel.",
    "limits": "Limits saved.",
    "disabled": "The account was disabled: it cannot log in and its tokens are refused.",
    "enabled": "The account was enabled: it can log in again.",
    "revoked": "Every token and console session of the account is refused from now on.",
    "removed": "The account was deleted with its jobs.",
}
_ACCOUNT_ACTIONS = ("disable", "enable", "revoke-tokens", "delete")

RunQuery = Query(ge=1, le=1000, description="which run (1-based)")
RunNumber = Annotated[int, RunQuery]
STATIC_FILES = {"app.css": "text/css", "app.js": "text/javascript", "compose.js": "text/javascript"}


# --------------------------------------------------------------------------- helpers


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _fmt_wait(seconds: int | None) -> str:
    if not seconds:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


templates.env.filters["when"] = _fmt_time
templates.env.filters["wait"] = _fmt_wait


def _user_in(session, request: Request) -> User | None:
    """The session's user, if the session still counts (not logged out, revoked or disabled)."""
    claims = session_claims(request)
    if claims is None:
        return None
    try:
        return crud.user_of_token(
            session=session,
            external_id=claims.subject,
            generation=claims.generation,
            token_id=claims.token_id,
        )
    except crud.TokenRejected:
        return None


def _login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login" + (f"?next={_quote(target)}" if target not in ("/", "/jobs") else "")
    return HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": location})


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")


def _require_user(session, request: Request, *, page: bool = True) -> User:
    user = _user_in(session, request)
    if user is None:
        if page:
            raise _login_redirect(request)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="not logged in")
    return user


def _require_csrf(request: Request, sent: str | None) -> None:
    if not csrf_ok(request, sent):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="the form's security token is missing or stale: reload the page and try again",
        )


def _page(
    request: Request, name: str, context: dict, *, code: int = 200, user: User | None = None
) -> HTMLResponse:
    context = {"user": user, "csrf": csrf_for(request), "nav": name, **context}
    response = templates.TemplateResponse(request, name, context, status_code=code)
    response.headers.update(_SECURITY_HEADERS)
    return response


def _error_page(request: Request, user: User | None, code: int, title: str, message: str):
    return _page(
        request, "page_error.html", {"title": title, "problem": message}, code=code, user=user
    )


def _parallel(request: Request) -> int:
    return max(request.app.state.settings.workers, 1)


def _job_or_none(session, user: User, job_id: str):
    if len(job_id) > 64:
        return None
    return crud.get_job(session=session, user_id=user.id, external_id=job_id)


def _not_found(request: Request, user: User, job_id: str) -> HTMLResponse:
    return _error_page(
        request, user, 404, "Job not found", f"There is no job {job_id} among your jobs."
    )


def _safe_next(target: str | None) -> str:
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)  # browsers drop tabs and newlines: "/\t/x" is "//x"
    ):
        return "/jobs"
    return target


# --------------------------------------------------------------------------- static files


@router.get("/web-static/{name}")
def static_file(name: str):
    media = STATIC_FILES.get(name)
    if media is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such file")
    return FileResponse(
        _STATIC / name, media_type=media, headers={"Cache-Control": "public, max-age=3600"}
    )


# --------------------------------------------------------------------------- login


@router.get("/")
def home(request: Request):
    target = "/jobs" if session_subject(request) else "/login"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _login_page(request: Request, next_url: str, *, error=None, username="", code=200):
    csrf = new_csrf_token(request.app.state.secret_key)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "action": "/login",
            "csrf": csrf,
            "hidden": {"next": next_url},
            "username": username,
            "error": error,
            "client_id": "the oqtant web console",
            "redirect_uri": f"{request.base_url}jobs (as a session cookie of this browser)",
        },
        status_code=code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/login", max_age=1800
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None):
    return _login_page(request, _safe_next(next))


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/jobs",
):
    next_url = _safe_next(next)
    secret = request.app.state.secret_key
    if not check_csrf_token(csrf, request.cookies.get(LOGIN_CSRF_COOKIE), secret):
        return _login_page(
            request,
            next_url,
            error="The form expired; please log in again.",
            username=username,
            code=400,
        )
    login = check_login(request, username, password)
    if login.user is None:
        response = _login_page(
            request, next_url, error=login_problem(login), username=username, code=login_code(login)
        )
        if login.retry_after:
            response.headers["Retry-After"] = str(login.retry_after)
        return response
    user = login.user
    response = RedirectResponse(next_url, status_code=status.HTTP_303_SEE_OTHER)
    start_session(request, response, user.external_id, generation=user.token_generation)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str | None, Form(max_length=200)] = None):
    """End the session: its cookie is cleared here and its token refused from now on."""
    _require_csrf(request, csrf)
    claims = session_claims(request)

    def work(session):
        user = crud.get_user_by_external_id(session=session, external_id=claims.subject)
        if user is not None:
            crud.revoke_session_token(
                session=session,
                user_id=user.id,
                token_id=claims.token_id,
                expires_at=claims.expires_at,
            )

    if claims is not None and claims.token_id and claims.expires_at:
        await in_db(request, work)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    clear_session(response)
    return response


# --------------------------------------------------------------------------- job list


def _day_start(value: date | None) -> datetime | None:
    return datetime.combine(value, time.min, tzinfo=UTC) if value else None


def _day_end(value: date | None) -> datetime | None:
    return datetime.combine(value, time.min, tzinfo=UTC) + timedelta(days=1) if value else None


class _Filters:
    """The filters of the job list (those of ``search_jobs``), from the query string."""

    def __init__(
        self,
        name: Annotated[str | None, Query(max_length=100)] = None,
        notes: Annotated[str | None, Query(max_length=500)] = None,
        job_type: Annotated[str | None, Query(max_length=20)] = None,
        status_: Annotated[list[str] | None, Query(alias="status")] = None,
        submit_start: Annotated[str | None, Query(max_length=10)] = None,
        submit_end: Annotated[str | None, Query(max_length=10)] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ):
        self.problems: list[str] = []
        for label, text in (("name", name), ("notes", notes)):
            if text and "\x00" in text:  # no database stores it: searched for, it could not match
                self.problems.append(f"{label}: must not contain the NUL character (\\x00)")
        self.name = (name or "").replace("\x00", "") or None
        self.notes = (notes or "").replace("\x00", "") or None
        types = {str(t) for t in JobType}
        self.job_type = job_type if job_type in types else None
        if job_type and job_type not in types:
            self.problems.append(f"job type: must be one of {', '.join(sorted(types))}")
        statuses = {str(s) for s in JobStatus}
        self.statuses = [s for s in (status_ or []) if s in statuses] or None
        self.submit_start = self._date("submitted from", submit_start)
        self.submit_end = self._date("submitted until", submit_end)
        self.page = page
        self.raw = {
            "name": name or "",
            "notes": notes or "",
            "job_type": self.job_type or "",
            "status": self.statuses or [],
            "submit_start": submit_start or "",
            "submit_end": submit_end or "",
        }

    def _date(self, label: str, text: str | None) -> date | None:
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.problems.append(f"{label}: a date as YYYY-MM-DD, got {text!r}")
            return None

    def query(self, **extra) -> str:
        from urllib.parse import urlencode

        pairs = [(k, v) for k, v in self.raw.items() if v and k != "status"]
        pairs += [("status", s) for s in self.raw["status"]]
        pairs += [(k, v) for k, v in extra.items() if v]
        return urlencode(pairs)


def _list_jobs(request: Request, session, user: User, f: _Filters) -> dict:
    jobs, total = crud.search_jobs(
        session=session,
        user_id=user.id,
        job_type=f.job_type,
        name=f.name,
        notes=f.notes,
        submit_start=_day_start(f.submit_start),
        submit_end=_day_end(f.submit_end),
        statuses=f.statuses,
        limit=PAGE_SIZE,
        offset=(f.page - 1) * PAGE_SIZE,
    )
    active = [j.id for j in jobs if j.status in ACTIVE_STATUSES]
    infos = crud.queue_info(session=session, job_ids=active, parallel_runs=_parallel(request))
    rows = []
    for j in jobs:
        info = infos.get(j.id)
        rows.append(
            {
                "id": j.external_id,
                "name": j.name,
                "job_type": j.job_type,
                "status": j.status,
                "runs": j.input_count,
                "submitted": j.time_submit,
                "position": info.queue_position if info else 0,
                "wait": info.est_time if info else 0,
                "active": j.status in ACTIVE_STATUSES,
                "sim": j.sim,
            }
        )
    return {"rows": rows, "total": total, "any_active": bool(active)}


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, done: str | None = None):
    f = _Filters(**_filter_args(request))

    def work(session):
        user = _require_user(session, request)
        return user, _list_jobs(request, session, user, f)

    user, listing = await in_db(request, work)
    pages = max(1, -(-listing["total"] // PAGE_SIZE))
    return _page(
        request,
        "jobs.html",
        {
            **listing,
            "filters": f.raw,
            "problems": f.problems,
            "page": f.page,
            "pages": pages,
            "query": f.query(),
            "prev_query": f.query(page=str(f.page - 1)) if f.page > 1 else None,
            "next_query": f.query(page=str(f.page + 1)) if f.page < pages else None,
            "message": _DONE_MESSAGES.get(done or ""),
            "job_types": [str(t) for t in JobType],
            "statuses": [str(s) for s in JobStatus],
        },
        user=user,
    )


def _filter_args(request: Request) -> dict:
    """The filter arguments of the query string (validated by _Filters)."""
    q = request.query_params
    page = q.get("page", "1")
    return {
        "name": (q.get("name") or "")[:100] or None,
        "notes": (q.get("notes") or "")[:500] or None,
        "job_type": (q.get("job_type") or "")[:20] or None,
        "status_": q.getlist("status")[:10],
        "submit_start": (q.get("submit_start") or "")[:10] or None,
        "submit_end": (q.get("submit_end") or "")[:10] or None,
        "page": int(page) if page.isdigit() and 0 < int(page) <= 100_000 else 1,
    }


@router.get("/jobs/rows", response_class=HTMLResponse)
async def jobs_rows(request: Request):
    """The rows of the job list alone (polled by the page to stay current)."""
    f = _Filters(**_filter_args(request))

    def work(session):
        user = _require_user(session, request, page=False)
        return user, _list_jobs(request, session, user, f)

    user, listing = await in_db(request, work)
    response = _page(request, "_rows.html", {**listing, "query": f.query()}, user=user)
    response.headers["X-Active-Jobs"] = "1" if listing["any_active"] else "0"
    return response


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(
    request: Request,
    job_id: str,
    csrf: Annotated[str | None, Form(max_length=200)] = None,
    next: Annotated[str | None, Form(max_length=2000)] = None,
):
    def work(session):
        user = _require_user(session, request)
        _require_csrf(request, csrf)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return user, None
        try:
            crud.cancel_job(session=session, job_id=job.id)
        except crud.StateConflict:
            return user, "finished"
        return user, "cancelled"

    user, outcome = await in_db(request, work)
    if outcome is None:
        return _not_found(request, user, job_id)
    target = _safe_next(next)
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}done={outcome}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/jobs/{job_id}/delete")
async def delete_job(
    request: Request, job_id: str, csrf: Annotated[str | None, Form(max_length=200)] = None
):
    def work(session):
        user = _require_user(session, request)
        _require_csrf(request, csrf)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return user, False
        crud.delete_job(session=session, job_id=job.id)
        return user, True

    user, deleted = await in_db(request, work)
    if not deleted:
        return _not_found(request, user, job_id)
    return RedirectResponse("/jobs?done=deleted", status_code=status.HTTP_303_SEE_OTHER)


# --------------------------------------------------------------------------- one job


def _stats(values: dict) -> list[tuple[str, str]]:
    """The atom statistics of a time-of-flight output, as (label, text) rows."""
    thermal = int(values.get("thermal_atom_number", 0))
    condensed = int(values.get("condensed_atom_number", 0))
    total = thermal + condensed
    fraction = f"{condensed / total:.3f}" if total else "no atoms"
    return [
        ("Atoms after time of flight", f"{int(values.get('tof_atom_number', 0)):,}"),
        ("Condensed atoms", f"{condensed:,}"),
        ("Thermal atoms", f"{thermal:,}"),
        ("Condensed fraction", fraction),
        ("Temperature", f"{int(values.get('temperature_nk', 0))} nK"),
        ("Atoms loaded in the MOT", f"{int(values.get('total_mot_atom_number', 0)):,}"),
    ]


def _run_inputs(values: InputValues) -> dict[str, str]:
    """The inputs of a run that a sweep is likely to vary, as (label -> text)."""
    rf = values.rf_evaporation
    evaporation = [i for i, t in enumerate(rf.times_ms) if t <= 0]
    last = evaporation[-1] if evaporation else len(rf.times_ms) - 1
    barriers = values.optical_barriers or []
    lasers = values.lasers or []
    return {
        "image": "TOF" if values.image_type.value == "TIME_OF_FLIGHT" else values.image_type.value,
        "time of flight (ms)": f"{values.time_of_flight_ms:g}",
        "experiment stage (ms)": f"{values.end_time_ms:g}",
        "last RF (MHz)": f"{rf.frequencies_mhz[last]:g}",
        "last RF power (mW)": f"{rf.powers_mw[last]:g}",
        "barriers": str(len(barriers)),
        "final barrier heights (kHz)": ", ".join(f"{b.heights_khz[-1]:g}" for b in barriers),
        "final barrier positions (um)": ", ".join(f"{b.positions_um[-1]:g}" for b in barriers),
        "landscape snapshots": str(len(values.optical_landscape.landscapes))
        if values.optical_landscape
        else "0",
        "terminator (ms)": ", ".join(
            f"{p.times_ms[0]:g} to {p.times_ms[1]:g}" for laser in lasers for p in laser.pulses
        ),
    }


def _runs_table(summaries) -> dict | None:
    """The runs of a multi-run job side by side: the inputs that differ, and the results."""
    if len(summaries) < 2:
        return None
    inputs = [_run_inputs(InputValues.model_validate_json(v)) for _, _, v, _ in summaries]
    varied = [k for k in inputs[0] if len({i[k] for i in inputs}) > 1]
    rows = []
    for (number, status_, _, summary), given in zip(summaries, inputs, strict=True):
        results: dict[str, str] = {}
        if summary and summary.get("image") == "TIME_OF_FLIGHT":
            total = int(summary.get("tof_atom_number") or 0)
            condensed = int(summary.get("condensed_atom_number") or 0)
            results = {
                "atoms": f"{total:,}",
                "condensed fraction": f"{condensed / total:.2f}" if total else "",
                "temperature (nK)": f"{int(summary.get('temperature_nk') or 0)}",
            }
        elif summary:
            results = {"peak OD": f"{summary.get('peak_od', 0):.2f}"}
        rows.append((number, status_, [given[k] for k in varied], results))
    result_keys = list(dict.fromkeys(k for *_, r in rows for k in r))
    return {
        "inputs": varied,
        "results": result_keys,
        "rows": [(n, st, vals, [r.get(k, "") for k in result_keys]) for n, st, vals, r in rows],
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: str, run: RunNumber = 1, done: str | None = None):
    def work(session):
        user = _require_user(session, request)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return user, None
        number = min(max(run, 1), job.input_count)
        row = crud.get_run(session=session, job_id=job.id, run=number)
        info = crud.queue_info(session=session, job_ids=[job.id], parallel_runs=_parallel(request))[
            job.id
        ]
        failed = crud.failed_runs(session=session, job_id=job.id)
        summaries = crud.run_summaries(session=session, job_id=job.id)
        states = {r: st for r, st, _, _ in summaries}
        return user, (job, row, info, failed, number, states, summaries)

    user, found = await in_db(request, work)
    if found is None:
        return _not_found(request, user, job_id)
    job, row, info, failed, number, states, summaries = found
    values = InputValues.model_validate_json(row.values_json) if row is not None else None
    output = json.loads(row.output_json)["values"] if row is not None and row.output_json else None
    is_tof = output is not None and "it_plot" not in output
    rf = values.rf_evaporation if values else None
    context = {
        "job": job,
        "run": row,
        "number": number,
        "runs": [(n, states.get(n, "")) for n in range(1, job.input_count + 1)],
        "runs_table": _runs_table(summaries),
        "values": values,
        "rf_rows": list(zip(rf.times_ms, rf.frequencies_mhz, rf.powers_mw, strict=True))
        if rf
        else [],
        "output": output,
        "is_tof": is_tof,
        "stats": _stats(output) if is_tof else [],
        "info": info,
        "failed": failed,
        "active": job.status in ACTIVE_STATUSES,
        "input_kinds": plots.input_kinds_for(values) if values else [],
        "potential_times": plots.potential_times_ms(values) if values else [],
        "message": _DONE_MESSAGES.get(done or ""),
    }
    return _page(request, "job.html", context, user=user)


@router.get("/jobs/{job_id}/state")
async def job_state(request: Request, job_id: str):
    """The job's status and its runs' statuses (polled while the job runs)."""

    def work(session):
        user = _require_user(session, request, page=False)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return None
        info = crud.queue_info(session=session, job_ids=[job.id], parallel_runs=_parallel(request))[
            job.id
        ]
        runs = session.execute(
            select(Run.run, Run.status).where(Run.job_id == job.id).order_by(Run.run)
        ).all()
        return {
            "status": job.status,
            "queue_position": info.queue_position,
            "est_time": info.est_time,
            "runs": {str(number): state for number, state in runs},
        }

    state = await in_db(request, work)
    if state is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such job")
    return JSONResponse(state, headers={"Cache-Control": "no-store"})


@router.get("/jobs/{job_id}/plot/{kind}.png")
async def job_plot(
    request: Request, job_id: str, kind: str, run: Annotated[int, Query(ge=1, le=1000)] = 1
):
    """One figure of a run (output or input), PNG, drawn once and cached."""
    if kind not in plots.OUTPUT_KINDS and kind not in plots.INPUT_KINDS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such figure")

    key = ("out" if kind in plots.OUTPUT_KINDS else "in", job_id, run, kind)

    def work(session):
        user = _require_user(session, request, page=False)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return None
        cached = plots.peek_png(key)  # the owner was checked just above
        if cached is not None:
            return cached
        row = crud.get_run(session=session, job_id=job.id, run=run)
        if row is None:
            return None
        return job.name, row.values_json, row.output_json

    found = await in_db(request, work)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such job or run")
    if isinstance(found, bytes):
        return _png_response(found)
    name, values_json, output_json = found
    if kind in plots.OUTPUT_KINDS:
        if not output_json:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="this run has no output yet")
        values_text = json.dumps(json.loads(output_json)["values"])
        draw = lambda: plots.render_output_png(values_text, kind)
    else:
        values = InputValues.model_validate_json(values_json)
        draw = lambda: plots.render_input_png(name, values, kind)
    return _png_response(await run_in_threadpool(plots.cached_png, key, draw))


def _png_response(png: bytes) -> Response:
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


@router.get("/jobs/{job_id}/file")
async def job_file(request: Request, job_id: str):
    """The job file: the job with every run's input and output, as the client writes it."""

    def work(session):
        user = _require_user(session, request)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return None
        inputs = []
        for number in range(1, job.input_count + 1):
            row = crud.get_run(session=session, job_id=job.id, run=number)
            if row is None:
                continue
            output = json.loads(row.output_json) if row.output_json else None
            inputs.append(
                {
                    "job_id": job.id,
                    "run": number,
                    "values": json.loads(row.values_json),
                    "output": output,
                    "notes": row.notes,
                }
            )
        return OqtantJob.model_validate(
            {
                "name": job.name,
                "origin": "OQTAPI",
                "status": job.status,
                "time_submit": job.time_submit,
                "time_start": job.time_start,
                "time_complete": job.time_complete,
                "input_count": job.input_count,
                "external_id": job.external_id,
                "failed_inputs": crud.failed_runs(session=session, job_id=job.id),
                "inputs": inputs,
            }
        )

    job = await in_db(request, work)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such job")
    return Response(
        job.model_dump_json(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{job.external_id}.txt"'},
    )


@router.get("/jobs/{job_id}/raw")
async def job_raw(request: Request, job_id: str, run: Annotated[int | None, RunQuery] = None):
    """The raw absorption frames (absolute, background, dark) of one run or of every run."""

    def work(session):
        user = _require_user(session, request)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return None
        frames = []
        for row in crud.get_runs_with_images(session=session, job_id=job.id):
            if run is not None and row.run != run:
                continue
            for image in json.loads(row.raw_images_json or "[]"):
                image["job_external_id"] = job.external_id
                image["run"] = row.run
                frames.append(image)
        return frames

    frames = await in_db(request, work)
    if frames is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such job")
    suffix = f"_run_{run}" if run else ""
    return JSONResponse(
        frames,
        headers={"Content-Disposition": f'attachment; filename="{job_id}{suffix}_raw.json"'},
    )


# --------------------------------------------------------------------------- compose


@router.get("/new", response_class=HTMLResponse)
async def new_job_page(
    request: Request,
    kind: str = "bec",
    copy: Annotated[str | None, Query(max_length=64)] = None,
    run: Annotated[int, Query(ge=1, le=1000)] = 1,
):
    """The composer, starting from a standard job or from a copy of one of your runs."""

    def work(session):
        user = _require_user(session, request)
        source = None
        if copy:
            job = _job_or_none(session, user, copy)
            row = crud.get_run(session=session, job_id=job.id, run=run) if job else None
            if row is None:
                return user, None, None
            source = (job.name, InputValues.model_validate_json(row.values_json))
        return user, crud.job_limits(session=session, user=user), source

    user, limits, source = await in_db(request, work)
    if limits is None:
        return _not_found(request, user, copy or "")
    from oqtant.oqtant_client import barrier_manipulator_job, ultracold_matter_job

    if source is not None:
        name, values = source
        lit = values.optical_barriers or values.optical_landscape or values.lasers
        kind = "barrier" if lit else "bec"
        initial = {"name": name, "values": values.model_dump(mode="json")}
    else:
        kind = "barrier" if kind == "barrier" else "bec"
        template = barrier_manipulator_job if kind == "barrier" else ultracold_matter_job
        initial = {"name": template["name"], "values": template["inputs"][0]["values"]}
    context = {
        "kind": kind,
        "copied": source is not None,
        "limits": limits,
        "initial": initial,
        "max_barriers": pset.max_barriers,
        "max_rf_points": jset.max_rf_points,
        "tof_range": (tset.min_tof_ms, tset.max_tof_ms),
        "max_time_ms": tset.max_exp_time_ms,
        "rf_interpolations": [str(i) for i in RfInterpolationType],
        "interpolations": [str(i) for i in InterpolationType],
        "shapes": [str(s) for s in ShapeType],
        "snapshots": (pset.min_snapshots, pset.max_snapshots),
        "landscape_points": (pset.min_landscape_points, pset.max_landscape_points),
        "terminator_position": pset.terminator_position,
    }
    return _page(request, "new.html", context, user=user)


class _BadBody(Exception):
    """A composed job that is not readable JSON: answered 400 with the reason."""


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if len(raw) > 1_000_000:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail="job too large")
    try:
        return json.loads(raw or b"null")
    except RecursionError:
        raise _BadBody("the JSON is nested too deeply") from None
    except json.JSONDecodeError:
        return None  # not JSON: answered as "expected a JSON object"
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise _BadBody(f"the JSON holds an unreadable value: {exc}") from None


def _bad_body(exc: _BadBody) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "errors": [{"field": "(job)", "rule": str(exc)}]},
        status_code=status.HTTP_400_BAD_REQUEST,
    )


async def _composed(request: Request) -> tuple[object, list[dict], JSONResponse | None]:
    """The composed job checked (see :func:`check_job`), or the 400 answer of a bad body."""
    try:
        payload = await _json_body(request)
    except _BadBody as exc:
        return None, [], _bad_body(exc)
    job, problems = check_job(payload)
    return job, problems, None


def _preview_figures(name: str, values: InputValues) -> dict[str, str]:
    """Data URLs of the figures of a composed run (potential, RF knife, barrier map)."""
    key_base = hashlib.sha256(values.model_dump_json().encode() + name.encode()).hexdigest()
    figures = {}
    for kind in plots.input_kinds_for(values):
        png = plots.cached_png(
            ("preview", key_base, kind), lambda k=kind: plots.render_input_png(name, values, k)
        )
        figures[kind] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return figures


@router.post("/new/check")
async def check_new_job(request: Request):
    """Validate a composed job; answer its problems, or the figures of what the atoms will feel."""

    def auth(session):
        return _require_user(session, request, page=False)

    await in_db(request, auth)
    _require_csrf(request, request.headers.get(CSRF_HEADER))
    job, problems, refused = await _composed(request)
    if refused is not None:
        return refused
    if job is None:
        return JSONResponse({"ok": False, "errors": problems})
    try:
        figures = await run_in_threadpool(_preview_figures, job.name, job.inputs[0].values)
    except (OqtantError, ValueError) as exc:  # a rule the schemas do not check: shown, not a 500
        return JSONResponse({"ok": False, "errors": [{"field": "(job)", "rule": str(exc)}]})
    times = plots.potential_times_ms(job.inputs[0].values)
    return JSONResponse({"ok": True, "errors": [], "figures": figures, "times_ms": times})


@router.post("/new/submit")
async def submit_new_job(request: Request):
    """Submit a composed job (checked exactly as ``/new/check`` does) to the queue."""
    _require_csrf(request, request.headers.get(CSRF_HEADER))
    job, problems, refused = await _composed(request)
    if refused is not None:
        return refused
    if job is None:
        return JSONResponse({"ok": False, "errors": problems}, status_code=422)
    job.sim = False

    def work(session):
        user = _require_user(session, request, page=False)
        return crud.submit_job(
            session=session, user_id=user.id, job=job, parallel_runs=_parallel(request)
        )

    try:
        answer = await in_db(request, work)
    except QuotaExceededError as exc:
        limit, _, rule = str(exc).partition(": ")
        return JSONResponse(
            {"ok": False, "errors": [{"field": limit, "rule": rule or str(exc)}]}, status_code=429
        )
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()
    return JSONResponse({"ok": True, **answer, "url": f"/jobs/{answer['job_id']}"}, status_code=201)


# --------------------------------------------------------------------------- limits, admin


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
            "limits": crud.job_limits(session=session, user=u),
        }
        for u in crud.list_users(session=session)
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
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]

    def work(session):
        user = _require_user(session, request)
        if not user.is_admin:
            return user, "forbidden"
        _require_csrf(request, csrf)
        target = crud.get_user_by_name(session=session, name=name)
        if target is None:
            return user, "missing"
        if update is not None:
            crud.set_user_limits(session=session, user_id=target.id, **update.model_dump())
            return user, "saved"
        return user, _admin_rows(session)

    user, outcome = await in_db(request, work)
    if outcome == "forbidden":
        return _error_page(request, user, 403, "Admins only", "This page is for administrators.")
    if outcome == "missing":
        return _error_page(request, user, 404, "No such user", f"There is no user named {name}.")
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
        user = _require_user(session, request)
        if not user.is_admin:
            return user, "forbidden"
        _require_csrf(request, csrf)
        target = crud.get_user_by_name(session=session, name=name)
        if target is None:
            return user, "missing"
        if action not in _ACCOUNT_ACTIONS:
            return user, f"problem:action must be one of {', '.join(_ACCOUNT_ACTIONS)}"
        if target.id == user.id and action in ("disable", "delete"):
            return user, "problem:you cannot disable or delete your own account here"
        return user, _account_action(session, target, action, confirm)

    user, outcome = await in_db(request, work)
    if outcome == "forbidden":
        return _error_page(request, user, 403, "Admins only", "This page is for administrators.")
    if outcome == "missing":
        return _error_page(request, user, 404, "No such user", f"There is no user named {name}.")
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
