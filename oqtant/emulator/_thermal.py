"""The thermal cloud in motion: classical test particles of the ideal Bose gas.

The thermal cloud is collisionless: each atom moves in the harmonic trap plus
the light along x (and the change of the condensate's mean field), and is lost
at the terminator's rate where it shines. Test particles are drawn at t = 0
from the semiclassical Bose distribution ``sum_j z^j exp(-j H / k_B T)`` in the
potential of that moment (trap plus the light then on), so that a static
potential keeps them stationary.

Integration: per projector update (0.1 ms, ``substeps`` steps) a kick-drift-kick
splitting whose drift is the *exact* harmonic motion (a rotation in phase
space) and whose kicks are the forces of the light and of the mean field. In
a harmonic trap without light the motion is exact (Kohn's theorem holds to
round-off); the splitting is symplectic, so a static barrier conserves the
energy up to a bounded error. The light acts along x only, so the radial motion
(400 Hz) stays harmonic and is evaluated in closed form.

Images use the particles as a correction to the analytic equilibrium
(a ``delta f`` estimate): column density = analytic equilibrium + kernel density
of the moved particles - kernel density of the same particles moved by the
equilibrium Hamiltonian. Particles that nothing disturbed cancel exactly, so a
run where nothing acts gives the analytic profile without particle noise, and
the noise of a disturbed run scales with the part of the cloud that moved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from oqtant.constants import K_B, RB87_MASS_KG

__all__ = [
    "Particles",
    "AxialTable",
    "sample_particles",
    "evolve_particles",
    "particle_energies_j",
    "deposit_column",
    "drift_harmonic",
    "image_positions_um",
    "N_PARTICLES",
]

N_PARTICLES = 40_000
_MAX_BOSE_TERMS = 80


@dataclass
class Particles:
    """Test particles of the thermal cloud (SI units).

    x, vx are integrated; the radial motion is harmonic, kept as its initial
    phase-space point (y0, vy0, z0, vz0) and evaluated at ``t_s``. ``weight`` is
    the surviving share of each particle (terminator losses); ``j`` the Bose
    term it was drawn from.
    """

    x: np.ndarray
    vx: np.ndarray
    y0: np.ndarray
    vy0: np.ndarray
    z0: np.ndarray
    vz0: np.ndarray
    weight: np.ndarray
    j: np.ndarray
    omegas: tuple[float, float, float]
    t_s: float = 0.0
    _r2: tuple | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return self.x.size

    def copy(self) -> Particles:
        return Particles(
            self.x.copy(),
            self.vx.copy(),
            self.y0,
            self.vy0,
            self.z0,
            self.vz0,
            self.weight.copy(),
            self.j,
            self.omegas,
            self.t_s,
            self._r2,
        )

    def radial_squared(self, idx: np.ndarray | None = None) -> np.ndarray:
        """``y^2 + z^2`` at ``t_s`` (of the particles ``idx``, default all).

        The radial frequencies are equal, so it is ``A + B cos 2wt + C sin 2wt``.
        """
        if self._r2 is None:
            w = self.omegas[1]
            a = 0.5 * (self.y0**2 + self.z0**2 + (self.vy0**2 + self.vz0**2) / w**2)
            b = 0.5 * (self.y0**2 + self.z0**2 - (self.vy0**2 + self.vz0**2) / w**2)
            c = (self.y0 * self.vy0 + self.z0 * self.vz0) / w
            self._r2 = (a, b, c)
        a, b, c = self._r2
        if idx is not None:
            a, b, c = a[idx], b[idx], c[idx]
        phase = 2 * self.omegas[1] * self.t_s
        return a + b * math.cos(phase) + c * math.sin(phase)

    def radial(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(y, vy, z, vz) at ``t_s``: harmonic motion at the radial frequencies."""
        wy, wz = self.omegas[1], self.omegas[2]
        cy, sy = math.cos(wy * self.t_s), math.sin(wy * self.t_s)
        cz, sz = math.cos(wz * self.t_s), math.sin(wz * self.t_s)
        y = self.y0 * cy + self.vy0 / wy * sy
        vy = -self.y0 * wy * sy + self.vy0 * cy
        z = self.z0 * cz + self.vz0 / wz * sz
        vz = -self.z0 * wz * sz + self.vz0 * cz
        return y, vy, z, vz


