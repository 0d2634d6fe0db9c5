"""Failed runs reach the Python objects; the tracker counts runs and says what happened."""

from __future__ import annotations

import pytest

from oqtant import errors
from oqtant.client._tracking import JobTally
from oqtant.schemas.job import JobStatus, OqtantJob
from oqtant.schemas.quantum_matter import QuantumMatterFactory

FACTORY = QuantumMatterFactory()


def _tripping(name: str = "tripping") -> object:
    """A matter whose final RF frequency (1.5 MHz) makes the failing backend raise."""
    evap = FACTORY.create_rf_evap(
        times=[-1100, -1050, -800, -300, 0],
        powers=[600, 800, 600, 400, 400],
        frequencies=[21.12, 12.12, 5.12, 2.0, 1.5],
    )
    return FACTORY.create_quantum_matter(name=name, rf_evap=evap)


@pytest.fixture
def bob(failing_service):
    failing_service.add_user("bob")
    client = failing_service.client_for("bob")
    return client


def test_get_result_of_a_failed_job_raises_job_failed_with_the_reason(bob):
    matter = _tripping()
    bob.submit(matter, track=True)
    with pytest.raises(errors.JobFailed) as caught:
        matter.get_result()  # was: returned silently, reason lost
    err = caught.value
    assert isinstance(err, errors.JobError)
    assert err.job_id == matter.job_id and err.run == 1
    assert "RF amplifier tripped" in err.reason
    assert matter.job_id in str(err) and "run 1 of 1" in str(err) and "tripped" in str(err)
    assert "tripped" in matter.failure_reason
    assert matter.result.status == JobStatus.FAILED
    assert "tripped" in matter.result.failure_reason  # on the OqtantJob too
    assert "tripped" in matter.result.inputs[0].error


def test_a_batch_with_one_failed_run_raises_for_that_run_only(bob):
    good = FACTORY.create_quantum_matter(name="good", temperature=80)
    bad = _tripping("bad")
    bob.submit_list_as_batch([good, bad], track=True)
    good.get_result()
    assert good.failure_reason is None and good.output.tof_atom_number > 0
    with pytest.raises(errors.JobFailed) as caught:
        bad.get_result()
    assert caught.value.run == 2 and "run 2 of 2" in str(caught.value)
    assert good.result.status == JobStatus.INCOMPLETE


def test_track_jobs_says_what_happened_to_a_failed_job(bob, capsys):
    bob.verbosity = 1
    job = bob.convert_matter_to_job(_tripping("will trip"))
    bob.run_jobs([job], track_status=True)
    out = capsys.readouterr().out
    assert "All job(s) complete" not in out and "complete (" not in out.split("finished:")[0]
    assert "1 job(s) finished: 1 FAILED" in out
    assert "will trip" in out and "FAILED: run 1: RuntimeError: the RF amplifier tripped" in out
    assert job.status == JobStatus.FAILED and "tripped" in job.failure_reason


def test_track_jobs_counts_runs_not_jobs(service, capsys):
    service.add_user("cy")
    client = service.client_for("cy")
    client.verbosity = 1
    job = client.create_job("five runs", "BEC", runs=5)
    client.run_jobs([job], track_status=True)
    captured = capsys.readouterr()
    assert "All 1 job(s) complete (5 complete run(s))" in captured.out, captured.out
    assert "5/5" in captured.err and "0/1" not in captured.err  # the bar of runs
    assert "5 complete" in captured.err


def _job(status: str, runs: int, run_status: str | None, failed=()) -> OqtantJob:
    base = FACTORY.create_quantum_matter(temperature=80).to_job().model_dump()
    base["inputs"][0]["status"] = run_status
    return OqtantJob(
        **{**base, "status": status, "input_count": runs, "failed_inputs": list(failed)}
    )


def test_tally_shows_each_state_of_a_running_job():
    answers = {
        1: _job("RUNNING", 5, "COMPLETE"),
        2: _job("RUNNING", 5, "FAILED"),
        3: _job("RUNNING", 5, "RUNNING"),
    }
    tally = JobTally("j", runs=5)
    tally.refresh(lambda _id, run: answers[run])
    assert dict(tally.counts()) == {"complete": 1, "failed": 1, "running": 1, "queued": 2}
    assert not tally.done
    tally.refresh(lambda _id, run: _job("INCOMPLETE", 5, "COMPLETE", failed=[2, 5]))
    assert dict(tally.counts()) == {"complete": 3, "failed": 2} and tally.done


def test_tally_keeps_asking_when_every_run_finished_before_the_job():
    # a service may finish the job after its last run: the tally asks again (for the last
    # run) until the job is finished, instead of keeping the job as it was forever
    asked: list[int] = []

    def fetch(_id: str, run: int) -> OqtantJob:
        asked.append(run)
        return _job("COMPLETE" if len(asked) > 2 else "RUNNING", 2, "COMPLETE")

    tally = JobTally("j", runs=2)
    job = tally.refresh(fetch)
    assert asked == [1, 2] and not tally.done and job.status == JobStatus.RUNNING
    job = tally.refresh(fetch)
    assert asked == [1, 2, 2] and tally.done and job.status == JobStatus.COMPLETE
    assert dict(tally.counts()) == {"complete": 2}
