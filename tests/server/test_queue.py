"""The queue's guarantees: leases, expiry and re-queue, persistence across restarts, workers."""

from __future__ import annotations

import concurrent.futures as cf
import time

from fastapi.testclient import TestClient

from oqtant.server import Dispatcher, create_app
from oqtant.server.db import crud
from oqtant.server.db.clock import ManualClock, use_clock
from oqtant.server.db.models import Job, Run, User
from tests.server.conftest import add_account, job_dict, make_settings, submit


def test_claims_follow_fifo_and_hold_a_lease(app, client, alice):
    first = submit(client, alice, job_dict(runs=2))["job_id"]
    submit(client, alice)
    with app.state.session_factory() as s:
        a = crud.claim_next_run(session=s, owner="w1", lease_seconds=30)
        b = crud.claim_next_run(session=s, owner="w2", lease_seconds=30)
        c = crud.claim_next_run(session=s, owner="w3", lease_seconds=30)
        assert (a.job_external_id, a.run) == (first, 1)
        assert (b.job_external_id, b.run) == (first, 2)
        assert c.job_external_id != first
        assert crud.claim_next_run(session=s, owner="w4", lease_seconds=30) is None


def test_expired_lease_is_reclaimed_and_stale_owner_cannot_store(app, client, alice):
    job_id = submit(client, alice)["job_id"]
    with app.state.session_factory() as s, use_clock(ManualClock()) as clock:
        lost = crud.claim_next_run(session=s, owner="dead-worker", lease_seconds=1.0)
        clock.advance(0.9)
        assert crud.claim_next_run(session=s, owner="other", lease_seconds=30) is None
        clock.advance(0.2)
        again = crud.claim_next_run(session=s, owner="other", lease_seconds=30)
        assert again.run_id == lost.run_id and again.attempt == 2
        # the first worker comes back: its result is refused, the new owner's kept
        assert not crud.complete_run(
            session=s,
            owner="dead-worker",
            run_id=lost.run_id,
            output_json="{}",
            raw_images_json="[]",
            duration_s=1.0,
        )
    app.state.dispatcher.run_until_idle()  # nothing for it: "other" holds the lease
    body = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()
    assert body["status"] == "RUNNING"


def test_lease_renewal_keeps_a_run(app, client, alice):
    submit(client, alice)
    with app.state.session_factory() as s, use_clock(ManualClock()) as clock:
        claimed = crud.claim_next_run(session=s, owner="w1", lease_seconds=1.0)
        for _ in range(3):  # 2.4 s in all: without renewal the lease would have expired
            clock.advance(0.8)
            assert (
                crud.renew_leases(
                    session=s, owner="w1", run_ids=[claimed.run_id], lease_seconds=1.0
                )
                == 1
            )
        assert crud.claim_next_run(session=s, owner="w2", lease_seconds=30) is None


def test_run_abandoned_after_max_attempts_fails_the_job(tmp_path):
    app = create_app(make_settings(tmp_path, max_attempts=2), start_dispatcher=False)
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        job_id = submit(client, alice)["job_id"]
        with app.state.session_factory() as s:
            for _ in range(2):
                assert crud.claim_next_run(session=s, owner="x", lease_seconds=0.01, max_attempts=2)
                time.sleep(0.05)
            assert (
                crud.claim_next_run(session=s, owner="x", lease_seconds=1, max_attempts=2) is None
            )
        body = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()
        assert body["status"] == "FAILED" and "attempts" in body["failure_reason"]
    app.state.engine.dispose()


def test_jobs_survive_a_restart(tmp_path):
    settings = make_settings(tmp_path)
    app = create_app(settings, start_dispatcher=False)
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        ids = [submit(client, alice, job_dict(name=f"job {i}"))["job_id"] for i in range(3)]
    app.state.engine.dispose()

    again = create_app(make_settings(tmp_path), start_dispatcher=False)
    with TestClient(again) as client:
        queue = client.get(f"{alice.base}/queue", headers=alice.headers).json()["items"]
        assert [j["external_id"] for j in queue] == ids  # same jobs, same order, same token
        again.state.dispatcher.run_until_idle()
        statuses = [
            client.get(f"{alice.base}/jobs/{i}", headers=alice.headers).json()["status"]
            for i in ids
        ]
        assert statuses == ["COMPLETE"] * 3
    again.state.engine.dispose()


