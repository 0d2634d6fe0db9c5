"""The composer in process: sweeps of several runs, their checks and previews, quotas, figures."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from oqtant.schemas.job import InputValues
from oqtant.schemas.limits import jset, tset
from oqtant.server.db import crud
from oqtant.server.web import input_plots, plots
from oqtant.server.web.compose import check_job
from tests.server.conftest import job_dict


def _values(kind="bec"):
    return copy.deepcopy(job_dict(kind)["inputs"][0]["values"])


def _sweep_job(field, start, stop, runs, kind="bec", name="sweep"):
    return {
        "name": name,
        "inputs": [{"values": _values(kind), "notes": "a sweep"}],
        "sweep": {"field": field, "start": start, "stop": stop, "runs": runs},
    }


def _stored_runs(app, user_name):
    """``[(job name, [values of each run])]`` of every job the user has."""
    from sqlalchemy import select

    from oqtant.server.db.models import Job, Run

    with app.state.session_factory() as s:
        user = crud.get_user_by_name(session=s, name=user_name)
        jobs = s.execute(select(Job).where(Job.user_id == user.id)).scalars().all()
        return [
            (
                job.name,
                [
                    json.loads(r.values_json)
                    for r in s.execute(select(Run).where(Run.job_id == job.id).order_by(Run.run))
                    .scalars()
                    .all()
                ],
            )
            for job in jobs
        ]


# --------------------------------------------------------------------------- building a sweep


def test_a_sweep_makes_one_run_per_value_linearly_spaced():
    composed = check_job(_sweep_job("time_of_flight_ms", 5, 15, 5))
    assert composed.problems == []
    runs = composed.job.inputs
    assert [r.values.time_of_flight_ms for r in runs] == [5.0, 7.5, 10.0, 12.5, 15.0]
    assert {r.notes for r in runs} == {"a sweep"}
    # everything else is the composed run, unchanged
    base = InputValues.model_validate(_values())
    for r in runs:
        assert r.values.model_dump(exclude={"time_of_flight_ms"}) == base.model_dump(
            exclude={"time_of_flight_ms"}
        )
    assert composed.run_label(5) == "run 5: time of flight (ms) = 15"


def test_a_sweep_of_a_table_varies_its_last_point_only():
    composed = check_job(_sweep_job("optical_barriers.0.heights_khz.last", 10, 40, 4, "barrier"))
    assert composed.problems == []
    heights = [r.values.optical_barriers[0].heights_khz for r in composed.job.inputs]
    base = _values("barrier")["optical_barriers"][0]["heights_khz"]
    assert [h[-1] for h in heights] == [10.0, 20.0, 30.0, 40.0]
    assert all(h[:-1] == base[:-1] for h in heights)
    rf = check_job(_sweep_job("rf_evaporation.frequencies_mhz.last", 0.1, 0.4, 3))
    last = [r.values.rf_evaporation.frequencies_mhz[-1] for r in rf.job.inputs]
    assert np.allclose(last, [0.1, 0.25, 0.4])


@pytest.mark.parametrize(
    ("sweep", "field"),
    [
        ({"runs": jset.max_runs + 1}, "sweep.runs"),
        ({"runs": 1}, "sweep.runs"),
        ({"stop": float("nan")}, "sweep.stop"),
        ({"field": "name"}, "sweep.field"),
        ({"field": "optical_barriers.0.heights_khz.last"}, "sweep.field"),  # a BEC job has none
    ],
)
def test_a_bad_sweep_is_named(sweep, field):
    job = _sweep_job("time_of_flight_ms", 5, 15, 5)
    job["sweep"].update(sweep)
    composed = check_job(job)
    assert composed.job is None
    assert [p["field"] for p in composed.problems] == [field]


def test_the_per_job_maximum_of_runs_is_the_schemas(app, alice, browser_of):
    client, csrf = browser_of(alice)
    headers = {"X-CSRF-Token": csrf}
    too_many = _sweep_job("time_of_flight_ms", 5, 15, jset.max_runs + 1)
    r = client.post("/new/submit", json=too_many, headers=headers)
    assert r.status_code == 422
    (problem,) = r.json()["errors"]
    assert problem["field"] == "sweep.runs" and str(jset.max_runs) in problem["rule"]
    assert _stored_runs(app, "alice") == []  # nothing was stored
    most = client.post(
        "/new/submit", json=_sweep_job("time_of_flight_ms", 5, 15, jset.max_runs), headers=headers
    )
    assert most.status_code == 201, most.text
    ((name, runs),) = _stored_runs(app, "alice")
    assert name == "sweep" and len(runs) == jset.max_runs
    assert runs[0]["time_of_flight_ms"] == 5.0 and runs[-1]["time_of_flight_ms"] == 15.0


def test_a_run_outside_the_limits_is_named_by_run_and_field(app, alice, browser_of):
    client, csrf = browser_of(alice)
    beyond = tset.max_tof_ms + 5  # runs at 5, 10, 15, 20, 25 ms: only the last is too long
    job = _sweep_job("time_of_flight_ms", beyond - 20, beyond, 5)
    check = client.post("/new/check", json=job, headers={"X-CSRF-Token": csrf}).json()
    assert check["ok"] is False
    assert [(p["run"], p["field"]) for p in check["errors"]] == [(5, "time_of_flight_ms")]
    assert f"{tset.max_tof_ms:g}" in check["errors"][0]["rule"]
    r = client.post("/new/submit", json=job, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["errors"] == check["errors"]
    assert _stored_runs(app, "alice") == []


def test_submitting_a_sweep_stores_one_job_of_n_runs(app, alice, browser_of):
    client, csrf = browser_of(alice)
    job = _sweep_job("end_time_ms", 20, 40, 3, "barrier", name="end time sweep")
    r = client.post("/new/submit", json=job, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    ((name, runs),) = _stored_runs(app, "alice")
    assert name == "end time sweep"
    assert [v["end_time_ms"] for v in runs] == [20.0, 30.0, 40.0]
    page = client.get(r.json()["url"]).text
    assert "end time sweep" in page and "<th>Runs</th><td>3</td>" in page
    assert "3 of 3" in page  # the run picker offers each run


# --------------------------------------------------------------------------- preview


def test_the_preview_of_a_sweep_shows_its_first_and_last_runs(app, alice, browser_of):
    client, csrf = browser_of(alice)
    job = _sweep_job("optical_barriers.0.heights_khz.last", 10, 40, 4, "barrier")
    answer = client.post("/new/check", json=job, headers={"X-CSRF-Token": csrf}).json()
    assert answer["ok"] and answer["run_count"] == 4
    first, last = answer["runs"]
    assert (first["run"], last["run"]) == (1, 4)
    assert first["label"] == "run 1: barrier 1: final height (kHz) = 10"
    assert last["label"] == "run 4: barrier 1: final height (kHz) = 40"
    assert set(first["figures"]) == set(last["figures"]) == {"rf", "potential", "barriers"}
    # the barrier's height changes what the atoms feel and the barrier map, not the RF knife
    assert first["figures"]["potential"] != last["figures"]["potential"]
    assert first["figures"]["barriers"] != last["figures"]["barriers"]
    assert first["figures"]["rf"] == last["figures"]["rf"]
    assert answer["figures"] == first["figures"]
    one = client.post(
        "/new/check",
        json={"name": "sweep", "inputs": job["inputs"]},
        headers={"X-CSRF-Token": csrf},
    ).json()
    assert [r["run"] for r in one["runs"]] == [1] and one["run_count"] == 1


def test_a_preview_figure_is_redrawn_only_when_what_it_reads_changes():
    values = InputValues.model_validate(_values("barrier"))
    times = plots.potential_times_ms(values)
    rf = input_plots.preview_png("cache test", values, "rf", times)
    changed = values.model_copy(update={"time_of_flight_ms": values.time_of_flight_ms + 1})
    assert input_plots.preview_png("cache test", changed, "rf", times) is rf  # kept
    renamed = input_plots.preview_png("cache test 2", values, "rf", times)
    assert renamed is not rf and renamed != rf  # the name is in the title


def _content(fig):
    """What a figure shows: per axes its title, labels, limits, curves, fills and legend."""
    shown = []
    for ax in fig.axes:
        legend = ax.get_legend()
        shown.append(
            {
                "title": ax.get_title(),
                "labels": (ax.get_xlabel(), ax.get_ylabel()),
                "limits": np.round([*ax.get_xlim(), *ax.get_ylim()], 6).tolist(),
                "lines": [
                    (ln.get_label(), ln.get_linestyle(), ln.get_color(), ln.get_xydata())
                    for ln in ax.lines
                ],
                "fills": len(ax.collections),
                "texts": [t.get_text() for t in ax.texts],
                "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
            }
        )
    figure_legends = [[t.get_text() for t in lg.get_texts()] for lg in fig.legends]
    suptitle = fig.get_suptitle()
    return shown, figure_legends, suptitle


def test_the_preview_figures_show_what_the_clients_show_methods_show():
    from oqtant.matter import QuantumMatter

    raw = _values("barrier")
    second = copy.deepcopy(raw["optical_barriers"][0])
    second["positions_um"] = [10.0] * len(second["positions_um"])
    raw["optical_barriers"].append(second)
    raw["rf_evaporation"]["times_ms"].append(5)  # an RF shield through the experiment stage
    raw["rf_evaporation"]["frequencies_mhz"].append(0.3)
    raw["rf_evaporation"]["powers_mw"].append(100.0)
    raw["lasers"] = [
        {
            "type": "TERMINATOR",
            "position_um": 30.0,
            "pulses": [
                {
                    "times_ms": [2.0, 6.5],
                    "intensities_mw_per_cm2": [1.0, 1.0],
                    "detuning_mhz": 0.0,
                    "interpolation": "OFF",
                }
            ],
        }
    ]
    values = InputValues.model_validate(raw)
    matter = QuantumMatter.from_input(name="same", input=values)
    times = plots.potential_times_ms(values)
    client = {
        "rf": matter.show_rf_dynamics(),
        "potential": matter.show_potential(times=times, include_ideal=True),
        "barriers": matter.show_barrier_dynamics(),
        "lasers": matter.show_laser_pulse_timing(),
    }
    for kind, expected in client.items():
        fast = input_plots.draw_input_figure("same", values, kind, times)
        want_axes, want_legends, want_title = _content(expected)
        got_axes, got_legends, got_title = _content(fast)
        assert (got_legends, got_title) == (want_legends, want_title), kind
        assert len(got_axes) == len(want_axes), kind
        for got, want in zip(got_axes, want_axes, strict=True):
            got_lines, want_lines = got.pop("lines"), want.pop("lines")
            assert got == want, kind
            assert [line[:3] for line in got_lines] == [line[:3] for line in want_lines], kind
            for (*_, xy), (*_, xy_want) in zip(got_lines, want_lines, strict=True):
                assert np.allclose(xy, xy_want), kind


# --------------------------------------------------------------------------- quotas


def test_a_quota_answers_429_naming_it_and_stores_nothing(app, alice, browser_of):
    with app.state.session_factory() as s:
        user = crud.get_user_by_name(session=s, name="alice")
        crud.set_user_limits(session=s, user_id=user.id, max_runs_per_job=3)
    client, csrf = browser_of(alice)
    r = client.post(
        "/new/submit",
        json=_sweep_job("time_of_flight_ms", 5, 15, 4),
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 429
    answer = r.json()
    assert answer["ok"] is False
    (problem,) = answer["errors"]
    assert problem["field"] == "max_runs_per_job" and "3" in problem["rule"]
    assert _stored_runs(app, "alice") == []
    ok = client.post(
        "/new/submit",
        json=_sweep_job("time_of_flight_ms", 5, 15, 3),
        headers={"X-CSRF-Token": csrf},
    )
    assert ok.status_code == 201


def test_the_live_check_names_the_runs_per_job_quota_before_submitting(app, alice, browser_of):
    with app.state.session_factory() as s:
        user = crud.get_user_by_name(session=s, name="alice")
        crud.set_user_limits(session=s, user_id=user.id, max_runs_per_job=3)
    client, csrf = browser_of(alice)
    headers = {"X-CSRF-Token": csrf}
    over = client.post(
        "/new/check", json=_sweep_job("time_of_flight_ms", 5, 15, 4), headers=headers
    )
    assert over.status_code == 200
    (problem,) = over.json()["errors"]
    assert over.json()["ok"] is False and problem["field"] == "sweep.runs"
    assert "4 runs" in problem["rule"] and "max_runs_per_job) is 3" in problem["rule"]
    within = client.post(
        "/new/check", json=_sweep_job("time_of_flight_ms", 5, 15, 3), headers=headers
    )
    assert within.json()["ok"] is True and within.json()["run_count"] == 3
    # the answer is kept for the job, the quota is the asker's: a raised quota is seen at once
    with app.state.session_factory() as s:
        crud.set_user_limits(session=s, user_id=user.id, max_runs_per_job=30)
    again = client.post(
        "/new/check", json=_sweep_job("time_of_flight_ms", 5, 15, 4), headers=headers
    )
    assert again.json()["ok"] is True and again.json()["run_count"] == 4
