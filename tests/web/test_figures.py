"""Figures drawn by the worker as a run completes, stored with it, served without drawing;
the job list's results, thumbnails and progress."""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import select

from oqtant.schemas.job import InputValues
from oqtant.server import create_app
from oqtant.server import figures as figure_module
from oqtant.server.db import crud
from oqtant.server.db.models import Job, RunFigure
from oqtant.server.web import plots
from tests.server.conftest import add_account, job_dict, make_settings
from tests.server.fast_backend import FastBackend
from tests.web.conftest import login

PNG = b"\x89PNG\r\n\x1a\n"
TOF_KINDS = {"thumb", "tof", "fit", "slice_x", "slice_y", "rf", "potential"}


@pytest.fixture
def drawing_app(tmp_path):
    """An app whose worker (a thread) draws each run's figures as the run completes."""
    executor = cf.ThreadPoolExecutor(max_workers=1)
    settings = make_settings(tmp_path, figures_at_completion=True)
    application = create_app(settings, executor=executor, start_dispatcher=False)
    yield application
    executor.shutdown(wait=False, cancel_futures=True)
    application.state.engine.dispose()


def _submit(app, account, **kwargs) -> str:
    with TestClient(app) as api:
        r = api.post(f"{account.base}/jobs", json=job_dict(**kwargs), headers=account.headers)
        assert r.status_code == 201, r.text
        return r.json()["job_id"]


def _stored(app, external_id: str | None = None) -> dict[tuple[int, str], bytes]:
    """The stored figures ((run, kind) -> PNG) of one job, or of every job."""
    with app.state.session_factory() as s:
        query = select(RunFigure.run, RunFigure.kind, RunFigure.png)
        if external_id is not None:
            query = query.join(Job, Job.id == RunFigure.job_id).where(
                Job.external_id == external_id
            )
        return {(run, kind): png for run, kind, png in s.execute(query).all()}


