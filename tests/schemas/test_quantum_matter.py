"""QuantumMatter and QuantumMatterFactory: design, wire format, potentials, plots, delegation."""

from __future__ import annotations

import gzip
import json
import sys
import types
import uuid
import warnings

import numpy as np
import pytest
from PIL import Image

from oqtant import errors
from oqtant import projection as P
from oqtant.schemas import job
from oqtant.schemas.optical import Barrier, Landscape, Laser, Snapshot
from oqtant.schemas.quantum_matter import (
    QuantumMatter,
    QuantumMatterFactory,
    rf_coupling,
    temperature_to_final_frequency_mhz,
)
from oqtant.schemas.rf import RfEvap, RfShield
from tests.conftest import REAL_JOBS_DIR

REAL_JOBS = sorted(REAL_JOBS_DIR.glob("*.json.gz"))

STANDARD_BEC = {
    "time_of_flight_ms": 12.0,
    "image_type": "TIME_OF_FLIGHT",
    "end_time_ms": 10.0,
    "rf_evaporation": {
        "times_ms": [-1100, -1050, -800, -300, 0],
        "frequencies_mhz": [21.12, 12.12, 5.12, 0.62, 0.02],
        "powers_mw": [600.0, 800.0, 600.0, 400.0, 400.0],
        "interpolation": "LINEAR",
    },
    "optical_barriers": None,
    "optical_landscape": None,
    "lasers": None,
}


@pytest.fixture
def qmf():
    return QuantumMatterFactory()


def assert_png_not_blank(path):
    assert path.exists() and path.stat().st_size > 0
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1


def finished_in_trap_job() -> job.OqtantJob:
    """A completed one-run IN_TRAP job with a small column-density image."""
    values = job.InputValues(
        end_time_ms=0.0,
        image_type="IN_TRAP",
        rf_evaporation=job.RfEvaporation(**STANDARD_BEC["rf_evaporation"]),
    )
    image = {"pixels": [float(i) for i in range(16)], "rows": 4, "columns": 4, "pixcal": 0.344}
    return job.OqtantJob(
        name="finished",
        status="COMPLETE",
        inputs=[{"values": values, "output": {"values": {"it_plot": image}}}],
    )


def rich_matter(qmf) -> QuantumMatter:
    """Barriers of two shapes, a landscape, the terminator and a shield, imaged in trap."""
    moving = qmf.create_barrier(
        positions=[-20.0, 0.0], heights=[10.0, 30.0], widths=[3.0, 3.0], times=[0.0, 10.0]
    )
    moving.evolve(5.0, position=10.0)
    spot = qmf.create_barrier(
        positions=[30.0, 30.0], heights=[40.0, 40.0], times=[2.0, 8.0], shape="NATIVE"
    )
    land = qmf.create_landscape(
        [
            qmf.create_snapshot(1.0, [-50, -40], [0, 20]),
            qmf.create_snapshot(12.0, [-50, -40], [0, 60]),
        ]
    )
    return qmf.create_quantum_matter(
        name="rich",
        image="IN_TRAP",
        lifetime=15,
        barriers=[moving, spot],
        landscape=land,
        lasers=[qmf.create_terminator(4.0, 6.0)],
        rf_shield=qmf.create_rf_shield(120.0, 0.2, 15),
        rf_evap=qmf.create_rf_evap(
            times=[0, 800, 1600], frequencies=[17.0, 3.0, 0.05], powers=[500, 400, 200]
        ),
        note="every kind of object",
    )


# --------------------------------------------------------------------------- defaults, wire


def test_defaults_make_the_standard_bec_job(qmf):
    matter = qmf.create_quantum_matter()
    standard = job.InputValues(**STANDARD_BEC)
    assert matter.input.model_dump(mode="json") == standard.model_dump(mode="json")
    assert matter.job_type == job.JobType.BEC
    assert matter.lifetime == 10.0 and matter.name == "quantum matter"
    assert matter.status is None and matter.run_count is None and matter.time_submit is None


def test_job_types(qmf):
    assert qmf.create_quantum_matter(image="IN_TRAP").job_type == job.JobType.BARRIER
    barrier = qmf.create_barrier(heights=[0.0, 10.0])
    assert qmf.create_quantum_matter(barriers=[barrier]).job_type == job.JobType.BARRIER
    assert rich_matter(qmf).job_type == job.JobType.PAINT_1D


