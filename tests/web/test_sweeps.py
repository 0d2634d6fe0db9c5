"""Runs side by side in the console: a job's sweep section, the compare view, the readouts."""

from __future__ import annotations

import copy
import gzip
import itertools
import json
import math
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from oqtant.constants import IN_TRAP_CROSS_SECTION_M2, IN_TRAP_PIXCAL_UM
from oqtant.server.db import crud
from oqtant.server.db.models import Run
from oqtant.server.summaries import summary_json
from oqtant.server.web import sweep_plots
from oqtant.server.web.routes import sweeps
from oqtant.server.web.routes._common import fmt_mhz
from oqtant.server.web.routes.job_page import _stats
from tests.conftest import REAL_JOBS_DIR
from tests.server.conftest import job_dict

PNG = b"\x89PNG\r\n\x1a\n"
RF_MHZ = (0.2, 0.4, 0.6, 0.8)


def _submit(app, account, job) -> str:
    with TestClient(app) as api:
        r = api.post(f"{account.base}/jobs", json=job, headers=account.headers)
        assert r.status_code == 201, r.text
        return r.json()["job_id"]


def _rf_sweep(mhz=RF_MHZ, name="RF sweep") -> dict:
    job = job_dict(runs=len(mhz), name=name)
    for run, f in zip(job["inputs"], mhz, strict=True):
        run["values"]["rf_evaporation"]["frequencies_mhz"][-1] = f
    return job


def _section(page: str) -> str:
    start = page.index('<section id="sweep"')
    return page[start : page.index("</section>", start)]


def _rows(app, account_name: str, job_id: str, images: bool = True):
    with app.state.session_factory() as session:
        user = crud.get_user_by_name(session=session, name=account_name)
        job = crud.get_job(session=session, user_id=user.id, external_id=job_id)
        return sweeps._rows_of(session, job, None, images=images)


# --------------------------------------------------------------------------- the sweep section


def test_a_four_run_rf_sweep_shows_its_plots_against_the_last_rf(app, alice, bob, browser_of):
    job_id = _submit(app, alice, _rf_sweep())
    client, _ = browser_of(alice)
    waiting = _section(client.get(f"/jobs/{job_id}").text)
    assert "0 of 4 runs complete; pending: run 1, run 2, run 3, run 4" in waiting
    assert "sweep/results.png" not in waiting  # nothing to draw yet

    app.state.dispatcher.run_until_idle()
    section = _section(client.get(f"/jobs/{job_id}").text)
    assert "Sweep over last RF frequency (MHz)" in section and "4 of 4 runs complete." in section
    for n, mhz in enumerate(RF_MHZ, start=1):
        assert f'value="{job_id}:{n}"> run {n} ({mhz:g} MHz)' in section  # a compare box each
    sources = re.findall(r'<img src="([^"]+)"', section)
    assert [s.split("?")[0] for s in sources] == [
        f"/jobs/{job_id}/sweep/{kind}.png" for kind in ("results", "profiles", "thumbs")
    ]
    assert all(s.endswith("?v=4-4") for s in sources)  # a new URL when a run is done
    for src in sources:
        png = client.get(src)
        assert png.status_code == 200 and png.content.startswith(PNG), src
    other, _ = browser_of(bob)
    assert other.get(sources[0]).status_code == 404
    assert client.get(f"/jobs/{job_id}/sweep/nope.png").status_code == 404

    # what the results figure draws (from the summaries, as its route reads them, without
    # the images): the fast backend makes 100 nK per MHz
    runs, x_label = sweeps._sweep_runs(_rows(app, "alice", job_id, images=False))
    assert x_label == "last RF frequency (MHz)" and [r.x for r in runs] == list(RF_MHZ)
    fig = sweep_plots.results_figure(runs, x_label)
    temperature = next(ax for ax in fig.axes if ax.get_ylabel() == "temperature (nK)")
    xs, ys = temperature.lines[0].get_data()
    assert list(xs) == list(RF_MHZ) and list(ys) == pytest.approx([100 * f for f in RF_MHZ])
    atoms = next(ax for ax in fig.axes if ax.get_ylabel() == "atoms")
    assert list(atoms.lines[0].get_data()[1]) == [int(2e5 / (1 + f)) for f in RF_MHZ]


