"""Runs side by side: the sweep section of a multi-run job page, and the compare view.

The sweep section (``_sweep.html``, included by ``job.html``) plots each run's
results against the input that differs between the runs (found as the job page's
table of runs finds it), every run's image on one colour scale and the runs'
density profiles along x with the light they felt. ``/compare?runs=JOB:RUN,...``
shows runs picked from any of the user's jobs the same way, with the inputs that
differ among them and their results side by side. Figures are drawn by
:mod:`oqtant.server.web.sweep_plots` and cached under the number of runs done, so
that a running job's figures are drawn again as it gains runs.

Every lookup goes through the user's own jobs: another user's job or run
answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from cachetools import LRUCache
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from oqtant.constants import IN_TRAP_PIXCAL_UM, TOF_PIXCAL_UM
from oqtant.schemas.job import ImageType, InputValues
from oqtant.server.api.deps import in_db
from oqtant.server.db import crud
from oqtant.server.db.models import Run
from oqtant.server.summaries import needs_refresh, output_summary
from oqtant.server.web import plots
from oqtant.server.web.routes._common import _error_page, _job_or_none, _page, _require_user
from oqtant.server.web.routes.job_page import _run_inputs
from oqtant.server.web.sweep_plots import SWEEP_KINDS, SweepRun, render_sweep_png

__all__ = ["MAX_COMPARE", "parse_run_specs", "router", "sweep_section"]

router = APIRouter(include_in_schema=False)

MAX_COMPARE = 20
"""The most runs the compare view shows at once."""

_SPEC = re.compile(r"^([A-Za-z0-9_-]{1,64})(?::(\d{1,4}))?$")
_FINISHED = ("COMPLETE", "FAILED", "CANCELLED")
_CAPTIONS = {
    "results": "Each run's results against {x}",
    "thumbs": "Every run's image on one colour scale",
    "profiles": "Density along x after time of flight (summed over y)",
    "profiles_in_trap": (
        "In-trap density along x (summed over y) and the light each run's atoms felt at its end"
    ),
}
_ORDER = ("results", "profiles", "thumbs")  # the grid of images spans the width, below


class SpecError(ValueError):
    """A ``runs`` parameter that is not a list of JOB:RUN (the message names it and the rule)."""


def parse_run_specs(values: list[str]) -> list[tuple[str, int | None]]:
    """``runs`` query values (each a comma-separated list) as (job id, run or None for all).

    Raises SpecError naming ``runs`` for a malformed item or too many runs; the
    same run given twice counts once.
    """
    specs: dict[tuple[str, int | None], None] = {}  # in the order given, each once
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            match = _SPEC.match(item)
            run = int(match.group(2)) if match and match.group(2) else None
            if match is None or (run is not None and not 1 <= run <= 1000):
                raise SpecError(
                    f"runs: {item[:80]!r} is not JOB:RUN (a job id, a colon and a run number "
                    "from 1 to 1000, e.g. 3f2a...:2), nor a job id alone for all its runs"
                )
            specs[(match.group(1), run)] = None
    return list(specs)


# --------------------------------------------------------------------------- loading


@dataclass
class _Row:
    """One run as the section, the compare view and their figures need it."""

    job_id: str
    job_name: str
    run: int
    status: str
    values_json: str
    summary: dict | None
    error: str | None = None
    image: tuple[np.ndarray | None, float, bool] | None = None  # see _image_of


# decoded images of complete runs (they never change): the figures of a running job,
# drawn again as it gains runs, and the compare view decode each image once
_images: LRUCache[tuple[str, int], tuple[np.ndarray | None, float, bool]] = LRUCache(maxsize=48)
_images_lock = threading.Lock()


def _image_of(output_json: str | None) -> tuple[np.ndarray | None, float, bool]:
    """A stored output's image (OD, 2D), its microns per pixel, and whether it is in-trap."""
    if not output_json:
        return None, 1.0, False
    values = json.loads(output_json).get("values") or {}
    in_trap = "it_plot" in values
    wire = values.get("it_plot") if in_trap else values.get("tof_image")
    if not wire:
        return None, 1.0, in_trap
    pixels = np.asarray(wire.get("pixels") or [], dtype=float)
    rows, columns = int(wire.get("rows") or 0), int(wire.get("columns") or 0)
    image = pixels.reshape(rows, columns) if rows * columns == pixels.size else None
    pixcal = float(wire.get("pixcal") or (IN_TRAP_PIXCAL_UM if in_trap else TOF_PIXCAL_UM))
    return image, pixcal, in_trap


