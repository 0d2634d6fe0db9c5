"""The Simulator: a condensate from its ground state through the experiment stage to the image.

Physical units at this level: positions in um, times in ms, energies E/h in
kHz, densities in atoms/um^3 (3D), atoms/um^2 (column) and atoms/um (axial).
Axes: x is the weak (50 Hz) axis along which the light is projected; the
cloud is cylindrically symmetric about it (400 Hz radially). Images look
along one radial axis (z): their rows are the other radial axis (y) and their
columns are x.

The terminator is modelled as a loss rate proportional to its relative
intensity, ``TERMINATOR_LOSS_RATE_PER_MS * I(x)``: resonant light pushes the
atoms out of the trap within about 0.1 ms where it shines at full intensity
(e^-10 of them remain after 0.1 ms).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from oqtant.constants import (
    IN_TRAP_CROSS_SECTION_M2,
    IN_TRAP_PIXCAL_UM,
    RESONANT_CROSS_SECTION_M2,
    SIMULATOR_IN_TRAP_IMAGE_SHAPE,
    TERMINATOR_LOSS_RATE_PER_MS,
    TOF_IMAGE_SHAPE,
    TOF_PIXCAL_UM,
)
from oqtant.errors import SimulationError
from oqtant.schemas.job import Image, ImageType, InputValues, LineChart, Output  # noqa: F401 - the reference's names here
from oqtant.schemas.limits import tset
from oqtant.simulator import solver
from oqtant.simulator._checks import check_callable, check_positive, check_range
from oqtant.simulator._plot_methods import SimulatorPlots
from oqtant.simulator._wire import simulation_output
from oqtant.simulator.grid import (
    ENERGY_KHZ,
    LENGTH_UM,
    TIME_MS,
    TRAP_ASPECT,
    Grid,
    make_grid,
    thomas_fermi_mu,
)

__all__ = [
    "IN_TRAP_IMAGE_SHAPE",
    "IN_TRAP_PIXCAL_UM",
    "TERMINATOR_LOSS_RATE_PER_MS",
    "TOF_IMAGE_SHAPE",
    "TOF_PIXCAL_UM",
    "GridEdgeWarning",
    "Simulator",
    "SimulatorOptions",
]

IN_TRAP_IMAGE_SHAPE = SIMULATOR_IN_TRAP_IMAGE_SHAPE  # the reference simulator's grid
_CROSS_SECTION_UM2 = RESONANT_CROSS_SECTION_M2 * 1e12  # the resonant TOF probe
_IN_TRAP_CROSS_SECTION_UM2 = IN_TRAP_CROSS_SECTION_M2 * 1e12  # the detuned in-trap probe
_MIN_ATOMS, _MAX_ATOMS = 1e3, 2e5


class GridEdgeWarning(UserWarning):
    """Atoms reached the edge of the simulation grid: results there are not reliable."""


@dataclass(frozen=True)
class SimulatorOptions:
    """Numerical settings of a simulation (defaults are converged for the apparatus' jobs).

    Attributes:
        x_half_width_um: the axial box is [-x_half_width_um, x_half_width_um); None
            chooses it from the energy the atoms can have (chemical potential plus
            the strongest light of the run): 1.25 x the classical turning point
            plus 8 um, at least 30 um and at most 80 um.
        axial_step_um: about the spacing of the axial (Fourier) points.
        radial_step_um: about the spacing of the radial (Hankel) points.
        r_max_um: radial box; None chooses it from the Thomas-Fermi radius.
        substeps: least number of Strang steps per 0.1 ms update of the potential.
        max_nonlinear_phase: more steps are taken when needed to keep the
            nonlinear phase per step (g n_max dt) below this (radians).
        max_snapshots: most snapshots stored during the experiment stage.
        tof_snapshots: snapshots stored during the time of flight.
        ground_state_tol: relative residual of the ground state.
        edge_warning_fraction: warn when this fraction of the atoms reaches the grid edge.
    """

    x_half_width_um: float | None = None
    axial_step_um: float = 0.16
    radial_step_um: float = 0.22
    r_max_um: float | None = None
    substeps: int = 3
    max_nonlinear_phase: float = 0.35
    max_snapshots: int = 101
    tof_snapshots: int = 11
    ground_state_tol: float = 1e-10
    edge_warning_fraction: float = 1e-4


def _radial_box_um(atom_number: float) -> float:
    """Radial box: well beyond the Thomas-Fermi radius (and the oscillator length)."""
    radius = math.sqrt(2.0 * thomas_fermi_mu(atom_number)) / TRAP_ASPECT  # trap units
    return LENGTH_UM * max(1.5 * radius + 1.6, 3.0)


class Simulator(SimulatorPlots):
    """Gross-Pitaevskii simulation of one run (``InputValues``) of the apparatus.

    Args:
        values: the run: lifetime ``end_time_ms``, imaging, barriers, landscape, terminator.
        atom_number: atoms in the condensate at t = 0 (1e3 to 2e5).
        potential_khz: optional ``(times_ms (nt,), positions_um (nx,)) -> (nt, nx)``
            optical potential E/h in kHz; by default the projected potential of ``values``.
        options: numerical settings.
    """

    def __init__(
        self,
        values: InputValues,
        *,
        atom_number: float = 1e4,
        potential_khz: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        options: SimulatorOptions | None = None,
    ):
        if not isinstance(values, InputValues):
            raise SimulationError(f"values must be an InputValues, got {type(values).__name__}")
        self.values = values
        self.atom_number = check_range(atom_number, _MIN_ATOMS, _MAX_ATOMS, "atom_number")
        self._potential_khz = check_callable(potential_khz, "potential_khz")
        self.options = options or SimulatorOptions()
        opts = self.options
        check_positive(opts.axial_step_um, "options.axial_step_um")
        check_positive(opts.radial_step_um, "options.radial_step_um")
        check_positive(opts.max_nonlinear_phase, "options.max_nonlinear_phase")
        if opts.x_half_width_um is None:
            x_half_um = self._auto_half_width_um()
        else:
            x_half_um = check_positive(opts.x_half_width_um, "options.x_half_width_um")
        nx = sfft.next_fast_len(math.ceil(2.0 * x_half_um / opts.axial_step_um))
        if opts.substeps < 1:
            raise SimulationError(f"options.substeps must be >= 1, got {opts.substeps}")
        r_max_um = opts.r_max_um or _radial_box_um(self.atom_number)
        nr = max(8, math.ceil(r_max_um / opts.radial_step_um))
        self.grid: Grid = make_grid(nx, nr, x_half_um / LENGTH_UM, r_max_um / LENGTH_UM)
        self.ground: solver.GroundState | None = None
        self.evolution: solver.Evolution | None = None
        self.expansion: solver.Expansion | None = None
        self._output: Output | None = None
        self._tof_cache: dict[float, solver.Expansion] = {}

    def _auto_half_width_um(self) -> float:
        """Axial half box from the largest energy an atom can get (see SimulatorOptions)."""
        times = self._update_times_ms()
        if times.size > 41:  # a sample of the updates is enough to find the brightest light
            times = times[np.unique(np.linspace(0, times.size - 1, 41).round().astype(int))]
        v_max_khz = 0.0
        if times.size:
            coarse_x = np.arange(-80.0, 80.5, 0.5)
            v_max_khz = float(np.max(self.optical_potential_khz(times, coarse_x), initial=0.0))
        energy = thomas_fermi_mu(self.atom_number) + v_max_khz / ENERGY_KHZ
        turning_um = math.sqrt(2.0 * energy) * LENGTH_UM
        return float(min(80.0, max(30.0, 1.25 * turning_um + 8.0)))

    # ------------------------------------------------------------------ grids

    @property
    def x_um(self) -> np.ndarray:
        """(nx,) axial grid in the trap, um."""
        return self.grid.x * LENGTH_UM

    @property
    def r_um(self) -> np.ndarray:
        """(nr,) radial grid in the trap, um."""
        return self.grid.r * LENGTH_UM

    @property
    def end_time_ms(self) -> float:
        return float(self.values.end_time_ms)

    @property
    def is_time_of_flight(self) -> bool:
        return self.values.image_type == ImageType.TIME_OF_FLIGHT

    @property
    def times_ms(self) -> np.ndarray:
        """Times of the stored snapshots, ms: in the trap, then (TOF runs) during the expansion."""
        t = self._require_run().tsave * TIME_MS
        if self.expansion is not None:
            t = np.concatenate([t, self.end_time_ms + self.expansion.tsave[1:] * TIME_MS])
        return t

    # ------------------------------------------------------------------ potentials

    def _update_times_ms(self) -> np.ndarray:
        n = round(self.end_time_ms / tset.resolution_ms)
        return np.round(np.arange(n) * tset.resolution_ms, 1)

    def optical_potential_khz(self, times_ms, positions_um=None) -> np.ndarray:
        """(nt, nx) optical potential E/h (kHz) at ``times_ms``, ``positions_um`` (default grid)."""
        t = np.atleast_1d(np.asarray(times_ms, dtype=float))
        x = self.x_um if positions_um is None else np.atleast_1d(np.asarray(positions_um, float))
        if self._potential_khz is not None:
            v = np.asarray(self._potential_khz(t, x), dtype=float)
            if v.shape != (t.size, x.size):
                raise SimulationError(
                    f"potential_khz must return shape (nt, nx) = {(t.size, x.size)}, got {v.shape}"
                )
            if not np.all(np.isfinite(v)):
                raise SimulationError("potential_khz returned NaN or infinite values")
            return v
        if not (self.values.optical_barriers or self.values.optical_landscape):
            return np.zeros((t.size, x.size))
        from oqtant.projection import projected_potential_khz

        return np.asarray(projected_potential_khz(self.values, t, x), dtype=float)

    def terminator_intensity(self, times_ms, positions_um=None) -> np.ndarray:
        """(nt, nx) relative terminator intensity (0..1)."""
        t = np.atleast_1d(np.asarray(times_ms, dtype=float))
        x = self.x_um if positions_um is None else np.atleast_1d(np.asarray(positions_um, float))
        if not self.values.lasers:
            return np.zeros((t.size, x.size))
        from oqtant.projection import terminator_intensity

        return np.asarray(terminator_intensity(self.values, t, x), dtype=float)

    def magnetic_potential_khz(self, positions_um=None) -> np.ndarray:
        """(nx,) the axial harmonic trap, E/h in kHz."""
        x = self.x_um if positions_um is None else np.asarray(positions_um, float)
        return 0.5 * (x / LENGTH_UM) ** 2 * ENERGY_KHZ

    # ------------------------------------------------------------------ running

    def run(self, progress: bool = True) -> Simulator:
        """Ground state, evolution to ``end_time_ms`` and, for TIME_OF_FLIGHT, the expansion.

        Args:
            progress: show a progress bar.
        """
        opts = self.options
        self.ground = solver.ground_state(self.atom_number, self.grid, tol=opts.ground_state_tol)
        times = self._update_times_ms()
        n_updates = times.size
        if n_updates:
            v_khz = self.optical_potential_khz(times)
            loss = self.terminator_intensity(times)
        else:
            v_khz = loss = np.zeros((0, self.grid.nx))
        v_trap = v_khz / ENERGY_KHZ
        loss_trap = loss * (TERMINATOR_LOSS_RATE_PER_MS * TIME_MS)
        has_loss = bool(np.any(loss_trap > 0))
        # rows equal to the previous one reuse its exponential
        rows: list[tuple[np.ndarray | None, np.ndarray | None]] = []
        for k in range(n_updates):
            if (
                k
                and np.array_equal(v_trap[k], v_trap[k - 1])
                and np.array_equal(loss_trap[k], loss_trap[k - 1])
            ):
                rows.append(rows[-1])
                continue
            vk = v_trap[k] if np.any(v_trap[k]) else None
            lk = loss_trap[k] if has_loss and np.any(loss_trap[k]) else None
            rows.append((vk, lk))

        save_every = max(1, math.ceil(n_updates / max(1, opts.max_snapshots - 1)))
        bar = None
        if progress and n_updates:
            from oqtant._progress import tqdm

            bar = tqdm(
                total=round(n_updates * tset.resolution_ms, 1),
                desc="simulated time",
                unit="ms",
                bar_format=(
                    "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} ms "
                    "[{elapsed}<{remaining}]"
                ),
                leave=False,
            )
        last = [0]

        def report(done: int) -> None:
            if bar is not None:
                bar.update(round((done - last[0]) * tset.resolution_ms, 1))
                last[0] = done

        try:
            self.evolution = solver.evolve(
                self.ground.psi,
                self.grid,
                (lambda k: rows[k]) if n_updates else None,
                tset.resolution_ms / TIME_MS,
                n_updates,
                save_every,
                substeps=opts.substeps,
                max_nonlinear_phase=opts.max_nonlinear_phase,
                progress=report,
            )
        finally:
            if bar is not None:
                bar.close()
        if self.evolution.edge_fraction > opts.edge_warning_fraction:
            warnings.warn(
                f"{self.evolution.edge_fraction:.1e} of the atoms reached the edge of the "
                f"simulation grid (|x| > {0.88 * self.grid.x_half_width * LENGTH_UM:.0f} um or r > "
                f"{0.85 * self.grid.r_max * LENGTH_UM:.1f} um); results there are not reliable",
                GridEdgeWarning,
                stacklevel=2,
            )
        self.expansion = None
        self._tof_cache = {}
        if self.is_time_of_flight:
            self.expansion = self._expansion(float(self.values.time_of_flight_ms))
        self._output = None
        return self

    def _require_run(self) -> solver.Evolution:
        """The run's evolution; SimulationError when run() has not been called."""
        if self.evolution is None:
            raise SimulationError("the simulation has not run yet: call run() first")
        return self.evolution

    def _expansion(self, time_of_flight_ms: float) -> solver.Expansion:
        key = round(float(time_of_flight_ms), 6)
        if key not in self._tof_cache:
            psi = self._require_run().psi_final
            tof = time_of_flight_ms / TIME_MS
            # the axial box must hold where the atoms are plus how far they fly
            axial = self.grid.weight_r @ (np.abs(psi) ** 2)
            inside = np.flatnonzero(axial > 1e-8 * axial.max())
            extent = float(np.max(np.abs(self.grid.x[inside]))) if inside.size else 0.0
            reach = solver.axial_reach(self.grid, psi, tof)
            needed = (extent + reach + 5.0 / LENGTH_UM) / 0.85
            grid, psi = solver.pad_axial(self.grid, psi, min(needed, 600.0 / LENGTH_UM))
            expansion = solver.expand(psi, grid, tof, n_save=self.options.tof_snapshots)
            if expansion.edge_fraction > self.options.edge_warning_fraction:
                warnings.warn(
                    f"{expansion.edge_fraction:.1e} of the atoms reached the edge of the "
                    f"simulation grid during the time of flight; the image is not reliable",
                    GridEdgeWarning,
                    stacklevel=3,
                )
            self._tof_cache[key] = expansion
        return self._tof_cache[key]

    # ------------------------------------------------------------------ atoms

    @property
    def atom_number_final(self) -> float:
        """Atoms left at ``end_time_ms`` (after terminator losses)."""
        return self.grid.integrate(np.abs(self._require_run().psi_final) ** 2)

    def atom_number_at(self, time_ms: float) -> float:
        """Atoms at the stored time nearest ``time_ms``."""
        psi, _, _, grid = self._snapshot(time_ms)
        return grid.integrate(np.abs(psi) ** 2)

    # ------------------------------------------------------------------ snapshots

    def _snapshot(self, time_ms: float) -> tuple[np.ndarray, float, float, Grid]:
        """(psi, lambda_x, lambda_r, grid) at the stored time nearest ``time_ms``."""
        evolution = self._require_run()
        times = self.times_ms
        i = int(np.argmin(np.abs(times - float(time_ms))))
        n_in = evolution.tsave.size
        if i < n_in:
            if i == n_in - 1:
                return evolution.psi_final, 1.0, 1.0, self.grid
            return evolution.psisave[i].astype(complex), 1.0, 1.0, self.grid
        j = i - n_in + 1
        e = self.expansion
        if e is None:  # times_ms holds expansion times only when there is an expansion
            raise SimulationError(f"no stored snapshot at {time_ms} ms: the run has no expansion")
        return e.chisave[j].astype(complex), float(e.lambda_x[j]), float(e.lambda_r[j]), e.grid

    def nearest_time_ms(self, time_ms: float) -> float:
        """The stored time nearest ``time_ms``."""
        times = self.times_ms
        return float(times[int(np.argmin(np.abs(times - float(time_ms))))])

    def get_grids(self, time_ms: float) -> tuple[np.ndarray, np.ndarray]:
        """(x_um (nx,), r_um (nr,)) of the snapshot nearest ``time_ms`` (scaled during TOF)."""
        _, lx, lr, grid = self._snapshot(time_ms)
        return grid.x * LENGTH_UM * lx, grid.r * LENGTH_UM * lr

    def get_times(self) -> np.ndarray:
        """Stored times, ms."""
        return self.times_ms

    def get_density(self, time_ms: float) -> np.ndarray:
        """(nr, nx) density (atoms/um^3) at the stored time nearest ``time_ms`` (``get_grids``)."""
        psi, lx, lr, _ = self._snapshot(time_ms)
        return np.abs(psi) ** 2 / (lx * lr * lr) / LENGTH_UM**3

    def get_axial_density(self, time_ms: float) -> np.ndarray:
        """(nx,) atoms/um along x (integrated over the cross-section), on ``get_grids(...)[0]``."""
        psi, lx, _, _ = self._snapshot(time_ms)
        return (self.grid.weight_r @ (np.abs(psi) ** 2)) / (lx * LENGTH_UM)

    def get_radial_density(self, time_ms: float) -> np.ndarray:
        """(nr,) atoms/um^2: the density integrated along x, against r (``get_grids(...)[1]``)."""
        psi, _, lr, _ = self._snapshot(time_ms)
        return (np.abs(psi) ** 2).sum(axis=1) * self.grid.dx / (lr * LENGTH_UM) ** 2

    def get_phase(self, time_ms: float) -> np.ndarray:
        """(nr, nx) phase of the wave function in radians (-pi..pi), on ``get_grids``.

        During the time of flight this includes the expansion's quadratic phase.
        """
        psi, lx, lr, grid = self._snapshot(time_ms)
        phase = np.angle(psi)
        if lx != 1.0 or lr != 1.0:
            t = (self.nearest_time_ms(time_ms) - self.end_time_ms) / TIME_MS
            _, _, dlx, dlr = solver.scaling_factors(t)(t)
            x = grid.x * lx
            r = grid.r * lr
            quad = 0.5 * (dlx / lx) * x[None, :] ** 2 + 0.5 * (dlr / lr) * r[:, None] ** 2
            phase = np.angle(np.exp(1j * (phase + quad)))
        return phase

    def get_current(self, time_ms: float) -> np.ndarray:
        """(nx,) atom current along x through each plane, atoms/ms (in the trap)."""
        psi, lx, _, _ = self._snapshot(time_ms)
        if lx != 1.0:
            raise SimulationError("get_current is defined for times in the trap (<= end_time_ms)")
        dpsi = sfft.ifft(1j * self.grid.kx * sfft.fft(psi, axis=1), axis=1)
        j = np.imag(np.conj(psi) * dpsi)  # hbar/m = 1 in trap units
        return (self.grid.weight_r @ j) / TIME_MS

    # ------------------------------------------------------------------ column densities

    def _column(
        self,
        psi: np.ndarray,
        x_scaled: np.ndarray,
        y_scaled: np.ndarray,
        grid: Grid | None = None,
        x_width: float | None = None,
    ) -> np.ndarray:
        """(ny, nx) column density of psi (trap units) along z at (y, x) in trap units.

        The Abel projection is computed on 4 nr + 1 heights in [0, r_max]
        (Gauss-Legendre along z of the Bessel-series interpolant), then
        interpolated in y by a cubic spline. With ``x_width``, each value is the
        average over [x - x_width/2, x + x_width/2] (a camera pixel), integrated
        exactly on the grid; otherwise it is interpolated linearly in x.
        """
        from scipy.interpolate import CubicSpline

        grid = self.grid if grid is None else grid
        x_scaled = np.asarray(x_scaled, dtype=float)
        y_scaled = np.asarray(y_scaled, dtype=float)
        out = np.zeros((y_scaled.size, x_scaled.size))
        half = 0.0 if x_width is None else 0.5 * x_width
        lo = max(0, np.searchsorted(grid.x, x_scaled.min() - half) - 2)
        hi = min(grid.nx, np.searchsorted(grid.x, x_scaled.max() + half) + 2)
        axial = (np.abs(psi) ** 2).max(axis=0)
        occupied = np.flatnonzero(axial > 1e-14 * max(float(axial.max()), 1e-300))
        if occupied.size:
            lo = max(lo, int(occupied[0]) - 2)
            hi = min(hi, int(occupied[-1]) + 3)
        inside = np.flatnonzero(np.abs(y_scaled) < grid.r_max)
        if hi <= lo or inside.size == 0:
            return out
        # column density on a fixed set of heights y >= 0 (it is even in y)
        heights = np.linspace(0.0, grid.r_max, 4 * grid.nr + 1)
        nodes, weights = np.polynomial.legendre.leggauss(32)
        z_max = np.sqrt(np.clip(grid.r_max**2 - heights**2, 0.0, None))
        z = 0.5 * (nodes[None, :] + 1.0) * z_max[:, None]  # (nh, nz)
        wz = 0.5 * weights[None, :] * z_max[:, None]
        rho = np.sqrt(heights[:, None] ** 2 + z**2)
        interp = grid.radial_interpolation(rho.ravel())  # (nh*nz, nr)
        block = np.ascontiguousarray(psi[:, lo:hi], dtype=complex)
        values = (interp @ block.view(np.float64)).view(complex)  # real matrix, complex data
        dens = (values.real**2 + values.imag**2).reshape(heights.size, nodes.size, hi - lo)
        col = 2.0 * np.einsum("yz,yzx->yx", wz, dens)  # both halves of the z line
        xs = grid.x[lo:hi]
        # along x: at the requested x (or averaged over pixels), for each height
        if x_width is None:
            at_x = np.array([np.interp(x_scaled, xs, c, left=0.0, right=0.0) for c in col])
        else:
            cumulative = (
                np.concatenate(
                    [
                        np.zeros((col.shape[0], 1)),
                        np.cumsum(0.5 * (col[:, 1:] + col[:, :-1]), axis=1),
                    ],
                    axis=1,
                )
                * grid.dx
            )
            at_x = (
                np.array(
                    [
                        np.interp(x_scaled + half, xs, c, left=0.0, right=c[-1])
                        - np.interp(x_scaled - half, xs, c, left=0.0, right=c[-1])
                        for c in cumulative
                    ]
                )
                / x_width
            )
        # along y: the spline through the heights, even in y
        slope = (1, np.zeros(at_x.shape[1:]))  # even in y: flat at the axis
        spline = CubicSpline(heights, at_x, axis=0, bc_type=(slope, "not-a-knot"))
        out[inside] = np.clip(spline(np.abs(y_scaled[inside])), 0.0, None)
        return out

    def get_column_density(self, time_ms: float, x_um=None, y_um=None) -> np.ndarray:
        """(ny, nx) column density in atoms/um^2 at the stored time nearest ``time_ms``.

        Looking along z; rows are y, columns x. Default grids: the simulation's
        x points and y from -r to r of the (scaled) radial box.
        """
        psi, lx, lr, grid = self._snapshot(time_ms)
        x = grid.x * LENGTH_UM * lx if x_um is None else np.atleast_1d(np.asarray(x_um, float))
        if y_um is None:
            y = np.linspace(-1.0, 1.0, 2 * self.grid.nr + 1) * self.grid.r_max * LENGTH_UM * lr
        else:
            y = np.atleast_1d(np.asarray(y_um, float))
        col = self._column(psi, x / (lx * LENGTH_UM), y / (lr * LENGTH_UM), grid)
        return col / (lx * lr * LENGTH_UM**2)

    def get_column_densities(
        self, time_ms: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Column densities (atoms/um^2) seen along x and along z, with slices through the centre.

        Returns:
            (column_zy (n, n) looking along x; column_zx (n, nx) looking along z,
            rows y, columns x; slice_y (n,) the centre row of column_zy; slice_x (nx,)
            the centre row of column_zx), with y and z on n = 2 nr + 1 points from
            -r to r, r the last of ``get_grids(time_ms)[1]``.
        """
        psi, lx, lr, grid = self._snapshot(time_ms)
        n = 2 * grid.nr + 1
        side = np.linspace(-grid.r[-1], grid.r[-1], n)  # scaled, trap units
        column_zx = self.get_column_density(time_ms, None, side * lr * LENGTH_UM)
        rho = np.hypot(side[:, None], side[None, :]).ravel()
        values = grid.radial_interpolation(rho) @ psi  # (n*n, nx)
        along_x = (np.abs(values) ** 2).sum(axis=1) * grid.dx  # integrate over x
        column_zy = along_x.reshape(n, n) * lx / (lx * lr * lr) / LENGTH_UM**2
        centre = n // 2
        return column_zy, column_zx, column_zy[centre].copy(), column_zx[centre].copy()

    def in_trap_column_density(self, x_um, y_um) -> np.ndarray:
        """(ny, nx) column density in atoms/um^2 at ``end_time_ms`` (state exactly at that time)."""
        evolution = self._require_run()
        x = np.atleast_1d(np.asarray(x_um, float))
        y = np.atleast_1d(np.asarray(y_um, float))
        return self._column(evolution.psi_final, x / LENGTH_UM, y / LENGTH_UM) / LENGTH_UM**2

    def tof_column_density(self, x_um, y_um, time_of_flight_ms: float | None = None) -> np.ndarray:
        """(ny, nx) column density in atoms/um^2 after free expansion for ``time_of_flight_ms``.

        Default: the run's ``time_of_flight_ms``. Positions are centred on the trap centre.
        """
        self._require_run()
        tof = float(
            self.values.time_of_flight_ms if time_of_flight_ms is None else time_of_flight_ms
        )
        tof = check_positive(tof, "time_of_flight_ms")
        e = self._expansion(tof)
        lx, lr = float(e.lambda_x[-1]), float(e.lambda_r[-1])
        x = np.atleast_1d(np.asarray(x_um, float)) / (lx * LENGTH_UM)
        y = np.atleast_1d(np.asarray(y_um, float)) / (lr * LENGTH_UM)
        return self._column(e.chi_final, x, y, e.grid) / (lx * lr * LENGTH_UM**2)

    # ------------------------------------------------------------------ outputs

    @staticmethod
    def _pixel_centres(n: int, pixcal: float) -> np.ndarray:
        return (np.arange(n) - 0.5 * (n - 1)) * pixcal

    def in_trap_image(self) -> np.ndarray:
        """(148, 512) optical density at ``end_time_ms``, 0.344 um per pixel (averaged along x).

        The column density times the cross-section of the detuned in-trap probe
        (``oqtant.constants.IN_TRAP_CROSS_SECTION_M2``), as the machine's in-trap images.
        """
        rows, cols = IN_TRAP_IMAGE_SHAPE
        evolution = self._require_run()
        x = self._pixel_centres(cols, IN_TRAP_PIXCAL_UM) / LENGTH_UM
        y = self._pixel_centres(rows, IN_TRAP_PIXCAL_UM) / LENGTH_UM
        column = (
            self._column(evolution.psi_final, x, y, x_width=IN_TRAP_PIXCAL_UM / LENGTH_UM)
            / LENGTH_UM**2
        )
        return column * _IN_TRAP_CROSS_SECTION_UM2

    def tof_image(self, supersample: int = 4) -> np.ndarray:
        """(100, 100) optical density after the time of flight, 4.4 um pixels (pixel averages)."""
        self._require_run()
        rows, cols = TOF_IMAGE_SHAPE
        e = self._expansion(float(self.values.time_of_flight_ms))
        lx, lr = float(e.lambda_x[-1]), float(e.lambda_r[-1])
        sub = (np.arange(supersample) - 0.5 * (supersample - 1)) / supersample * TOF_PIXCAL_UM
        x = self._pixel_centres(cols, TOF_PIXCAL_UM)
        y = (self._pixel_centres(rows, TOF_PIXCAL_UM)[:, None] + sub[None, :]).ravel()
        column = self._column(
            e.chi_final,
            x / (lx * LENGTH_UM),
            y / (lr * LENGTH_UM),
            e.grid,
            x_width=TOF_PIXCAL_UM / (lx * LENGTH_UM),
        ) / (lx * lr * LENGTH_UM**2)
        return column.reshape(rows, supersample, cols).mean(axis=1) * _CROSS_SECTION_UM2

    @property
    def output(self) -> Output:
        """The run's output in the apparatus' wire format (IN_TRAP or TIME_OF_FLIGHT)."""
        self._require_run()
        if self._output is None:
            self._output = self._make_output()
        return self._output

    def _make_output(self) -> Output:
        return simulation_output(self)