def test_round_trip_user_wire_user(qmf):
    matter = rich_matter(qmf)
    wire = matter.input
    assert isinstance(wire, job.InputValues)
    assert type(wire.optical_barriers[0]) is job.Barrier  # plain wire objects
    assert wire.rf_evaporation.times_ms == [-1600, -800, 0, 15]  # the shield: to the lifetime
    back = QuantumMatter.from_input("rich", wire, note=matter.note)
    assert isinstance(back.barriers[0], Barrier) and isinstance(back.landscape, Landscape)
    assert isinstance(back.lasers[0], Laser) and isinstance(back.rf_shield, RfShield)
    assert isinstance(back.rf_evap, RfEvap)
    assert back.input.model_dump() == wire.model_dump()
    assert back.lifetime == matter.lifetime == 15.0
    # and through JSON
    from_json = job.InputValues.model_validate_json(wire.model_dump_json())
    again = QuantumMatter.from_input("rich", from_json)
    assert again.input == wire


def test_to_job_is_a_one_run_job(qmf):
    matter = rich_matter(qmf)
    one = matter.to_job()
    assert isinstance(one, job.OqtantJob) and len(one.inputs) == 1
    assert one.name == "rich" and one.inputs[0].notes == "every kind of object"
    assert one.job_type == job.JobType.PAINT_1D
    back = QuantumMatter.from_oqtant_job(one)
    assert back.input == matter.input and back.result is one and back.job_id is None


@pytest.mark.parametrize("path", REAL_JOBS, ids=lambda p: p.name[:40])
def test_real_job_files_round_trip(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with gzip.open(path) as fh:
            real = job.OqtantJob(**json.loads(fh.read()))
    matter = QuantumMatter.from_oqtant_job(real, client=None)
    assert matter.input.model_dump() == real.inputs[0].values.model_dump()
    assert matter.name == real.name
    assert matter.job_id == (str(real.external_id) if real.external_id else None)
    assert matter.output is not None
    assert type(matter.output).__name__ in ("OqtantPlotOutput", "OqtantNonPlotOutput")


def test_wire_objects_are_accepted_as_user_objects(qmf):
    wire_barrier = job.Barrier(heights_khz=[0.0, 5.0])
    wire_laser = job.Laser(pulses=[job.Pulse(times_ms=[1.0, 2.0])])
    matter = QuantumMatter(
        barriers=[wire_barrier],
        lasers=[wire_laser],
        rf_evap=job.RfEvaporation(**STANDARD_BEC["rf_evaporation"]),
    )
    assert type(matter.barriers[0]) is Barrier and type(matter.lasers[0]) is Laser
    assert type(matter.rf_evap) is RfEvap


# --------------------------------------------------------------------------- rules


def _recorded_temperature_cases():
    """(temperature, the reference's ramp) of each recorded matter given only a temperature."""
    from tests.reference._surface import load

    for case in load("factory.json")["cases"]:
        spec = case["spec"]
        kwargs = spec.get("kwargs", {})
        if (
            spec["call"] == "create_quantum_matter"
            and set(kwargs) == {"temperature"}
            and "error" not in case
        ):
            yield kwargs["temperature"], case["json"]["input"]["rf_evaporation"]


def test_temperature_shortcut_sets_the_last_frequency_as_the_reference(qmf):
    cases = list(_recorded_temperature_cases())
    assert len(cases) >= 3  # the fixtures hold several temperatures
    standard = qmf.create_quantum_matter().rf_evaporation.frequencies_mhz
    for temperature, recorded in cases:
        ours = qmf.create_quantum_matter(temperature=temperature).rf_evaporation
        # the reference's last frequency for this temperature, the rest of the ramp unchanged
        last = recorded["frequencies_mhz"][-1]
        assert ours.frequencies_mhz[-1] == pytest.approx(last, rel=1e-9)
        assert ours.frequencies_mhz[:-1] == standard[:-1] == recorded["frequencies_mhz"][:-1]
        assert temperature_to_final_frequency_mhz(temperature) == pytest.approx(
            recorded["frequencies_mhz"][-1], rel=1e-9
        )
    # a colder target ends the ramp lower (nearer the trap bottom): fewer hot atoms kept
    by_temperature = sorted(cases, key=lambda c: c[0])
    lasts = [c[1]["frequencies_mhz"][-1] for c in by_temperature]
    assert lasts == sorted(lasts)
    # the shared default ramp is not changed by a temperature
    assert qmf.create_quantum_matter().rf_evaporation.frequencies_mhz == standard


def test_temperature_rules(qmf):
    ramp = qmf.create_rf_evap(
        times=[0, 500, 1000], powers=[500, 400, 300], frequencies=[20.0, 5.0, 0.5]
    )
    with pytest.warns(UserWarning, match="temperature and rf_evap"):
        both = qmf.create_quantum_matter(temperature=100.0, rf_evap=ramp)
    assert both.rf_evaporation.frequencies_mhz == [20.0, 5.0, pytest.approx(0.0335)]
    assert ramp.frequencies_mhz[-1] == 0.5  # the ramp given is left as it was
    with pytest.raises(errors.ValidationError, match="temperature"):
        qmf.create_quantum_matter(temperature=600.0)
    with pytest.raises(errors.ValidationError, match="temperature"):
        qmf.create_quantum_matter(temperature=-1.0)


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"barriers": "late_barrier"}, r"barriers\[0\] ends at 12 ms"),
        ({"landscape": "late_landscape"}, r"landscape snapshot 1"),
        ({"lasers": "late_laser"}, r"lasers\[0\]\.pulses\[0\]"),
    ],
)
def test_lifetime_violations_name_the_object(qmf, kwargs, named):
    objects = {
        "late_barrier": [qmf.create_barrier(times=[0.0, 12.0])],
        "late_landscape": qmf.create_landscape(
            [qmf.create_snapshot(0.0), qmf.create_snapshot(10.5)]
        ),
        "late_laser": [qmf.create_terminator(5.0, 10.2)],
    }
    ((field, key),) = kwargs.items()
    with pytest.raises(errors.ValidationError, match=named):
        qmf.create_quantum_matter(lifetime=10.0, **{field: objects[key]})
    # the default lifetime is 10 ms too
    with pytest.raises(errors.ValidationError, match=named):
        qmf.create_quantum_matter(**{field: objects[key]})
    fits = qmf.create_quantum_matter(lifetime=20.0, **{field: objects[key]})
    assert fits.input.end_time_ms == 20.0


