"""The solver against analytic physics of a harmonically trapped condensate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft as sfft
from scipy.optimize import curve_fit

from oqtant.simulator import energies, evolve, expand, ground_state, make_grid
from oqtant.simulator.grid import LENGTH_UM, TIME_MS, TRAP_ASPECT, thomas_fermi_mu

UPDATE = 0.1 / TIME_MS  # 0.1 ms in trap units


def _grid(atom_number: float, x_half_um: float = 32.0):
    r_tf = math.sqrt(2.0 * thomas_fermi_mu(atom_number)) / TRAP_ASPECT
    r_max = max(1.5 * r_tf + 1.6, 3.0)
    nx = sfft.next_fast_len(int(2 * x_half_um / 0.16))
    nr = math.ceil(r_max * LENGTH_UM / 0.22)
    return make_grid(nx, nr, x_half_um / LENGTH_UM, r_max)


def _fit_frequency(t: np.ndarray, y: np.ndarray, guess: float) -> float:
    """Angular frequency of y(t) = a cos(w t + p) + c (least squares)."""

    def model(tt, a, w, p, c):
        return a * np.cos(w * tt + p) + c

    a0 = 0.5 * (y.max() - y.min())
    p0 = [a0, guess, 0.0, y.mean()]
    best = None
    for phase in (0.0, math.pi / 2, math.pi, -math.pi / 2):
        p0[2] = phase
        try:
            popt, _ = curve_fit(model, t, y, p0=p0, maxfev=20000)
        except RuntimeError:
            continue
        cost = np.sum((model(t, *popt) - y) ** 2)
        if best is None or cost < best[0]:
            best = (cost, popt)
    return abs(best[1][1])


@pytest.fixture(scope="module")
def small_cloud():
    grid = _grid(1e4)
    return grid, ground_state(1e4, grid)


@pytest.mark.parametrize("atom_number", [1e3, 1e4, 1e5, 2e5])
def test_ground_state_satisfies_the_virial_theorem(atom_number):
    grid = _grid(atom_number)
    gs = ground_state(atom_number, grid)
    e = energies(grid, gs.psi)
    assert abs(e.virial_residual) < 1e-4
    assert grid.integrate(np.abs(gs.psi) ** 2) == pytest.approx(atom_number, rel=1e-12)
    # mu is the energy per atom plus the interaction energy per atom
    assert gs.mu == pytest.approx((e.total + e.interaction) / atom_number, rel=1e-6)


@pytest.mark.parametrize("atom_number", [1e5, 2e5])
def test_chemical_potential_approaches_thomas_fermi_for_large_clouds(atom_number):
    gs = ground_state(atom_number, _grid(atom_number))
    assert gs.mu == pytest.approx(thomas_fermi_mu(atom_number), rel=0.03)


def test_norm_and_energy_are_conserved_over_100_ms_in_a_static_trap(small_cloud):
    grid, gs = small_cloud
    ev = evolve(gs.psi, grid, None, UPDATE, 1000, 100)
    e0 = energies(grid, gs.psi).total
    e1 = energies(grid, ev.psi_final).total
    assert abs(grid.integrate(np.abs(ev.psi_final) ** 2) / 1e4 - 1) < 1e-6
    assert abs(e1 / e0 - 1) < 1e-4
    # a converged ground state does not breathe: the axial width stays put
    widths = [
        math.sqrt(grid.integrate(np.abs(p.astype(complex)) ** 2 * grid.x[None, :] ** 2) / 1e4)
        for p in ev.psisave
    ]
    assert np.ptp(widths) / widths[0] < 1e-4


def test_kohn_dipole_mode_oscillates_at_the_trap_frequency(small_cloud):
    grid, gs = small_cloud
    shift = 2.0 / LENGTH_UM  # 2 um displacement, exact in Fourier space
    psi0 = sfft.ifft(sfft.fft(gs.psi, axis=1) * np.exp(-1j * grid.kx * shift), axis=1)
    ev = evolve(psi0, grid, None, UPDATE, 400, 2)
    centre = np.array(
        [grid.integrate(np.abs(p.astype(complex)) ** 2 * grid.x[None, :]) / 1e4 for p in ev.psisave]
    )
    omega = _fit_frequency(ev.tsave, centre, 1.0)
    assert omega == pytest.approx(1.0, rel=2e-3)  # 50 Hz in units of omega_x
    assert centre[0] == pytest.approx(shift, rel=1e-6)


def test_axial_breathing_mode_of_a_large_condensate():
    atom_number = 1e5
    grid = _grid(atom_number)
    # ground state of a 5% stiffer axial trap, released into the real one
    squeeze = 0.05 * 0.5 * grid.x**2
    gs = ground_state(atom_number, grid, potential_x=squeeze)
    ev = evolve(gs.psi, grid, None, UPDATE, 400, 2)
    width2 = np.array(
        [
            grid.integrate(np.abs(p.astype(complex)) ** 2 * grid.x[None, :] ** 2) / atom_number
            for p in ev.psisave
        ]
    )
    omega = _fit_frequency(ev.tsave, width2, math.sqrt(2.5))
    assert omega == pytest.approx(math.sqrt(2.5), rel=0.02)


def _rms(grid, density, axis_values, axis):
    weights = grid.weight_r[:, None] * grid.dx
    total = np.sum(weights * density)
    if axis == "x":
        return math.sqrt(np.sum(weights * density * axis_values[None, :] ** 2) / total)
    # rms along one radial Cartesian axis: <y^2> = <r^2> / 2
    return math.sqrt(0.5 * np.sum(weights * density * axis_values[:, None] ** 2) / total)


def test_time_of_flight_follows_the_castin_dum_scaling_solution():
    atom_number = 1e5
    grid = _grid(atom_number)
    gs = ground_state(atom_number, grid)
    tof_ms = 8.0
    ex = expand(gs.psi, grid, tof_ms / TIME_MS)
    eps = 1.0 / TRAP_ASPECT
    tau = TRAP_ASPECT * tof_ms / TIME_MS
    # analytic solution of Castin and Dum for an elongated trap (to order eps^2)
    lam_r = math.sqrt(1.0 + tau**2)
    lam_x = 1.0 + eps**2 * (tau * math.atan(tau) - math.log(math.sqrt(1.0 + tau**2)))
    chi = ex.chi_final
    lx, lr = ex.lambda_x[-1], ex.lambda_r[-1]
    # real-space widths: scaled widths times the scale factors
    sx0 = _rms(grid, gs.psi**2, grid.x, "x")
    sr0 = _rms(grid, gs.psi**2, grid.r, "r")
    sx = lx * _rms(grid, np.abs(chi) ** 2, grid.x, "x")
    sr = lr * _rms(grid, np.abs(chi) ** 2, grid.r, "r")
    assert sx / sx0 == pytest.approx(lam_x, rel=0.02)
    assert sr / sr0 == pytest.approx(lam_r, rel=0.02)
    assert (sr / sx) / (sr0 / sx0) == pytest.approx(lam_r / lam_x, rel=0.02)
    assert sr > sx  # the aspect ratio has inverted
    assert grid.integrate(np.abs(chi) ** 2) == pytest.approx(atom_number, rel=1e-9)


def test_scaling_factors_conserve_energy_and_match_the_analytic_limit():
    from oqtant.simulator import scaling_factors

    t_end = 20.0 / TIME_MS
    lam = scaling_factors(t_end)
    for t in np.linspace(0.0, t_end, 7):
        lx, lr, dlx, dlr = lam(t)
        # hydrodynamic energy of the scaling solution: kinetic + interaction / volume
        energy = 0.5 * dlx**2 + dlr**2 / TRAP_ASPECT**2 + 1.0 / (lx * lr * lr)
        assert energy == pytest.approx(1.0, rel=1e-8)
    t = 8.0 / TIME_MS
    lx, lr, _, _ = lam(t)
    tau = TRAP_ASPECT * t
    eps = 1.0 / TRAP_ASPECT
    # the closed form holds while eps^2 tau << 1 (0.3 here: about 1%)
    assert lr == pytest.approx(math.sqrt(1 + tau**2), rel=0.01)
    assert lx == pytest.approx(
        1 + eps**2 * (tau * math.atan(tau) - math.log(math.sqrt(1 + tau**2))), rel=0.01
    )
