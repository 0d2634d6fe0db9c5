"""Every rule of the domain's limits table, fed one invalid input at a time."""

from __future__ import annotations

import copy
import math
import warnings

import pydantic
import pytest

from oqtant.errors import ValidationError, format_pydantic_error
from oqtant.schemas.job import Barrier, InputValues, OqtantJob, RfEvaporation

V = "inputs.0.values."


def _full_job(barrier_manipulator_job_dict: dict) -> dict:
    """The barrier job with a landscape and a terminator added: every part present."""
    job = copy.deepcopy(barrier_manipulator_job_dict)
    values = job["inputs"][0]["values"]
    values["optical_landscape"] = {
        "interpolation": "LINEAR",
        "landscapes": [
            {
                "time_ms": 0.0,
                "positions_um": [-10.0, 0.0, 10.0],
                "potentials_khz": [0.0, 5.0, 0.0],
                "spatial_interpolation": "LINEAR",
            },
            {
                "time_ms": 10.0,
                "positions_um": [-10.0, 0.0, 10.0],
                "potentials_khz": [0.0, 10.0, 0.0],
                "spatial_interpolation": "LINEAR",
            },
        ],
    }
    values["lasers"] = [
        {
            "type": "TERMINATOR",
            "position_um": 30.0,
            "pulses": [
                {
                    "times_ms": [1.0, 5.0],
                    "intensities_mw_per_cm2": [1.0, 1.0],
                    "detuning_mhz": 0.0,
                    "interpolation": "OFF",
                }
            ],
        }
    ]
    return job


def _set(job: dict, path: str, value) -> None:
    """Set ``value`` at a dotted path (list indices as numbers)."""
    keys = path.split(".")
    node = job
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _get(job: dict, path: str):
    node = job
    for key in path.split("."):
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


RF = V + "rf_evaporation."
B0 = V + "optical_barriers.0."
L = V + "optical_landscape."
S1 = L + "landscapes.1."
P0 = V + "lasers.0.pulses.0."
EIGHTEEN = [
    -1700,
    -1600,
    -1500,
    -1400,
    -1300,
    -1200,
    -1100,
    -1000,
    -900,
    -800,
    -700,
    -600,
    -500,
    -400,
    -300,
    -200,
    -100,
    0,
]

