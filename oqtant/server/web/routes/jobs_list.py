"""The job list: filters, pages, the rows the page polls, cancel and delete."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import (
    HTMLResponse,
    RedirectResponse,
)

from oqtant.schemas.job import (
    JobStatus,
    JobType,
)
from oqtant.server.api.deps import in_db
from oqtant.server.db import crud
from oqtant.server.db.models import ACTIVE_STATUSES, User
from oqtant.server.web.routes._common import (
    _DONE_MESSAGES,
    _job_or_none,
    _not_found,
    _page,
    _parallel,
    _require_csrf,
    _require_user,
    _safe_next,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


PAGE_SIZE = 50


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


def _span(values: list[float], fmt: str) -> str:
    """One value, or the range of several (``low–high``), each formatted with ``fmt``."""
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}–{high}"


def _tof_numbers(summary: dict) -> tuple[float, float, float]:
    """Atoms after time of flight, temperature (nK) and condensed fraction of a TOF summary."""
    condensed = float(summary.get("condensed_atom_number") or 0)
    thermal = float(summary.get("thermal_atom_number") or 0)
    total = float(summary.get("tof_atom_number") or 0)
    fitted = condensed + thermal or total
    fraction = condensed / fitted if fitted else 0.0
    return total, float(summary.get("temperature_nk") or 0), fraction


def _results(runs: list[tuple[int, str, dict | None]]) -> dict | None:
    """What a row of the list shows of a job's results (None before any run completed).

    The numbers of its completed run, or their ranges over its completed runs;
    ``thumb_run``: the run whose image the row shows (the last completed).
    """
    done = [(number, summary) for number, state, summary in runs if state == "COMPLETE"]
    if not done:
        return None
    summaries = [summary for _, summary in done if summary]
    items: list[tuple[str, str]] = []
    tof = [_tof_numbers(s) for s in summaries if s.get("image") == "TIME_OF_FLIGHT"]
    if tof:
        atoms, temps, fractions = zip(*tof, strict=True)
        items += [
            ("N", _span(list(atoms), ",.0f")),
            ("T", _span(list(temps), ".0f") + " nK"),
            ("condensed", _span(list(fractions), ".2f")),
        ]
    peaks = [float(s.get("peak_od") or 0) for s in summaries if s.get("image") == "IN_TRAP"]
    if peaks:
        items.append(("peak OD", _span(peaks, ".2f")))
    return {
        "items": items,
        "thumb_run": done[-1][0],
        "of_runs": f"{len(done)} runs" if len(done) > 1 else "",
    }


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
    runs = crud.runs_of_jobs(session=session, job_ids=[j.id for j in jobs])
    rows = []
    for j in jobs:
        info = infos.get(j.id)
        of_job = runs.get(j.id, [])
        finished = sum(1 for _, state, _ in of_job if state in ("COMPLETE", "FAILED"))
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
                "results": _results(of_job),
                # a job of several runs that waits or runs: how many of its runs are done
                "progress": f"{finished} of {j.input_count} runs done"
                if j.status in ACTIVE_STATUSES and j.input_count > 1
                else "",
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
