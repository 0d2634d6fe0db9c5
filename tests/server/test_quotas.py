"""Per-user quotas: enforced at submit, atomically, with a 429 naming the limit."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient

from oqtant.server import create_app
from oqtant.server.db import crud
from oqtant.server.db.models import Job, Run, User
from oqtant.settings import Settings
from tests.server.conftest import add_account, job_dict, make_settings, submit


def _set(app, name, **limits):
    with app.state.session_factory() as s:
        uid = s.query(User).filter_by(name=name).one().id
        crud.set_user_limits(session=s, user_id=uid, **limits)


def test_daily_limit(client, app, alice):
    _set(app, "alice", daily_limit=2)
    submit(client, alice)
    submit(client, alice)
    r = client.post(f"{alice.base}/jobs", json=job_dict(), headers=alice.headers)
    assert r.status_code == 429 and "daily_limit" in r.json()["detail"]
    limits = client.get(f"{alice.base}/job_limits", headers=alice.headers).json()
    assert limits["daily_remaining"] == 0 and limits["pending_jobs"] == 2


def test_yesterdays_jobs_do_not_count(client, app, alice):
    _set(app, "alice", daily_limit=1)
    job_id = submit(client, alice)["job_id"]
    with app.state.session_factory() as s:
        job = s.query(Job).filter_by(external_id=job_id).one()
        job.time_submit = job.time_submit - timedelta(days=1)
        s.commit()
    submit(client, alice)


def test_runs_per_job_limit(client, app, alice):
    _set(app, "alice", max_runs_per_job=2)
    submit(client, alice, job_dict(runs=2))
    r = client.post(f"{alice.base}/jobs", json=job_dict(runs=3), headers=alice.headers)
    assert r.status_code == 429 and "max_runs_per_job" in r.json()["detail"]
    assert "3 runs" in r.json()["detail"]


def test_pending_jobs_limit_frees_up_when_jobs_finish(client, app, alice):
    _set(app, "alice", max_pending_jobs=1)
    submit(client, alice)
    r = client.post(f"{alice.base}/jobs", json=job_dict(), headers=alice.headers)
    assert r.status_code == 429 and "max_pending_jobs" in r.json()["detail"]
    app.state.dispatcher.run_until_idle()
    submit(client, alice)


def test_sim_jobs_do_not_count(client, app, alice):
    _set(app, "alice", daily_limit=1, max_pending_jobs=1)
    submit(client, alice)
    for _ in range(3):
        submit(client, alice, job_dict(sim=True))
    limits = client.get(f"{alice.base}/job_limits", headers=alice.headers).json()
    assert limits["daily_remaining"] == 0 and limits["pending_jobs"] == 1
    app.state.dispatcher.run_until_idle()
    body = client.get(f"{alice.base}/jobs", headers=alice.headers).json()
    assert body["total"] == 4 and {j["status"] for j in body["items"]} == {"COMPLETE"}
    assert sum(j["sim"] for j in body["items"]) == 3


def test_quota_holds_under_concurrent_submits(tmp_path):
    app = create_app(make_settings(tmp_path), start_dispatcher=False)
    alice = add_account(app, "alice")
    _set(app, "alice", daily_limit=5)
    codes: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    with TestClient(app) as client:

        def worker():
            barrier.wait()
            r = client.post(f"{alice.base}/jobs", json=job_dict(), headers=alice.headers)
            with lock:
                codes.append(r.status_code)

        threads = [threading.Thread(target=worker) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(codes) == [201] * 5 + [429] * 7
    with app.state.session_factory() as s:
        assert s.query(Job).count() == 5
    app.state.engine.dispose()


# --------------------------------------------------------------------------- simulator limits


def _stored(app) -> tuple[int, int]:
    with app.state.session_factory() as s:
        return s.query(Job).count(), s.query(Run).count()


def test_sim_limits_of_zero_refuse_sim_jobs_naming_the_limit(client, app, alice):
    _set(app, "alice", daily_limit=0, max_pending_jobs=0, sim_daily_limit=0)
    r = client.post(f"{alice.base}/jobs", json=job_dict(sim=True), headers=alice.headers)
    assert r.status_code == 429, r.text
    assert r.json()["detail"].startswith("sim_daily_limit: ")
    assert "simulator jobs" in r.json()["detail"]
    _set(app, "alice", sim_daily_limit=10, sim_max_pending_jobs=0)
    r = client.post(f"{alice.base}/jobs", json=job_dict(sim=True, runs=3), headers=alice.headers)
    assert r.status_code == 429 and r.json()["detail"].startswith("sim_max_pending_jobs: ")
    assert _stored(app) == (0, 0)  # nothing stored for either refusal


def test_sim_jobs_count_against_their_own_limits_only(client, app, alice):
    _set(app, "alice", daily_limit=1, max_pending_jobs=1, sim_daily_limit=2)
    submit(client, alice, job_dict(sim=True))
    submit(client, alice, job_dict(sim=True))
    r = client.post(f"{alice.base}/jobs", json=job_dict(sim=True), headers=alice.headers)
    assert r.status_code == 429 and "sim_daily_limit" in r.json()["detail"]
    assert "2 of your 2 simulator jobs" in r.json()["detail"]
    submit(client, alice)  # the hardware limits are untouched by the simulator jobs
    limits = client.get(f"{alice.base}/job_limits", headers=alice.headers).json()
    assert limits["daily_remaining"] == 0 and limits["pending_jobs"] == 1
    assert limits["sim_daily_remaining"] == 0 and limits["sim_pending_jobs"] == 2
    assert limits["sim_daily_limit"] == 2


def test_sim_jobs_obey_max_runs_per_job(client, app, alice):
    _set(app, "alice", max_runs_per_job=2)
    submit(client, alice, job_dict(sim=True, runs=2))
    r = client.post(f"{alice.base}/jobs", json=job_dict(sim=True, runs=3), headers=alice.headers)
    assert r.status_code == 429 and "max_runs_per_job" in r.json()["detail"]
    assert _stored(app) == (1, 2)


def test_sim_pending_limit_frees_up_when_sim_jobs_finish(client, app, alice):
    _set(app, "alice", sim_max_pending_jobs=1)
    submit(client, alice, job_dict(sim=True))
    r = client.post(f"{alice.base}/jobs", json=job_dict(sim=True), headers=alice.headers)
    assert r.status_code == 429 and "sim_max_pending_jobs" in r.json()["detail"]
    submit(client, alice)  # a hardware job is not held back by the simulator's limit
    app.state.dispatcher.run_until_idle()
    submit(client, alice, job_dict(sim=True))


def test_job_limits_keep_the_reference_fields_and_add_the_simulator_ones(client, app, alice):
    reference = {
        "daily_limit",
        "daily_remaining",
        "standard_credits",
        "priority_credits",
        "max_runs_per_job",
        "max_pending_jobs",
        "pending_jobs",
    }
    extra = {"sim_daily_limit", "sim_daily_remaining", "sim_max_pending_jobs", "sim_pending_jobs"}
    limits = client.get(f"{alice.base}/job_limits", headers=alice.headers).json()
    assert set(limits) == reference | extra
    assert all(isinstance(limits[k], int) for k in reference | extra)


def test_admin_sets_the_simulator_limits_over_http(client, app, alice, admin):
    url = "/api/v1/admin/users/alice/limits"
    r = client.put(
        url, json={"sim_daily_limit": 4, "sim_max_pending_jobs": 0}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["sim_daily_limit"] == 4 and r.json()["sim_max_pending_jobs"] == 0
    assert r.json()["daily_limit"] == 1000  # the others stay
    r = client.put(url, json={"sim_daily_limit": -1}, headers=admin.headers)
    assert r.status_code == 422 and "sim_daily_limit" in r.text
    limits = client.get(f"{alice.base}/job_limits", headers=alice.headers).json()
    assert limits["sim_daily_limit"] == 4  # the refused change changed nothing
    r = client.post(f"{alice.base}/jobs", json=job_dict(sim=True), headers=alice.headers)
    assert r.status_code == 429 and "sim_max_pending_jobs" in r.json()["detail"]


def test_new_accounts_get_the_simulator_defaults_of_the_settings(tmp_path):
    settings = make_settings(tmp_path, default_sim_daily_limit=3, default_sim_max_pending_jobs=2)
    app = create_app(settings, start_dispatcher=False)
    add_account(app, "carol")
    with app.state.session_factory() as s:
        user = s.query(User).filter_by(name="carol").one()
        assert (user.sim_daily_limit, user.sim_max_pending_jobs) == (3, 2)
        bare = crud.create_user(
            session=s,
            name="dave",
            password="pw",
            daily_limit=1,
            max_runs_per_job=1,
            max_pending_jobs=1,
        )
        default = Settings.model_fields["default_sim_daily_limit"].default
        assert bare.sim_daily_limit == default
    app.state.engine.dispose()


def test_sim_quota_holds_under_concurrent_submits(tmp_path):
    app = create_app(make_settings(tmp_path), start_dispatcher=False)
    alice = add_account(app, "alice")
    _set(app, "alice", sim_daily_limit=5, daily_limit=0, max_pending_jobs=0)
    codes: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    with TestClient(app) as client:

        def worker():
            barrier.wait()
            r = client.post(f"{alice.base}/jobs", json=job_dict(sim=True), headers=alice.headers)
            with lock:
                codes.append(r.status_code)

        threads = [threading.Thread(target=worker) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(codes) == [201] * 5 + [429] * 7
    with app.state.session_factory() as s:
        assert s.query(Job).filter_by(sim=True).count() == 5
    app.state.engine.dispose()
