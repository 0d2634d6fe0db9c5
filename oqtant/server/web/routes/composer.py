"""The composer: a new job from a standard job or a copy, checked and submitted."""

from __future__ import annotations

import base64
import json
import threading
from typing import Annotated

from cachetools import LRUCache
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
)
from starlette.concurrency import run_in_threadpool

from oqtant.errors import OqtantError, QuotaExceededError
from oqtant.schemas.job import (
    InputValues,
    InterpolationType,
    RfInterpolationType,
    ShapeType,
)
from oqtant.schemas.limits import jset, pset, tset
from oqtant.server.api.deps import in_db
from oqtant.server.db import crud
from oqtant.server.web import plots
from oqtant.server.web.compose import Composed, check_job, sweep_fields
from oqtant.server.web.routes._common import (
    _job_or_none,
    _not_found,
    _page,
    _parallel,
    _require_csrf,
    _require_user,
)
from oqtant.server.web.session import (
    CSRF_HEADER,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


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
    from oqtant.standard_jobs import barrier_manipulator_job, ultracold_matter_job

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
        "max_runs": jset.max_runs,
        "sweep_fields": sweep_fields({}),
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


async def _composed(request: Request) -> tuple[Composed | None, JSONResponse | None]:
    """The composed job checked (see :func:`check_job`), or the 400 answer of a bad body."""
    try:
        payload = await _json_body(request)
    except _BadBody as exc:
        return None, _bad_body(exc)
    return check_job(payload), None


def _canonical(payload: object) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


#: answers of /new/check by the canonical JSON of the job (the same job, the same answer)
_answers: LRUCache[str, dict] = LRUCache(maxsize=64)
_answers_lock = threading.Lock()


def _preview_figures(name: str, values: InputValues) -> dict[str, str]:
    """Data URLs of the figures of one composed run (RF knife, potential, barrier map, ...)."""
    # imported on the first preview: it brings the projection (scipy), which a server
    # that composes nothing never needs
    from oqtant.server.web import input_plots

    times = plots.potential_times_ms(values)
    return {
        kind: "data:image/png;base64,"
        + base64.b64encode(input_plots.preview_png(name, values, kind, times)).decode("ascii")
        for kind in plots.input_kinds_for(values)
    }


def _preview(composed: Composed) -> dict:
    """The answer of a valid job: the figures of its first run and, for several runs, its last."""
    job = composed.job
    assert job is not None
    shown = [1] if len(job.inputs) == 1 else [1, len(job.inputs)]
    runs = [
        {
            "run": run,
            "label": composed.run_label(run),
            "figures": _preview_figures(job.name, job.inputs[run - 1].values),
        }
        for run in shown
    ]
    return {
        "ok": True,
        "errors": [],
        "figures": runs[0]["figures"],
        "runs": runs,
        "run_count": len(job.inputs),
        "times_ms": plots.potential_times_ms(job.inputs[0].values),
    }


@router.post("/new/check")
async def check_new_job(request: Request):
    """Validate a composed job; answer its problems, or the figures of what the atoms will feel."""

    def auth(session):
        return _require_user(session, request, page=False).max_runs_per_job

    max_runs = await in_db(request, auth)
    _require_csrf(request, request.headers.get(CSRF_HEADER))
    try:
        payload = await _json_body(request)
    except _BadBody as exc:
        return _bad_body(exc)
    key = _canonical(payload)
    with _answers_lock:
        answer = _answers.get(key)
    if answer is None:
        composed = check_job(payload)
        if composed.job is None:
            return JSONResponse({"ok": False, "errors": composed.problems})
        try:
            answer = await run_in_threadpool(_preview, composed)
        except (OqtantError, ValueError) as exc:  # a rule the schemas do not check: shown
            return JSONResponse({"ok": False, "errors": [{"field": "(job)", "rule": str(exc)}]})
        with _answers_lock:
            _answers[key] = answer
    return JSONResponse(_within_quota(answer, max_runs))


def _within_quota(answer: dict, max_runs: int) -> dict:
    """The answer of a valid job, or the user's runs-per-job quota it would break on submit."""
    runs = answer["run_count"]
    if runs <= max_runs:
        return answer
    rule = f"this job has {runs} runs, your quota (max_runs_per_job) is {max_runs} runs per job"
    return {"ok": False, "errors": [{"field": "sweep.runs", "rule": rule}]}


@router.post("/new/submit")
async def submit_new_job(request: Request):
    """Submit a composed job (checked exactly as ``/new/check`` does) to the queue."""
    _require_csrf(request, request.headers.get(CSRF_HEADER))
    composed, refused = await _composed(request)
    if refused is not None:
        return refused
    assert composed is not None
    job = composed.job
    if job is None:
        return JSONResponse({"ok": False, "errors": composed.problems}, status_code=422)
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