def test_pending_and_failed_runs_are_named_on_the_figures():
    runs = [
        sweep_plots.SweepRun(
            "run 1", "COMPLETE", 0.1, "0.1 MHz", {"tof_atom_number": 5.0}, np.ones((4, 4)), 4.4
        ),
        sweep_plots.SweepRun("run 2", "FAILED", 0.2, "0.2 MHz", error="the RF amplifier tripped"),
        sweep_plots.SweepRun("run 3", "PENDING", 0.3, "0.3 MHz"),
    ]
    assert sweep_plots._not_done(runs) == "pending: run 3; failed: run 2"
    fig = sweep_plots.results_figure(runs, "last RF frequency (MHz)")
    assert fig._suptitle.get_text() == "1 of 3 runs (pending: run 3; failed: run 2)"
    marks = [(t.get_position()[0], t.get_text()) for t in fig.axes[0].texts]
    assert marks == [(0.2, " run 2 failed"), (0.3, " run 3 pending")]  # at their RF
    grid = sweep_plots.thumbs_figure(runs)
    texts = [t.get_text() for t in grid.axes[0].texts]
    assert texts == ["run 1: 0.1 MHz", "run 2: 0.2 MHz (failed)", "run 3: 0.3 MHz (pending)"]


def test_the_thumbnail_grid_has_one_colour_scale():
    y, x = np.mgrid[0:40, 0:40]
    blob = np.exp(-((x - 20.0) ** 2 + (y - 20.0) ** 2) / 50.0)
    images = [1.0 * blob, 3.0 * blob - 0.2]  # a dim run and a bright one with a lower floor
    runs = [
        sweep_plots.SweepRun(f"run {i + 1}", "COMPLETE", float(i), f"{i} kHz", {}, im, 4.4)
        for i, im in enumerate(images)
    ]
    fig = sweep_plots.thumbs_figure(runs)
    grid, bar = fig.axes
    (shown,) = grid.get_images()  # ONE image holds every run: one scale for all
    vmin, vmax = shown.get_clim()
    assert (vmin, vmax) == sweep_plots.shared_scale(images)
    assert vmin == pytest.approx(float(np.percentile(images[1], 1.0)))  # the bright run's floor
    assert vmax == pytest.approx(float(np.percentile(images[1], 99.9)))  # and its peak
    assert vmax > 2.5 > images[0].max()  # the dim run is not stretched to its own range
    assert bar.get_ylim() == pytest.approx((vmin, vmax))  # the colour bar shows that scale
    mosaic = shown.get_array()
    assert np.nanmax(mosaic) == pytest.approx(images[1].max())
    assert np.count_nonzero(np.isfinite(mosaic)) == sum(im.size for im in images)
    png = sweep_plots.render_sweep_png("thumbs", runs)
    assert png.startswith(PNG)


def test_in_trap_sweep_draws_profiles_with_the_light(app, alice, browser_of):
    job = job_dict("barrier", runs=3, name="barrier sweep")
    for run, height in zip(job["inputs"], (0.0, 10.0, 30.0), strict=True):
        barrier = run["values"]["optical_barriers"][0]
        barrier["heights_khz"] = [height] * len(barrier["heights_khz"])
    job_id = _submit(app, alice, job)
    app.state.dispatcher.run_until_idle()
    client, _ = browser_of(alice)
    section = _section(client.get(f"/jobs/{job_id}").text)
    assert "Sweep over final barrier heights (kHz)" in section
    runs, _ = sweeps._sweep_runs(_rows(app, "alice", job_id))
    fig = sweep_plots.profiles_figure(runs)
    density, light = fig.axes
    assert len(density.lines) == 3 and len(light.lines) == 3
    peaks = [line.get_data()[1].max() for line in light.lines]
    assert peaks == pytest.approx([0.0, 10.0, 30.0], abs=0.5)  # each run's barrier at its end
    assert client.get(f"/jobs/{job_id}/sweep/profiles.png").content.startswith(PNG)
    # the page of one run gives its numbers too, the same as the table of runs
    page = client.get(f"/jobs/{job_id}?run=2").text
    stats = page[
        page.index('id="in-trap-stats"') : page.index("</table>", page.index('id="in-trap-stats"'))
    ]
    with app.state.session_factory() as session:
        user = crud.get_user_by_name(session=session, name="alice")
        job = crud.get_job(session=session, user_id=user.id, external_id=job_id)
        summary = crud.run_summaries(session=session, job_id=job.id)[1][3]
    assert f"<td>{summary['peak_od']:.2f}</td>" in stats
    assert f"Integrated atoms</th><td>{int(summary['integrated_atoms']):,}</td>" in stats
    assert f"OD at the barrier (x = {summary['barrier_x_um']:g} µm)" in stats
    assert "no atom numbers" not in page


