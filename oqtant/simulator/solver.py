"""Pure solvers of the 3D Gross-Pitaevskii equation with cylindrical symmetry.

All quantities are in trap units (see :mod:`oqtant.simulator.grid`): the
equation solved is

    i dpsi/dt = [-(1/2) lap + (x^2 + gamma^2 r^2)/2 + V(x, t) - i G(x, t)/2 + g |psi|^2] psi

with ``gamma = omega_r / omega_x = 8``, ``V`` the optical potential (axial
only), ``G`` a loss rate (terminator light, absorbing edges) and psi normalised
to the atom number. Wave functions have shape ``(nr, nx)``.

- :func:`ground_state`: imaginary-time split-step from a Thomas-Fermi guess
  with a large step, then a preconditioned nonlinear conjugate gradient on the
  energy (no splitting error: it converges to the exact discrete ground state).
- :func:`evolve`: Strang split-step, FFT along x and Hankel radially; the
  potential is held for each ``update`` interval (0.1 ms in the apparatus).
- :func:`expand`: time of flight in the Castin-Dum scaled frame: the cloud's
  expansion is carried by ``lambda_x(t), lambda_r(t)`` and the residual GP
  equation stays on the fixed grid, so the cost does not grow with the TOF.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy.integrate import solve_ivp
from threadpoolctl import threadpool_limits

from oqtant.errors import SimulationError
from oqtant.simulator._checks import check_positive, check_shape
from oqtant.simulator.grid import (
    TRAP_ASPECT,
    Grid,
    interaction_strength,
    make_grid,
    thomas_fermi_mu,
)

__all__ = [
    "Energies",
    "Evolution",
    "Expansion",
    "GroundState",
    "axial_reach",
    "energies",
    "evolve",
    "expand",
    "ground_state",
    "pad_axial",
    "scaling_factors",
]

_WORKERS = 1  # these grids are small: one FFT thread is faster than two


@dataclass(frozen=True)
class Energies:
    """Energy terms of a whole cloud, in units of hbar omega_x.

    Attributes: kinetic, trap, optical, interaction, total (hbar omega_x, whole cloud).
    """

    kinetic: float
    trap: float
    optical: float
    interaction: float

    @property
    def total(self) -> float:
        return self.kinetic + self.trap + self.optical + self.interaction

    @property
    def virial_residual(self) -> float:
        """(2 E_kin - 2 E_trap + 3 E_int) / E_total: zero for a ground state in a harmonic trap."""
        return (2 * self.kinetic - 2 * self.trap + 3 * self.interaction) / self.total


@dataclass(frozen=True)
class GroundState:
    """Result of :func:`ground_state`.

    Attributes:
        psi: (nr, nx) real ground state, normalised to the atom number.
        mu: chemical potential (hbar omega_x).
        residual: ||H psi - mu psi|| / (mu ||psi||) at the end.
        iterations: imaginary-time steps and conjugate-gradient iterations used.
    """

    psi: np.ndarray
    mu: float
    residual: float
    iterations: int


@dataclass(frozen=True)
class Evolution:
    """Result of :func:`evolve`.

    Attributes:
        tsave: (ntsave,) times of the snapshots (trap units).
        psisave: (ntsave, nr, nx) snapshots (complex64 to save memory).
        psi_final: (nr, nx) complex128 state at the last time.
        edge_fraction: largest fraction of the atoms found near the grid edge.
    """

    tsave: np.ndarray
    psisave: np.ndarray
    psi_final: np.ndarray
    edge_fraction: float


@dataclass(frozen=True)
class Expansion:
    """Result of :func:`expand` (time of flight in the scaled frame).

    The density at time t is ``|chi(x / lambda_x, r / lambda_r)|^2 / (lambda_x lambda_r^2)``.

    Attributes:
        tsave: (ntsave,) times since release (trap units).
        lambda_x, lambda_r: (ntsave,) scale factors at those times.
        chisave: (ntsave, nr, nx) scaled wave functions (complex64).
        chi_final: (nr, nx) scaled wave function at the end (complex128).
        grid: the grid of chi (scaled coordinates).
        edge_fraction: largest fraction of the atoms found near the grid edge.
    """

    tsave: np.ndarray
    lambda_x: np.ndarray
    lambda_r: np.ndarray
    chisave: np.ndarray
    chi_final: np.ndarray
    grid: Grid
    edge_fraction: float


# --------------------------------------------------------------------------- helpers


def _one_blas_thread(func):
    """Run ``func`` with one BLAS thread (its matrices are tiny; threads only add latency).

    The limits are set at each call, so BLAS libraries loaded after import are limited too.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