def _outputs(session, job, numbers: list[int]) -> dict[int, str | None]:
    if not numbers:
        return {}
    query = select(Run.run, Run.output_json).where(Run.job_id == job.id, Run.run.in_(numbers))
    return dict(session.execute(query).all())


def _rows_of(session, job, numbers: list[int] | None, images: bool) -> list[_Row]:
    """Runs of ``job`` (all, or ``numbers``), with their decoded images if ``images``."""
    query = (
        select(Run.run, Run.status, Run.values_json, Run.summary_json, Run.error)
        .where(Run.job_id == job.id)
        .order_by(Run.run)
    )
    if numbers is not None:
        query = query.where(Run.run.in_(numbers))
    found = session.execute(query).all()
    summaries = {f.run: json.loads(f.summary_json) if f.summary_json else None for f in found}
    decoded: dict[int, tuple[np.ndarray | None, float, bool]] = {}
    if images:
        with _images_lock:
            for f in found:
                hit = _images.get((job.external_id, f.run))
                if hit is not None:
                    decoded[f.run] = hit
    stale = [n for n, sm in summaries.items() if needs_refresh(sm)]
    missing = [f.run for f in found if images and f.status == "COMPLETE" and f.run not in decoded]
    outputs = _outputs(session, job, sorted(set(stale) | set(missing)))
    for f in found:
        if f.run in stale:  # stored before the in-trap numbers: computed on read
            summaries[f.run] = json.loads(output_summary(outputs[f.run], f.values_json) or "null")
        if f.run in missing:
            decoded[f.run] = _image_of(outputs.get(f.run))
            with _images_lock:
                _images[(job.external_id, f.run)] = decoded[f.run]
    return [
        _Row(
            job.external_id,
            job.name,
            f.run,
            f.status,
            f.values_json,
            summaries[f.run],
            f.error,
            decoded.get(f.run),
        )
        for f in found
    ]


def _load_specs(session, user, specs, images: bool) -> list[_Row] | str:
    """The picked runs in the order given, or the first spec that is not among the user's runs."""
    jobs: dict[str, object] = {}
    wanted: dict[str, list[int] | None] = {}
    for job_id, run in specs:
        if job_id not in jobs:
            job = _job_or_none(session, user, job_id)
            if job is None:
                return f"{job_id}:{run}" if run else job_id
            jobs[job_id] = job
            wanted[job_id] = []
        if run is None:
            wanted[job_id] = None
        elif wanted[job_id] is not None:
            wanted[job_id].append(run)  # type: ignore[union-attr]
    by_key: dict[tuple[str, int], _Row] = {}
    for job_id, job in jobs.items():
        for row in _rows_of(session, job, wanted[job_id], images):
            by_key[(job_id, row.run)] = row
    rows: list[_Row] = []
    for job_id, run in specs:
        if run is None:
            rows.extend(r for (j, _), r in by_key.items() if j == job_id and r not in rows)
        elif (job_id, run) not in by_key:
            return f"{job_id}:{run}"
        elif by_key[(job_id, run)] not in rows:
            rows.append(by_key[(job_id, run)])
    return rows


def _version(rows: list[_Row]) -> tuple[int, int]:
    """(runs complete, runs finished): what the figures of these runs depend on."""
    complete = sum(r.status == "COMPLETE" for r in rows)
    return complete, sum(r.status in _FINISHED for r in rows)