# (id, list of (path, value) changes, text the error must contain: the field)
CASES = [
    # experiment stage and imaging
    ("end_time below 0", [(V + "end_time_ms", -0.1)], "end_time_ms"),
    ("end_time above 200", [(V + "end_time_ms", 200.1)], "end_time_ms"),
    ("end_time NaN", [(V + "end_time_ms", math.nan)], "end_time_ms"),
    ("tof below 2", [(V + "time_of_flight_ms", 1.9)], "time_of_flight_ms"),
    ("tof above 20", [(V + "time_of_flight_ms", 20.1)], "time_of_flight_ms"),
    ("tof infinite", [(V + "time_of_flight_ms", math.inf)], "time_of_flight_ms"),
    ("unknown image type", [(V + "image_type", "SIDEWAYS")], "image_type"),
    ("unknown field", [(V + "magnetic_field_gauss", 3.0)], "magnetic_field_gauss"),
    # RF ramp
    (
        "rf no points",
        [(RF + "times_ms", []), (RF + "frequencies_mhz", []), (RF + "powers_mw", [])],
        "rf_evaporation.times_ms",
    ),
    (
        "rf 21 points",
        [
            (RF + "times_ms", list(range(-2000, 1, 100))),
            (RF + "frequencies_mhz", [1.0] * 21),
            (RF + "powers_mw", [1.0] * 21),
        ],
        "rf_evaporation.times_ms",
    ),
    (
        "rf time before -2000",
        [(RF + "times_ms", [-2001, -1200, -800, -400, 0])],
        "rf_evaporation.times_ms",
    ),
    (
        "rf time after 200",
        [(RF + "times_ms", [-1600, -1200, -800, -400, 201])],
        "rf_evaporation.times_ms",
    ),
    (
        "rf time not whole ms",
        [(RF + "times_ms", [-1600, -1200, -800, -400, 0.5])],
        "rf_evaporation.times_ms",
    ),
    ("rf times repeated", [(RF + "times_ms", [-1600, -1600, -800, -400, 0])], "unique"),
    (
        "rf fewer than two times <= 0",
        [(RF + "times_ms", [-1600, 1, 2, 3, 4])],
        "at least two RF times",
    ),
    ("rf lengths differ", [(RF + "frequencies_mhz", [17.0, 8.0, 4.0, 1.2])], "frequencies_mhz=4"),
    ("rf frequency negative", [(RF + "frequencies_mhz.4", -0.1)], "rf_evaporation.frequencies_mhz"),
    ("rf frequency above 25", [(RF + "frequencies_mhz.0", 25.1)], "rf_evaporation.frequencies_mhz"),
    ("rf frequency NaN", [(RF + "frequencies_mhz.0", math.nan)], "rf_evaporation.frequencies_mhz"),
    ("rf power negative", [(RF + "powers_mw.0", -1.0)], "rf_evaporation.powers_mw"),
    ("rf power above 1000", [(RF + "powers_mw.0", 1000.1)], "rf_evaporation.powers_mw"),
    ("rf interpolation", [(RF + "interpolation", "SMOOTH")], "rf_evaporation.interpolation"),
    (
        "rf after end_time",
        [(RF + "times_ms", [-1600, -1200, -800, 0, 25]), (V + "end_time_ms", 20.0)],
        "rf_evaporation.times_ms",
    ),
    # barriers
    (
        "barrier 1 time",
        [
            (B0 + "times_ms", [0.0]),
            (B0 + "positions_um", [0.0]),
            (B0 + "heights_khz", [0.0]),
            (B0 + "widths_um", [1.0]),
        ],
        "optical_barriers.0.times_ms",
    ),
    (
        "barrier 21 times",
        [
            (B0 + "times_ms", [i * 0.5 for i in range(21)]),
            (B0 + "positions_um", [0.0] * 21),
            (B0 + "heights_khz", [0.0] * 21),
            (B0 + "widths_um", [1.0] * 21),
        ],
        "optical_barriers.0.times_ms",
    ),
    ("barrier time negative", [(B0 + "times_ms.0", -1.0)], "optical_barriers.0.times_ms"),
    ("barrier times repeated at 0.1 ms", [(B0 + "times_ms.1", 0.04)], "unique"),
    (
        "barrier position below -60",
        [(B0 + "positions_um.3", -60.1)],
        "optical_barriers.0.positions_um",
    ),
    (
        "barrier position above 60",
        [(B0 + "positions_um.3", 60.1)],
        "optical_barriers.0.positions_um",
    ),
    ("barrier height negative", [(B0 + "heights_khz.3", -0.1)], "optical_barriers.0.heights_khz"),
    ("barrier height above 100", [(B0 + "heights_khz.3", 100.1)], "optical_barriers.0.heights_khz"),
    (
        "barrier height infinite",
        [(B0 + "heights_khz.3", math.inf)],
        "optical_barriers.0.heights_khz",
    ),
    ("barrier width below 0.5", [(B0 + "widths_um.3", 0.4)], "optical_barriers.0.widths_um"),
    ("barrier width above 50", [(B0 + "widths_um.3", 50.1)], "optical_barriers.0.widths_um"),
    ("barrier lengths differ", [(B0 + "positions_um", [0.0] * 10)], "positions_um=10"),
    ("native barrier width", [(B0 + "shape", "NATIVE")], "NATIVE"),
    ("barrier shape", [(B0 + "shape", "TRIANGLE")], "optical_barriers.0.shape"),
    (
        "barrier interpolation",
        [(B0 + "interpolation", "SPLINE")],
        "optical_barriers.0.interpolation",
    ),
    ("11 barriers", [(V + "optical_barriers", "ELEVEN")], "optical_barriers"),
    ("no barrier in the list", [(V + "optical_barriers", [])], "optical_barriers"),
    ("barrier after end_time", [(V + "end_time_ms", 15.0)], "optical_barriers[0].times_ms"),
    # landscape
    ("1 snapshot", [(L + "landscapes", "ONE")], "optical_landscape.landscapes"),
    ("6 snapshots", [(L + "landscapes", "SIX")], "optical_landscape.landscapes"),
    (
        "snapshot 1 point",
        [(S1 + "positions_um", [0.0]), (S1 + "potentials_khz", [1.0])],
        "optical_landscape.landscapes.1.p",
    ),
    (
        "snapshot 122 points",
        [
            (S1 + "positions_um", [-60.0 + i * 120 / 121 for i in range(122)]),
            (S1 + "potentials_khz", [1.0] * 122),
        ],
        "optical_landscape.landscapes.1.p",
    ),
    ("snapshot times repeated", [(S1 + "time_ms", 0.02)], "snapshot times"),
    ("snapshot time negative", [(S1 + "time_ms", -1.0)], "optical_landscape.landscapes.1.time_ms"),
    (
        "snapshot potential above 100",
        [(S1 + "potentials_khz.1", 100.1)],
        "optical_landscape.landscapes.1.potentials_khz",
    ),
    (
        "snapshot potential negative",
        [(S1 + "potentials_khz.1", -1.0)],
        "optical_landscape.landscapes.1.potentials_khz",
    ),
    (
        "snapshot position above 60",
        [(S1 + "positions_um.2", 61.0)],
        "optical_landscape.landscapes.1.positions_um",
    ),
    (
        "snapshot position below -60",
        [(S1 + "positions_um.0", -60.5)],
        "optical_landscape.landscapes.1.positions_um",
    ),
    (
        "snapshot time above 200",
        [(S1 + "time_ms", 200.5), (V + "end_time_ms", 200.0)],
        "optical_landscape.landscapes.1.time_ms",
    ),
    ("snapshot lengths differ", [(S1 + "potentials_khz", [0.0, 1.0])], "potentials_khz=2"),
    (
        "snapshot spatial interpolation",
        [(S1 + "spatial_interpolation", "WIGGLY")],
        "optical_landscape.landscapes.1.spatial_interpolation",
    ),
    (
        "landscape interpolation",
        [(L + "interpolation", "WIGGLY")],
        "optical_landscape.interpolation",
    ),
    (
        "snapshot after end_time",
        [(S1 + "time_ms", 20.1)],
        "optical_landscape.landscapes[1].time_ms",
    ),
    # terminator
    ("laser type", [(V + "lasers.0.type", "BRAGG")], "lasers.0.type"),
    ("laser unknown type", [(V + "lasers.0.type", "DISCO")], "lasers.0.type"),
    ("terminator position", [(V + "lasers.0.position_um", 20.0)], "lasers.0.position_um"),
    ("two lasers", [(V + "lasers", "TWO")], "lasers"),
    ("two pulses", [(V + "lasers.0.pulses", "TWO")], "lasers.0.pulses"),
    ("pulse three times", [(P0 + "times_ms", [1.0, 2.0, 3.0])], "pulses.0.times_ms"),
    ("pulse one time", [(P0 + "times_ms", [1.0])], "pulses.0.times_ms"),
    ("pulse time negative", [(P0 + "times_ms", [-1.0, 2.0])], "pulses.0.times_ms"),
    ("pulse intensity count", [(P0 + "intensities_mw_per_cm2", [1.0])], "intensities_mw_per_cm2"),
    ("pulse times repeated", [(P0 + "times_ms", [1.0, 1.02])], "unique"),
    (
        "pulse intensity",
        [(P0 + "intensities_mw_per_cm2", [0.5, 0.5])],
        "pulses.0.intensities_mw_per_cm2",
    ),
    ("pulse detuning", [(P0 + "detuning_mhz", 1.0)], "pulses.0.detuning_mhz"),
    ("pulse interpolation", [(P0 + "interpolation", "LINEAR")], "pulses.0.interpolation"),
    ("pulse after end_time", [(P0 + "times_ms", [1.0, 20.5])], "lasers[0].pulses[0].times_ms"),
    # job
    ("empty name", [("name", "")], "name"),
    ("name of 51 characters", [("name", "n" * 51)], "name"),
    ("note of 501 characters", [("inputs.0.notes", "x" * 501)], "inputs.0.notes"),
    ("0 runs", [("inputs", [])], "inputs"),
    ("31 runs", [("inputs", "THIRTYONE")], "inputs"),
    ("missing rf_evaporation", [(V + "rf_evaporation", "DELETE")], "rf_evaporation"),
    # booleans are not numbers (pydantic alone would read true as 1)
    ("end_time true", [(V + "end_time_ms", True)], "end_time_ms"),
    ("time_of_flight true", [(V + "time_of_flight_ms", True)], "time_of_flight_ms"),
    ("rf frequency false", [(V + "rf_evaporation.frequencies_mhz", [17.0, 8.0, 4.0, False, 0.1])],
     "frequencies_mhz.3: must be a number"),
]


