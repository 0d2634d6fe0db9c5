"""A trapped Bose gas in equilibrium: condensate and thermal cloud, in trap and after flight.

The trap is harmonic (``MACHINE_TRAP_FREQUENCY_AXIAL_HZ`` along x,
``MACHINE_TRAP_FREQUENCY_RADIAL_HZ`` along y and z: the machine's calibrated science
trap), plus an optional optical potential along x. Images look along z, so column
densities are functions of (x, y). Positions in um, column
densities in atoms per m^2.

- Degeneracy: ideal-gas critical temperature with the finite-size and
  interaction shifts; condensed fraction ``1 - (T/Tc)^3``; Thomas-Fermi chemical
  potential and radii.
- Thermal cloud: semiclassical ideal Bose gas, a sum over ``j`` of Gaussians
  ``z^j exp(-j (p^2/2m + V) / k_B T)``; each term expands ballistically, so the
  time-of-flight profile is exact for a harmonic trap (``sigma^2 = sigma_0^2 +
  k_B T t^2 / m`` for each term) and, with an optical potential along x, the
  x-profile of each term is convolved with its momentum spread.
- Condensate: Thomas-Fermi profile; expansion by the Castin-Dum scaling
  equations ``lambda_i'' = omega_i^2 / (lambda_i lambda_x lambda_y lambda_z)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq
from scipy.special import zeta

from oqtant.constants import (
    HBAR,
    K_B,
    KHZ_TO_J,
    MACHINE_OMEGA_BAR,
    MACHINE_TRAP_FREQUENCY_AXIAL_HZ,
    MACHINE_TRAP_FREQUENCY_RADIAL_HZ,
    RB87_MASS_KG,
    RB87_SCATTERING_LENGTH_M,
)

__all__ = [
    "TRAP_OMEGAS",
    "OMEGA_BAR",
    "INTERACTION_J_M3",
    "CloudState",
    "critical_temperature_k",
    "thomas_fermi_chemical_potential_j",
    "equilibrium_cloud",
    "castin_dum_scaling",
    "thermal_column_density",
    "thermal_kept_fraction",
    "condensate_column_density",
    "condensate_column_density_in_potential",
    "condensate_line_density_in_potential",
]

TRAP_OMEGAS = (
    2 * math.pi * MACHINE_TRAP_FREQUENCY_AXIAL_HZ,
    2 * math.pi * MACHINE_TRAP_FREQUENCY_RADIAL_HZ,
    2 * math.pi * MACHINE_TRAP_FREQUENCY_RADIAL_HZ,
)
"""Angular trap frequencies (x, y, z) of the machine's science trap, rad/s."""
OMEGA_BAR = MACHINE_OMEGA_BAR
INTERACTION_J_M3 = 4 * math.pi * HBAR**2 * RB87_SCATTERING_LENGTH_M / RB87_MASS_KG
_A_HO_M = math.sqrt(HBAR / (RB87_MASS_KG * OMEGA_BAR))
_N_BOSE_TERMS = 80


@dataclass(frozen=True)
class CloudState:
    """Equilibrium of N atoms at temperature T in the trap."""

    atom_number: float
    temperature_k: float
    critical_temperature_k: float
    condensed_atom_number: float
    thermal_atom_number: float
    fugacity: float
    chemical_potential_j: float  # Thomas-Fermi mu of the condensate (0 without one)

    @property
    def condensed_fraction(self) -> float:
        return self.condensed_atom_number / self.atom_number if self.atom_number > 0 else 0.0

    @property
    def chemical_potential_khz(self) -> float:
        return self.chemical_potential_j / KHZ_TO_J

    @property
    def tf_radii_um(self) -> tuple[float, float, float]:
        """Thomas-Fermi radii (x, y, z) in um, ``sqrt(2 mu / (m omega_i^2))``."""
        rx, ry, rz = (
            math.sqrt(2 * self.chemical_potential_j / (RB87_MASS_KG * w**2)) * 1e6
            for w in TRAP_OMEGAS
        )
        return rx, ry, rz

    @property
    def thermal_widths_um(self) -> tuple[float, float, float]:
        """In-trap rms widths (x, y, z) of a Boltzmann cloud at this T, um."""
        sx, sy, sz = (
            math.sqrt(K_B * self.temperature_k / RB87_MASS_KG) / w * 1e6 for w in TRAP_OMEGAS
        )
        return sx, sy, sz


