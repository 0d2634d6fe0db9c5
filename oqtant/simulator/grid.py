"""Trap units and the (x, r) grid of the cylindrically symmetric simulation.

Units inside the solver are those of the axial trap: lengths in
``LENGTH_UM = sqrt(hbar / (m omega_x))`` (about 1.52 um), times in
``TIME_MS = 1 / omega_x`` (about 3.18 ms), energies in ``hbar omega_x``.
The wave function is normalised to the atom number: ``sum |psi|^2 dV = N``.

Axially the grid is uniform and periodic (Fourier). Radially it is the
quasi-discrete Hankel transform of order 0 (Guizar-Sicairos and Gutierrez-Vega,
J. Opt. Soc. Am. A 21, 53 (2004)): the points are ``r_n = j_n R / j_{N+1}``
(``j_n`` the zeros of J0) and the transform is a real, orthogonal, symmetric
``nr x nr`` matrix, so a kinetic step is exactly unitary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import j0, j1, jn_zeros

from oqtant.constants import (
    HBAR,
    RB87_MASS_KG,
    RB87_SCATTERING_LENGTH_M,
    TRAP_FREQUENCY_AXIAL_HZ,
    TRAP_FREQUENCY_RADIAL_HZ,
)
from oqtant.simulator._checks import check_positive

__all__ = [
    "ENERGY_KHZ",
    "LENGTH_UM",
    "OMEGA_X",
    "TIME_MS",
    "TRAP_ASPECT",
    "Grid",
    "interaction_strength",
    "make_grid",
    "thomas_fermi_mu",
]

OMEGA_X = 2.0 * math.pi * TRAP_FREQUENCY_AXIAL_HZ  # rad/s
TRAP_ASPECT = TRAP_FREQUENCY_RADIAL_HZ / TRAP_FREQUENCY_AXIAL_HZ  # omega_r / omega_x = 8
LENGTH_UM = math.sqrt(HBAR / (RB87_MASS_KG * OMEGA_X)) * 1e6
TIME_MS = 1e3 / OMEGA_X
ENERGY_KHZ = TRAP_FREQUENCY_AXIAL_HZ / 1e3  # hbar omega_x / h, in kHz


def interaction_strength() -> float:
    """g = 4 pi a / l_x in trap units (for psi normalised to the atom number)."""
    return 4.0 * math.pi * RB87_SCATTERING_LENGTH_M * 1e6 / LENGTH_UM


def thomas_fermi_mu(atom_number: float) -> float:
    """Thomas-Fermi chemical potential in units of hbar omega_x."""
    omega_bar = TRAP_ASPECT ** (2.0 / 3.0)  # (1 * 8 * 8)^(1/3) in units of omega_x
    a_bar = 1.0 / math.sqrt(omega_bar)  # oscillator length of omega_bar in l_x
    a = RB87_SCATTERING_LENGTH_M * 1e6 / LENGTH_UM
    return 0.5 * omega_bar * (15.0 * atom_number * a / a_bar) ** 0.4


@dataclass(frozen=True, eq=False)
class Grid:
    """The (x, r) grid with its spectral operators (trap units).

    Attributes:
        x: (nx,) axial positions; r: (nr,) radial Hankel points.
        kx: (nx,) axial wave numbers; kr: (nr,) radial wave numbers.
        hankel: (nr, nr) orthogonal matrix acting on ``psi * scale``.
        scale: (nr,) ``1 / |J1(j_n)|``: psi times scale is the Hankel vector.
        weight_r: (nr,) radial quadrature weights, ``sum w |f|^2 = int |f|^2 2 pi r dr``.
    """

    x: np.ndarray
    r: np.ndarray
    kx: np.ndarray
    kr: np.ndarray
    hankel: np.ndarray
    scale: np.ndarray
    weight_r: np.ndarray
    x_half_width: float
    r_max: float
    _bessel_k: np.ndarray = field(repr=False)

    @property
    def nx(self) -> int:
        return self.x.size

    @property
    def nr(self) -> int:
        return self.r.size

    @property
    def dx(self) -> float:
        return float(self.x[1] - self.x[0])

    @property
    def shape(self) -> tuple[int, int]:
        """(nr, nx), the shape of a wave function."""
        return (self.nr, self.nx)

    def integrate(self, f: np.ndarray) -> float:
        """Integral of a density f (nr, nx) over all space (trap units)."""
        return float(np.einsum("r,rx->", self.weight_r, f) * self.dx)

    def radial_matrix(self, multiplier: np.ndarray) -> np.ndarray:
        """(nr, nr) matrix applying ``multiplier(kr)`` radially to psi on the r points."""
        m = (self.hankel * multiplier[None, :]) @ self.hankel
        return m * (1.0 / self.scale)[:, None] * self.scale[None, :]

    def radial_interpolation(self, rho: np.ndarray) -> np.ndarray:
        """(len(rho), nr) matrix evaluating the Bessel series of psi at radii ``rho``.

        Beyond ``r_max`` the wave function is zero.
        """
        rho = np.asarray(rho, dtype=float).ravel()
        # psi(rho) = sum_m c_m J0(k_m rho), with c = (coefficients of the inverse transform)
        basis = j0(np.outer(rho, self.kr))  # (n, nr)
        coeff = self._bessel_k  # (nr, nr): c = coeff @ psi
        out = basis @ coeff
        out[rho > self.r_max] = 0.0
        return out


def make_grid(nx: int, nr: int, x_half_width: float, r_max: float) -> Grid:
    """Build a grid: ``nx`` points on [-x_half_width, x_half_width), ``nr`` Hankel points
    on [0, r_max].

    Lengths in trap units.
    """
    nx = int(nx)
    nr = int(nr)
    x_half_width = check_positive(x_half_width, "x_half_width")
    r_max = check_positive(r_max, "r_max")
    if nx < 16 or nr < 4:
        from oqtant.errors import SimulationError

        raise SimulationError(f"grid too small: nx={nx} (>= 16) and nr={nr} (>= 4) required")
    dx = 2.0 * x_half_width / nx
    x = -x_half_width + dx * np.arange(nx)
    kx = 2.0 * np.pi * np.fft.fftfreq(nx, d=dx)
    zeros = jn_zeros(0, nr + 1)
    s = zeros[-1]
    jn = zeros[:-1]
    r = jn * r_max / s
    kr = jn / r_max
    abs_j1 = np.abs(j1(jn))
    hankel = 2.0 * j0(np.outer(jn, jn) / s) / (abs_j1[:, None] * abs_j1[None, :] * s)
    # The QDHT matrix is orthogonal only to about 1e-8; replace it by the nearest
    # orthogonal symmetric matrix so that kinetic steps conserve the norm exactly.
    eigval, eigvec = np.linalg.eigh(hankel)
    hankel = (eigvec * np.sign(eigval)) @ eigvec.T
    scale = 1.0 / abs_j1
    weight_r = 2.0 * np.pi * 2.0 * r_max**2 / (s**2 * abs_j1**2)
    # Bessel-series coefficients: psi(r) = sum_m c_m J0(k_m r), from the discrete
    # orthogonality: c_m = (2 / (R^2 J1(j_m)^2)) * sum_n w_n psi_n J0(k_m r_n) / (2 pi)
    bessel_k = (
        (2.0 / (r_max**2 * abs_j1[:, None] ** 2))
        * j0(np.outer(kr, r))
        * (weight_r[None, :] / (2.0 * np.pi))
    )
    return Grid(
        x=x,
        r=r,
        kx=kx,
        kr=kr,
        hankel=hankel,
        scale=scale,
        weight_r=weight_r,
        x_half_width=x_half_width,
        r_max=r_max,
        _bessel_k=bessel_k,
    )