def _apply(job: dict, changes) -> dict:
    job = copy.deepcopy(job)
    values = job["inputs"][0]["values"]
    for path, value in changes:
        if value == "ELEVEN":
            value = [copy.deepcopy(values["optical_barriers"][0]) for _ in range(11)]
        elif value in ("ONE", "SIX"):
            snap = _get(job, L + "landscapes.0")
            n = 1 if value == "ONE" else 6
            value = [dict(copy.deepcopy(snap), time_ms=float(i)) for i in range(n)]
        elif value == "TWO":
            value = [copy.deepcopy(_get(job, path + ".0")) for _ in range(2)]
            if path.endswith("pulses"):
                value[1]["times_ms"] = [6.0, 7.0]
        elif value == "THIRTYONE":
            value = [copy.deepcopy(job["inputs"][0]) for _ in range(31)]
        elif value == "DELETE":
            parent, _, key = path.rpartition(".")
            del _get(job, parent)[key]
            continue
        _set(job, path, value)
    return job


def test_the_table_covers_at_least_forty_rules():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


def test_the_base_job_is_valid(barrier_manipulator_job_dict):
    job = OqtantJob.model_validate(_full_job(barrier_manipulator_job_dict))
    values = job.inputs[0].values
    assert len(values.optical_barriers) == 1
    assert len(values.optical_landscape.landscapes) == 2
    assert values.lasers[0].pulses[0].times_ms == [1.0, 5.0]


