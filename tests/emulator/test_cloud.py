"""Degeneracy and the profiles of condensate and thermal cloud against analytic results."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oqtant.constants import HBAR, K_B, KHZ_TO_J, RB87_MASS_KG, RB87_SCATTERING_LENGTH_M
from oqtant.emulator import (
    castin_dum_scaling,
    critical_temperature_k,
    equilibrium_cloud,
    thomas_fermi_chemical_potential_j,
)
from oqtant.emulator._cloud import (
    OMEGA_BAR,
    TRAP_OMEGAS,
    condensate_column_density,
    condensate_column_density_in_potential,
    thermal_column_density,
    thermal_kept_fraction,
)


def test_critical_temperature_of_the_ideal_gas_and_its_shifts():
    n = 5e4
    ideal = 0.94 * HBAR * OMEGA_BAR * n ** (1 / 3) / K_B
    assert critical_temperature_k(n, corrections=False) == pytest.approx(ideal, rel=2e-3)
    shifted = critical_temperature_k(n)
    assert 0.85 * ideal < shifted < ideal  # finite size and interactions both lower Tc


def test_condensed_fraction_below_and_fugacity_above_the_transition():
    n = 5e4
    tc = critical_temperature_k(n)
    cold = equilibrium_cloud(n, 0.6 * tc)
    assert cold.condensed_fraction == pytest.approx(1 - 0.6**3, rel=1e-9)
    assert cold.fugacity == 1.0
    hot = equilibrium_cloud(n, 1.5 * tc)
    assert hot.condensed_atom_number == 0.0 and 0.0 < hot.fugacity < 1.0
    # just above Tc the fugacity approaches 1; far above, the gas is classical (z -> small)
    assert equilibrium_cloud(n, 1.001 * tc).fugacity > 0.95
    assert equilibrium_cloud(n, 10 * tc).fugacity < 0.01


def test_thomas_fermi_chemical_potential_and_radii():
    n = 2e4
    a_ho = math.sqrt(HBAR / (RB87_MASS_KG * OMEGA_BAR))
    mu = 0.5 * HBAR * OMEGA_BAR * (15 * n * RB87_SCATTERING_LENGTH_M / a_ho) ** 0.4
    assert thomas_fermi_chemical_potential_j(n) == pytest.approx(mu, rel=1e-12)
    state = equilibrium_cloud(n / 0.999, 0.1 * critical_temperature_k(n / 0.999))
    r_x, r_y, r_z = state.tf_radii_um
    assert r_x / r_y == pytest.approx(TRAP_OMEGAS[1] / TRAP_OMEGAS[0], rel=1e-12)  # 8
    assert 1.0 < state.chemical_potential_khz < 5.0  # kHz for ten thousands of atoms


def test_castin_dum_expansion_inverts_the_aspect_ratio():
    lam_x, lam_r, _ = castin_dum_scaling(10.0)
    eps = TRAP_OMEGAS[0] / TRAP_OMEGAS[1]
    tau = TRAP_OMEGAS[1] * 10e-3
    assert lam_r == pytest.approx(math.sqrt(1 + tau**2), rel=0.01)
    # Castin and Dum, first order in the trap aspect ratio
    first_order = 1 + eps**2 * (tau * math.atan(tau) - math.log(math.sqrt(1 + tau**2)))
    assert lam_x == pytest.approx(first_order, rel=0.02)
    state = equilibrium_cloud(2e4, 1e-9)
    r_x, r_y, _ = state.tf_radii_um
    # elongated along x in the trap, along y after the flight
    assert r_x > r_y and lam_r * r_y > lam_x * r_x


def _grid(half_um, step_um):
    return np.arange(-half_um, half_um + 1e-9, step_um)


@pytest.mark.parametrize("tof_ms", [0.0, 10.0])
def test_thermal_cloud_holds_its_atoms_in_trap_and_after_flight(tof_ms):
    state = equilibrium_cloud(1e5, 1.3 * critical_temperature_k(1e5))
    x, y = _grid(500, 1.0), _grid(500, 0.25)
    col = thermal_column_density(x, y, state, time_of_flight_ms=tof_ms)
    assert col.sum() * 1e-6 * 0.25e-6 == pytest.approx(state.thermal_atom_number, rel=1e-3)


def test_classical_thermal_cloud_expands_as_sigma0_squared_plus_kT_t2_over_m():
    t_k = 2e-6
    state = equilibrium_cloud(1e4, t_k)  # far above Tc: Boltzmann
    assert state.fugacity < 0.01
    x, y = _grid(600, 1.0), np.array([0.0])
    profile = thermal_column_density(x, y, state, time_of_flight_ms=8.0)[0]
    sigma_um = math.sqrt(np.sum(profile * x**2) / np.sum(profile))
    sigma0 = math.sqrt(K_B * t_k / RB87_MASS_KG) / TRAP_OMEGAS[0]
    expected = math.sqrt(sigma0**2 + K_B * t_k * (8e-3) ** 2 / RB87_MASS_KG) * 1e6
    assert sigma_um == pytest.approx(expected, rel=2e-3)


def test_bose_enhanced_thermal_cloud_is_more_peaked_than_a_boltzmann_one():
    n = 5e4
    tc = critical_temperature_k(n)
    saturated = equilibrium_cloud(n, 0.9 * tc)  # z = 1
    x, y = _grid(150, 0.5), np.array([0.0])
    prof = thermal_column_density(x, y, saturated)[0]
    sigma_boltzmann = math.sqrt(K_B * saturated.temperature_k / RB87_MASS_KG) / TRAP_OMEGAS[0] * 1e6
    width = math.sqrt(np.sum(prof * x**2) / np.sum(prof))
    # the column density of an ideal Bose gas is g_2(z exp(-V/kT)): narrower than the Gaussian
    assert width < 0.95 * sigma_boltzmann


def test_optical_potential_path_matches_the_harmonic_one_without_light():
    state = equilibrium_cloud(8e4, 300e-9)
    grid = _grid(300, 0.2)
    x, y = _grid(200, 2.0), _grid(40, 1.0)
    for tof in (0.0, 8.0):
        plain = thermal_column_density(x, y, state, time_of_flight_ms=tof)
        general = thermal_column_density(
            x, y, state, time_of_flight_ms=tof,
            potential_x_khz=np.zeros_like(grid), potential_grid_um=grid,
        )
        assert np.max(np.abs(general - plain)) < 1e-4 * plain.max()
    tf, mu, kept = condensate_column_density_in_potential(
        x, y, state.condensed_atom_number, np.zeros_like(grid), grid)
    assert mu == pytest.approx(state.chemical_potential_j, rel=1e-3)
    assert kept == 1.0
    analytic = condensate_column_density(x, y, state)
    assert np.max(np.abs(tf - analytic)) < 0.01 * analytic.max()


def test_a_barrier_pushes_condensate_and_thermal_atoms_aside():
    state = equilibrium_cloud(8e4, 300e-9)
    grid = _grid(300, 0.2)
    barrier = 20.0 * np.exp(-0.5 * grid**2 / 1.5**2)  # 20 kHz, sigma 1.5 um, at 0
    x, y = np.array([0.0, 8.0]), np.array([0.0])
    th = thermal_column_density(x, y, state, potential_x_khz=barrier, potential_grid_um=grid)[0]
    th0 = thermal_column_density(x, y, state)[0]
    kt_khz = K_B * 300e-9 / KHZ_TO_J
    assert th[0] / th[1] < 2 * math.exp(-20.0 / kt_khz)  # Boltzmann (plus Bose) suppression
    assert th[1] > th0[1]  # the atoms went to the sides
    tf, mu, _ = condensate_column_density_in_potential(
        x, y, state.condensed_atom_number, barrier, grid
    )
    assert tf[0, 0] == 0.0 and tf[0, 1] > 0.0  # 20 kHz is far above mu
    assert mu > state.chemical_potential_j


def test_a_resonant_pulse_removes_the_atoms_where_it_shines():
    state = equilibrium_cloud(8e4, 300e-9)
    grid = _grid(300, 0.2) + 0.1  # no point at 0
    survival = np.where(grid > 0, 0.0, 1.0)  # the right half removed
    kept = thermal_kept_fraction(state, potential_x_khz=np.zeros_like(grid), potential_grid_um=grid,
                                 survival_x=survival)
    assert kept == pytest.approx(0.5, abs=2e-3)
    _, _, kept_c = condensate_column_density_in_potential(
        np.zeros(1), np.zeros(1), state.condensed_atom_number, np.zeros_like(grid), grid,
        survival_x=survival)
    assert kept_c == pytest.approx(0.5, abs=2e-3)


def test_a_few_hot_atoms_are_a_dilute_classical_gas():
    # one atom at 20 uK: a phase-space density of 1e-10, whose fugacity must not round to 0
    state = equilibrium_cloud(1.3, 2.2e-5)
    assert state.condensed_atom_number == 0.0
    assert 0.0 < state.fugacity < 1e-6
    x = np.linspace(-1200.0, 1200.0, 1201)  # the cloud is 150 um wide along x
    column = thermal_column_density(x, x, state)
    assert np.isfinite(column).all()
    assert column.sum() * (2e-6) ** 2 == pytest.approx(1.3, rel=0.01)
