"""Job routes over HTTP: submit, get, search, queue, cancel, delete, raw images, errors."""

from __future__ import annotations

import json

import pytest

from oqtant.schemas.job import OqtantJob, RawImages
from oqtant.server.db.models import Job, Run
from tests.server.conftest import job_dict, submit
from tests.server.fast_backend import cloud_sigma_px


def test_version_and_health_need_no_login(client):
    assert client.get("/api/v1/version").json() == {"version": "0.1.0", "api": "v1"}
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_openapi_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/users/{uid}/jobs",
        "/api/v1/users/{uid}/jobs/{job_id}",
        "/api/v1/users/{uid}/jobs/{job_id}/cancel",
        "/api/v1/users/{uid}/jobs/{job_id}/raw_images",
        "/api/v1/users/{uid}/job_limits",
        "/api/v1/users/{uid}/queue",
        "/api/v1/admin/users/{name}/limits",
        "/oauth/token",
    ):
        assert path in paths


def test_submit_then_run_then_get_output(client, app, alice):
    answer = submit(client, alice, job_dict(final_mhz=0.5))
    assert answer["queue_position"] == 1 and answer["est_time"] > 0
    r = client.get(f"{alice.base}/jobs/{answer['job_id']}", headers=alice.headers)
    assert r.status_code == 200 and r.json()["status"] == "PENDING"
    assert r.json()["inputs"][0]["output"] is None

    app.state.dispatcher.run_until_idle()

    body = client.get(f"{alice.base}/jobs/{answer['job_id']}", headers=alice.headers).json()
    job = OqtantJob.model_validate(body)  # the client's model reads the answer
    assert job.status == "COMPLETE" and str(job.external_id) == answer["job_id"]
    assert job.time_start is not None and job.time_complete >= job.time_start
    assert job.job_type == "BEC" and job.input_count == 1 and job.failed_inputs == []
    fit = job.inputs[0].output.values.tof_fit
    assert fit.gaussian_sigma_x == pytest.approx(cloud_sigma_px(0.5))


def test_get_returns_only_the_requested_run(client, app, alice):
    job = job_dict(runs=3)
    for i, inp in enumerate(job["inputs"]):
        inp["values"]["rf_evaporation"]["frequencies_mhz"][-1] = 0.1 * (i + 1)
    job_id = submit(client, alice, job)["job_id"]
    app.state.dispatcher.run_until_idle()
    for run in (1, 2, 3):
        body = client.get(
            f"{alice.base}/jobs/{job_id}", params={"run": run}, headers=alice.headers
        ).json()
        assert body["input_count"] == 3 and len(body["inputs"]) == 1
        assert body["inputs"][0]["run"] == run
        sigma = body["inputs"][0]["output"]["values"]["tof_fit"]["gaussian_sigma_x"]
        assert sigma == pytest.approx(cloud_sigma_px(0.1 * run))
    r = client.get(f"{alice.base}/jobs/{job_id}", params={"run": 4}, headers=alice.headers)
    assert r.status_code == 404 and "no run 4" in r.json()["detail"]


def test_seeds_are_deterministic_per_run(client, app, alice):
    from oqtant.server.db.crud import run_seed

    job_id = submit(client, alice, job_dict(runs=2))["job_id"]
    with app.state.session_factory() as s:
        seeds = [r.seed for r in s.query(Run).order_by(Run.run)]
    assert seeds == [run_seed(job_id, 1), run_seed(job_id, 2)] and seeds[0] != seeds[1]


def test_barrier_job_is_typed_and_gives_an_in_trap_image(client, app, alice):
    job_id = submit(client, alice, job_dict("barrier"))["job_id"]
    app.state.dispatcher.run_until_idle()
    body = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()
    assert body["job_type"] == "BARRIER" and body["status"] == "COMPLETE"
    image = body["inputs"][0]["output"]["values"]["it_plot"]
    assert image["columns"] == 20 + 2  # the fast backend's image length follows end_time_ms