@pytest.mark.parametrize(("changes", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_is_rejected_naming_the_field(barrier_manipulator_job_dict, changes, field):
    job = _apply(_full_job(barrier_manipulator_job_dict), changes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # some changes also reorder lists
        with pytest.raises(pydantic.ValidationError) as info:
            OqtantJob.model_validate(job)
    error = format_pydantic_error(info.value)
    assert isinstance(error, ValidationError)
    assert field in str(error), f"{field!r} not named in:\n{error}"


# ------------------------------------------------------------------ sorting, rounding, messages


def test_out_of_order_rf_times_are_sorted_with_a_warning():
    with pytest.warns(UserWarning, match="times_ms was out of order"):
        rf = RfEvaporation(
            times_ms=[0, -1600, -800],
            frequencies_mhz=[0.1, 17.0, 4.0],
            powers_mw=[220.0, 500.0, 475.0],
        )
    assert rf.times_ms == [-1600, -800, 0]
    assert rf.frequencies_mhz == [17.0, 4.0, 0.1]
    assert rf.powers_mw == [500.0, 475.0, 220.0]


def test_out_of_order_barrier_times_are_sorted_with_a_warning():
    with pytest.warns(UserWarning, match="barrier"):
        barrier = Barrier(
            times_ms=[5.0, 0.0, 2.5],
            positions_um=[3.0, 1.0, 2.0],
            heights_khz=[30.0, 10.0, 20.0],
            widths_um=[1.5, 1.0, 1.25],
        )
    assert barrier.times_ms == [0.0, 2.5, 5.0]
    assert barrier.positions_um == [1.0, 2.0, 3.0]
    assert barrier.heights_khz == [10.0, 20.0, 30.0]
    assert barrier.widths_um == [1.0, 1.25, 1.5]


def test_out_of_order_snapshots_positions_and_pulses_are_sorted(barrier_manipulator_job_dict):
    job = _full_job(barrier_manipulator_job_dict)
    values = job["inputs"][0]["values"]
    values["optical_landscape"]["landscapes"].reverse()
    values["optical_landscape"]["landscapes"][0]["positions_um"] = [10.0, 0.0, -10.0]
    values["optical_landscape"]["landscapes"][0]["potentials_khz"] = [1.0, 10.0, 2.0]
    values["lasers"][0]["pulses"][0]["times_ms"] = [5.0, 1.0]
    with pytest.warns(UserWarning) as record:
        parsed = OqtantJob.model_validate(job).inputs[0].values
    messages = " ".join(str(w.message) for w in record)
    assert "snapshots" in messages and "positions_um" in messages and "pulse" in messages
    snaps = parsed.optical_landscape.landscapes
    assert [s.time_ms for s in snaps] == [0.0, 10.0]
    assert snaps[1].positions_um == [-10.0, 0.0, 10.0]
    assert snaps[1].potentials_khz == [2.0, 10.0, 1.0]
    assert parsed.lasers[0].pulses[0].times_ms == [1.0, 5.0]


def test_experiment_times_are_kept_at_a_tenth_of_a_millisecond(barrier_manipulator_job_dict):
    job = _full_job(barrier_manipulator_job_dict)
    values = job["inputs"][0]["values"]
    values["end_time_ms"] = 19.96
    values["time_of_flight_ms"] = 7.04
    values["optical_barriers"][0]["times_ms"][1] = 2.25
    values["optical_barriers"][0]["times_ms"][-1] = 19.95  # a tie: rounds up
    values["optical_landscape"]["landscapes"][1]["time_ms"] = 10.049
    values["lasers"][0]["pulses"][0]["times_ms"] = [1.01, 4.99]
    parsed = OqtantJob.model_validate(job).inputs[0].values
    assert parsed.end_time_ms == 20.0
    assert parsed.time_of_flight_ms == 7.0
    assert parsed.optical_barriers[0].times_ms[1] == 2.3
    assert parsed.optical_barriers[0].times_ms[-1] == 20.0
    assert parsed.optical_landscape.landscapes[1].time_ms == 10.0
    assert parsed.lasers[0].pulses[0].times_ms == [1.0, 5.0]


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        (2.25, 2.3),
        (0.35, 0.4),
        (19.95, 20.0),
        (7.04, 7.0),
        (0.3 - 0.1, 0.2),
        (1e-9, 0.0),
        (-0.01, 0.0),
    ],
)
def test_round_time_ms_rounds_the_written_decimal(written, kept):
    from oqtant.schemas.job import round_time_ms

    assert round_time_ms(written) == kept
    assert str(round_time_ms(written)) == str(kept)  # no binary noise, no -0.0


def test_a_native_barrier_gets_its_fixed_width():
    barrier = Barrier(
        times_ms=[0.0, 1.0], positions_um=[0.0, 0.0], heights_khz=[1.0, 1.0], shape="NATIVE"
    )
    assert barrier.widths_um == [0.5, 0.5]


def test_format_pydantic_error_gives_one_line_per_rule(ultracold_matter_job_dict):
    values = copy.deepcopy(ultracold_matter_job_dict["inputs"][0]["values"])
    values["time_of_flight_ms"] = 25.0
    values["end_time_ms"] = -3.0
    values["rf_evaporation"]["powers_mw"][0] = 5000.0
    with pytest.raises(pydantic.ValidationError) as info:
        InputValues.model_validate(values)
    error = format_pydantic_error(info.value, title="Invalid run")
    lines = str(error).splitlines()
    assert lines[0] == "Invalid run: 3 problem(s)"
    assert len(lines) == 4 and len(error.errors) == 3
    fields = sorted(loc for loc, _ in error.errors)
    assert fields == ["end_time_ms", "rf_evaporation.powers_mw.0", "time_of_flight_ms"]
    assert all(line.startswith("  ") and ": " in line for line in lines[1:])
    assert not any("Value error," in line for line in lines)
