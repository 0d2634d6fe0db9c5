"""One job: its page, its state (polled), its figures, its job file and raw frames."""

from __future__ import annotations

import json
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    Response,
)
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from oqtant.errors import OqtantError
from oqtant.schemas.job import (
    InputValues,
    OqtantJob,
)
from oqtant.server.api.deps import in_db
from oqtant.server.db import crud
from oqtant.server.db.models import ACTIVE_STATUSES, Run
from oqtant.server.web import plots
from oqtant.server.web.routes._common import (
    _DONE_MESSAGES,
    RunNumber,
    RunQuery,
    _job_or_none,
    _not_found,
    _page,
    _parallel,
    _require_user,
    fmt_mhz,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

log = logging.getLogger("oqtant.server.web")


def _stats(values: dict) -> list[tuple[str, str]]:
    """The atom statistics of a time-of-flight output, as (label, text) rows.

    The temperature reads as the client's ``temperature_text`` says it ("not
    measurable ..." for a nearly pure condensate, never "0 nK"), and a row says
    when the image reaches the camera's saturation.
    """
    from oqtant.matter.output import output_from_values

    thermal = int(values.get("thermal_atom_number", 0))
    condensed = int(values.get("condensed_atom_number", 0))
    total = thermal + condensed
    fraction = f"{condensed / total:.3f}" if total else "no atoms"
    try:
        output = output_from_values(values)
        temperature, saturation = output.temperature_text, output.camera_saturation_od()
    except (ValueError, OqtantError):  # a stored output the client cannot read: its numbers
        temperature, saturation = f"{int(values.get('temperature_nk', 0))} nK", None
    rows = [
        ("Atoms after time of flight", f"{int(values.get('tof_atom_number', 0)):,}"),
        ("Condensed atoms", f"{condensed:,}"),
        ("Thermal atoms", f"{thermal:,}"),
        ("Condensed fraction", fraction),
        ("Temperature", temperature),
        ("Atoms loaded in the MOT", f"{int(values.get('total_mot_atom_number', 0)):,}"),
    ]
    if saturation is not None:
        rows.append(
            (
                "Camera saturation",
                f"the image reaches the camera's saturation (OD {saturation:.2f}): its densest "
                "pixels read less than the cloud's OD; the fit models the saturation",
            )
        )
    return rows


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
        "last RF frequency (MHz)": fmt_mhz(rf.frequencies_mhz[last]),
        "last RF power (mW)": f"{rf.powers_mw[last]:g}",
        "barriers": str(len(barriers)),
        "final barrier heights (kHz)": ", ".join(f"{b.heights_khz[-1]:g}" for b in barriers),
        "final barrier positions (µm)": ", ".join(f"{b.positions_um[-1]:g}" for b in barriers),
        "landscape snapshots": str(len(values.optical_landscape.landscapes))
        if values.optical_landscape
        else "0",
        "terminator (ms)": ", ".join(
            f"{p.times_ms[0]:g} to {p.times_ms[1]:g}" for laser in lasers for p in laser.pulses
        ),
    }


def _in_trap_stats(summary: dict | None) -> list[tuple[str, str]]:
    """The numbers of an in-trap run (as the table of runs shows them), as (label, text) rows."""
    if not summary or summary.get("image") == "TIME_OF_FLIGHT" or "peak_od" not in summary:
        return []
    rows = [("Peak OD", f"{summary['peak_od']:.2f}")]
    if "integrated_atoms" in summary:
        rows.append(("Integrated atoms", f"{int(summary['integrated_atoms']):,}"))
        rows.append(
            (
                f"OD at the barrier (x = {summary.get('barrier_x_um', 0):g} µm)",
                f"{summary.get('barrier_od', 0):.2f}",
            )
        )
    return rows


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
            temperature = int(summary.get("temperature_nk") or 0)
            results = {
                "atoms": f"{total:,}",
                "condensed fraction": f"{condensed / total:.2f}" if total else "",
                "temperature (nK)": str(temperature) if temperature > 0 else "not measurable",
            }
        elif summary:
            results = {"peak OD": f"{summary.get('peak_od', 0):.2f}"}
            if "integrated_atoms" in summary:
                results["integrated atoms"] = f"{int(summary['integrated_atoms']):,}"
                results["OD at the barrier"] = f"{summary.get('barrier_od', 0):.2f}"
        rows.append((number, status_, [given[k] for k in varied], results))
    result_keys = list(dict.fromkeys(k for *_, r in rows for k in r))
    return {
        "inputs": varied,
        "results": result_keys,
        "rows": [(n, st, vals, [r.get(k, "") for k in result_keys]) for n, st, vals, r in rows],
    }


