"""The module globals `ultracold_matter_job` and `barrier_manipulator_job` are the
service's two standard jobs, number for number."""

from oqtant.oqtant_client import barrier_manipulator_job, ultracold_matter_job
from oqtant.schemas.job import JobType, OqtantJob

STANDARD_RAMP = {
    "times_ms": [-1600, -1200, -800, -400, 0],
    "powers_mw": [500.0, 500.0, 475.0, 360.0, 220.0],
    "interpolation": "LINEAR",
}


def test_ultracold_matter_job_is_the_standard_bec_job():
    values = ultracold_matter_job["inputs"][0]["values"]
    assert ultracold_matter_job["name"] == "Example Ultracold Matter Generator Job"
    assert values["time_of_flight_ms"] == 8.0
    assert values["image_type"] == "TIME_OF_FLIGHT"
    assert values["end_time_ms"] == 0.0
    rf = values["rf_evaporation"]
    assert {k: rf[k] for k in STANDARD_RAMP} == STANDARD_RAMP
    assert rf["frequencies_mhz"] == [17.0, 8.0, 4.0, 1.2, 0.045]
    assert values["optical_barriers"] is None and values["lasers"] is None
    assert OqtantJob(**ultracold_matter_job).job_type == JobType.BEC


def test_barrier_manipulator_job_is_the_standard_barrier_job():
    values = barrier_manipulator_job["inputs"][0]["values"]
    rf = values["rf_evaporation"]
    assert {k: rf[k] for k in STANDARD_RAMP} == STANDARD_RAMP
    assert rf["frequencies_mhz"][-1] == 0.1
    assert values["image_type"] == "IN_TRAP" and values["end_time_ms"] == 20.0
    (barrier,) = values["optical_barriers"]
    assert len(set(barrier["positions_um"])) == 1  # it sits at a fixed position
    heights = barrier["heights_khz"]
    steps = {round(b - a, 9) for a, b in zip(heights, heights[1:])}
    assert heights[0] == 0.0 and steps == {5.0}  # 0, 5, 10, ... kHz
    assert OqtantJob(**barrier_manipulator_job).job_type == JobType.BARRIER
