"""Per-user quotas: enforced at submit, atomically, with a 429 naming the limit."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient

from oqtant.server import create_app
from oqtant.server.db import crud
from oqtant.server.db.models import Job, User
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