class AxialTable:
    """Values on an even axial grid, one row per projector update (SI units).

    Read by linear interpolation; beyond the grid the edge values hold (the
    tables are built wide enough to vanish at their edges).
    """

    def __init__(self, x0_m: float, dx_m: float, rows: np.ndarray, row_of_update: np.ndarray):
        self.x0_m = float(x0_m)
        self.dx_m = float(dx_m)
        self.rows = np.asarray(rows, dtype=float)  # (n_rows, nx)
        self.row_of_update = np.asarray(row_of_update, dtype=np.int64)
        self._slopes = np.diff(self.rows, axis=1)

    def at(self, k: int, x: np.ndarray) -> np.ndarray:
        r = self.row_of_update[k]
        n = self.rows.shape[1]
        u = np.clip((x - self.x0_m) / self.dx_m, 0.0, n - 1.0)
        i = np.minimum(u.astype(np.int64), n - 2)
        return np.take(self.rows[r], i) + (u - i) * np.take(self._slopes[r], i)

    def is_zero(self) -> bool:
        return not np.any(self.rows)


def sample_particles(
    n: int,
    temperature_k: float,
    fugacity: float,
    omegas: tuple[float, float, float],
    rng: np.random.Generator,
    *,
    potential_x: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Particles:
    """Draw ``n`` particles from ``sum_j z^j exp(-j (p^2/2m + V_trap + V(x)) / k_B T)``.

    Term j of the harmonic trap holds a share ``z^j / j^3`` of the atoms with
    Gaussian positions and velocities narrowed by ``sqrt(j)``; an extra
    potential ``potential_x(x) -> J`` (>= 0) is applied by rejection with
    probability ``exp(-j V / k_B T)``, which is exact.
    """
    kt = K_B * temperature_k
    j_all = np.arange(1, _MAX_BOSE_TERMS + 1, dtype=float)
    z = min(max(float(fugacity), 0.0), 1.0)
    share = z**j_all / j_all**3 if z > 0 else np.r_[1.0, np.zeros(_MAX_BOSE_TERMS - 1)]
    share = share / share.sum()
    v_th = math.sqrt(kt / RB87_MASS_KG)
    parts: list[np.ndarray] = []
    need = n
    for _ in range(50):
        m = max(int(need * 1.3) + 16, 64)
        j = rng.choice(j_all, size=m, p=share)
        s = 1.0 / np.sqrt(j)
        draws = rng.standard_normal((6, m)) * s[None, :] * v_th
        pos = draws[:3] / np.asarray(omegas)[:, None]
        vel = draws[3:]
        if potential_x is not None:
            accept = rng.random(m) < np.exp(-j * potential_x(pos[0]) / kt)
            j, pos, vel = j[accept], pos[:, accept], vel[:, accept]
        parts.append(np.vstack([pos, vel, j[None, :]]))
        need -= j.size
        if need <= 0:
            break
    data = np.concatenate(parts, axis=1)[:, :n]
    if data.shape[1] < n:  # a potential that rejects nearly everything: take what there is
        data = data[:, rng.integers(0, data.shape[1], n)] if data.shape[1] else np.zeros((7, n))
    return Particles(
        x=data[0].copy(),
        vx=data[3].copy(),
        y0=data[1],
        vy0=data[4],
        z0=data[2],
        vz0=data[5],
        weight=np.ones(n),
        j=data[6],
        omegas=(omegas[0], omegas[1], omegas[2]),
    )


def evolve_particles(
    p: Particles,
    update_period_s: float,
    n_updates: int,
    *,
    accel: Callable[[int, Particles], np.ndarray | None] | None = None,
    loss_rate: AxialTable | None = None,
    substeps: int = 1,
    record: Callable[[int, Particles], None] | None = None,
) -> Particles:
    """Move the particles in place through ``n_updates`` projector updates.

    Drift-kick-drift steps: half an exact harmonic drift, the kick of the extra
    force at mid-step, half a drift (consecutive half drifts are merged).

    Args:
        accel: ``accel(k, particles)`` the axial acceleration (m/s^2) beside the
            trap's during update k, or None for none.
        loss_rate: loss rate (1/s) along x for each update (the terminator).
        substeps: steps per update.
        record: called after each update with (k + 1, particles).
    """
    dt = update_period_s / substeps
    owed = 0.0  # drift still owed before the particles are at p.t_s
    for k in range(n_updates):
        if loss_rate is not None:
            drift_harmonic(p, owed)
            owed = 0.0
            p.weight *= np.exp(-loss_rate.at(k, p.x) * update_period_s)
        for _ in range(substeps):
            drift_harmonic(p, owed + 0.5 * dt)
            a = accel(k, p) if accel is not None else None
            if a is not None:
                p.vx += dt * a
            owed = 0.5 * dt
        if record is not None:
            drift_harmonic(p, owed)
            owed = 0.0
            record(k + 1, p)
    drift_harmonic(p, owed)
    return p


def drift_harmonic(p: Particles, duration_s: float) -> Particles:
    """Exact motion in the bare trap for ``duration_s`` (in place)."""
    if duration_s == 0.0:
        return p
    wx = p.omegas[0]
    c, s = math.cos(wx * duration_s), math.sin(wx * duration_s)
    x = p.x * c + p.vx / wx * s
    p.vx = -p.x * wx * s + p.vx * c
    p.x = x
    p.t_s += duration_s
    return p


def particle_energies_j(
    p: Particles, potential_x: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
    """Energy of each particle in the trap (plus ``potential_x(x)``, J)."""
    y, vy, z, vz = p.radial()
    w = p.omegas
    e = 0.5 * RB87_MASS_KG * (p.vx**2 + vy**2 + vz**2)
    e = e + 0.5 * RB87_MASS_KG * (w[0] ** 2 * p.x**2 + w[1] ** 2 * y**2 + w[2] ** 2 * z**2)
    if potential_x is not None:
        e = e + potential_x(p.x)
    return e


def image_positions_um(p: Particles, time_of_flight_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the particles are seen (x, y in um): in trap, or after free flight."""
    y, vy, _, _ = p.radial()
    t = time_of_flight_ms * 1e-3
    return (p.x + p.vx * t) * 1e6, (y + vy * t) * 1e6


def deposit_column(
    x_um: np.ndarray,
    y_um: np.ndarray,
    px_um: np.ndarray,
    py_um: np.ndarray,
    atoms: np.ndarray,
    kernel_um: float,
) -> np.ndarray:
    """Column density (atoms / m^2) of weighted points on the even grid ``y_um x x_um``.

    Cloud-in-cell deposition, then a Gaussian kernel of rms ``kernel_um``.
    """
    dx, dy = x_um[1] - x_um[0], y_um[1] - y_um[0]
    nx, ny = x_um.size, y_um.size
    u = (px_um - x_um[0]) / dx
    v = (py_um - y_um[0]) / dy
    i, k = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fu, fv = u - i, v - k
    size = (ny + 2) * (nx + 2)
    grid = np.zeros(size)
    for di, wi in ((0, 1.0 - fu), (1, fu)):
        for dk, wk in ((0, 1.0 - fv), (1, fv)):
            ii, kk = i + di + 1, k + dk + 1
            ok = (ii >= 0) & (ii < nx + 2) & (kk >= 0) & (kk < ny + 2)
            grid += np.bincount(kk[ok] * (nx + 2) + ii[ok], (atoms * wi * wk)[ok], minlength=size)
    grid = grid.reshape(ny + 2, nx + 2)[1:-1, 1:-1]
    if kernel_um > 0:
        grid = ndimage.gaussian_filter(grid, (kernel_um / dy, kernel_um / dx), mode="constant")
    return grid / (dx * dy * 1e-12)