def test_background_dispatcher_runs_jobs_on_its_own(tmp_path):
    app = create_app(make_settings(tmp_path))  # dispatcher thread started by the lifespan
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        job_id = submit(client, alice, job_dict(runs=3))["job_id"]
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            status = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()[
                "status"
            ]
            if status == "COMPLETE":
                break
            time.sleep(0.05)
        assert status == "COMPLETE"


def test_process_pool_executes_runs(tmp_path):
    """The default executor: spawned worker processes load the backend by its spec."""
    settings = make_settings(tmp_path, executor="process", workers=2)
    app = create_app(settings, start_dispatcher=False)
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        job_id = submit(client, alice, job_dict(runs=4))["job_id"]
        dispatcher = app.state.dispatcher
        assert isinstance(dispatcher.executor, cf.ProcessPoolExecutor)
        dispatcher.run_until_idle(timeout=60)
        body = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()
        assert body["status"] == "COMPLETE"
        dispatcher.stop()
    app.state.engine.dispose()


def test_two_dispatchers_run_each_run_exactly_once(tmp_path):
    app = create_app(make_settings(tmp_path), start_dispatcher=False)
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        for _ in range(6):
            submit(client, alice, job_dict(runs=2))
    events: list[tuple[str, int]] = []
    pools = [cf.ThreadPoolExecutor(max_workers=2) for _ in range(2)]
    dispatchers = [
        Dispatcher(app.state.session_factory, app.state.settings, executor=p, capacity=2)
        for p in pools
    ]
    for d in dispatchers:
        d.on_event = lambda event, claimed: events.append((event, claimed.run_id))
        d.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(e == "completed" for e, _ in events) < 12:
        time.sleep(0.05)
    for d in dispatchers:
        d.stop()
    for p in pools:
        p.shutdown()
    completed = [rid for e, rid in events if e == "completed"]
    assert len(completed) == 12 and len(set(completed)) == 12
    with app.state.session_factory() as s:
        assert s.query(Run).filter_by(status="COMPLETE").count() == 12
    app.state.engine.dispose()


def test_sim_job_runs_through_the_simulator(tmp_path):
    """A ``"sim": true`` job goes to the default simulator backend, not the apparatus."""
    from oqtant.settings import Settings

    settings = make_settings(tmp_path, sim_backend=Settings().sim_backend)
    app = create_app(settings, start_dispatcher=False)
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        from tests.server import fast_backend

        fast_backend.CALLS.clear()
        job_id = submit(client, alice, job_dict(sim=True))["job_id"]
        app.state.dispatcher.run_until_idle(timeout=120)
        body = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()
        assert body["status"] == "COMPLETE", body["failure_reason"]
        assert body["qpu_name"] == "SIMULATOR" and fast_backend.CALLS == []
        values = body["inputs"][0]["output"]["values"]
        assert values["tof_image"]["rows"] > 0 and values["tof_atom_number"] > 0
    app.state.engine.dispose()