# --------------------------------------------------------------------------- what differs


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _differing(rows: list[_Row]) -> tuple[list[str], list[dict[str, str]]]:
    """The inputs that differ between the runs (as the job page's table finds them)."""
    inputs = [_run_inputs(InputValues.model_validate_json(r.values_json)) for r in rows]
    varied = [k for k in inputs[0] if len({i[k] for i in inputs}) > 1] if inputs else []
    return varied, inputs


def _label(row: _Row, several_jobs: bool) -> str:
    return f"{row.job_name[:24]} #{row.run}" if several_jobs else f"run {row.run}"


def _results(summary: dict | None) -> dict[str, float | None]:
    if not summary:
        return {}
    if summary.get("image") == "IN_TRAP":
        return {k: summary.get(k) for k in ("peak_od", "integrated_atoms", "barrier_od")}
    total = int(summary.get("tof_atom_number") or 0)
    condensed = int(summary.get("condensed_atom_number") or 0)
    temperature = summary.get("temperature_nk") or 0
    return {
        "tof_atom_number": float(total),
        "temperature_nk": float(temperature) if temperature > 0 else None,  # not measurable
        "condensed_fraction": condensed / total if total else None,
    }


def _result_texts(summary: dict | None) -> dict[str, str]:
    """The results of a run as the compare table prints them."""
    found = _results(summary)
    if not found:
        return {}
    if summary and summary.get("image") == "IN_TRAP":
        return {
            "peak OD": f"{found['peak_od'] or 0:.2f}",
            "integrated atoms": f"{int(found['integrated_atoms'] or 0):,}",
            f"OD at the barrier (x = {summary.get('barrier_x_um', 0):g} µm)": (
                f"{found['barrier_od'] or 0:.2f}"
            ),
        }
    fraction = found["condensed_fraction"]
    temperature = found["temperature_nk"]
    return {
        "atoms": f"{int(found['tof_atom_number'] or 0):,}",
        "condensed fraction": "" if fraction is None else f"{fraction:.2f}",
        "temperature": "not measurable" if temperature is None else f"{temperature:.0f} nK",
    }


def _axis(rows: list[_Row]) -> tuple[str, list[str], list[str], list[float] | None]:
    """The x axis of the figures: its label, the varied inputs, each run's text, numbers or None.

    The first input that differs; when none does, the run's label.
    """
    several_jobs = len({r.job_id for r in rows}) > 1
    varied, inputs = _differing(rows)
    if not varied:
        labels = [_label(r, several_jobs) for r in rows]
        return "run", varied, labels, None
    key = varied[0]
    numbers = [_number(i[key]) for i in inputs]
    unit = re.search(r"\(([^()]+)\)$", key)
    texts = [f"{i[key]} {unit.group(1)}" if unit and i[key] else i[key] or "none" for i in inputs]
    if None in numbers:
        return key, varied, texts, None
    return key, varied, texts, [float(n) for n in numbers if n is not None]


def _sweep_runs(rows: list[_Row]) -> tuple[list[SweepRun], str]:
    x_label, _, texts, numbers = _axis(rows)
    several_jobs = len({r.job_id for r in rows}) > 1
    runs = []
    for i, row in enumerate(rows):
        values = InputValues.model_validate_json(row.values_json)
        image, pixcal, in_trap = row.image or (None, 1.0, False)
        runs.append(
            SweepRun(
                label=_label(row, several_jobs),
                status=row.status,
                x=numbers[i] if numbers is not None else texts[i],
                x_text=texts[i] if x_label != "run" else "",
                results=_results(row.summary),
                image=image,
                pixcal_um=pixcal,
                in_trap=in_trap or values.image_type == ImageType.IN_TRAP,
                values=values,
                error=row.error,
            )
        )
    return runs, x_label


