"""Steps (a position or time given twice), and the small helpers, against the reference."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

from oqtant import projection as P
from oqtant.oqtant_client import barrier_manipulator_job, ultracold_matter_job
from oqtant.schemas import job, output, quantum_matter, rf
from oqtant.schemas.interpolation import interpolate_1d
from oqtant.schemas.quantum_matter import QuantumMatterFactory
from tests.reference._surface import load
from tests.reference.test_reference_parity import canon

HELPERS = load("helpers.json")
KINDS = ["LINEAR", "SLINEAR", "SMOOTH", "CUBIC", "QUADRATIC", "NEAREST", "OFF", "NEXT"]


# --------------------------------------------------------------------------- steps


@pytest.mark.parametrize("kind", KINDS)
def test_a_position_given_twice_is_a_step_for_every_kind(kind):
    x = [-60.0, -30.0, -1e-9, 0.0, 1e-9, 30.0, 60.0]
    values = interpolate_1d([-60, 0, 0, 60], [0, 0, 5, 5], x, kind)
    np.testing.assert_allclose(values, [0, 0, 0, 5, 5, 5, 5], atol=1e-6)


def test_a_time_given_twice_is_a_jump():
    t = [0.0, 1.0, 1.999, 2.0, 2.001, 4.0, 6.0]
    np.testing.assert_allclose(interpolate_1d([0, 2, 2, 6], [0, 0, 20, 20], t),
                               [0, 0, 0, 20, 20, 20, 20])
    # a ramp either side of the jump stays a ramp
    np.testing.assert_allclose(interpolate_1d([0, 2, 2, 4], [0, 10, 30, 10], [1, 3]), [5, 20])


def _step_matter():
    qmf = QuantumMatterFactory()
    snaps = [qmf.create_snapshot(t, [-60, 0, 0, 60], [0, 0, 5, 5]) for t in (0.0, 2.0)]
    return qmf.create_quantum_matter(lifetime=5, landscape=qmf.create_landscape(snaps))


def test_the_projected_step_rises_over_the_optical_resolution():
    x = np.linspace(-30, 30, 6001)
    felt = P.projected_potential_khz(_step_matter().input, [1.0], x)[0]
    assert np.all(felt[x < -2.5] < 0.05) and np.all(np.abs(felt[x > 2.5] - 5.0) < 0.1)
    rising = x[(felt > 0.5) & (felt < 4.5)]
    assert rising.max() - rising.min() < 2.2  # not a ramp over 60 um


def test_the_step_imprints_2_pi_v_t_of_phase_between_its_sides():
    """A potential V (kHz) held for t (ms) turns the phase by 2 pi V t (rad)."""
    dt = 0.01
    t = np.arange(0.0, 2.0, dt) + dt / 2  # the step is on from 0 to 2 ms
    x = np.array([-15.0, 15.0])
    felt = P.projected_potential_khz(_step_matter().input, t, x)
    phase = -2 * math.pi * felt.sum(axis=0) * dt  # rad, kHz * ms = cycles
    assert phase[0] - phase[1] == pytest.approx(2 * math.pi * 5.0 * 2.0, rel=0.01)


# --------------------------------------------------------------------------- helpers


def test_cloud_profiles_match_the_reference():
    mesh = (np.asarray(HELPERS["mesh"]["x"]), np.asarray(HELPERS["mesh"]["y"]))
    for name in ("TF_dist_2D", "Gaussian_dist_2D", "bimodal_dist_2D"):
        case = HELPERS[name]
        ours = getattr(output, name)(mesh, *case["args"])
        np.testing.assert_allclose(ours, case["result"], rtol=0, atol=1e-12)
        assert ours.shape == (mesh[0].size,)


def test_round_sig_matches_the_reference():
    for value, sig, expected in HELPERS["round_sig"]:
        assert output.round_sig(value, sig) == expected
    assert output.round_sig(0.0) == 0.0


def test_print_keys_prints_what_the_reference_prints():
    subject = HELPERS["print_keys"]["subject"]
    for label, printed in HELPERS["print_keys"]["printed"].items():
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            if label == "not a dict":
                job.print_keys([1, 2])
            else:
                indent, drill = (part.split("=")[1] for part in label.split(","))
                job.print_keys(subject, indent=int(indent), drill_lists=drill == "True")
        assert buf.getvalue() == printed
    assert output.print_keys is job.print_keys


def test_in_trap_check_skips_in_trap_outputs():
    class Fake:
        def __init__(self, image_type):
            self.image_type = image_type

    @output.in_trap_check
    def doubled(obj, value=1):
        return value * 2

    for image, recorded in HELPERS["in_trap_check"].items():
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            result = doubled(Fake(output.OutputImageType(image)), value=21)
        assert result == recorded["result"]
        assert bool(buf.getvalue()) == bool(recorded["stdout"])


def test_small_names_match_the_reference():
    assert {m.name: m.value for m in output.OutputImageType} == HELPERS["OutputImageType"]
    login = quantum_matter.OqtantLogin()
    assert list(vars(login)) == HELPERS["OqtantLogin"]["fields"] and login.access_token is None
    assert quantum_matter.ConversionError is rf.ConversionError
    assert issubclass(rf.ConversionError, Exception)
    with pytest.raises(rf.ConversionError):
        rf.RfShield.from_input(job.RfEvaporation(times_ms=[-10, 0], frequencies_mhz=[1, 0.5],
                                                 powers_mw=[1, 1]))
    constants = HELPERS["constants"]
    per_nk = quantum_matter.TEMPERATURE_TO_EVAP_FREQUENCY
    assert per_nk == constants["TEMPERATURE_TO_EVAP_FREQUENCY"]
    assert quantum_matter.DEFAULT_NAME == constants["DEFAULT_NAME"]
    assert quantum_matter.DEFAULT_LIFETIME == constants["DEFAULT_LIFETIME"]
    assert quantum_matter.DEFAULT_TOF == constants["DEFAULT_TOF"]
    assert quantum_matter.DEFAULT_IMAGE.value == constants["DEFAULT_IMAGE"]
    assert canon(quantum_matter.DEFAULT_RF_EVAP.model_dump(mode="json")) == canon(
        constants["DEFAULT_RF_EVAP"])
    assert job.SIG_ABS == constants["SIG_ABS"]


def test_the_ultracold_matter_job_is_the_reference_one():
    assert canon(ultracold_matter_job) == canon(HELPERS["standard_jobs"]["ultracold_matter_job"])


def test_the_barrier_job_shares_the_reference_ones_settings():
    """Ours is the project's standard barrier job (one barrier stepping up at a fixed
    position); the reference's sample has two. The rest is the same."""
    ours = barrier_manipulator_job["inputs"][0]["values"]
    ref = HELPERS["standard_jobs"]["barrier_manipulator_job"]["inputs"][0]["values"]
    for key in ("time_of_flight_ms", "image_type", "end_time_ms", "rf_evaporation", "lasers",
                "optical_landscape"):
        assert canon(ours[key]) == canon(ref[key])
    assert barrier_manipulator_job["name"] == HELPERS["standard_jobs"]["barrier_manipulator_job"][
        "name"]


def test_the_simulated_condensate_takes_the_steps_phase():
    """Gross-Pitaevskii check: 0.5 kHz held for 0.5 ms on one side turns its phase by pi/2."""
    from oqtant.simulator import Simulator

    qmf = QuantumMatterFactory()
    volts_khz, hold_ms = 0.5, 0.5
    snaps = [qmf.create_snapshot(t, [-60, 0, 0, 60], [0, 0, volts_khz, volts_khz])
             for t in (0.0, hold_ms)]
    matter = qmf.create_quantum_matter(lifetime=hold_ms, image="IN_TRAP",
                                       landscape=qmf.create_landscape(snaps))
    sim = Simulator(matter.input)
    sim.run(progress=False)
    x = sim.x_um
    left, right = np.argmin(np.abs(x + 6.0)), np.argmin(np.abs(x - 6.0))
    turned = sim.get_phase(hold_ms)[0] - sim.get_phase(0.0)[0]  # on the axis
    difference = np.angle(np.exp(1j * (turned[left] - turned[right])))
    assert difference == pytest.approx(2 * math.pi * volts_khz * hold_ms, rel=0.03)