def test_dispatcher_survives_a_failed_store_and_the_run_is_retried(tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    app = create_app(make_settings(tmp_path, lease_seconds=0.3), start_dispatcher=False)
    alice = add_account(app, "alice")
    real_complete = crud.complete_run
    failures = []

    def flaky_complete(**kwargs):
        if not failures:
            failures.append(kwargs["run_id"])
            raise OperationalError("UPDATE runs", {}, Exception("database is locked"))
        return real_complete(**kwargs)

    monkeypatch.setattr(crud, "complete_run", flaky_complete)
    with TestClient(app) as client:
        job_id = submit(client, alice)["job_id"]
        dispatcher = app.state.dispatcher
        dispatcher.start()
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and status != "COMPLETE":
            time.sleep(0.05)
            status = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()[
                "status"
            ]
        dispatcher.stop()
    assert failures and status == "COMPLETE"
    with app.state.session_factory() as s:
        run = s.query(Run).one()
        assert run.attempts == 2  # claimed again after its lease expired
    app.state.engine.dispose()


# --------------------------------------------------------------------------- fairness


def _finish(s, claimed) -> None:
    assert crud.complete_run(
        session=s,
        owner="w",
        run_id=claimed.run_id,
        output_json="{}",
        raw_images_json="[]",
        duration_s=0.01,
    )


def _owners(app) -> dict[str, str]:
    """job external id -> name of the user who submitted it."""
    with app.state.session_factory() as s:
        rows = s.query(Job.external_id, User.name).join(User, User.id == Job.user_id).all()
    return dict(rows)


def test_a_backlog_of_300_sim_runs_does_not_delay_another_users_job(app, client, alice, bob):
    for i in range(10):
        submit(client, alice, job_dict(name=f"sim {i}", runs=30, sim=True))
    with app.state.session_factory() as s:
        for _ in range(3):  # alice's backlog is being worked through, one run at a time
            _finish(s, crud.claim_next_run(session=s, owner="w", lease_seconds=30))
        bobs = submit(client, bob)["job_id"]
        # one worker: each run finishes before the next claim
        order = []
        for _ in range(5):
            claimed = crud.claim_next_run(session=s, owner="w", lease_seconds=30)
            order.append(claimed.job_external_id)
            _finish(s, claimed)
        assert order[0] == bobs  # bob's run is next: it waits one run at most
        # several slots: claims while alice's runs are still running
        more = submit(client, bob)["job_id"]
        held = [crud.claim_next_run(session=s, owner="w", lease_seconds=30) for _ in range(4)]
        assert more in [c.job_external_id for c in held[:2]]


def test_users_take_turns_and_each_users_runs_stay_fifo(app, client, alice, bob):
    jobs = {"alice": [], "bob": []}
    for i in range(3):
        jobs["alice"].append(submit(client, alice, job_dict(name=f"a{i}", runs=2))["job_id"])
    for i in range(2):
        jobs["bob"].append(submit(client, bob, job_dict(name=f"b{i}", runs=2, sim=True))["job_id"])
    owner = _owners(app)
    claims = []
    with app.state.session_factory() as s:
        while (claimed := crud.claim_next_run(session=s, owner="w", lease_seconds=30)) is not None:
            claims.append((owner[claimed.job_external_id], claimed.job_external_id, claimed.run))
            _finish(s, claimed)
    # alice's first job is the oldest; then turns alternate while both have runs waiting
    assert [who for who, _, _ in claims] == ["alice", "bob"] * 4 + ["alice"] * 2
    for name, ids in jobs.items():  # FIFO within each user: job by job, run by run
        mine = [(job, run) for who, job, run in claims if who == name]
        assert mine == [(job, run) for job in ids for run in (1, 2)]


def test_the_user_with_fewer_runs_running_goes_first(app, client, alice, bob):
    submit(client, alice, job_dict(runs=5))
    submit(client, bob, job_dict(runs=5))
    owner = _owners(app)
    with app.state.session_factory() as s:
        held = [crud.claim_next_run(session=s, owner="w", lease_seconds=30) for _ in range(6)]
    # nothing finishes: each claim goes to whoever holds fewer runs, so they split evenly
    assert [owner[c.job_external_id] for c in held] == ["alice", "bob"] * 3
    assert [c.run for c in held] == [1, 1, 2, 2, 3, 3]


def test_an_expired_run_is_taken_again_in_its_users_fifo_order(app, client, alice, bob):
    first = submit(client, alice)["job_id"]
    second = submit(client, alice)["job_id"]
    with app.state.session_factory() as s, use_clock(ManualClock()) as clock:
        lost = crud.claim_next_run(session=s, owner="dead", lease_seconds=0.2)
        assert lost.job_external_id == first
        clock.advance(0.3)
        again = crud.claim_next_run(session=s, owner="w", lease_seconds=30)
        assert (again.run_id, again.attempt) == (lost.run_id, 2)
        assert crud.claim_next_run(session=s, owner="w", lease_seconds=30).job_external_id == (
            second
        )
