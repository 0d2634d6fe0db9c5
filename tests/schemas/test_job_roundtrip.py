"""Jobs survive JSON unchanged: standard jobs, every barrier shape, landscapes, terminators."""

from __future__ import annotations

import copy
import gzip
import json
import warnings
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oqtant.schemas.job import (
    InterpolationType,
    JobStatus,
    JobType,
    OqtantJob,
    ShapeType,
    derive_job_type,
)


def _round_trip(job: OqtantJob) -> OqtantJob:
    text = job.model_dump_json()
    again = OqtantJob.model_validate_json(text)
    assert again == job
    assert again.model_dump_json() == text
    # and through a plain dict, as a client or server would pass it
    assert OqtantJob.model_validate(json.loads(text)) == job
    return again


def _with_values(job_dict: dict, **changes) -> dict:
    job = copy.deepcopy(job_dict)
    job["inputs"][0]["values"].update(changes)
    return job


def test_ultracold_matter_job(ultracold_matter_job_dict):
    job = _round_trip(OqtantJob.model_validate(ultracold_matter_job_dict))
    assert job.job_type == JobType.BEC
    values = job.inputs[0].values
    assert values.rf_evaporation.frequencies_mhz == [17.0, 8.0, 4.0, 1.2, 0.045]
    assert values.time_of_flight_ms == 8.0 and values.end_time_ms == 0.0
    assert job.input_count == 1 and job.inputs[0].run == 1


def test_barrier_manipulator_job(barrier_manipulator_job_dict):
    job = _round_trip(OqtantJob.model_validate(barrier_manipulator_job_dict))
    assert job.job_type == JobType.BARRIER
    barrier = job.inputs[0].values.optical_barriers[0]
    assert barrier.times_ms == [float(t) for t in range(0, 21, 2)]
    assert barrier.heights_khz == [float(h) for h in range(0, 51, 5)]
    assert job.inputs[0].values.rf_evaporation.frequencies_mhz[-1] == 0.1


@pytest.mark.parametrize("shape", list(ShapeType))
@pytest.mark.parametrize("interpolation", list(InterpolationType))
def test_every_barrier_shape_and_interpolation(barrier_manipulator_job_dict, shape, interpolation):
    barrier = {
        "times_ms": [0.0, 5.0, 10.0],
        "positions_um": [-10.0, 0.0, 10.0],
        "heights_khz": [10.0, 20.0, 0.0],
        "interpolation": interpolation.value,
        "shape": shape.value,
    }
    if shape != ShapeType.NATIVE:
        barrier["widths_um"] = [1.0, 2.5, 1.0]
    job = _round_trip(
        OqtantJob.model_validate(
            _with_values(barrier_manipulator_job_dict, optical_barriers=[barrier])
        )
    )
    parsed = job.inputs[0].values.optical_barriers[0]
    assert parsed.shape == shape and parsed.interpolation == interpolation
    assert parsed.widths_um == ([0.5] * 3 if shape == ShapeType.NATIVE else [1.0, 2.5, 1.0])


def test_ten_barriers(barrier_manipulator_job_dict):
    barriers = [
        {
            "times_ms": [0.0, 20.0],
            "positions_um": [-45.0 + 10 * i] * 2,
            "heights_khz": [5.0, 50.0],
            "widths_um": [1.0, 1.0],
            "shape": list(ShapeType)[i % 3].value,
        }
        for i in range(10)
    ]
    job = _round_trip(
        OqtantJob.model_validate(
            _with_values(barrier_manipulator_job_dict, optical_barriers=barriers)
        )
    )
    assert len(job.inputs[0].values.optical_barriers) == 10


def _landscape(n_snapshots: int = 3) -> dict:
    return {
        "interpolation": "SMOOTH",
        "landscapes": [
            {
                "time_ms": 5.0 * i,
                "positions_um": [float(p) for p in range(-60, 61)],
                "potentials_khz": [abs(p) * (i + 1) * 0.25 for p in range(-60, 61)],
                "spatial_interpolation": "CUBIC",
            }
            for i in range(n_snapshots)
        ],
    }


def test_landscape_job(ultracold_matter_job_dict):
    data = _with_values(
        ultracold_matter_job_dict, end_time_ms=20.0, optical_landscape=_landscape(5)
    )
    job = _round_trip(OqtantJob.model_validate(data))
    assert job.job_type == JobType.PAINT_1D
    snaps = job.inputs[0].values.optical_landscape.landscapes
    assert [s.time_ms for s in snaps] == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert len(snaps[0].positions_um) == 121