def test_runs_of_the_other_image_type_are_named_not_mixed_in():
    tof = sweep_plots.SweepRun("run 1", "COMPLETE", 0.0, "", {}, np.ones((10, 10)), 4.4)
    in_trap = [
        sweep_plots.SweepRun(
            f"run {n}", "COMPLETE", 0.0, "", {}, np.ones((4, 30)), 0.344, in_trap=True
        )
        for n in (2, 3)
    ]
    profiles = sweep_plots.profiles_figure([tof, *in_trap])
    assert len(profiles.axes[0].lines) == 2
    assert "not drawn (time-of-flight): run 1" in profiles.axes[0].get_title()
    grid = sweep_plots.thumbs_figure([tof, *in_trap])
    assert np.count_nonzero(np.isfinite(grid.axes[0].get_images()[0].get_array())) == 2 * 120
    assert "not in the grid (time-of-flight images): run 1" in grid.texts[0].get_text()


# --------------------------------------------------------------------------- in-trap numbers


def _gaussian_in_trap(peak, sigma_x_px, sigma_y_px, shape=(148, 512)):
    rows, columns = shape
    x = np.arange(columns) - round(columns / 2)  # the cameras' pixel convention
    y = np.arange(rows) - round(rows / 2)
    image = peak * np.exp(
        -(x[None, :] ** 2) / (2 * sigma_x_px**2) - y[:, None] ** 2 / (2 * sigma_y_px**2)
    )
    return {
        "pixels": image.ravel().tolist(),
        "rows": rows,
        "columns": columns,
        "pixcal": IN_TRAP_PIXCAL_UM,
    }


def test_in_trap_summary_numbers_against_a_gaussian_cloud():
    peak, sx, sy = 1.2, 60.0, 15.0  # the image spans +-4.3 sx and +-4.9 sy
    it_plot = _gaussian_in_trap(peak, sx, sy)
    values = copy.deepcopy(job_dict("barrier")["inputs"][0]["values"])
    values["optical_barriers"][0]["positions_um"][-1] = 20.0  # where the barrier ends
    summary = json.loads(summary_json({"it_plot": it_plot}, values))
    # atoms: the integral 2 pi A sx sy (pixels) of OD times the pixel area over sigma
    area = (IN_TRAP_PIXCAL_UM * 1e-6) ** 2
    expected = 2 * math.pi * peak * sx * sy * area / IN_TRAP_CROSS_SECTION_M2
    assert summary["integrated_atoms"] == pytest.approx(expected, rel=1e-4)
    assert summary["peak_od"] == pytest.approx(peak, abs=1e-3)
    assert summary["barrier_x_um"] == 20.0
    x_px = 20.0 / IN_TRAP_PIXCAL_UM
    # on the axis at the barrier (a window of 5 rows and 3 columns: within 1 %)
    on_axis = peak * math.exp(-(x_px**2) / (2 * sx**2))
    assert summary["barrier_od"] == pytest.approx(on_axis, rel=1e-2)
    # without a barrier the density is read at the centre
    centre = json.loads(summary_json({"it_plot": it_plot}, None))
    assert centre["barrier_x_um"] == 0.0 and centre["barrier_od"] == pytest.approx(peak, rel=1e-2)