def test_validation_error_names_field_and_stores_nothing(client, app, alice):
    job = job_dict()
    job["inputs"][0]["values"]["end_time_ms"] = 500.0
    r = client.post(f"{alice.base}/jobs", json=job, headers=alice.headers)
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert "inputs.0.values.end_time_ms" in fields
    assert "inputs.0.values.end_time_ms" in r.json()["detail"]
    job = job_dict()
    job["inputs"][0]["values"]["rf_evaporation"]["frequencies_mhz"][0] = 99.0
    r = client.post(f"{alice.base}/jobs", json=job, headers=alice.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"].startswith("inputs.0.values.rf_evaporation")
    with app.state.session_factory() as s:
        assert s.query(Job).count() == 0 and s.query(Run).count() == 0


def test_idempotency_key_gives_same_answer_and_one_job(client, app, alice):
    key = "7f4c1e0e-3a52-4a55-9a2e-1f7c9c1c5d11"
    first = submit(client, alice, job_dict(), **{"Idempotency-Key": key})
    again = submit(client, alice, job_dict(), **{"Idempotency-Key": key})
    assert again == first
    other = submit(client, alice, job_dict(), **{"Idempotency-Key": key + "x"})
    assert other["job_id"] != first["job_id"]
    with app.state.session_factory() as s:
        assert s.query(Job).count() == 2


def test_search_filters_and_orders_newest_first(client, app, alice, bob):
    for name in ("Alpha sweep", "beta sweep", "Gamma"):
        submit(client, alice, job_dict(name=name))
    submit(client, alice, job_dict("barrier", name="barrier ALPHA"))
    submit(client, bob, job_dict(name="Alpha of bob"))
    url = f"{alice.base}/jobs"
    body = client.get(url, headers=alice.headers).json()
    assert body["total"] == 4
    assert [j["name"] for j in body["items"]] == [
        "barrier ALPHA",
        "Gamma",
        "beta sweep",
        "Alpha sweep",
    ]
    names = lambda **q: [
        j["name"] for j in client.get(url, params=q, headers=alice.headers).json()["items"]
    ]
    assert names(name="alpha") == ["barrier ALPHA", "Alpha sweep"]
    assert names(name="SWEEP", job_type="BEC") == ["beta sweep", "Alpha sweep"]
    assert names(job_type="BARRIER") == ["barrier ALPHA"]
    assert names(limit=2) == ["barrier ALPHA", "Gamma"]
    assert names(limit=2, offset=2) == ["beta sweep", "Alpha sweep"]
    assert names(submit_start="2000-01-01T00:00:00", submit_end="2000-01-02T00:00:00") == []
    assert len(names(submit_start="2000-01-01T00:00:00Z")) == 4
    assert names(name="100%") == []  # LIKE wildcards are literal
    assert names(status="COMPLETE") == []
    summary = client.get(url, headers=alice.headers).json()["items"][-1]
    assert set(summary) >= {
        "external_id",
        "name",
        "job_type",
        "status",
        "time_submit",
        "time_start",
        "time_complete",
        "input_count",
        "notes",
        "queue_position",
        "est_time",
    }
    r = client.get(url, params={"limit": 101}, headers=alice.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"


def test_notes_are_searchable(client, alice):
    job = job_dict()
    job["inputs"][0]["notes"] = "Calibration of the Knife"
    submit(client, alice, job)
    submit(client, alice, job_dict(name="plain"))
    body = client.get(f"{alice.base}/jobs", params={"notes": "knife"}, headers=alice.headers).json()
    assert [j["notes"] for j in body["items"]] == ["Calibration of the Knife"]


def test_queue_is_fifo_with_positions(client, app, alice, bob):
    a1 = submit(client, alice, job_dict(name="a1"))
    b1 = submit(client, bob, job_dict(name="b1"))
    a2 = submit(client, alice, job_dict(name="a2", runs=2))
    assert [a1["queue_position"], b1["queue_position"], a2["queue_position"]] == [1, 2, 3]
    assert a1["est_time"] < b1["est_time"] < a2["est_time"]
    items = client.get(f"{alice.base}/queue", headers=alice.headers).json()["items"]
    assert [(j["name"], j["queue_position"]) for j in items] == [("a1", 1), ("a2", 3)]
    app.state.dispatcher.run_until_idle()
    assert client.get(f"{alice.base}/queue", headers=alice.headers).json()["items"] == []
    done = client.get(
        f"{alice.base}/queue", params={"include_complete": True}, headers=alice.headers
    ).json()["items"]
    assert [(j["name"], j["status"], j["queue_position"]) for j in done] == [
        ("a1", "COMPLETE", 0),
        ("a2", "COMPLETE", 0),
    ]


def test_runs_execute_in_submission_order(client, app, alice, bob):
    from tests.server import fast_backend

    fast_backend.CALLS.clear()
    freqs = [0.3, 0.1, 0.4, 0.2, 0.5]
    for i, f in enumerate(freqs):
        submit(client, alice if i % 2 else bob, job_dict(final_mhz=f))
    app.state.dispatcher.run_until_idle()
    assert [f for f, _ in fast_backend.CALLS] == freqs


def test_cancel_pending_job_leaves_the_queue(client, app, alice):
    first = submit(client, alice, job_dict(name="first"))
    second = submit(client, alice, job_dict(name="second"))
    r = client.put(f"{alice.base}/jobs/{first['job_id']}/cancel", headers=alice.headers)
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    items = client.get(f"{alice.base}/queue", headers=alice.headers).json()["items"]
    assert [(j["name"], j["queue_position"]) for j in items] == [("second", 1)]
    app.state.dispatcher.run_until_idle()
    get = lambda jid: client.get(f"{alice.base}/jobs/{jid}", headers=alice.headers).json()
    assert get(first["job_id"])["status"] == "CANCELLED"
    assert get(first["job_id"])["inputs"][0]["output"] is None
    assert get(second["job_id"])["status"] == "COMPLETE"
    r = client.put(f"{alice.base}/jobs/{second['job_id']}/cancel", headers=alice.headers)
    assert r.status_code == 409 and "COMPLETE" in r.json()["detail"]


def test_cancel_running_job_stops_after_current_run(tmp_path):
    import concurrent.futures as cf

    from fastapi.testclient import TestClient

    from oqtant.server import create_app
    from tests.server.conftest import add_account, make_settings
    from tests.server.fast_backend import GatedBackend

    GatedBackend.started.clear()
    GatedBackend.release.clear()
    executor = cf.ThreadPoolExecutor(max_workers=1)
    app = create_app(
        make_settings(tmp_path), backend=GatedBackend(), executor=executor, start_dispatcher=False
    )
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        job_id = submit(client, alice, job_dict(runs=3))["job_id"]
        dispatcher = app.state.dispatcher
        dispatcher.step()  # claims run 1, which blocks in the backend
        assert GatedBackend.started.wait(5)
        url = f"{alice.base}/jobs/{job_id}"
        assert client.get(url, headers=alice.headers).json()["status"] == "RUNNING"
        r = client.put(f"{url}/cancel", headers=alice.headers)
        assert r.status_code == 200 and r.json()["status"] == "RUNNING"  # finishing run 1
        GatedBackend.release.set()
        dispatcher.run_until_idle()
        body = client.get(url, headers=alice.headers).json()
        assert body["status"] == "CANCELLED"
        assert body["inputs"][0]["output"] is not None  # run 1 finished and was kept
        run2 = client.get(url, params={"run": 2}, headers=alice.headers).json()["inputs"][0]
        assert run2["status"] == "CANCELLED" and run2["output"] is None
    executor.shutdown()
    app.state.engine.dispose()


def test_delete_hides_the_job(client, app, alice):
    job_id = submit(client, alice, job_dict())["job_id"]
    r = client.delete(f"{alice.base}/jobs/{job_id}", headers=alice.headers)
    assert r.status_code == 204
    assert client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).status_code == 404
    assert client.get(f"{alice.base}/jobs", headers=alice.headers).json()["total"] == 0
    app.state.dispatcher.run_until_idle()  # nothing left to run
    with app.state.session_factory() as s:
        assert s.query(Run).count() == 0
    assert client.delete(f"{alice.base}/jobs/{job_id}", headers=alice.headers).status_code == 404


def test_raw_images_of_a_run(client, app, alice):
    job_id = submit(client, alice, job_dict(runs=2))["job_id"]
    url = f"{alice.base}/jobs/{job_id}/raw_images"
    assert client.get(url, headers=alice.headers).json() == []  # not run yet
    app.state.dispatcher.run_until_idle()
    frames = [RawImages.model_validate(f) for f in client.get(url, headers=alice.headers).json()]
    assert [f.run for f in frames] == [1, 2]
    only2 = client.get(url, params={"run": 2}, headers=alice.headers).json()
    assert len(only2) == 1 and only2[0]["run"] == 2
    f = frames[0]
    assert str(f.job_external_id) == job_id
    import math

    od = -math.log(
        (f.absolute.pixels[0] - f.dark.pixels[0]) / (f.background.pixels[0] - f.dark.pixels[0])
    )
    assert od == pytest.approx(1.5)


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/jobs/{job}"),
        ("put", "/jobs/{job}/cancel"),
        ("delete", "/jobs/{job}"),
        ("get", "/jobs/{job}/raw_images"),
    ],
)
def test_another_users_job_is_not_found(client, alice, bob, method, path):
    job_id = submit(client, alice, job_dict())["job_id"]
    # bob through his own uid, and bob through alice's uid: both 404
    for base in (bob.base, alice.base):
        r = client.request(method, base + path.format(job=job_id), headers=bob.headers)
        assert r.status_code == 404, (base, r.text)
    r = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers)
    assert r.json()["status"] == "PENDING"  # untouched