def critical_temperature_k(atom_number: float, corrections: bool = True) -> float:
    """BEC transition temperature in the trap.

    ``0.94 hbar omega_bar N^(1/3) / k_B``, times ``1 - 0.73 (omega_mean/omega_bar)
    N^(-1/3)`` (finite size) ``- 1.33 (a / a_ho) N^(1/6)`` (interactions) when
    ``corrections``.
    """
    if atom_number <= 0:
        return 0.0
    tc0 = HBAR * OMEGA_BAR / K_B * (atom_number / zeta(3)) ** (1 / 3)
    if not corrections:
        return tc0
    omega_mean = sum(TRAP_OMEGAS) / 3
    shift = 0.73 * omega_mean / OMEGA_BAR * atom_number ** (-1 / 3)
    shift += 1.33 * RB87_SCATTERING_LENGTH_M / _A_HO_M * atom_number ** (1 / 6)
    return tc0 * max(1.0 - shift, 0.05)


def thomas_fermi_chemical_potential_j(condensed_atom_number: float) -> float:
    """``mu = (hbar omega_bar / 2) (15 N a / a_ho)^(2/5)``, J (0 for no atoms)."""
    if condensed_atom_number <= 0:
        return 0.0
    return (
        0.5
        * HBAR
        * OMEGA_BAR
        * (15 * condensed_atom_number * RB87_SCATTERING_LENGTH_M / _A_HO_M) ** 0.4
    )


def _bose_g(order: float, fugacity: float, terms: int = 400) -> float:
    j = np.arange(1, terms + 1, dtype=float)
    return float(np.sum(fugacity**j / j**order))


def equilibrium_cloud(atom_number: float, temperature_k: float) -> CloudState:
    """Split N atoms at T into condensate and thermal cloud."""
    n = float(atom_number)
    t = float(temperature_k)
    tc = critical_temperature_k(n)
    if n <= 0:
        return CloudState(0.0, t, 0.0, 0.0, 0.0, 0.0, 0.0)
    if t < tc:
        n_th = n * (t / tc) ** 3
        z = 1.0
    else:
        n_th = n
        # N = g3(z) (k_B T / hbar omega_bar)^3, with the capacity scaled so that
        # z reaches 1 at the corrected critical temperature
        shift = (critical_temperature_k(n, False) / tc) ** 3
        capacity = (K_B * t / (HBAR * OMEGA_BAR)) ** 3 * shift
        target = min(n / capacity, _bose_g(3.0, 1.0 - 1e-12) * (1 - 1e-9))
        if target < 1e-6:
            # a dilute gas: g_3(z) = z + z^2 / 8 + ..., inverted (brentq's absolute
            # tolerance would round such a fugacity to 0)
            z = target * (1.0 - target / 8.0)
        else:
            z = brentq(lambda f: _bose_g(3.0, f) - target, 0.0, 1.0 - 1e-12, xtol=1e-14)
    n_c = n - n_th
    return CloudState(n, t, tc, n_c, n_th, z, thomas_fermi_chemical_potential_j(n_c))


def castin_dum_scaling(time_of_flight_ms: float) -> tuple[float, float, float]:
    """Scale factors (x, y, z) of a Thomas-Fermi condensate released from the trap."""
    t_end = time_of_flight_ms * 1e-3
    if t_end <= 0:
        return (1.0, 1.0, 1.0)
    w = np.asarray(TRAP_OMEGAS)

    def rhs(_t, y):
        lam, dlam = y[:3], y[3:]
        return np.concatenate([dlam, w**2 / (lam * np.prod(lam))])

    sol = solve_ivp(rhs, (0.0, t_end), [1, 1, 1, 0, 0, 0], method="DOP853", rtol=1e-9, atol=1e-12)
    lam = sol.y[:3, -1]
    return float(lam[0]), float(lam[1]), float(lam[2])


def _gaussian(u, sigma):
    return np.exp(-0.5 * (u / sigma) ** 2) / (math.sqrt(2 * math.pi) * sigma)