def _figures(rows: list[_Row], x_label: str, url: str) -> list[dict]:
    """The figures to show (their URLs carry the runs done, so a browser fetches new ones)."""
    complete, finished = _version(rows)
    if not complete:
        return []
    x = "the run" if x_label == "run" else x_label
    sep = "&" if "?" in url else "?"
    in_trap = any((r.summary or {}).get("image") == "IN_TRAP" for r in rows)
    captions = {**_CAPTIONS, "profiles": _CAPTIONS["profiles_in_trap" if in_trap else "profiles"]}
    return [
        {
            "kind": kind,
            "src": f"{url.format(kind=kind)}{sep}v={complete}-{finished}",
            "caption": captions[kind].format(x=x),
        }
        for kind in _ORDER
    ]


def _runs_list(rows: list[_Row], texts: list[str], several_jobs: bool) -> list[dict]:
    return [
        {
            "spec": f"{r.job_id}:{r.run}",
            "job_id": r.job_id,
            "job_name": r.job_name,
            "run": r.run,
            "label": _label(r, several_jobs),
            "status": r.status,
            "value": text,
            "error": r.error,
        }
        for r, text in zip(rows, texts, strict=True)
    ]


def sweep_section(job, summaries) -> dict | None:
    """What the sweep section of a job page shows, from its run summaries; None for one run."""
    if len(summaries) < 2:
        return None
    rows = [_Row(job.external_id, job.name, n, st, v, sm) for n, st, v, sm in summaries]
    x_label, varied, texts, numbers = _axis(rows)
    complete, finished = _version(rows)
    return {
        "x_label": x_label,
        "varied": varied,
        "numeric": numbers is not None,
        "runs": _runs_list(rows, texts if x_label != "run" else [""] * len(rows), False),
        "complete": complete,
        "finished": finished,
        "total": len(rows),
        "pending": [r.run for r in rows if r.status not in _FINISHED],
        "failed": [r.run for r in rows if r.status == "FAILED"],
        "figures": _figures(rows, x_label, f"/jobs/{job.external_id}/sweep/{{kind}}.png"),
    }


# --------------------------------------------------------------------------- figures


def _png(png: bytes) -> Response:
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


async def _figure(request: Request, kind: str, load) -> Response:
    """Owner check and counts in the database, then the cached figure or its drawing."""
    if kind not in SWEEP_KINDS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such figure")

    found = await in_db(request, load)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such job or run")
    if isinstance(found, bytes):
        return _png(found)
    key, rows = found

    def draw() -> bytes:
        runs, x_label = _sweep_runs(rows)
        return render_sweep_png(kind, runs, x_label)

    return _png(await run_in_threadpool(plots.cached_png, key, draw))


def _counts(session, job_ids: list[int]) -> list[tuple[int, int, str]]:
    return list(
        session.execute(
            select(Run.job_id, Run.run, Run.status).where(Run.job_id.in_(job_ids))
        ).all()
    )


@router.get("/jobs/{job_id}/sweep/{kind}.png")
async def sweep_plot(request: Request, job_id: str, kind: str):
    """One figure of a job's sweep (PNG), cached under the number of its runs done."""

    def load(session):
        user = _require_user(session, request, page=False)
        job = _job_or_none(session, user, job_id)
        if job is None:
            return None
        states = [st for _, _, st in _counts(session, [job.id])]
        complete = sum(st == "COMPLETE" for st in states)
        finished = sum(st in _FINISHED for st in states)
        key = ("sweep", kind, job.external_id, complete, finished)
        cached = plots.peek_png(key)  # the owner was checked just above
        if cached is not None:
            return cached
        return key, _rows_of(session, job, None, images=kind != "results")

    return await _figure(request, kind, load)


_RunsQuery = Annotated[
    list[str] | None,
    Query(description="runs to compare: JOB:RUN items, comma-separated or repeated"),
]


def _too_many(count: int) -> str | None:
    if count > MAX_COMPARE:
        return f"runs: at most {MAX_COMPARE} runs can be compared at once, got {count}"
    return None


def _specs_or_problem(runs: list[str] | None) -> tuple[list[tuple[str, int | None]], str | None]:
    """The parsed ``runs``, or the problem with them (named, before any lookup)."""
    try:
        specs = parse_run_specs(runs or [])
    except SpecError as exc:
        return [], str(exc)
    return specs, _too_many(sum(run is not None for _, run in specs))


