"""The experiment stage: the light the atoms feel, the condensate and the thermal cloud in it.

- :class:`Light`: the projected potential of barriers and landscape at every
  0.1 ms update (the spot weights are computed once and rendered on any grid;
  the same potential the Gross-Pitaevskii simulator is given) and the
  terminator's intensity.
- The condensate is rendered from its axial line density ``n1(x)`` (atoms / m)
  by the local Thomas-Fermi profile across it, ``(4/3) sqrt(2 / m omega_z^2)
  (a(x) - m omega_y^2 y^2 / 2)^(3/2) / g`` with ``a = sqrt(g m omega_y omega_z n1 / pi)``;
  for the equilibrium line density this is the Thomas-Fermi column density
  exactly. With light the simulator's change of the line density since t = 0
  is added to the equilibrium one, so a run whose light is dark renders
  exactly as one without light. Time of flight: Castin-Dum scaling, and each
  slice moves on with its axial flow velocity.
"""

from __future__ import annotations

import math

import numpy as np

from oqtant.constants import KHZ_TO_J, RB87_MASS_KG
from oqtant.emulator._cloud import (
    INTERACTION_J_M3,
    TRAP_OMEGAS,
    castin_dum_scaling,
    thomas_fermi_chemical_potential_j,
)
from oqtant.emulator._thermal import AxialTable
from oqtant.schemas.job import InputValues
from oqtant.schemas.limits import pset, tset

__all__ = [
    "Light",
    "tf_line_density",
    "column_from_line_density",
    "TERMINATOR_LOSS_PER_S",
]

TERMINATOR_LOSS_PER_S = 1e5  # at full intensity (100 / ms, as the simulator)
_LIGHT_GRID_UM = np.arange(-80.0, 80.0 + 1e-9, 0.1)
SPOT_LO, SPOT_HI = float(pset.min_position), float(pset.max_position)


class Light:
    """The light of one run at each 0.1 ms projector update of the experiment stage."""

    def __init__(self, values: InputValues):
        from oqtant.projection import ideal_potential_khz, spot_weights_at_times_khz

        self.values = values
        n = round(float(values.end_time_ms) / tset.resolution_ms)
        self.n_updates = n
        self.update_times_ms = np.round(np.arange(n) * tset.resolution_ms, 1)
        lit = bool(values.optical_barriers) or values.optical_landscape is not None
        self.weights = np.zeros((1, pset.num_projected_spots))
        self.row_of_update = np.zeros(max(n, 1), dtype=np.int64)
        if lit and n:
            unique_t, inverse = np.unique(self.update_times_ms, return_inverse=True)
            weights = spot_weights_at_times_khz(
                lambda t, x: ideal_potential_khz(values, t, x), unique_t
            )
            rows, row_of = np.unique(weights, axis=0, return_inverse=True)
            self.weights = rows
            self.row_of_update = row_of.reshape(-1)[inverse.reshape(-1)]
        self.dark = not np.any(self.weights)
        self._rendered: dict[tuple, np.ndarray] = {}
        self.has_terminator = bool(values.lasers) and n > 0

    def rows_khz(self, x_um) -> np.ndarray:
        """(n_rows, nx) the distinct potentials (E/h, kHz) on ``x_um``."""
        from oqtant.projection import render_spots_khz

        x = np.asarray(x_um, dtype=float)
        key = (x.size, float(x[0]), float(x[-1])) if x.size else (0,)
        if key not in self._rendered:
            lit = np.flatnonzero(np.any(self.weights > 0, axis=0))
            rows = np.zeros((self.weights.shape[0], x.size))
            if lit.size:  # only the spots that are ever lit, only where they reach
                near = np.abs(x - 0.5 * (SPOT_LO + SPOT_HI)) <= 0.5 * (SPOT_HI - SPOT_LO) + 6.0
                rows[:, near] = render_spots_khz(self.weights, x[near])
            self._rendered[key] = np.clip(rows, 0.0, pset.max_energy)
        return self._rendered[key]

    def potential_khz(self, times_ms, x_um) -> np.ndarray:
        """(nt, nx) potential at update times ``times_ms`` (the simulator's ``potential_khz``)."""
        t = np.atleast_1d(np.asarray(times_ms, dtype=float))
        k = np.floor(t / tset.resolution_ms + 1e-6).astype(int)
        k = np.clip(k, 0, self.row_of_update.size - 1)
        return self.rows_khz(x_um)[self.row_of_update[k]]

    def at_start_khz(self, x_um) -> np.ndarray:
        return self.rows_khz(x_um)[self.row_of_update[0]]

    def acceleration_table(self) -> AxialTable | None:
        """Axial acceleration (m/s^2) of the light for each update; None when dark."""
        if self.dark or not self.n_updates:
            return None
        v = self.rows_khz(_LIGHT_GRID_UM) * KHZ_TO_J
        dx = (_LIGHT_GRID_UM[1] - _LIGHT_GRID_UM[0]) * 1e-6
        a = -np.gradient(v, dx, axis=1) / RB87_MASS_KG
        return AxialTable(_LIGHT_GRID_UM[0] * 1e-6, dx, a, self.row_of_update)

    def potential_function_j(self, k: int = 0):
        """``V(x_m) -> J`` of update k by interpolation (for sampling and energies)."""
        rows = self.rows_khz(_LIGHT_GRID_UM) * KHZ_TO_J
        dx = (_LIGHT_GRID_UM[1] - _LIGHT_GRID_UM[0]) * 1e-6
        table = AxialTable(_LIGHT_GRID_UM[0] * 1e-6, dx, rows, self.row_of_update)
        return lambda x: table.at(k, x)

    def loss_table(self) -> AxialTable | None:
        """Terminator loss rate (1/s) along x for each update; None without terminator."""
        if not self.has_terminator:
            return None
        from oqtant.projection import terminator_intensity

        grid = np.arange(-150.0, 150.0 + 1e-9, 0.25)
        intensity = np.asarray(terminator_intensity(self.values, self.update_times_ms, grid))
        rows, row_of = np.unique(intensity, axis=0, return_inverse=True)
        return AxialTable(grid[0] * 1e-6, 0.25e-6, rows * TERMINATOR_LOSS_PER_S, row_of.reshape(-1))