def test_worker_gives_the_in_trap_numbers_and_old_summaries_get_them_on_read(
    app, alice, browser_of
):
    job = job_dict("barrier", runs=2, name="positions")
    for run, x in zip(job["inputs"], (-5.0, 5.0), strict=True):
        run["values"]["optical_barriers"][0]["positions_um"][-1] = x
    job_id = _submit(app, alice, job)
    app.state.dispatcher.run_until_idle()
    with app.state.session_factory() as session:
        user = crud.get_user_by_name(session=session, name="alice")
        internal = crud.get_job(session=session, user_id=user.id, external_id=job_id).id
        fresh = crud.run_summaries(session=session, job_id=internal)
        assert [sm["barrier_x_um"] for *_, sm in fresh] == [-5.0, 5.0]
        # the fast backend's image: 2 rows of OD 1 over end_time + 2 = 22 pixels
        atoms = 44 * (IN_TRAP_PIXCAL_UM * 1e-6) ** 2 / IN_TRAP_CROSS_SECTION_M2
        assert [sm["integrated_atoms"] for *_, sm in fresh] == [round(atoms)] * 2
        # a summary stored before these numbers existed
        session.execute(
            update(Run)
            .where(Run.job_id == internal)
            .values(summary_json='{"image": "IN_TRAP", "peak_od": 1.0}')
        )
        session.commit()
        assert crud.run_summaries(session=session, job_id=internal) == fresh
    client, _ = browser_of(alice)
    table = client.get(f"/jobs/{job_id}").text
    assert "integrated atoms" in table and "OD at the barrier" in table
    assert "final barrier positions (µm)" in table


# --------------------------------------------------------------------------- compare


def test_compare_shows_what_differs_and_the_results_side_by_side(app, alice, browser_of):
    sweep = _submit(app, alice, _rf_sweep((0.2, 0.6), name="first"))
    single = job_dict(name="second", final_mhz=0.4)
    single["inputs"][0]["values"]["time_of_flight_ms"] = 10.0
    other = _submit(app, alice, single)
    app.state.dispatcher.run_until_idle()
    client, _ = browser_of(alice)
    # the checkboxes of a form: repeated runs=..., and a blank "add" field
    page = client.get(f"/compare?runs={sweep}:2&runs={other}:1&runs=").text
    table = page[page.index('id="compare-table"') : page.index("</table>")]
    assert "<td>0.6</td><td>0.4</td>" in table  # last RF frequency (MHz), in the order picked
    assert '<th scope="row">last RF frequency (MHz)</th>' in table
    assert '<th scope="row">time of flight (ms)</th><td>8</td><td>10</td>' in table
    assert "experiment stage" not in table  # the same for both: not shown
    assert '<td class="num">60 nK</td><td class="num">40 nK</td>' in table
    assert f'href="/jobs/{sweep}?run=2"' in table and f'href="/jobs/{other}?run=1"' in table
    fields = page[page.index('id="compare-fields"') :].split("</p>")[0]
    assert (
        "Fields of the input that differ: rf_evaporation.frequencies_mhz, time_of_flight_ms."
        in fields
    )
    # runs that differ only where the table has no row: the field is named
    powers = job_dict(runs=2, name="powers")
    powers["inputs"][1]["values"]["rf_evaporation"]["powers_mw"][1] = 450.0
    powers_id = _submit(app, alice, powers)
    hint = client.get(f"/compare?runs={powers_id}").text
    assert "same inputs as far as the table shows" in hint
    assert "Fields of the input that differ: rf_evaporation.powers_mw." in hint
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 3 and all(s.startswith("/compare/") for s in sources)
    for src in sources:
        assert client.get(src.replace("&amp;", "&")).content.startswith(PNG)
    # a job id alone brings all its runs
    whole = client.get(f"/compare?runs={sweep}").text
    assert whole.count('<th scope="col">') == 2
    # the job page's compare boxes point here
    assert f'name="runs" value="{other}:1"' in client.get(f"/jobs/{other}").text


