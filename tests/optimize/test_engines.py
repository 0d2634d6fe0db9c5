"""The service engine's waiting rules, on a stand-in client (the real server: test_service.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from oqtant.errors import QuotaExceededError, ValidationError
from oqtant.optimize import optimize
from oqtant.optimize._engines import ATTR_JOB, ATTR_KEY, Point, ServiceEngine

from .helpers import CountingBackend, evap_design, tof_atoms


class QueueFullClient:
    """Refuses ``refusals`` submits with 429, then accepts; reports ``daily_remaining``."""

    def __init__(self, refusals: int, daily_remaining: int = 10):
        self.settings = SimpleNamespace(poll_interval_s=1.0)
        self.refusals = refusals
        self.daily_remaining = daily_remaining
        self.keys: list[str] = []

    def get_job_limits(self):
        return {"max_runs_per_job": 4, "daily_remaining": self.daily_remaining}

    def submit_job(self, job, idempotency_key=None):
        self.keys.append(idempotency_key)
        if self.refusals:
            self.refusals -= 1
            raise QuotaExceededError("Failed to submit job: too many pending jobs")
        return {"job_id": "job-1"}


def _points(n: int) -> list[Point]:
    return [Point(i, i, {"final_mhz": 0.1}, [evap_design({"final_mhz": 0.1})]) for i in range(n)]


def _attrs(point, key, value):
    point.attrs[key] = value


def test_a_full_queue_is_waited_for_with_growing_pauses_and_the_same_key():
    client = QueueFullClient(refusals=3)
    pauses: list[float] = []
    engine = ServiceEngine(client, "study", sleep=pauses.append)
    points = _points(3)
    assert engine._submit(points, _attrs) == "job-1"
    assert len(pauses) == 3 and pauses[0] < pauses[1] < pauses[2]
    assert len(set(client.keys)) == 1  # every retry of the submit is the same job
    assert all(p.attrs[ATTR_JOB] == "job-1" and p.attrs[ATTR_KEY] == client.keys[0]
               for p in points)


def test_the_wait_for_the_queue_is_bounded():
    client = QueueFullClient(refusals=100)
    pauses: list[float] = []
    engine = ServiceEngine(client, "study", quota_timeout_s=0.0, sleep=pauses.append)
    with pytest.raises(QuotaExceededError, match="waited .* for room in the queue"):
        engine._submit(_points(1), _attrs)


def test_a_spent_daily_limit_is_not_waited_for():
    client = QueueFullClient(refusals=100, daily_remaining=0)
    pauses: list[float] = []
    engine = ServiceEngine(client, "study", sleep=pauses.append)
    with pytest.raises(QuotaExceededError, match="no jobs left today"):
        engine._submit(_points(1), _attrs)
    assert pauses == []


def test_a_submitted_batch_is_not_submitted_again():
    client = QueueFullClient(refusals=0)
    engine = ServiceEngine(client, "study", sleep=lambda s: None)
    points = _points(2)
    for point in points:
        point.attrs[ATTR_JOB] = "job-0"
    assert engine._submit(points, _attrs) == "job-0"
    assert client.keys == []


def test_repeats_beyond_the_per_job_limit_are_refused():
    engine = ServiceEngine(QueueFullClient(refusals=0), "study")
    with pytest.raises(ValidationError, match="repeats: 5 repeats do not fit in one job"):
        engine.check_repeats(5)


def test_an_objective_that_raises_stops_the_loop_and_fails_its_trial(tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"

    def broken(matter):
        raise ZeroDivisionError("a bug in the objective")

    with pytest.raises(ZeroDivisionError):
        optimize(evap_design, broken, {"final_mhz": (0.02, 0.2)}, runs=4, batch_size=1,
                 backend=CountingBackend(), storage=url, progress=False)
    [trial] = optuna.load_study(study_name="oqtant-optimize", storage=url).trials
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["oqtant_fail_reason"] == "the objective raised"
    # fixed, the study goes on to its budget
    result = optimize(evap_design, tof_atoms, {"final_mhz": (0.02, 0.2)}, runs=4, batch_size=1,
                      backend=CountingBackend(), storage=url, progress=False)
    assert [r["state"] for r in result.trials] == ["FAIL"] + ["COMPLETE"] * 3