def test_other_users_lists_are_not_found(client, alice, bob):
    submit(client, alice, job_dict())
    for path in ("/jobs", "/queue", "/job_limits"):
        assert client.get(alice.base + path, headers=bob.headers).status_code == 404
    assert client.get(bob.base + "/jobs", headers=bob.headers).json()["total"] == 0


def test_failing_backend_marks_runs_failed_with_reason(tmp_path):
    from fastapi.testclient import TestClient

    from oqtant.server import create_app
    from tests.server.conftest import add_account, make_settings

    app = create_app(
        make_settings(tmp_path, backend="tests.server.fast_backend:FailingBackend"),
        start_dispatcher=False,
    )
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        bad = submit(client, alice, job_dict(final_mhz=5.0))["job_id"]
        mixed = job_dict(runs=2)
        mixed["inputs"][1]["values"]["rf_evaporation"]["frequencies_mhz"][-1] = 5.0
        mixed_id = submit(client, alice, mixed)["job_id"]
        good = submit(client, alice, job_dict(final_mhz=0.1))["job_id"]
        app.state.dispatcher.run_until_idle()
        get = lambda jid, run=1: client.get(
            f"{alice.base}/jobs/{jid}", params={"run": run}, headers=alice.headers
        ).json()
        assert get(bad)["status"] == "FAILED"
        assert "RF amplifier tripped" in get(bad)["failure_reason"]
        assert get(bad)["failed_inputs"] == [1]
        assert get(mixed_id)["status"] == "INCOMPLETE" and get(mixed_id)["failed_inputs"] == [2]
        assert "RF amplifier tripped" in get(mixed_id, 2)["inputs"][0]["error"]
        assert get(good)["status"] == "COMPLETE"  # the dispatcher kept serving
    app.state.engine.dispose()


def test_garbage_from_backend_fails_the_run(tmp_path):
    from fastapi.testclient import TestClient

    from oqtant.server import create_app
    from tests.server.conftest import add_account, make_settings

    app = create_app(
        make_settings(tmp_path, backend="tests.server.fast_backend:GarbageBackend"),
        start_dispatcher=False,
    )
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        job_id = submit(client, alice)["job_id"]
        app.state.dispatcher.run_until_idle()
        body = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()
        assert body["status"] == "FAILED" and "invalid result" in body["failure_reason"]
    app.state.engine.dispose()


def test_output_json_round_trips_through_storage(client, app, alice):
    job_id = submit(client, alice)["job_id"]
    app.state.dispatcher.run_until_idle()
    with app.state.session_factory() as s:
        from sqlalchemy.orm import undefer

        run = s.query(Run).options(undefer(Run.output_json)).one()
        stored = json.loads(run.output_json)
    body = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()
    assert body["inputs"][0]["output"]["values"] == stored["values"]
