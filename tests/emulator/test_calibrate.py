"""Calibration of the emulated apparatus: statistics, parameter recovery, calibrated defaults."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from oqtant.emulator import Apparatus, ApparatusSettings, EvaporationModel, evaporate
from oqtant.emulator.calibrate import (
    PARAMETERS,
    RealRun,
    calibrate,
    get_parameter,
    image_statistics,
    load_real_runs,
    profile_correlation,
    radial_halo_profile,
    with_parameters,
)
from oqtant.errors import ValidationError
from oqtant.schemas.job import RfEvaporation

TEST_JOBS = Path(__file__).resolve().parents[1] / "data" / "real_jobs"


@pytest.fixture(scope="module")
def test_runs() -> list[RealRun]:
    return load_real_runs(TEST_JOBS)


def test_the_reference_simulator_files_are_left_out(test_runs):
    names = [r.name for r in test_runs]
    assert names and not any("DarkSolitonCollective" in n for n in names)
    assert len(load_real_runs(TEST_JOBS, include_simulator=True)) == len(names) + 2
    assert {r.in_trap for r in test_runs} == {True, False}


def test_parameters_are_set_where_the_model_reads_them():
    s = with_parameters(ApparatusSettings(), {"trap_bottom_khz": -0.02, "in_trap_resolution": 2.5})
    assert s.evaporation.trap_bottom_mhz == -0.02
    assert s.in_trap_camera.resolution_um == 2.5
    assert get_parameter(s, "in_trap_resolution") == 2.5
    assert s.tof_camera == ApparatusSettings().tof_camera
    with pytest.raises(ValidationError, match="unknown parameter 'nope'"):
        with_parameters(s, {"nope": 1.0})


def test_stage_heating_warms_the_cloud_in_the_science_trap_only():
    rf = RfEvaporation(times_ms=[-1000, 0], frequencies_mhz=[5.0, 5.0], powers_mw=[0.0, 0.0])
    kw = {"initial_atom_number": 1e3, "initial_temperature_k": 1e-6, "end_time_ms": 40.0}
    base = EvaporationModel(three_body_loss_m6_per_s=0.0, evaporation_compression=1.0)
    cold = evaporate(rf, model=base, **kw)
    hot = evaporate(rf, model=dataclasses.replace(base, stage_heating_nk_per_ms=5.0), **kw)
    assert hot.at(0.0)[1] == pytest.approx(cold.at(0.0)[1], rel=1e-9)  # nothing before t = 0
    assert hot.at(40.0)[1] - cold.at(40.0)[1] == pytest.approx(200e-9, rel=0.02)


def test_profile_correlation_aligns_shifted_profiles():
    x = np.arange(503.0)
    a = np.exp(-0.5 * ((x - 250) / 30) ** 2) * (1 + 0.3 * np.cos(x / 3))
    b = np.roll(a, 17)[:495]  # shifted, and shorter
    assert profile_correlation(a, b) > 0.99
    assert profile_correlation(a, np.exp(-0.5 * ((x - 250) / 30) ** 2)) < 0.99


def test_in_trap_axial_width_is_that_of_the_cloud_not_of_the_frames_background():
    # a Gaussian cloud (rms 12 um along x) on a frame whose background OD drifts
    # across the 503 columns, as the real in-trap frames' does, plus pixel noise
    pix = 0.344
    x = (np.arange(503) - 200) * pix
    y = (np.arange(148) - 74) * pix
    cloud = 1.2 * np.exp(-0.5 * (x[None, :] / 12.0) ** 2 - 0.5 * (y[:, None] / 1.8) ** 2)
    drift = 0.03 * np.clip((x - 20.0) / 60.0, 0.0, 1.0)[None, :]
    noise = 0.026 * np.random.default_rng(1).standard_normal(cloud.shape)
    values = load_real_runs(TEST_JOBS)[-1].values
    assert values.image_type.value == "IN_TRAP"
    stats = image_statistics(cloud + drift + noise, pix, values, ApparatusSettings())
    # the rms of a Gaussian cut at a tenth of its peak: 0.84 sigma
    cut = 12.0 * np.sqrt(2 * np.log(10.0))
    inside = np.abs(x) < cut
    rms_cut = np.sqrt(
        np.sum((x**2 * np.exp(-0.5 * (x / 12.0) ** 2))[inside])
        / np.sum(np.exp(-0.5 * (x / 12.0) ** 2)[inside])
    )
    assert stats["axial_rms_um"] == pytest.approx(rms_cut, rel=0.06)
    assert stats["integrated_od"] == pytest.approx(cloud.sum(), rel=0.05)


def test_the_real_clouds_condense_in_the_machines_trap_not_in_the_nominal_one(test_runs):
    # the real 10 ms TOF runs: the fit finds a few percent condensed at about 400 nK
    from scipy.special import zeta

    from oqtant.constants import HBAR, K_B, OMEGA_BAR
    from oqtant.emulator._cloud import critical_temperature_k

    s = ApparatusSettings()
    tof = [r for r in test_runs if not r.in_trap and r.values.time_of_flight_ms == 10.0]
    assert len(tof) >= 3
    for run in tof:
        stats = image_statistics(run.image, run.pixcal_um, run.values, s)
        n, t = stats["atom_number"], stats["temperature_nk"] * 1e-9
        assert 0.02 < stats["condensed_fraction"] < 0.2
        # a 50 / 400 Hz trap: even the ideal-gas Tc of 1.3 times the counted atoms
        # (the fit counts these excited clouds low) lies below the temperature
        tc_nominal = HBAR * OMEGA_BAR / K_B * (1.3 * n / zeta(3)) ** (1 / 3)
        assert t > tc_nominal
        # the calibrated machine's trap: the temperature sits just at its Tc
        assert t / critical_temperature_k(n) == pytest.approx(1.0, abs=0.1)


def _synthetic_runs(settings: ApparatusSettings, runs: list[RealRun], seed: int) -> list[RealRun]:
    apparatus = Apparatus(settings)
    return [dataclasses.replace(r, image=apparatus.simulate(r.values, seed).od_image) for r in runs]


@pytest.mark.slow
def test_calibration_recovers_the_capture_and_the_in_trap_resolution_of_synthetic_data(
    test_runs,
):
    # "real" images made by the (fast) model with two parameters changed, with other
    # camera noise than the calibration's own emulations
    fast = dataclasses.replace(ApparatusSettings(), use_simulator=False, thermal_particles=4000)
    truth = {
        "capture_fraction": 1.3 * fast.capture_fraction,
        "in_trap_resolution": 1.4 * fast.in_trap_camera.resolution_um,
    }
    runs = [test_runs[0], *[r for r in test_runs if r.in_trap][:1]]
    fake = _synthetic_runs(with_parameters(fast, truth), runs, seed=7)
    result = calibrate(fake, tuple(truth), base=fast, coarse_evaluations=25, fine_evaluations=0)
    for name, value, error in zip(result.names, result.values, result.errors, strict=True):
        assert value == pytest.approx(truth[name], rel=0.1), name
        assert 0 < error < 0.2 * truth[name]
    assert result.settings.capture_fraction == pytest.approx(truth["capture_fraction"], rel=0.1)
    assert "capture_fraction" in result.report()


@pytest.mark.slow
def test_calibration_runs_on_the_test_files(test_runs):
    result = calibrate(
        test_runs,
        ("capture_fraction", "stage_heating"),
        tof_runs=2,
        in_trap_runs=1,
        coarse_evaluations=3,
        fine_evaluations=1,
    )
    assert len(result.runs) == 3
    assert np.all(np.isfinite(result.values)) and np.all(np.isfinite(result.errors))
    for name, value in zip(result.names, result.values, strict=True):
        assert PARAMETERS[name].lower <= value <= PARAMETERS[name].upper


@pytest.mark.slow
def test_calibrated_model_has_the_real_in_trap_radial_width(test_runs):
    run = next(r for r in test_runs if r.name.endswith("NoPatternExpt_rep_0"))
    s = ApparatusSettings()
    real = image_statistics(run.image, run.pixcal_um, run.values, s)
    emu = image_statistics(
        Apparatus(s).simulate(run.values, 0).od_image, run.pixcal_um, run.values, s
    )
    assert 4.0 < real["radial_fwhm_um"] < 5.0
    assert emu["radial_fwhm_um"] == pytest.approx(real["radial_fwhm_um"], rel=0.12)


def test_the_smooth_reference_keeps_the_complement_of_the_integrated_od():
    from oqtant.emulator._imaging import subtract_smooth_reference

    camera = ApparatusSettings().in_trap_camera
    # a frame large beside the blur, so that its edges do not matter
    y, x = np.mgrid[0:600, 0:900] * camera.pixcal_um
    yc, xc = 300 * camera.pixcal_um, 450 * camera.pixcal_um
    od = np.exp(-0.5 * ((x - xc) / 15.0) ** 2 - 0.5 * ((y - yc) / 2.0) ** 2)
    out = subtract_smooth_reference(od, camera)
    # the blur keeps the integral: the correction removes its fraction of the atoms
    assert out.sum() == pytest.approx((1 - camera.reference_fraction) * od.sum(), rel=1e-3)
    # and leaves a negative halo beside the cloud: 10 um out, the blurred line
    # density (an analytic Gaussian of rms sqrt(2^2 + sigma_y^2)) times the fraction
    sy = math.hypot(2.0, camera.reference_sigma_y_um)
    sx = math.hypot(15.0, camera.reference_sigma_x_um)
    expected = (
        -camera.reference_fraction * (2.0 / sy) * (15.0 / sx) * math.exp(-0.5 * (10 / sy) ** 2)
    )
    assert out[300 + round(10 / camera.pixcal_um), 450] == pytest.approx(expected, rel=0.02)


def test_the_emulated_in_trap_frames_have_the_real_frames_halo(test_runs):
    """The software's smooth background reproduces the real frames' negative halo:
    mean OD across the cloud within 0.02 a bin from 5 to 20 um out (real: -0.04 to
    -0.06 at 5 to 12 um); without it the emulated wings stay at zero."""
    runs = [r for r in test_runs if r.in_trap]
    off = dataclasses.replace(ApparatusSettings().in_trap_camera, reference_fraction=0.0)
    for run in runs:
        _, real = radial_halo_profile(run.image, run.pixcal_um)
        _, emu = radial_halo_profile(
            Apparatus().simulate(run.values, seed=0).od_image, run.pixcal_um
        )
        plain = Apparatus(dataclasses.replace(ApparatusSettings(), in_trap_camera=off))
        _, none = radial_halo_profile(plain.simulate(run.values, seed=0).od_image, run.pixcal_um)
        halo = slice(2, 8)  # 5 to 20 um
        assert real[halo].min() < -0.035
        assert np.max(np.abs(emu[halo] - real[halo])) < 0.02
        assert none[halo].min() > -0.015