def _never_draw(monkeypatch):
    """Make every drawing function of the console raise (a figure drawn now fails the test)."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("a stored figure was drawn again")

    for name in ("render_output_png", "render_input_png", "render_thumb_png"):
        monkeypatch.setattr(plots, name, refuse)


def _figure_urls(page: str) -> list[str]:
    return re.findall(r'src="(/jobs/[^"]+/plot/[a-z_]+\.png\?run=\d+)"', page)


def test_a_completed_run_has_its_figures_stored_and_served_without_drawing(
    drawing_app, monkeypatch
):
    alice = add_account(drawing_app, "alice")
    job = _submit(drawing_app, alice, final_mhz=0.5)
    drawing_app.state.dispatcher.run_until_idle(timeout=120)
    stored = _stored(drawing_app, job)
    assert {kind for _, kind in stored} == TOF_KINDS
    assert all(png.startswith(PNG) for png in stored.values())

    _never_draw(monkeypatch)
    with TestClient(drawing_app) as client:
        login(client, "alice")
        page = client.get(f"/jobs/{job}").text
        urls = _figure_urls(page)
        assert len(urls) == 6  # four of the output, two of the input
        for url in urls:
            kind = url.split("/plot/")[1].split(".")[0]
            r = client.get(url)
            assert r.status_code == 200 and r.content == stored[(1, kind)], kind
        listing = client.get("/jobs").text
        thumb = re.search(r'src="(/jobs/[^"]+/plot/thumb\.png\?run=1)"', listing).group(1)
        assert client.get(thumb).content == stored[(1, "thumb")]


def test_waiting_runs_go_before_the_figures_of_finished_ones(drawing_app):
    # one slot: the second job's run is claimed before any figure of the first is drawn
    alice = add_account(drawing_app, "alice")
    first = _submit(drawing_app, alice)
    second = _submit(drawing_app, alice, final_mhz=0.5)
    figures_when_claimed = []

    def on_event(event, claimed):
        if event == "claimed" and claimed.job_external_id == second:
            figures_when_claimed.append(len(_stored(drawing_app)))

    drawing_app.state.dispatcher.on_event = on_event
    drawing_app.state.dispatcher.run_until_idle(timeout=120)
    assert figures_when_claimed == [0]
    # then the free slot drew every figure of both runs
    assert {kind for _, kind in _stored(drawing_app, first)} == TOF_KINDS
    assert {kind for _, kind in _stored(drawing_app, second)} == TOF_KINDS


def test_a_figure_that_fails_to_draw_does_not_fail_the_run(drawing_app, monkeypatch):
    alice = add_account(drawing_app, "alice")
    real = figure_module.render_output_png

    def broken_fit(values_json: str, kind: str) -> bytes:
        if kind == "fit":
            raise RuntimeError("the fit figure broke")
        return real(values_json, kind)

    monkeypatch.setattr(figure_module, "render_output_png", broken_fit)
    job = _submit(drawing_app, alice)
    drawing_app.state.dispatcher.run_until_idle(timeout=120)
    monkeypatch.undo()
    with drawing_app.state.session_factory() as s:
        assert s.execute(select(Job.status).where(Job.external_id == job)).scalar() == "COMPLETE"
    assert {kind for _, kind in _stored(drawing_app, job)} == TOF_KINDS - {"fit"}
    with TestClient(drawing_app) as client:
        login(client, "alice")
        r = client.get(f"/jobs/{job}/plot/fit.png?run=1")  # drawn now, and then stored
        assert r.status_code == 200 and r.content.startswith(PNG)
    assert _stored(drawing_app, job)[(1, "fit")] == r.content


def test_figures_of_an_older_run_are_drawn_on_demand_then_stored(app, alice, monkeypatch):
    # the fixture's workers draw nothing at completion, as for runs done before figures were
    job = _submit(app, alice, kind="barrier")
    app.state.dispatcher.run_until_idle()
    assert _stored(app, job) == {}
    with TestClient(app) as client:
        login(client, "alice")
        first = client.get(f"/jobs/{job}/plot/it.png?run=1")
        assert first.status_code == 200 and first.content.startswith(PNG)
        assert _stored(app, job) == {(1, "it"): first.content}
        plots._cache.clear()  # not the in-memory cache: the stored figure answers
        _never_draw(monkeypatch)
        assert client.get(f"/jobs/{job}/plot/it.png?run=1").content == first.content
        assert client.get(f"/jobs/{job}/plot/rf.png?run=2").status_code == 404  # no such run


def test_deleting_a_job_or_its_user_deletes_its_figures(app, alice, bob, submit_as):
    kept, gone = submit_as(alice, kind="barrier"), submit_as(alice, kind="barrier")
    bobs = submit_as(bob, kind="barrier")
    app.state.dispatcher.run_until_idle()
    with app.state.session_factory() as s:
        for job in (kept, gone, bobs):
            job_key = s.execute(select(Job.id).where(Job.external_id == job)).scalar()
            figures = {"it": PNG + job.encode(), "rf": PNG + b"rf"}
            assert crud.store_figures(session=s, job_id=job_key, run=1, figures=figures) == 2
            # stored once: storing again keeps the first
            assert crud.store_figures(session=s, job_id=job_key, run=1, figures=figures) == 0
    with TestClient(app) as client:
        csrf = login(client, "alice")
        assert client.get(f"/jobs/{gone}/plot/it.png?run=1").content == PNG + gone.encode()
        r = client.post(f"/jobs/{gone}/delete", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert client.get(f"/jobs/{gone}/plot/it.png?run=1").status_code == 404
    assert _stored(app, gone) == {} and len(_stored(app, kept)) == 2
    with app.state.session_factory() as s:
        user = crud.get_user_by_name(session=s, name="alice")
        assert crud.delete_user(session=s, user_id=user.id) == 2
    assert _stored(app) == _stored(app, bobs) and len(_stored(app, bobs)) == 2


def _complete_next(app, *, thermal: int, condensed: int, temperature_nk: int) -> None:
    """Complete the next waiting run with a time-of-flight output of these numbers."""
    with app.state.session_factory() as s:
        claimed = crud.claim_next_run(session=s, owner="w", lease_seconds=60)
        values = InputValues.model_validate_json(claimed.values_json)
        output = json.loads(FastBackend().run(values, claimed.seed).output.model_dump_json())
        output["values"].update(
            tof_atom_number=thermal + condensed,
            thermal_atom_number=thermal,
            condensed_atom_number=condensed,
            temperature_nk=temperature_nk,
        )
        assert crud.complete_run(
            session=s,
            owner="w",
            run_id=claimed.run_id,
            output_json=json.dumps(output),
            raw_images_json="[]",
            duration_s=0.1,
        )


def _row_of(html: str, external_id: str) -> str:
    rows = re.findall(r"<tr data-status.*?</tr>", html, flags=re.S)
    return next(r for r in rows if f'/jobs/{external_id}"' in r)


def test_the_job_list_shows_results_thumbnail_and_progress(app, alice, browser_of, submit_as):
    sweep = submit_as(alice, runs=3, name="partly done")
    _complete_next(app, thermal=75_000, condensed=25_000, temperature_nk=42)
    client, _ = browser_of(alice)
    row = _row_of(client.get("/jobs/rows").text, sweep)
    assert "RUNNING" in row and "1 of 3 runs done" in row
    # a running job is not "1" in the queue (as if it waited to go next): it runs
    assert '<td class="num">running</td>' in row
    assert "100,000" in row and "42 nK" in row and "0.25" in row
    assert "plot/thumb.png?run=1" in row
    _complete_next(app, thermal=60_000, condensed=60_000, temperature_nk=30)
    row = _row_of(client.get("/jobs/rows").text, sweep)
    # two runs done: the ranges over them, and the image of the last one
    assert "2 of 3 runs done" in row and "100,000–120,000" in row and "30–42 nK" in row
    assert "0.25–0.50" in row and "plot/thumb.png?run=2" in row and "over 2 runs" in row

    in_trap = submit_as(alice, kind="barrier")
    app.state.dispatcher.run_until_idle()  # the rest of the sweep too: finished, no progress
    html = client.get("/jobs").text
    row = _row_of(html, in_trap)
    assert "peak OD" in row and "1.00" in row and "plot/thumb.png?run=1" in row
    assert 'class="progress"' not in _row_of(html, sweep) + row
    assert "plot/thumb.png?run=3" in _row_of(html, sweep)


def test_a_job_not_yet_run_shows_no_result(app, alice, browser_of, submit_as):
    job = submit_as(alice, runs=2)
    client, _ = browser_of(alice)
    row = _row_of(client.get("/jobs/rows").text, job)
    assert "0 of 2 runs done" in row and "thumb.png" not in row


def test_the_thumbnail_is_a_small_png_of_the_image():
    from matplotlib import colormaps

    od = np.zeros((100, 120))
    od[10:30, 80:110] = 2.0  # a bright patch near the top right
    values = {"tof_image": {"pixels": od.ravel().tolist(), "rows": 100, "columns": 120}}
    png = figure_module.render_thumb_png(values)
    assert png.startswith(PNG) and len(png) < 4000
    image = PILImage.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (figure_module.THUMB_PX, 40)  # the longest side, the aspect kept
    pixels = np.asarray(image).astype(int)

    def colour(x: float) -> np.ndarray:
        return np.round(np.array(colormaps["viridis"](x)[:3]) * 255)

    # no atoms: the darkest colour of the map; the patch: its brightest, where it is
    assert np.abs(pixels[-1, 0] - colour(0.0)).max() <= 1
    assert np.abs(pixels[8, 40] - colour(1.0)).max() <= 1