def _checked_specs(runs: list[str] | None) -> list[tuple[str, int | None]]:
    specs, problem = _specs_or_problem(runs)
    if problem:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=problem)
    return specs


@router.get("/compare/{kind}.png")
async def compare_plot(request: Request, kind: str, runs: _RunsQuery = None):
    """One figure of the picked runs (PNG), cached under the runs and how many are done."""
    specs = _checked_specs(runs)

    def load(session):
        user = _require_user(session, request, page=False)
        light = _load_specs(session, user, specs, images=False)
        if isinstance(light, str) or not light or _too_many(len(light)):
            return None
        complete, finished = _version(light)
        key = ("compare", kind, tuple((r.job_id, r.run) for r in light), complete, finished)
        cached = plots.peek_png(key)  # every run was looked up among the user's own above
        if cached is not None:
            return cached
        rows = _load_specs(session, user, specs, images=kind != "results")
        return None if isinstance(rows, str) else (key, rows)

    return await _figure(request, kind, load)


# --------------------------------------------------------------------------- the compare page


def _flat(value, path: str, out: dict[str, list]) -> None:
    """The leaves of an input's JSON under their paths, list indices dropped (values listed)."""
    if isinstance(value, dict):
        for key, sub in value.items():
            _flat(sub, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        for sub in value:
            _flat(sub, path, out)
    else:
        out.setdefault(path, []).append(value)


def _fields_that_differ(rows: list[_Row]) -> list[str]:
    """Every field of the input (a path such as ``rf_evaporation.powers_mw``) that differs."""
    flats = []
    for r in rows:
        out: dict[str, list] = {}
        _flat(json.loads(r.values_json), "", out)
        flats.append(out)
    paths = sorted({p for f in flats for p in f})
    return [p for p in paths if len({repr(f.get(p)) for f in flats}) > 1]


def _compare_table(rows: list[_Row]) -> dict:
    several_jobs = len({r.job_id for r in rows}) > 1
    varied, inputs = _differing(rows)
    results = [_result_texts(r.summary) for r in rows]
    result_keys = list(dict.fromkeys(k for r in results for k in r))
    return {
        "runs": _runs_list(rows, [""] * len(rows), several_jobs),
        "inputs": [(k, [i[k] for i in inputs]) for k in varied],
        "results": [(k, [r.get(k, "") for r in results]) for k in result_keys],
        "same": not varied and len(rows) > 1,
        "fields": _fields_that_differ(rows),
    }


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(request: Request, runs: _RunsQuery = None):
    """Runs of the user's jobs side by side: what differs, their results, the same figures."""

    def work(session):
        user = _require_user(session, request)
        recent, _ = crud.search_jobs(session=session, user_id=user.id, limit=20)
        specs, problem = _specs_or_problem(runs)
        if problem:
            return user, recent, None, problem
        found = _load_specs(session, user, specs, images=False)
        if isinstance(found, str):
            return user, recent, found, None
        return user, recent, found, _too_many(len(found))

    user, recent, found, problem = await in_db(request, work)
    if problem:
        return _error_page(request, user, 400, "Cannot compare these runs", problem)
    if isinstance(found, str):
        what = "run" if ":" in found else "job"
        return _error_page(
            request, user, 404, "Run not found", f"There is no {what} {found} among your jobs."
        )
    rows: list[_Row] = found or []
    x_label = _axis(rows)[0] if rows else "run"
    query = ",".join(f"{r.job_id}:{r.run}" for r in rows)
    context = {
        "rows": rows,
        "table": _compare_table(rows) if rows else None,
        "x_label": x_label,
        "figures": _figures(rows, x_label, f"/compare/{{kind}}.png?runs={query}") if rows else [],
        "recent": recent,
        "max_runs": MAX_COMPARE,
    }
    return _page(request, "compare.html", context, user=user)
