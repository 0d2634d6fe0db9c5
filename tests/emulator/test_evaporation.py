"""RF evaporation kinetics against analytic limits and the scaling laws of forced evaporation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammainc

from oqtant.constants import H_PLANCK, K_B
from oqtant.emulator import EvaporationModel, evaporate, knife_depth_k
from oqtant.schemas.job import RfEvaporation

TIMES = [-1600, -1200, -800, -400, 0]
POWERS = [500.0, 500.0, 475.0, 360.0, 220.0]
N0, T0 = 2.5e6, 150e-6


def ramp(final_mhz: float, powers=POWERS, interpolation="LINEAR") -> RfEvaporation:
    return RfEvaporation(
        times_ms=TIMES,
        frequencies_mhz=[17.0, 8.0, 4.0, 1.2, final_mhz],
        powers_mw=list(powers),
        interpolation=interpolation,
    )


def test_knife_depth_is_h_times_frequency_above_trap_bottom():
    assert knife_depth_k(0.045, 100.0) == pytest.approx(H_PLANCK * 45e3 / K_B, rel=1e-12)
    shifted = EvaporationModel(trap_bottom_mhz=0.01)
    assert knife_depth_k(0.045, 100.0, shifted) == pytest.approx(H_PLANCK * 35e3 / K_B, rel=1e-12)
    assert math.isinf(knife_depth_k(0.045, 0.0))  # no RF power: no knife


def test_no_rf_power_leaves_only_background_loss():
    # without a knife nor three-body loss, N decays with the background lifetime and T stays
    model = EvaporationModel(three_body_loss_m6_per_s=0.0, background_lifetime_s=3.0,
                             evaporation_compression=1.0)
    rf = RfEvaporation(times_ms=[-1000, 0], frequencies_mhz=[5.0, 5.0], powers_mw=[0.0, 0.0])
    res = evaporate(rf, initial_atom_number=1e6, initial_temperature_k=20e-6, model=model)
    assert res.atom_number[-1] == pytest.approx(1e6 * math.exp(-1.0 / 3.0), rel=1e-4)
    assert res.temperature_k[-1] == pytest.approx(20e-6, rel=1e-6)


def test_a_knife_below_the_cloud_truncates_it_at_once():
    # the first RF point cuts the Boltzmann distribution: N P(3, eta) atoms stay
    model = EvaporationModel(evaporation_compression=1.0)
    t_k = 100e-6
    f_mhz = 3.0 * K_B * t_k / H_PLANCK / 1e6  # eta = 3
    rf = RfEvaporation(times_ms=[-10, 0], frequencies_mhz=[f_mhz, f_mhz], powers_mw=[500.0, 500.0])
    res = evaporate(rf, initial_atom_number=1e6, initial_temperature_k=t_k, model=model)
    assert res.atom_number[0] == pytest.approx(1e6 * gammainc(3.0, 3.0), rel=1e-9)


def test_lower_final_frequency_gives_colder_smaller_denser_clouds():
    finals = [0.03, 0.045, 0.07, 0.1, 0.2, 0.5, 1.0]
    results = [evaporate(ramp(f), initial_atom_number=N0, initial_temperature_k=T0) for f in finals]
    n = np.array([r.atom_number[-1] for r in results])
    t = np.array([r.temperature_k[-1] for r in results])
    psd = np.array([r.phase_space_density[-1] for r in results])
    assert np.all(np.diff(n) > 0)
    assert np.all(np.diff(t) > 0)
    assert np.all(np.diff(psd) < 0)


def test_temperature_follows_the_knife_with_a_truncation_parameter_near_ten():
    finals = np.array([0.03, 0.06, 0.1, 0.2, 0.4])
    res = [evaporate(ramp(f), initial_atom_number=N0, initial_temperature_k=T0) for f in finals]
    t = np.array([r.temperature_k[-1] for r in res])
    eta = np.array([r.eta[-1] for r in res])
    slope = np.polyfit(np.log(finals), np.log(t), 1)[0]
    assert 0.7 < slope < 1.0  # T nearly proportional to the knife depth
    assert np.all((eta > 8.0) & (eta < 20.0))


def test_phase_space_density_gain_per_atom_lost_is_that_of_efficient_evaporation():
    res = evaporate(ramp(0.045), initial_atom_number=N0, initial_temperature_k=T0)
    classical = res.phase_space_density < 1.0  # before degeneracy
    psd, n = res.phase_space_density[classical], res.atom_number[classical]
    gamma = -np.polyfit(np.log(n), np.log(psd), 1)[0]
    assert 2.0 < gamma < 4.5
    assert psd[-1] / psd[0] > 1e4


def test_cooling_per_lost_atom_matches_the_energy_each_evaporated_atom_carries():
    # pure evaporation at constant eta: each atom leaves with (eta + 1) k_B T of the
    # 3 k_B T average, so d ln T / d ln N = (eta - 2) / 3
    model = EvaporationModel(three_body_loss_m6_per_s=0.0, background_lifetime_s=1e9,
                             evaporation_compression=1.0)
    rf = RfEvaporation(times_ms=[-2000, 0], frequencies_mhz=[4.0, 0.8], powers_mw=[1000.0, 1000.0])
    res = evaporate(rf, initial_atom_number=3e7, initial_temperature_k=40e-6, model=model)
    late = res.times_ms > -1500
    alpha = np.polyfit(np.log(res.atom_number[late]), np.log(res.temperature_k[late]), 1)[0]
    eta_mean = float(np.mean(res.eta[late]))
    assert eta_mean > 5
    assert alpha == pytest.approx((eta_mean - 2.0) / 3.0, rel=0.15)


def test_weak_rf_power_evaporates_less_efficiently():
    strong = evaporate(ramp(0.045, [500.0] * 5), initial_atom_number=N0, initial_temperature_k=T0)
    weak = evaporate(ramp(0.045, [10.0] * 5), initial_atom_number=N0, initial_temperature_k=T0)
    assert weak.temperature_k[-1] > 1.2 * strong.temperature_k[-1]


def test_step_interpolation_holds_each_frequency_until_the_next_point():
    linear = evaporate(ramp(0.045), initial_atom_number=N0, initial_temperature_k=T0)
    steps = evaporate(ramp(0.045, interpolation="PREVIOUS"), initial_atom_number=N0,
                      initial_temperature_k=T0)
    i = int(np.argmin(np.abs(linear.times_ms + 600)))
    j = int(np.argmin(np.abs(steps.times_ms + 600)))
    # at -600 ms the steps still hold 4 MHz while the linear ramp is at 2.6 MHz
    assert steps.knife_depth_k[j] == pytest.approx(H_PLANCK * 4e6 / K_B, rel=1e-6)
    assert steps.temperature_k[j] > linear.temperature_k[i]
    # the last step drops the knife to 45 kHz at t = 0, spilling the cloud at once
    n_steps, _ = steps.at(0.0)
    assert n_steps < linear.at(0.0)[0]


def test_rf_shield_keeps_removing_atoms_during_the_experiment_stage():
    shield = RfEvaporation(
        times_ms=[*TIMES, 100],
        frequencies_mhz=[17.0, 8.0, 4.0, 1.2, 0.045, 0.02],
        powers_mw=[*POWERS, 220.0],
        interpolation="PREVIOUS",
    )
    free = evaporate(ramp(0.045, interpolation="PREVIOUS"), initial_atom_number=N0,
                     initial_temperature_k=T0, end_time_ms=100.0)
    shielded = evaporate(
        shield, initial_atom_number=N0, initial_temperature_k=T0, end_time_ms=100.0
    )
    assert shielded.at(100.0)[0] < 0.9 * free.at(100.0)[0]
    assert shielded.at(100.0)[1] < free.at(100.0)[1]


def test_any_valid_rf_program_integrates_to_a_physical_cloud():
    rng = np.random.default_rng(11)
    kinds = ["LINEAR", "OFF", "PREVIOUS"]
    for _ in range(40):
        n_points = int(rng.integers(2, 21))
        times = sorted(rng.choice(np.arange(-2000, 201), n_points, replace=False).tolist())
        if sum(t <= 0 for t in times) < 2:
            continue
        end = float(max(times[-1], 0))
        rf = RfEvaporation(
            times_ms=times,
            frequencies_mhz=rng.uniform(0.0, 25.0, n_points).round(4).tolist(),
            powers_mw=rng.choice([0.0, 5.0, 200.0, 1000.0], n_points).tolist(),
            interpolation=kinds[int(rng.integers(3))],
        )
        res = evaporate(rf, initial_atom_number=N0, initial_temperature_k=T0, end_time_ms=end)
        assert np.all(np.isfinite(res.atom_number)) and np.all(res.atom_number >= 0)
        assert np.all(np.isfinite(res.temperature_k)) and np.all(res.temperature_k > 0)
        assert np.all(np.diff(res.atom_number) <= 1e-9 * N0)  # atoms are only ever lost
        assert res.times_ms[-1] == pytest.approx(end)