def test_compare_is_owner_scoped_and_checks_its_runs(app, alice, bob, browser_of):
    mine = _submit(app, alice, job_dict(runs=2))
    theirs = _submit(app, bob, job_dict())
    client, _ = browser_of(alice)
    other_user = client.get(f"/compare?runs={mine}:1,{theirs}:1")
    missing = client.get(f"/compare?runs={mine}:1,{theirs[:-1]}0:1")
    assert other_user.status_code == missing.status_code == 404
    assert f"There is no run {theirs}:1 among your jobs." in other_user.text
    assert other_user.text.replace(theirs, "ID") == missing.text.replace(f"{theirs[:-1]}0", "ID")
    assert client.get(f"/compare?runs={mine}:3").status_code == 404  # no run 3 in the job
    whole = client.get(f"/compare?runs={theirs}")  # all the runs of another user's job
    assert whole.status_code == 404 and f"There is no job {theirs} among your jobs." in whole.text
    assert client.get(f"/compare/results.png?runs={theirs}:1").status_code == 404

    too_many = client.get("/compare?runs=" + ",".join(f"{mine}:{n}" for n in range(1, 22)))
    assert too_many.status_code == 400
    assert "runs: at most 20 runs can be compared at once, got 21" in too_many.text
    for bad in (f"{mine}:x", f"{mine}:0", "a b:1", f"{mine}:1:2"):
        r = client.get("/compare", params={"runs": bad})
        assert r.status_code == 400, bad
        assert "runs: " in r.text and "is not JOB:RUN" in r.text, bad
    assert client.get(f"/compare/thumbs.png?runs={mine}:x").status_code == 400
    empty = client.get("/compare")
    assert empty.status_code == 200 and "Pick runs" in empty.text


# --------------------------------------------------------------------------- readouts


@pytest.mark.parametrize(
    ("mhz", "text"),
    [
        (0.0104183, "0.01042"),
        (21.5, "21.5"),
        (0.5, "0.5"),
        (1.0, "1"),
        (0.045, "0.045"),
        (20.05, "20.05"),
        (0.123456, "0.1235"),
        (0.00005, "0.00005"),
        (0.0, "0"),
    ],
)
def test_rf_frequencies_print_with_four_significant_digits(mhz, text):
    assert fmt_mhz(mhz) == text


def test_rf_ramp_and_runs_table_use_that_precision(app, alice, browser_of):
    job_id = _submit(app, alice, _rf_sweep((0.0104183, 0.0208366)))
    client, _ = browser_of(alice)
    page = client.get(f"/jobs/{job_id}").text
    assert "<td>0.01042</td>" in page and "<td>0.02084</td>" in page  # runs table, RF ramp
    assert "0.0104183" not in page


def test_a_nearly_pure_condensate_has_no_measurable_temperature():
    from oqtant.matter.output import output_from_values

    with gzip.open(REAL_JOBS_DIR / "Solitons_DarkSolitonCollectiveTOF.json.gz") as f:
        values = json.load(f)["inputs"][0]["output"]["values"]
    assert values["temperature_nk"] == 0 and values["condensed_atom_number"] > 0
    temperature = dict(_stats(values))["Temperature"]
    assert temperature == output_from_values(values).temperature_text
    assert temperature.startswith("not measurable (a nearly pure condensate")
    assert "0 nK" not in temperature


def test_a_cold_run_on_the_job_page_says_not_measurable(app, alice, browser_of):
    job_id = _submit(app, alice, job_dict(final_mhz=0.004))  # the fast backend: 0 nK
    app.state.dispatcher.run_until_idle()
    client, _ = browser_of(alice)
    stats = client.get(f"/jobs/{job_id}").text
    stats = stats[
        stats.index('id="atom-stats"') : stats.index("</table>", stats.index("atom-stats"))
    ]
    assert "<th>Temperature</th><td>not measurable" in stats and "0 nK" not in stats


def test_the_readout_says_when_the_camera_saturates():
    from oqtant.matter.output import output_from_values

    with gzip.open(REAL_JOBS_DIR / "Solitons_DarkSolitonCollectiveTOF.json.gz") as f:
        values = json.load(f)["inputs"][0]["output"]["values"]
    assert "Camera saturation" not in dict(_stats(values))
    # a fit of peak OD 3 whose model image, as the camera saw it, peaks at 1.5: saturated
    saturated = copy.deepcopy(values)
    y, x = np.mgrid[0:100, 0:100]
    seen = 1.5 * np.exp(-((x - 50.0) ** 2 + (y - 50.0) ** 2) / 200.0)
    saturated["tof_fit_image"] = {"pixels": seen.ravel().tolist(), "rows": 100, "columns": 100}
    saturated["tof_fit"].update(tf_od=3.0, tf_x=10.0, tf_y=10.0, x_0=0.0, y_0=0.0, offset=0.0)
    od = output_from_values(saturated).camera_saturation_od()
    stray = (math.exp(-1.5) - math.exp(-3.0)) / (1 - math.exp(-3.0))  # light past the atoms
    assert od == pytest.approx(-math.log(stray))
    text = dict(_stats(saturated))["Camera saturation"]
    assert text.startswith(f"the image reaches the camera's saturation (OD {od:.2f})")