def tf_line_density(condensed_atom_number: float, x_m: np.ndarray) -> np.ndarray:
    """Axial line density (atoms / m) of the Thomas-Fermi condensate in the trap."""
    if condensed_atom_number <= 0:
        return np.zeros_like(x_m)
    wx, wy, wz = TRAP_OMEGAS
    mu = thomas_fermi_chemical_potential_j(condensed_atom_number)
    a = np.clip(mu - 0.5 * RB87_MASS_KG * wx**2 * x_m**2, 0.0, None)
    return math.pi * a**2 / (INTERACTION_J_M3 * RB87_MASS_KG * wy * wz)


def line_to_local_mu(n1: np.ndarray) -> np.ndarray:
    """``a(x) = mu - V(x)`` (J) of the local Thomas-Fermi profile holding line density n1."""
    _, wy, wz = TRAP_OMEGAS
    return np.sqrt(np.clip(n1, 0.0, None) * INTERACTION_J_M3 * RB87_MASS_KG * wy * wz / math.pi)


def column_from_line_density(
    x_um,
    y_um,
    line_x_m: np.ndarray,
    n1: np.ndarray,
    *,
    time_of_flight_ms: float = 0.0,
    velocity_m_s: np.ndarray | None = None,
) -> np.ndarray:
    """(ny, nx) column density (atoms / m^2) of a condensate of line density ``n1`` on ``line_x_m``.

    ``line_x_m`` is an even grid. After a flight the profile is scaled by the
    Castin-Dum factors and each slice moves on with ``velocity_m_s`` (its axial
    flow in the trap).
    """
    x = np.asarray(x_um, dtype=float) * 1e-6
    y = np.asarray(y_um, dtype=float) * 1e-6
    _, wy, wz = TRAP_OMEGAS
    lam = castin_dum_scaling(time_of_flight_ms)
    t = time_of_flight_ms * 1e-3
    dx = line_x_m[1] - line_x_m[0]
    if velocity_m_s is None or t == 0.0 or not np.any(velocity_m_s):
        n1_trap = np.interp(x / lam[0], line_x_m, n1, left=0.0, right=0.0)
    else:
        # each slice lands at lam_x x0 + v t; deposit (cloud in cell) on the scaled grid
        u = (lam[0] * line_x_m + velocity_m_s * t - lam[0] * line_x_m[0]) / (lam[0] * dx)
        i = np.floor(u).astype(np.int64)
        f = u - i
        size = line_x_m.size
        moved = np.zeros(size)
        for di, wi in ((0, 1.0 - f), (1, f)):
            ok = (i + di >= 0) & (i + di < size)
            moved += np.bincount((i + di)[ok], (n1 * wi)[ok], minlength=size)
        n1_trap = np.interp(x / lam[0], line_x_m, moved, left=0.0, right=0.0)
    a = line_to_local_mu(n1_trap)
    y0 = y / lam[1]
    inside = np.clip(a[None, :] - 0.5 * RB87_MASS_KG * wy**2 * y0[:, None] ** 2, 0.0, None)
    column = (4.0 / 3.0) * math.sqrt(2.0 / (RB87_MASS_KG * wz**2)) * inside**1.5
    return column / (INTERACTION_J_M3 * lam[0] * lam[1])