def test_terminator_job_with_barrier_landscape_and_rf_shield(barrier_manipulator_job_dict):
    rf = barrier_manipulator_job_dict["inputs"][0]["values"]["rf_evaporation"]
    shielded = {
        "times_ms": rf["times_ms"] + [10],
        "frequencies_mhz": rf["frequencies_mhz"] + [0.2],
        "powers_mw": rf["powers_mw"] + [100.0],
        "interpolation": "PREVIOUS",
    }
    lasers = [
        {
            "type": "TERMINATOR",
            "position_um": 30.0,
            "pulses": [
                {
                    "times_ms": [2.5, 12.5],
                    "intensities_mw_per_cm2": [1.0, 1.0],
                    "detuning_mhz": 0.0,
                    "interpolation": "OFF",
                }
            ],
        }
    ]
    data = _with_values(
        barrier_manipulator_job_dict,
        rf_evaporation=shielded,
        lasers=lasers,
        optical_landscape=_landscape(2),
    )
    data["inputs"][0]["notes"] = "terminator at 2.5 ms"
    job = _round_trip(OqtantJob.model_validate(data))
    values = job.inputs[0].values
    assert values.lasers[0].pulses[0].times_ms == [2.5, 12.5]
    assert values.rf_evaporation.times_ms[-1] == 10
    assert job.inputs[0].notes == "terminator at 2.5 ms"
    assert job.job_type == JobType.PAINT_1D  # a landscape makes it a painting job


def test_job_with_many_runs_and_service_fields(ultracold_matter_job_dict):
    data = copy.deepcopy(ultracold_matter_job_dict)
    data["inputs"] = [copy.deepcopy(data["inputs"][0]) for _ in range(30)]
    for i, run in enumerate(data["inputs"]):
        run["values"]["rf_evaporation"]["frequencies_mhz"][-1] = 0.02 + 0.01 * i
    data.update(
        external_id=str(uuid4()),
        status="COMPLETE",
        qpu_name="SIMULATOR",
        origin="OQTAPI",
        time_submit="2026-11-24T10:00:00Z",
        time_start=datetime(2026, 11, 24, 10, 0, 5, tzinfo=UTC).isoformat(),
        time_complete="2026-11-24T10:03:00+00:00",
        failed_inputs=[3],
    )
    job = _round_trip(OqtantJob.model_validate(data))
    assert [run.run for run in job.inputs] == list(range(1, 31))
    assert job.status == JobStatus.COMPLETE and job.input_count == 30
    assert job.inputs[29].values.rf_evaporation.frequencies_mhz[-1] == pytest.approx(0.31)


def test_job_type_key_is_recomputed(ultracold_matter_job_dict):
    data = copy.deepcopy(ultracold_matter_job_dict)
    data["job_type"] = "BARRIER"  # wrong on purpose
    job = OqtantJob.model_validate(data)
    assert job.job_type == JobType.BEC == derive_job_type(job.inputs[0].values)
    data = _with_values(ultracold_matter_job_dict, image_type="IN_TRAP")
    assert OqtantJob.model_validate(data).job_type == JobType.BARRIER


def test_real_files_load_and_redump_identical_inputs(real_job_paths):
    kinds = set()
    for path in real_job_paths:
        original = json.loads(gzip.open(path).read())
        job = OqtantJob.model_validate(original)
        dumped = json.loads(job.model_dump_json())
        assert dumped["inputs"] == original["inputs"], path.name
        assert dumped["job_type"] == original["job_type"], path.name
        for key in (
            "name",
            "status",
            "external_id",
            "time_submit",
            "time_start",
            "time_complete",
            "qpu_name",
        ):
            assert dumped[key] == original[key], (path.name, key)
        _round_trip(job)
        kinds.add(job.inputs[0].values.image_type.value)
    assert kinds == {"IN_TRAP", "TIME_OF_FLIGHT"}


# --------------------------------------------------------------------------- any valid barrier


@st.composite
def _valid_barriers(draw):
    n = draw(st.integers(2, 20))
    ticks = draw(st.lists(st.integers(0, 200), min_size=n, max_size=n, unique=True))
    shape = draw(st.sampled_from(list(ShapeType)))

    def values(lo, hi):
        finite = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
        return draw(st.lists(finite, min_size=n, max_size=n))

    barrier = {
        "times_ms": [t / 10 for t in ticks],
        "positions_um": values(-60.0, 60.0),
        "heights_khz": values(0.0, 100.0),
        "interpolation": draw(st.sampled_from(list(InterpolationType))).value,
        "shape": shape.value,
    }
    if shape != ShapeType.NATIVE:
        barrier["widths_um"] = values(0.5, 50.0)
    return barrier


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(barriers=st.lists(_valid_barriers(), min_size=1, max_size=10))
def test_any_valid_barriers_round_trip(barrier_manipulator_job_dict, barriers):
    data = _with_values(barrier_manipulator_job_dict, optical_barriers=barriers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # unsorted times are sorted
        job = _round_trip(OqtantJob.model_validate(data))
    for given_barrier, parsed in zip(barriers, job.inputs[0].values.optical_barriers, strict=True):
        order = sorted(
            range(len(given_barrier["times_ms"])), key=given_barrier["times_ms"].__getitem__
        )
        assert parsed.times_ms == [given_barrier["times_ms"][i] for i in order]
        assert parsed.heights_khz == [given_barrier["heights_khz"][i] for i in order]