def _thermal_terms(x, state, time_of_flight_ms, potential_x_khz, potential_grid_um, survival_x):
    """Per-term x-profiles of the thermal cloud and their weights.

    Returns (j, weights, totals, kept, gx): term j has weight ``z^j / j^(5/2)``;
    ``totals`` is the x-integral of its Boltzmann factor before any loss,
    ``kept`` after it, and ``gx`` (J, nx) its x-profile on ``x`` (m) after flight.
    """
    kt = K_B * state.temperature_k
    t = time_of_flight_ms * 1e-3
    wx = TRAP_OMEGAS[0]
    sig_x = math.sqrt(kt / RB87_MASS_KG) / wx
    j = np.arange(1, _N_BOSE_TERMS + 1, dtype=float)
    weights = state.fugacity**j / j**2.5
    if potential_x_khz is None and survival_x is None:
        widths = sig_x / np.sqrt(j)
        totals = math.sqrt(2 * math.pi) * widths  # integral of exp(-j V_x / k_B T)
        gx = totals[:, None] * _gaussian(x[None, :], widths[:, None] * math.sqrt(1 + (wx * t) ** 2))
        return j, weights, totals, totals, gx
    grid = np.asarray(potential_grid_um, dtype=float) * 1e-6
    dx = grid[1] - grid[0]
    v = 0.5 * RB87_MASS_KG * wx**2 * grid**2
    if potential_x_khz is not None:
        v = v + np.asarray(potential_x_khz, dtype=float) * KHZ_TO_J
    keep = np.ones_like(grid) if survival_x is None else np.asarray(survival_x, dtype=float)
    boltz = np.exp(-np.outer(j, v) / kt)  # (J, ngrid)
    totals = boltz.sum(axis=1) * dx
    boltz = boltz * keep[None, :]
    kept = boltz.sum(axis=1) * dx
    if t > 0:
        # free flight: each term spreads with its own momentum width; convolve in Fourier space
        s_flight = math.sqrt(kt / RB87_MASS_KG) * t / np.sqrt(j)
        n_pad = int(2 ** math.ceil(math.log2(grid.size + 2 * int(8 * s_flight[0] / dx) + 1)))
        k = 2 * math.pi * np.fft.rfftfreq(n_pad, d=dx)
        spectrum = np.fft.rfft(boltz, n=n_pad, axis=1) * np.exp(-0.5 * np.outer(s_flight**2, k**2))
        flown = np.fft.irfft(spectrum, n=n_pad, axis=1)
        # the linear convolution sits at the start of the padded array; wrap the left tail back
        half = (n_pad - grid.size) // 2
        flown = np.roll(flown, half, axis=1)
        pad_grid = grid[0] + (np.arange(n_pad) - half) * dx
        gx = np.stack([np.interp(x, pad_grid, row, left=0.0, right=0.0) for row in flown])
    else:
        gx = np.stack([np.interp(x, grid, row, left=0.0, right=0.0) for row in boltz])
    return j, weights, totals, kept, gx


def thermal_kept_fraction(
    state: CloudState, *, potential_x_khz=None, potential_grid_um=None, survival_x=None
) -> float:
    """Fraction of the thermal atoms left after the losses ``survival_x``."""
    if survival_x is None or state.thermal_atom_number <= 0:
        return 1.0
    _, w, totals, kept, _ = _thermal_terms(
        np.zeros(1), state, 0.0, potential_x_khz, potential_grid_um, survival_x
    )
    return float(np.sum(w * kept) / np.sum(w * totals))


def thermal_column_density(
    x_um,
    y_um,
    state: CloudState,
    *,
    time_of_flight_ms: float = 0.0,
    potential_x_khz=None,
    potential_grid_um=None,
    survival_x=None,
) -> np.ndarray:
    """Column density (atoms / m^2) of the thermal cloud on the grid ``y_um x x_um``.

    Args:
        x_um, y_um: (nx,), (ny,) image coordinates.
        state: the cloud (temperature, fugacity, thermal atom number).
        time_of_flight_ms: free expansion after release (0: in trap).
        potential_x_khz, potential_grid_um: an extra potential along x (E/h, kHz),
            sampled on an even grid wide enough to hold the cloud; the cloud is in
            equilibrium in it.
        survival_x: optional fraction of atoms kept at each grid point (e.g. after
            a resonant pulse), applied to that equilibrium.

    Returns:
        (ny, nx) column densities; before losses the cloud holds
        ``state.thermal_atom_number``.
    """
    x = np.asarray(x_um, dtype=float) * 1e-6
    y = np.asarray(y_um, dtype=float) * 1e-6
    if state.thermal_atom_number <= 0:
        return np.zeros((y.size, x.size))
    j, weights, totals, _, gx = _thermal_terms(
        x, state, time_of_flight_ms, potential_x_khz, potential_grid_um, survival_x
    )
    t = time_of_flight_ms * 1e-3
    wy = TRAP_OMEGAS[1]
    sig_y = math.sqrt(K_B * state.temperature_k / RB87_MASS_KG) / wy
    gy = _gaussian(y[None, :], sig_y * math.sqrt(1 + (wy * t) ** 2) / np.sqrt(j)[:, None])
    column = np.einsum("j,jy,jx->yx", weights, gy, gx)
    return column * (state.thermal_atom_number / float(np.sum(weights * totals)))