def _sweep_section(job, summaries) -> dict | None:
    from oqtant.server.web.routes.sweeps import sweep_section  # it builds on this module

    return sweep_section(job, summaries)


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
        "sweep": _sweep_section(job, summaries),
        "values": values,
        "rf_rows": list(zip(rf.times_ms, rf.frequencies_mhz, rf.powers_mw, strict=True))
        if rf
        else [],
        "output": output,
        "is_tof": is_tof,
        "stats": _stats(output) if output is not None and is_tof else [],
        "in_trap_stats": []
        if output is None or is_tof
        else _in_trap_stats(next((m for n, _, _, m in summaries if n == number), None)),
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


_FIGURE_KINDS = frozenset((*plots.OUTPUT_KINDS, *plots.INPUT_KINDS, plots.THUMB_KIND))


@router.get("/jobs/{job_id}/plot/{kind}.png")
async def job_plot(
    request: Request, job_id: str, kind: str, run: Annotated[int, Query(ge=1, le=1000)] = 1
):
    """One figure of a run (output, input or ``thumb``), PNG.

    Served as stored with the run (its worker drew it as it completed); else from
    the in-memory cache; else drawn now, then cached and stored.
    """
    if kind not in _FIGURE_KINDS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such figure")

    key = ("in" if kind in plots.INPUT_KINDS else "out", job_id, run, kind)

    def work(session):
        user = _require_user(session, request, page=False)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return None
        # the owner was checked just above
        stored = crud.run_figure(session=session, job_id=job.id, run=run, kind=kind)
        if stored is not None:
            return stored
        cached = plots.peek_png(key)
        if cached is not None:
            return cached
        row = crud.get_run(session=session, job_id=job.id, run=run)
        if row is None:
            return None
        return job.id, job.name, row.values_json, row.output_json

    found = await in_db(request, work)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such job or run")
    if isinstance(found, bytes):
        return _png_response(found)
    job_key, name, values_json, output_json = found
    if kind in plots.INPUT_KINDS:
        values = InputValues.model_validate_json(values_json)

        def draw() -> bytes:
            return plots.render_input_png(name, values, kind)

    else:
        if not output_json:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="this run has no output yet")
        output_values = json.loads(output_json)["values"]
        values_text = json.dumps(output_values)

        def draw() -> bytes:
            if kind == plots.THUMB_KIND:
                return plots.render_thumb_png(output_values)
            return plots.render_output_png(values_text, kind)

    png = await run_in_threadpool(plots.cached_png, key, draw)
    await _store_drawn(request, job_key, run, kind, png)
    return _png_response(png)


async def _store_drawn(request: Request, job_key: int, run: int, kind: str, png: bytes) -> None:
    """Store a figure drawn on demand with its run; a failure only leaves it unstored."""

    def work(session):
        crud.store_figures(session=session, job_id=job_key, run=run, figures={kind: png})

    try:
        await in_db(request, work)
    except Exception:  # noqa: BLE001 - the figure is served anyway, and drawn again later
        log.warning("could not store figure %s of run %s of job %s", kind, run, job_key)


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
        return None if job is None else crud.raw_frames(session=session, job=job, run=run)

    frames = await in_db(request, work)
    if frames is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such job")
    suffix = f"_run_{run}" if run else ""
    return JSONResponse(
        frames,
        headers={"Content-Disposition": f'attachment; filename="{job_id}{suffix}_raw.json"'},
    )