def test_rf_shield_is_held_for_the_whole_lifetime(qmf):
    shield = qmf.create_rf_shield(120.0, 0.2, 11)  # its own lifetime does not limit the matter
    matter = qmf.create_quantum_matter(lifetime=25.0, rf_shield=shield)
    rf = matter.rf_evaporation
    assert rf.times_ms[-1] == 25 and rf.frequencies_mhz[-1] == 0.2 and rf.powers_mw[-1] == 120.0


def test_a_shield_under_a_lifetime_of_a_fraction_of_a_ms_is_refused(qmf):
    # RF times are whole ms: the shield's point at the end of a 10.5 ms lifetime is not one
    matter = qmf.create_quantum_matter(lifetime=10.5, rf_shield=qmf.create_rf_shield(1.0, 0.2, 5))
    with pytest.raises(errors.ValidationError, match="invalid RF program") as raised:
        _ = matter.input
    assert [field for field, _ in raised.value.errors] == ["times_ms.5"]
    assert "valid integer" in raised.value.errors[0][1]


def test_lifetime_assignment_is_checked_and_undone_on_error(qmf):
    matter = qmf.create_quantum_matter(
        lifetime=12.0, barriers=[qmf.create_barrier(times=[0.0, 12.0])]
    )
    assert matter.lifetime == 12.0
    with pytest.raises(errors.ValidationError, match=r"barriers\[0\]"):
        matter.lifetime = 5.0
    assert matter.lifetime == 12.0
    matter.lifetime = 30.0
    matter.barriers[0].evolve(25.0)  # now ends at 37 ms: caught when the wire is built
    with pytest.raises(errors.ValidationError, match=r"barriers\[0\] ends at 37 ms"):
        _ = matter.input
    matter.lifetime = 37.0
    assert matter.input.end_time_ms == 37.0


def test_other_rules_name_the_field(qmf):
    with pytest.raises(errors.ValidationError, match="time_of_flight"):
        qmf.create_quantum_matter(time_of_flight=30.0)
    with pytest.raises(errors.ValidationError, match="name"):
        qmf.create_quantum_matter(name="x" * 51)
    with pytest.raises(errors.ValidationError, match="lifetime"):
        qmf.create_quantum_matter(lifetime=250.0)
    with pytest.raises(errors.ValidationError, match="barriers"):
        qmf.create_quantum_matter(barriers=[qmf.create_barrier()] * 11)