def condensate_column_density(
    x_um, y_um, state: CloudState, *, time_of_flight_ms: float = 0.0
) -> np.ndarray:
    """Thomas-Fermi column density (atoms / m^2) on ``y_um x x_um``, in trap or after flight."""
    x = np.asarray(x_um, dtype=float) * 1e-6
    y = np.asarray(y_um, dtype=float) * 1e-6
    n_c = state.condensed_atom_number
    if n_c <= 0 or state.chemical_potential_j <= 0:
        return np.zeros((y.size, x.size))
    lam = castin_dum_scaling(time_of_flight_ms)
    r_x, r_y = (r * 1e-6 * s for r, s in zip(state.tf_radii_um[:2], lam[:2], strict=True))
    u = 1.0 - (x[None, :] / r_x) ** 2 - (y[:, None] / r_y) ** 2
    return 5 * n_c / (2 * math.pi * r_x * r_y) * np.clip(u, 0.0, None) ** 1.5


def condensate_column_density_in_potential(
    x_um,
    y_um,
    condensed_atom_number: float,
    potential_x_khz,
    potential_grid_um,
    *,
    survival_x=None,
    time_of_flight_ms: float = 0.0,
) -> tuple[np.ndarray, float, float]:
    """Thomas-Fermi condensate in the trap plus an optical potential along x.

    The 3D density is ``(mu - V) / g``; integrated along z it is
    ``(4/3) sqrt(2 / (m omega_z^2)) (mu - V(x, y))^(3/2) / g``, with ``mu`` fixed by
    the atom number. ``survival_x`` then removes atoms where a resonant pulse hit.
    After a flight the in-trap profile is stretched by the Castin-Dum factors.

    Returns:
        ((ny, nx) column density in atoms / m^2, mu in J, fraction of atoms kept).
    """
    x = np.asarray(x_um, dtype=float) * 1e-6
    y = np.asarray(y_um, dtype=float) * 1e-6
    grid = np.asarray(potential_grid_um, dtype=float) * 1e-6
    if condensed_atom_number <= 0:
        return np.zeros((y.size, x.size)), 0.0, 1.0
    wx, wy, wz = TRAP_OMEGAS
    g = INTERACTION_J_M3
    v = 0.5 * RB87_MASS_KG * wx**2 * grid**2 + np.asarray(potential_x_khz, dtype=float) * KHZ_TO_J
    keep = np.ones_like(grid) if survival_x is None else np.asarray(survival_x, dtype=float)
    dx = grid[1] - grid[0]

    def atoms(mu):  # line density pi (mu - V)^2 / (g m omega_y omega_z), integrated
        a = np.clip(mu - v, 0.0, None)
        return float(np.sum(math.pi * a**2 / (g * RB87_MASS_KG * wy * wz)) * dx)

    mu_hi = thomas_fermi_chemical_potential_j(condensed_atom_number) + float(v.max()) + KHZ_TO_J
    mu = brentq(lambda m: atoms(m) - condensed_atom_number, 0.0, mu_hi, xtol=1e-40, rtol=1e-10)
    lam = castin_dum_scaling(time_of_flight_ms)
    x0, y0 = x / lam[0], y / lam[1]
    a_x = np.interp(x0, grid, np.clip(mu - v, 0.0, None), left=0.0, right=0.0)
    k_x = np.interp(x0, grid, keep, left=0.0, right=0.0)
    a = np.clip(a_x[None, :] - 0.5 * RB87_MASS_KG * wy**2 * y0[:, None] ** 2, 0.0, None)
    column = (4.0 / 3.0) * math.sqrt(2.0 / (RB87_MASS_KG * wz**2)) * a**1.5 / g * k_x[None, :]
    a_line = np.clip(mu - v, 0.0, None) ** 2
    kept = float(np.sum(a_line * keep) / max(np.sum(a_line), 1e-300))
    return column / (lam[0] * lam[1]), mu, kept


def condensate_line_density_in_potential(
    condensed_atom_number: float, potential_x_khz, potential_grid_um, *, survival_x=None
) -> np.ndarray:
    """Axial line density (atoms / m) of the Thomas-Fermi condensate in trap plus light.

    ``pi (mu - V(x))^2 / (g m omega_y omega_z)`` with ``mu`` fixed by the atom
    number, then times ``survival_x`` (atoms kept after a resonant pulse).
    """
    grid = np.asarray(potential_grid_um, dtype=float) * 1e-6
    if condensed_atom_number <= 0:
        return np.zeros_like(grid)
    _, mu, _ = condensate_column_density_in_potential(
        np.zeros(1), np.zeros(1), condensed_atom_number, potential_x_khz, potential_grid_um
    )
    wx, wy, wz = TRAP_OMEGAS
    v = 0.5 * RB87_MASS_KG * wx**2 * grid**2 + np.asarray(potential_x_khz, dtype=float) * KHZ_TO_J
    line = math.pi * np.clip(mu - v, 0.0, None) ** 2 / (INTERACTION_J_M3 * RB87_MASS_KG * wy * wz)
    return line if survival_x is None else line * np.asarray(survival_x, dtype=float)
