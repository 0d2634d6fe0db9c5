"""The two standard jobs: one home (oqtant.standard_jobs), the reference's jobs, and jobs
whose physics does what their names say."""

import copy

import numpy as np

from oqtant import oqtant_client, standard_jobs
from oqtant.schemas.interpolation import interpolate_1d
from oqtant.schemas.job import JobType, OqtantJob, RfEvaporation
from oqtant.schemas.limits import pset
from tests.reference._surface import load

RECORDED = load("helpers.json")["standard_jobs"]


def _values(job: dict) -> dict:
    return job["inputs"][0]["values"]


def test_the_client_and_the_server_share_one_home_of_the_standard_jobs():
    assert oqtant_client.ultracold_matter_job is standard_jobs.ultracold_matter_job
    assert oqtant_client.barrier_manipulator_job is standard_jobs.barrier_manipulator_job
    # the console's composer starts from the same jobs (and never from the client: the
    # import contract forbids the server to import it)
    import grimp

    importers = grimp.build_graph("oqtant").find_modules_that_directly_import(
        "oqtant.standard_jobs"
    )
    assert any(m.startswith("oqtant.server.web") for m in importers), importers


def test_the_standard_jobs_are_the_reference_jobs_and_their_types():
    for name, job_type in (("ultracold_matter_job", JobType.BEC),
                           ("barrier_manipulator_job", JobType.BARRIER)):
        ours = getattr(standard_jobs, name)
        job = OqtantJob(**copy.deepcopy(ours))
        recorded = OqtantJob(**copy.deepcopy(RECORDED[name]))
        assert job.job_type == recorded.job_type == job_type
        # the same run, but for the barriers: ours is the project's one stepped barrier
        ours_values = job.inputs[0].values.model_dump(exclude={"optical_barriers"})
        assert ours_values == recorded.inputs[0].values.model_dump(exclude={"optical_barriers"})


def test_both_jobs_evaporate_with_the_one_standard_ramp():
    # the same times and powers, and the wire's default times: one ramp, one home
    bec = _values(standard_jobs.ultracold_matter_job)["rf_evaporation"]
    barrier = _values(standard_jobs.barrier_manipulator_job)["rf_evaporation"]
    assert bec["times_ms"] == barrier["times_ms"] == RfEvaporation.model_fields["times_ms"].default
    assert bec["powers_mw"] == barrier["powers_mw"]
    # an evaporation: the knife sweeps down to its last frequency
    for rf in (bec, barrier):
        assert np.all(np.diff(rf["frequencies_mhz"]) < 0)
    # the BEC job cuts deeper (nearer the trap bottom) than the barrier job: a colder cloud
    assert bec["frequencies_mhz"][-1] < barrier["frequencies_mhz"][-1]


def test_the_barrier_job_ramps_one_barrier_up_through_the_experiment():
    values = _values(standard_jobs.barrier_manipulator_job)
    (barrier,) = values["optical_barriers"]
    times, heights = barrier["times_ms"], barrier["heights_khz"]
    assert times[0] == 0.0 and times[-1] == values["end_time_ms"]  # it lives the whole stage
    assert len(set(barrier["positions_um"])) == 1  # it stands still
    during = interpolate_1d(times, heights, np.linspace(times[0], times[-1], 41), "LINEAR")
    assert np.all(np.diff(during) > 0) and during[0] == 0.0  # rises from nothing
    assert max(heights) <= pset.max_energy  # within what the projector gives
    assert values["image_type"] == "IN_TRAP"  # the barrier is seen in the trap