# --------------------------------------------------------------------------- potentials


def test_get_potential_is_projected_light_plus_trap(qmf):
    barrier = qmf.create_barrier(
        positions=[10.0, 10.0], heights=[50.0, 50.0], widths=[5.0, 5.0], times=[0.0, 10.0]
    )
    matter = qmf.create_quantum_matter(barriers=[barrier], image="IN_TRAP")
    x = np.array([-20.0, 10.0, 40.0])
    total = matter.get_potential(5.0, x)
    light = matter.get_potential(5.0, x, include_magnetic=False)
    np.testing.assert_allclose(total - light, matter.get_magnetic_potential(x))
    np.testing.assert_allclose(matter.get_magnetic_potential(x), P.magnetic_potential_khz(x))
    assert light[1] == pytest.approx(50.0, rel=0.02)
    assert matter.get_ideal_optical_potential(5.0, x)[1] == pytest.approx(50.0)
    assert light[0] < 0.01
    assert total[0] == pytest.approx(P.magnetic_potential_khz([-20.0])[0], abs=0.01)


def test_corrected_rf_power_model(qmf):
    matter = qmf.create_quantum_matter()
    assert matter.corrected_rf_power(0.0, 300.0) == pytest.approx(300.0)
    assert matter.corrected_rf_power(15.0, 300.0) == pytest.approx(150.0)
    powers = matter.corrected_rf_powers([1.0, 10.0, 20.0], [500.0, 500.0, 500.0])
    assert powers[0] > powers[1] > powers[2] > 0
    np.testing.assert_allclose(powers, 500.0 * rf_coupling([1.0, 10.0, 20.0]))


# --------------------------------------------------------------------------- plots


def test_plots_are_saved(qmf, tmp_path):
    matter = rich_matter(qmf)
    matter.show_potential(
        times=[0.0, 5.0, 10.0],
        include_ideal=True,
        include_terminator=True,
        file_name=tmp_path / "potential.png",
    )
    matter.show_barrier_dynamics(file_name=tmp_path / "barriers.png")
    matter.show_rf_dynamics(corrected=True, file_name=tmp_path / "rf.png")
    matter.show_laser_pulse_timing(file_name=tmp_path / "laser.png")
    qmf.create_quantum_matter().show_rf_dynamics(file_name=tmp_path / "rf_bec.png")
    for name in ("potential", "barriers", "rf", "laser", "rf_bec"):
        assert_png_not_blank(tmp_path / f"{name}.png")


# --------------------------------------------------------------------------- delegation


class FakeClient:
    """Records what QuantumMatter asks of a client."""

    def __init__(self, job_to_return=None):
        self.calls = []
        self.job_to_return = job_to_return

    def submit(self, matter, track=False):
        self.calls.append(("submit", track))
        matter.job_id = "1234"
        return "1234"

    def get_job(self, job_id, run=1):
        self.calls.append(("get_job", job_id, run))
        return self.job_to_return

    def write_job_to_file(self, job_, *args, **kwargs):
        self.calls.append(("write", job_.name, args, kwargs))
        return "written"

    def search_jobs(self, *args, **kwargs):
        self.calls.append(("search", args, kwargs))
        return [{"name": "a"}]


def test_submit_needs_a_client_and_delegates(qmf):
    matter = qmf.create_quantum_matter(name="to submit")
    with pytest.raises(errors.ValidationError, match="client"):
        matter.submit()
    with pytest.raises(errors.JobError, match="submit it first"):
        matter.get_result()
    client = FakeClient()
    matter.client = client
    assert matter.submit(track=True) is None  # as the reference: the id is matter.job_id
    assert matter.job_id == "1234" and client.calls == [("submit", True)]
    job_uuid = uuid.uuid4()
    matter.job_id = job_uuid  # the service's ids are UUIDs: kept as text
    assert matter.job_id == str(job_uuid)