def test_console_says_micrometres_as_um_nowhere():
    from pathlib import Path

    web = Path(sweeps.__file__).resolve().parents[1]
    for path in [*web.glob("templates/*.html"), *web.glob("routes/*.py"), *web.glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"[ (]um[ )]", text), path.name


def test_time_of_flight_profiles_show_the_whole_cloud_and_the_legend_covers_none_of_it():
    # a broad thermal cloud after time of flight, 100 pixels of 4.4 µm: it reaches ±200 µm
    x = (np.arange(100) - 49.5) * 4.4
    cloud = np.tile(np.exp(-(x**2) / (2 * 80.0**2)), (100, 1))
    runs = [
        sweep_plots.SweepRun(f"run {n}", "COMPLETE", float(n), f"{n} kHz", {}, cloud * n, 4.4)
        for n in range(1, 9)
    ]
    fig = sweep_plots.profiles_figure(runs)
    (density,) = fig.axes
    low, high = density.get_xlim()
    assert low == pytest.approx(-220.0, abs=3.0) and high == pytest.approx(220.0, abs=3.0)
    fig.canvas.draw()
    legend = density.get_legend().get_window_extent()
    assert legend.x0 >= density.get_window_extent().x1  # beside the axes, not over the wings
    assert legend.x1 <= fig.bbox.x1  # and inside the figure
    # the compare view's longer labels (a job's name, its run and value) fit too
    for run in runs:
        run.label = f"RF sweep 5-60 kHz, 8 run #{run.label[4:]}"
        run.x_text = f"0.0{run.label[-1]}214 MHz"
    fig = sweep_plots.profiles_figure(runs)
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    assert fig.axes[0].get_window_extent().x1 <= legend.x0 and legend.x1 <= fig.bbox.x1


def test_the_grid_titles_of_runs_of_other_jobs_do_not_overlap():
    # the compare view's titles carry the job's name: three 440 µm images in a row
    blob = np.ones((100, 100))
    runs = [
        sweep_plots.SweepRun(
            f"RF sweep 5-60 kHz, 8 run #{n}", "COMPLETE", mhz, f"{mhz} MHz", {}, blob, 4.4
        )
        for n, mhz in ((1, 0.005), (8, 0.06))
    ]
    runs.append(sweep_plots.SweepRun("first BEC #1", "PENDING", 0.045, "0.045 MHz"))
    fig = sweep_plots.thumbs_figure(runs)
    fig.canvas.draw()
    texts = fig.axes[0].texts
    boxes = [t.get_window_extent() for t in texts]
    assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes))  # each ends before the next
    words = [t.get_text() for t in texts]
    assert words[0].startswith("RF sweep") and words[0].endswith("… #1: 0.005 MHz")
    assert words[1].endswith("#8: 0.06 MHz")
    assert words[2] == "first BEC #1: 0.045 MHz (pending)"  # short enough: whole


def test_the_grid_titles_of_a_jobs_own_runs_are_whole():
    runs = [
        sweep_plots.SweepRun(f"run {n}", state, mhz, f"{mhz} MHz", {}, image, 4.4)
        for n, state, mhz, image in (
            (1, "COMPLETE", 0.5, np.ones((16, 16))),
            (2, "COMPLETE", 0.8333, np.ones((16, 16))),
            (3, "FAILED", 1.167, None),
            (4, "FAILED", 1.5, None),
        )
    ]
    fig = sweep_plots.thumbs_figure(runs)
    words = [t.get_text() for t in fig.axes[0].texts]
    assert words[2] == "run 3: 1.167 MHz (failed)" and words[3] == "run 4: 1.5 MHz (failed)"
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].texts]
    assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes))