def _trap_potential(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The harmonic trap, separable: (x^2 / 2) of shape (nx,), (gamma^2 r^2 / 2) of shape (nr,)."""
    return 0.5 * grid.x**2, 0.5 * TRAP_ASPECT**2 * grid.r**2


def _inner(grid: Grid, a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("r,rx,rx->", grid.weight_r, a, b) * grid.dx)


class _RealOps:
    """Spectral operators on real wave functions (for the ground state)."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self.kx2 = grid.kx[: grid.nx // 2 + 1] ** 2
        self.kx2[-1] = (np.pi / grid.dx) ** 2 if grid.nx % 2 == 0 else self.kx2[-1]
        self.kr_mat = grid.radial_matrix(grid.kr**2)  # -radial laplacian

    def kinetic(self, psi: np.ndarray) -> np.ndarray:
        fx = sfft.rfft(psi, axis=1, workers=_WORKERS)
        fx *= self.kx2
        lap_x = sfft.irfft(fx, n=self.grid.nx, axis=1, workers=_WORKERS)
        return 0.5 * (lap_x + self.kr_mat @ psi)

    def to_k(self, psi: np.ndarray) -> np.ndarray:
        u = self.grid.hankel @ (psi * self.grid.scale[:, None])
        return sfft.rfft(u, axis=1, workers=_WORKERS)

    def from_k(self, f: np.ndarray) -> np.ndarray:
        u = sfft.irfft(f, n=self.grid.nx, axis=1, workers=_WORKERS)
        return (self.grid.hankel @ u) / self.grid.scale[:, None]


def energies(grid: Grid, psi: np.ndarray, potential_x: np.ndarray | None = None) -> Energies:
    """Energy terms of ``psi`` (nr, nx) with an optional optical potential (nx,) (trap units)."""
    g = interaction_strength()
    vx, vr = _trap_potential(grid)
    density = np.abs(psi) ** 2
    fx = sfft.fft(psi, axis=1, workers=_WORKERS)
    kin_x = (
        0.5 * np.einsum("r,rx->", grid.weight_r, np.abs(fx) ** 2 * grid.kx**2) * grid.dx / grid.nx
    )
    u = grid.hankel @ (psi * grid.scale[:, None])
    # sum_n |u_n|^2 kr_n^2 with the same weights as the r points (orthogonal transform)
    w0 = grid.weight_r * grid.scale**-2  # constant: weight per |u|^2
    kin_r = 0.5 * float(np.sum(w0[:, None] * np.abs(u) ** 2 * grid.kr[:, None] ** 2)) * grid.dx
    trap = grid.integrate(density * (vx[None, :] + vr[:, None]))
    optical = 0.0 if potential_x is None else grid.integrate(density * potential_x[None, :])
    inter = 0.5 * g * grid.integrate(density**2)
    return Energies(float(kin_x + kin_r), trap, optical, inter)


# --------------------------------------------------------------------------- ground state


@_one_blas_thread
def ground_state(
    atom_number: float,
    grid: Grid,
    *,
    potential_x: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iterations: int = 3000,
    itp_steps: tuple[float, ...] = (0.02,),
    itp_max: int = 100,
) -> GroundState:
    """Ground state of ``atom_number`` atoms in the trap (plus ``potential_x`` (nx,), trap units).

    Imaginary-time Strang steps (one stage per step size in ``itp_steps``, each
    until mu changes by less than 1e-4 or ``itp_max`` steps) bring a
    Thomas-Fermi guess close to the ground state; a preconditioned nonlinear
    conjugate gradient on the energy (Polak-Ribiere, step from the quadratic
    model of the energy along the direction, on the sphere ``||psi||^2 = N``)
    then converges it to ``||H psi - mu psi|| < tol mu ||psi||``.
    """
    atom_number = check_positive(atom_number, "atom_number")
    g = interaction_strength()
    ops = _RealOps(grid)
    vx, vr = _trap_potential(grid)
    vx = vx if potential_x is None else vx + check_shape(potential_x, (grid.nx,), "potential_x")
    v = vx[None, :] + vr[:, None]

    # Thomas-Fermi guess, plus a little of the harmonic ground state so that
    # small clouds (not in the TF regime) start with the right tails.
    mu_tf = thomas_fermi_mu(atom_number)
    psi = np.sqrt(np.clip(mu_tf - v, 0.0, None) / g)
    psi += (
        1e-3 * np.sqrt(atom_number) * np.exp(-0.5 * (vx[None, :] / 1.0 + vr[:, None] / TRAP_ASPECT))
    )
    psi *= math.sqrt(atom_number / grid.integrate(psi**2))

    iterations = 0
    # imaginary-time Strang with shrinking steps
    for dt in itp_steps:
        ekx = np.exp(-0.5 * ops.kx2 * dt)
        er = grid.radial_matrix(np.exp(-0.5 * grid.kr**2 * dt))
        previous = np.inf
        for _ in range(itp_max):
            psi *= np.exp(-0.5 * dt * (v + g * psi**2))
            psi = er @ psi
            f = sfft.rfft(psi, axis=1, workers=_WORKERS)
            f *= ekx
            psi = sfft.irfft(f, n=grid.nx, axis=1, workers=_WORKERS)
            psi *= np.exp(-0.5 * dt * (v + g * psi**2))
            norm = grid.integrate(psi**2)
            mu_step = -math.log(norm / atom_number) / dt
            psi *= math.sqrt(atom_number / norm)
            iterations += 1
            if abs(mu_step - previous) < 1e-4 * abs(mu_step):
                break
            previous = mu_step

    # preconditioned nonlinear conjugate gradient
    k2 = ops.kx2[None, :] + grid.kr[:, None] ** 2
    shift = max(mu_tf, 1.0 + TRAP_ASPECT)

    def apply_h(p: np.ndarray, dens: np.ndarray) -> np.ndarray:
        return ops.kinetic(p) + (v + g * dens) * p

    def precondition(res: np.ndarray, dens: np.ndarray) -> np.ndarray:
        s = np.sqrt(shift / (shift + v + g * dens))
        return s * ops.from_k(ops.to_k(s * res) / (shift + 0.5 * k2))

    d = np.zeros_like(psi)
    z_old: np.ndarray | None = None
    r_old: np.ndarray | None = None
    residual = np.inf
    mu = mu_tf
    for _ in range(max_iterations):
        dens = psi**2
        hpsi = apply_h(psi, dens)
        mu = _inner(grid, psi, hpsi) / atom_number
        res = hpsi - mu * psi
        residual = math.sqrt(_inner(grid, res, res) / atom_number) / abs(mu)
        if residual < tol:
            break
        z = precondition(res, dens)
        if z_old is None or r_old is None:  # the first iteration
            beta = 0.0
        else:
            beta = max(0.0, _inner(grid, z, res - r_old) / _inner(grid, z_old, r_old))
        d = -z + beta * d
        d -= (_inner(grid, d, psi) / atom_number) * psi
        slope = _inner(grid, res, d)
        if slope >= 0:  # not a descent direction: restart along -z
            d = -z + (_inner(grid, z, psi) / atom_number) * psi
            slope = _inner(grid, res, d)
        hd = apply_h(d, dens)
        curvature = (
            _inner(grid, d, hd) - mu * _inner(grid, d, d) + 2 * g * _inner(grid, dens * d, d)
        )
        alpha = -slope / curvature if curvature > 0 else 1e-3
        psi = psi + alpha * d
        psi *= math.sqrt(atom_number / grid.integrate(psi**2))
        z_old, r_old = z, res
        iterations += 1
    if not residual < tol * 10:
        raise SimulationError(
            f"ground state did not converge: residual {residual:.2e} after {iterations} iterations"
        )
    return GroundState(psi=psi, mu=float(mu), residual=float(residual), iterations=iterations)


# --------------------------------------------------------------------------- real time


def _absorber(grid: Grid, width_fraction: float = 0.08, rate: float = 20.0) -> np.ndarray:
    """Loss rate (nx,) rising smoothly over the outer ``width_fraction`` of the x box."""
    edge = grid.x_half_width * (1.0 - width_fraction)
    depth = np.clip((np.abs(grid.x) - edge) / (grid.x_half_width - edge), 0.0, None)
    return rate * depth**2


def _edge_fraction(grid: Grid, density: np.ndarray) -> float:
    outer_x = np.abs(grid.x) > 0.88 * grid.x_half_width
    outer_r = grid.r > 0.85 * grid.r_max
    total = grid.integrate(density)
    if total <= 0:
        return 0.0
    axial = grid.weight_r @ density * grid.dx  # (nx,)
    radial = density.sum(axis=1) * grid.weight_r * grid.dx  # (nr,)
    return float(axial[outer_x].sum() + radial[outer_r].sum()) / total


class _Stepper:
    """Strang split steps on the Hankel-scaled wave function ``u = psi * grid.scale``.

    Working on ``u`` makes the radial transform a real orthogonal matrix (two
    real matrix products per kinetic step); the potential and nonlinear steps
    are diagonal and commute with the scaling.
    """

    def __init__(self, grid: Grid, dt: float, peak_density: float):
        self.grid = grid
        self.peak_density = peak_density
        self.g = interaction_strength()
        self.vx, self.vr = _trap_potential(grid)
        self.inv_s2 = (1.0 / grid.scale**2)[:, None]
        self.hankel = np.ascontiguousarray(grid.hankel)
        self.set_coefficients(dt, 1.0, 1.0, 1.0)

    def set_coefficients(
        self, dt: float, inv_lx2: float, inv_lr2: float, inv_volume: float
    ) -> None:
        """Step dt; kinetic coefficients 1/lambda_x^2, 1/lambda_r^2; trap, g scaled by 1/Lambda."""
        self.dt = dt
        self.g_eff = self.g * inv_volume
        # Split-step is unstable for modes whose kinetic phase per step is near
        # pi, in a band that widens with the nonlinear phase per step (Weideman
        # and Herbst, SIAM J. Numer. Anal. 23, 485 (1986)). The phase of such
        # modes (the corners of the (kr, kx) box, empty in practice) is clipped
        # below the band: the step stays unitary and stable.
        nonlinear_phase = dt * self.g_eff * self.peak_density
        cutoff = max(0.5 * math.pi, 0.85 * math.pi - 2.5 * nonlinear_phase)
        phase = (
            0.5 * dt * (inv_lr2 * self.grid.kr[:, None] ** 2 + inv_lx2 * self.grid.kx[None, :] ** 2)
        )
        np.minimum(phase, cutoff, out=phase)
        self.kinetic_factor = np.empty(phase.shape, dtype=complex)
        np.cos(phase, out=self.kinetic_factor.real)
        np.sin(phase, out=self.kinetic_factor.imag)
        self.kinetic_factor.imag *= -1.0
        self.trap_x_half = np.exp(-0.5j * dt * inv_volume * self.vx)
        self.trap_r_half = np.exp(-0.5j * dt * inv_volume * self.vr)

    def potential_factors(self, axial_exponent: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(half, full) 2D step factors of trap plus ``exp(axial_exponent * dt)`` (nx,)."""
        ax = self.trap_x_half
        if axial_exponent is not None:
            ax = ax * np.exp(0.5 * self.dt * axial_exponent)
        half = self.trap_r_half[:, None] * ax[None, :]
        return half, half * half

    def potential(self, u: np.ndarray, factor: np.ndarray, fraction: float) -> None:
        """In place: u *= factor * exp(-i fraction dt g |psi|^2).

        Only the columns that hold atoms are touched: where the density is below
        1e-24 of its peak (amplitudes below 1e-12) the step changes nothing that
        could be seen, and skipping those columns halves the cost.
        """
        dens = u.real**2 + u.imag**2
        colmax = dens.max(axis=0)
        cols = np.flatnonzero(colmax > 1e-24 * colmax.max())
        if cols.size == 0:
            return
        sl = slice(cols[0], cols[-1] + 1)
        block = dens[:, sl]
        block *= (-fraction * self.dt * self.g_eff) * self.inv_s2
        step = np.empty(block.shape, dtype=complex)
        np.cos(block, out=step.real)
        np.sin(block, out=step.imag)
        step *= factor[:, sl]
        u[:, sl] *= step

    def _radial(self, u: np.ndarray) -> np.ndarray:
        out = self.hankel @ u.view(np.float64)
        return out.view(np.complex128)

    def kinetic(self, u: np.ndarray) -> np.ndarray:
        f = sfft.fft(self._radial(u), axis=1, workers=_WORKERS, overwrite_x=True)
        f *= self.kinetic_factor
        return self._radial(sfft.ifft(f, axis=1, workers=_WORKERS, overwrite_x=True))

    def interval(self, u: np.ndarray, half: np.ndarray, full: np.ndarray, steps: int) -> np.ndarray:
        """``steps`` Strang steps with the same potential: V/2 (T V)^(steps-1) T V/2."""
        self.potential(u, half, 0.5)
        for i in range(steps):
            u = self.kinetic(u)
            if i < steps - 1:
                self.potential(u, full, 1.0)
        self.potential(u, half, 0.5)
        return u


@_one_blas_thread
def evolve(
    psi0: np.ndarray,
    grid: Grid,
    potential: Callable[[int], tuple[np.ndarray | None, np.ndarray | None]] | None,
    update_period: float,
    n_updates: int,
    save_every: int = 1,
    *,
    substeps: int = 3,
    max_nonlinear_phase: float = 0.35,
    progress: Callable[[int], None] | None = None,
) -> Evolution:
    """Real-time evolution over ``n_updates`` intervals of ``update_period`` (trap units).

    Args:
        psi0: (nr, nx) initial state.
        potential: called with the interval index k, returns ``(v_x, loss_x)``,
            each (nx,) or None: the optical potential and the loss rate of the
            density held during [k, k+1) * update_period. ``potential=None``
            means no light at all. Returning the very same arrays as for k-1
            reuses the step factors.
        save_every: store a snapshot every ``save_every`` intervals (and the last).
        substeps: least number of Strang steps per interval; more are taken
            when needed to keep the nonlinear phase per step (g n_max dt) below
            ``max_nonlinear_phase`` radians.
        progress: called with the number of intervals done.

    Returns:
        Evolution with snapshots at ``tsave`` (the start and every ``save_every``).
    """
    check_shape(psi0, grid.shape, "psi0")
    update_period = check_positive(update_period, "update_period")
    if substeps < 1:
        raise SimulationError(f"substeps must be >= 1, got {substeps}")
    peak = float(np.max(np.abs(psi0) ** 2))
    substeps = max(
        substeps, math.ceil(update_period * interaction_strength() * peak / max_nonlinear_phase)
    )
    dt = update_period / substeps
    stepper = _Stepper(grid, dt, peak)
    absorber = _absorber(grid)
    scale = grid.scale[:, None]
    u = np.array(psi0, dtype=complex) * scale
    saves_t = [0.0]
    saves = [(u / scale).astype(np.complex64)]
    edge = _edge_fraction(grid, np.abs(psi0) ** 2)
    cache_key = None
    half: np.ndarray | None = None
    full: np.ndarray | None = None
    # Consecutive half steps of the potential are merged (V_k/2 then V_k+1/2 is
    # one step with both factors: the nonlinear phase depends on |psi| only,
    # which the light does not change). ``pending`` is the half step owed.
    pending: np.ndarray | None = None
    for k in range(n_updates):
        v_x, loss_x = potential(k) if potential is not None else (None, None)
        key = (id(v_x), id(loss_x))
        changed = key != cache_key or half is None
        if changed:
            rate = absorber if loss_x is None else absorber + loss_x
            exponent = -0.5 * rate + 0j  # amplitude decays at half the density's rate
            if v_x is not None:
                exponent = exponent - 1j * v_x
            half, full = stepper.potential_factors(exponent)
            cache_key = key
        if half is None or full is None:  # unreachable: the first update computes them
            raise SimulationError("time evolution: the potential factors were not computed")
        if pending is None:
            stepper.potential(u, half, 0.5)
        else:
            stepper.potential(u, full if not changed else pending * half, 1.0)
        for i in range(substeps):
            u = stepper.kinetic(u)
            if i < substeps - 1:
                stepper.potential(u, full, 1.0)
        pending = half
        if (k + 1) % save_every == 0 or k + 1 == n_updates:
            closed = u.copy()
            stepper.potential(closed, half, 0.5)
            psi = closed / scale
            saves_t.append((k + 1) * update_period)
            saves.append(psi.astype(np.complex64))
            edge = max(edge, _edge_fraction(grid, np.abs(psi) ** 2))
        if progress is not None:
            progress(k + 1)
    if pending is not None:
        stepper.potential(u, pending, 0.5)
    return Evolution(
        tsave=np.array(saves_t), psisave=np.array(saves), psi_final=u / scale, edge_fraction=edge
    )


# --------------------------------------------------------------------------- time of flight


def pad_axial(grid: Grid, psi: np.ndarray, x_half_width: float) -> tuple[Grid, np.ndarray]:
    """The same state on a longer axial box (same step, same radial grid), zero outside.

    Args:
        psi: (nr, nx) state on ``grid``.
        x_half_width: the least half width wanted (trap units).

    Returns:
        (new grid, (nr, nx_new) state); the old points are points of the new grid.
    """
    check_shape(psi, grid.shape, "psi")
    nx = sfft.next_fast_len(max(grid.nx, math.ceil(2.0 * x_half_width / grid.dx)))
    while (nx - grid.nx) % 2:
        nx = sfft.next_fast_len(nx + 1)
    if nx == grid.nx:
        return grid, psi
    new = make_grid(nx, grid.nr, 0.5 * nx * grid.dx, grid.r_max)
    out = np.zeros(new.shape, dtype=np.result_type(psi, complex))
    offset = (nx - grid.nx) // 2
    out[:, offset : offset + grid.nx] = psi
    return new, out


def axial_reach(grid: Grid, psi: np.ndarray, time: float, tail: float = 1e-6) -> float:
    """How far (trap units) the atoms can travel along x in ``time``, from their momenta.

    The wave number below which all but ``tail`` of the atoms lie, times the time.
    """
    f = np.abs(sfft.fft(psi, axis=1, workers=_WORKERS)) ** 2
    weight = grid.weight_r @ f  # (nx,) momentum distribution along x
    order = np.argsort(np.abs(grid.kx))
    cumulative = np.cumsum(weight[order])
    cumulative /= cumulative[-1]
    k_cut = float(np.abs(grid.kx[order])[np.searchsorted(cumulative, 1.0 - tail)])
    return k_cut * time


def scaling_factors(t_end: float, *, aspect: float = TRAP_ASPECT):
    """Castin-Dum scale factors after release: dense solution of
    lambda_x'' = 1 / (lambda_x Lambda), lambda_r'' = aspect^2 / (lambda_r Lambda),
    Lambda = lambda_x lambda_r^2, with lambda = 1 and lambda' = 0 at release. Returns a
    callable t -> (lambda_x, lambda_r, dlambda_x, dlambda_r).
    """

    def rhs(_t, y):
        lx, lr, vx, vr = y
        vol = lx * lr * lr
        return [vx, vr, 1.0 / (lx * vol), aspect**2 / (lr * vol)]

    sol = solve_ivp(
        rhs,
        (0.0, max(t_end, 1e-9)),
        [1.0, 1.0, 0.0, 0.0],
        method="DOP853",
        rtol=1e-11,
        atol=1e-12,
        dense_output=True,
    )
    return sol.sol


@_one_blas_thread
def expand(
    psi0: np.ndarray,
    grid: Grid,
    time_of_flight: float,
    *,
    max_step: float = 0.16,
    first_step: float = 0.005,
    n_save: int = 11,
) -> Expansion:
    """Free expansion (trap and light off) for ``time_of_flight`` (trap units), in the scaled frame.

    With psi(x, r, t) = exp(i (x^2 lx'/lx + r^2 lr'/lr) / 2) chi(x/lx, r/lr, t) / sqrt(lx lr^2),
    chi obeys i dchi/dt = [-d_xx/(2 lx^2) - lap_r/(2 lr^2) + (x^2 + gamma^2 r^2)/(2 Lambda)
    + g |chi|^2 / Lambda] chi on the same fixed grid. Steps grow as the cloud
    expands (``dt = first_step * Lambda``, at most ``max_step``), so the cost
    hardly depends on the time of flight.

    Args:
        psi0: (nr, nx) state at release.
        n_save: number of stored snapshots (evenly spaced in time, including both ends).
    """
    check_shape(psi0, grid.shape, "psi0")
    time_of_flight = check_positive(time_of_flight, "time_of_flight")
    lam = scaling_factors(time_of_flight)
    scale = grid.scale[:, None]
    u = np.array(psi0, dtype=complex) * scale
    save_times = np.linspace(0.0, time_of_flight, max(2, n_save))
    saves = [(u / scale).astype(np.complex64)]
    t = 0.0
    next_save = 1
    stepper = _Stepper(grid, first_step, float(np.max(np.abs(psi0) ** 2)))
    while t < time_of_flight - 1e-12:
        lx, lr, _, _ = lam(t)
        dt = min(max_step, first_step * lx * lr * lr, save_times[next_save] - t)
        # coefficients frozen at the midpoint of the step (second order)
        lxm, lrm, _, _ = lam(t + 0.5 * dt)
        stepper.set_coefficients(dt, 1.0 / lxm**2, 1.0 / lrm**2, 1.0 / (lxm * lrm * lrm))
        half, full = stepper.potential_factors(None)
        u = stepper.interval(u, half, full, 1)
        t += dt
        if t >= save_times[next_save] - 1e-12:
            saves.append((u / scale).astype(np.complex64))
            next_save += 1
    chi = u / scale
    factors = np.array([lam(s)[:2] for s in save_times])
    edge = max(_edge_fraction(grid, np.abs(c.astype(complex)) ** 2) for c in saves)
    return Expansion(
        tsave=save_times,
        lambda_x=factors[:, 0],
        lambda_r=factors[:, 1],
        chisave=np.array(saves),
        chi_final=chi,
        grid=grid,
        edge_fraction=float(edge),
    )