def test_get_result_fetches_the_job_and_its_output():
    finished = finished_in_trap_job()
    client = FakeClient(job_to_return=finished)
    matter = QuantumMatterFactory(client=client).create_quantum_matter(name="fetched")
    matter.job_id = "abc"
    matter.get_result(run=1)
    assert client.calls == [("get_job", "abc", 1)]
    assert matter.result is finished and matter.status == job.JobStatus.COMPLETE
    assert type(matter.output).__name__ == "OqtantPlotOutput"
    np.testing.assert_allclose(matter.output.IT, np.arange(16.0).reshape(4, 4))


def test_factory_delegates_to_its_client():
    client = FakeClient()
    factory = QuantumMatterFactory(client=client)
    assert factory.search_jobs(name="a") == [{"name": "a"}]
    matter = factory.create_quantum_matter(name="kept")
    assert matter.client is client
    with pytest.raises(errors.JobWriteError, match="submit it"):
        matter.write_to_file(file_name="x")  # nothing submitted: no job to write
    assert [c for c in client.calls if c[0] == "write"] == []
    matter.result = matter.to_job()  # as get_result() leaves it
    assert matter.write_to_file(file_name="x") is None
    assert client.calls[-1] == ("write", "kept", (), {"file_name": "x"})
    with pytest.raises(errors.ValidationError, match="client"):
        QuantumMatterFactory().search_jobs()


def test_write_to_file_without_client_and_load_it_back(qmf, tmp_path):
    matter = rich_matter(qmf)
    with pytest.raises(errors.JobWriteError):
        matter.write_to_file(tmp_path / "rich.json")
    assert not (tmp_path / "rich.json").exists()
    matter.result = matter.to_job()  # as get_result() leaves it
    path = tmp_path / "rich.json"
    assert matter.write_to_file(path) is None
    loaded = qmf.load_matter_from_file(path)
    assert loaded.input == matter.input and loaded.name == "rich" and loaded.note == matter.note


def test_submit_sim_runs_the_simulator(monkeypatch, qmf):
    seen = {}

    class FakeSimulator:
        def __init__(self, values):
            seen["values"] = values
            self.output = None

        def run(self):
            seen["ran"] = True
            self.output = finished_in_trap_job().inputs[0].output

    fake_module = types.SimpleNamespace(Simulator=FakeSimulator)
    monkeypatch.setitem(sys.modules, "oqtant.simulator", fake_module)
    matter = qmf.create_quantum_matter(name="simulated", temperature=50.0)
    matter.submit(sim=True)
    assert matter.is_sim and seen["ran"] and seen["values"] == matter.input
    matter.get_result()
    assert type(matter.output).__name__ == "OqtantPlotOutput"


def test_factory_creates_every_part(qmf):
    assert isinstance(qmf.create_snapshot(), Snapshot)
    assert isinstance(qmf.create_landscape(), Landscape)
    assert isinstance(qmf.create_barrier(), Barrier)
    assert isinstance(qmf.create_terminator(1.0, 2.0), Laser)
    with pytest.raises(errors.ValidationError):  # one point is no ramp, as in the reference
        qmf.create_rf_evap()
    assert isinstance(qmf.create_rf_evap([0, 10], [1, 1], [2, 1]), RfEvap)
    assert isinstance(qmf.create_rf_shield(1.0, 0.1, 5), RfShield)
    seq = qmf.create_rf_sequence(times=[-10, 0, 5], powers=[1, 1, 1], frequencies=[1, 0.5, 0.5])
    wire = job.RfEvaporation(**seq.model_dump())
    assert qmf.create_rf_sequence_from_input(wire).model_dump() == seq.model_dump()
    assert qmf.create_rf_evap_from_input(wire).times_ms == [-10, 0]
    assert qmf.create_rf_shield_from_input(wire).times_ms == [5]
    b = qmf.create_barrier(heights=[1.0, 2.0])
    from_wire = qmf.create_barrier_from_input(job.Barrier(**b.model_dump()))
    assert from_wire.model_dump() == b.model_dump()
    land = qmf.create_landscape()
    assert qmf.create_landscape_from_input(land).model_dump() == land.model_dump()
    snap = qmf.create_snapshot(3.0)
    assert qmf.create_snapshot_from_input(snap).time_ms == 3.0
    laser = qmf.create_terminator(1.0, 2.0)
    assert qmf.create_terminator_from_input(laser).model_dump() == laser.model_dump()
    made = qmf.create_quantum_matter_from_input("from input", job.InputValues(**STANDARD_BEC))
    assert made.input == job.InputValues(**STANDARD_BEC)
