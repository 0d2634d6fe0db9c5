"""The imaged cloud after the experiment stage: the condensate and the thermal cloud.

The condensate follows the Gross-Pitaevskii simulator when light or the
terminator acts on it (or the Thomas-Fermi density in the total potential when
the simulator cannot run); the thermal cloud is its analytic equilibrium
displaced by test particles (:mod:`._thermal`) pushed by the light and by the
change of the condensate's mean field. :class:`Profiles` renders both as
column densities for the imaging stage.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from oqtant.constants import RB87_MASS_KG, TRAP_FREQUENCY_RADIAL_HZ
from oqtant.emulator._cloud import (
    TRAP_OMEGAS,
    CloudState,
    condensate_line_density_in_potential,
    thermal_column_density,
)
from oqtant.emulator._stage import (
    Light,
    column_from_line_density,
    line_to_local_mu,
    tf_line_density,
)
from oqtant.emulator._thermal import (
    AxialTable,
    Particles,
    deposit_column,
    drift_harmonic,
    evolve_particles,
    image_positions_um,
    sample_particles,
)
from oqtant.errors import SimulationError
from oqtant.schemas.job import ImageType, InputValues
from oqtant.schemas.limits import tset

if TYPE_CHECKING:  # pragma: no cover
    from oqtant.emulator._apparatus import ApparatusSettings

__all__ = ["Profiles"]

_SIMULATOR_ATOMS = (1e3, 2e5)  # the simulator's range of condensate atom numbers
# The simulator's trap is the nominal 50 / 400 Hz one, the machine's is stiffer
# radially. An elongated Thomas-Fermi condensate moves along x as its chemical
# potential and V(x) say (n1 = pi (mu - V)^2 / (g m omega_y omega_z)): the
# simulator holding this many times the atoms has the machine's mu, and its line
# density, scaled back by the same factor, is the machine's.
_SIMULATOR_ATOM_SCALE = (TRAP_OMEGAS[1] / (2 * np.pi * TRAP_FREQUENCY_RADIAL_HZ)) ** 2


class Profiles:
    """Column densities of the imaged cloud after the experiment stage: one path for every run.

    The condensate is rendered from its axial line density (:mod:`._stage`): the
    Thomas-Fermi equilibrium, plus the change since t = 0 that the
    Gross-Pitaevskii simulator finds under the light (or, when it cannot run, the
    Thomas-Fermi density in the total potential at ``end_time_ms``). The thermal
    cloud is the analytic equilibrium at t = 0 plus the displacement of its test
    particles (:mod:`._thermal`); where nothing acts both corrections vanish.
    """

    def __init__(
        self,
        values: InputValues,
        start: CloudState,
        end: CloudState,
        s: ApparatusSettings,
        rng: np.random.Generator,
    ):
        self.values = values
        self.end = end
        self.settings = s
        self.used_simulator = False
        self.light = Light(values)
        self.acted_on = not self.light.dark or self.light.has_terminator
        half_um = max(1.5 * max(start.tf_radii_um[0], end.tf_radii_um[0]), 100.0)
        self.line_x_m = np.arange(-half_um, half_um + 1e-9, 0.1) * 1e-6
        self.n1 = tf_line_density(end.condensed_atom_number, self.line_x_m)
        self.v1: np.ndarray | None = None
        self.mean_field: _CondensateMeanField | None = None
        tick = time.perf_counter()
        if self.acted_on and end.condensed_atom_number > 0:
            simulator = self._run_simulator(start)
            if simulator is not None:
                self.used_simulator = True
                self._follow_simulator(simulator)
            else:
                self.n1 = self._tf_line_in_potential()
        dx = self.line_x_m[1] - self.line_x_m[0]
        self.condensed_atoms = float(np.sum(self.n1) * dx)
        tock = time.perf_counter()
        self.thermal = _ThermalCloud(values, end, self.light, rng, self.mean_field, s)
        self.laps = {"condensate": tock - tick, "thermal": time.perf_counter() - tock}
        self.thermal_atoms = end.thermal_atom_number * self.thermal.kept

    # -- the condensate

    def _run_simulator(self, start: CloudState):
        if not self.settings.use_simulator:
            return None
        n_c = start.condensed_atom_number * _SIMULATOR_ATOM_SCALE
        if not _SIMULATOR_ATOMS[0] <= n_c <= _SIMULATOR_ATOMS[1]:
            return None
        try:
            from oqtant.simulator import Simulator, SimulatorOptions
        except ImportError:  # pragma: no cover - the simulator ships with the package
            return None
        options = SimulatorOptions(
            axial_step_um=self.settings.simulator_axial_step_um,
            radial_step_um=self.settings.simulator_radial_step_um,
            max_nonlinear_phase=self.settings.simulator_max_nonlinear_phase,
        )
        # the image is rendered here (in trap or after flight): the simulator
        # only follows the condensate through the experiment stage
        in_trap = self.values.model_copy(update={"image_type": ImageType.IN_TRAP})
        try:
            return Simulator(
                in_trap, atom_number=n_c, potential_khz=self.light.potential_khz, options=options
            ).run(progress=False)
        except SimulationError:
            # a run the solver cannot take (e.g. its grid cannot hold the cloud):
            # the Thomas-Fermi density in the total potential stands in
            return None

    def _follow_simulator(self, simulator) -> None:
        from oqtant.simulator.grid import LENGTH_UM, TIME_MS

        grid = simulator.grid
        evolution = simulator.evolution
        length_m = LENGTH_UM * 1e-6
        x_m = grid.x * length_m
        # the machine's atoms over the simulator's (its mu matches the machine's)
        ratio = self.end.condensed_atom_number / simulator.atom_number
        snaps = evolution.psisave
        lines = np.einsum("r,trx->tx", grid.weight_r, snaps.real**2 + snaps.imag**2) / length_m
        # (nt, nx) atoms / m on the simulator's grid, the same on the line grid
        lines = np.stack([np.interp(self.line_x_m, x_m, row, left=0.0, right=0.0) for row in lines])
        equilibrium = self.n1
        change = ratio * (lines - lines[0][None, :])
        snapshots = np.clip(equilibrium[None, :] + change, 0.0, None)
        self.n1 = snapshots[-1]
        psi = evolution.psi_final
        dpsi = np.fft.ifft(1j * grid.kx * np.fft.fft(psi, axis=1), axis=1)
        current = grid.weight_r @ np.imag(np.conj(psi) * dpsi)
        density = grid.weight_r @ (np.abs(psi) ** 2)
        held = density > 1e-6 * density.max()
        velocity = np.where(held, current / np.where(held, density, 1.0), 0.0)
        velocity *= length_m / (TIME_MS * 1e-3)
        self.v1 = np.interp(self.line_x_m, x_m, velocity, left=0.0, right=0.0)
        save_every = (
            max(1, round(evolution.tsave[1] * TIME_MS / tset.resolution_ms))
            if len(evolution.tsave) > 1
            else 1
        )
        self.mean_field = _CondensateMeanField(
            self.line_x_m, equilibrium, snapshots, save_every, self.light.n_updates
        )

    def _tf_line_in_potential(self) -> np.ndarray:
        from oqtant.projection import projected_potential_khz, terminator_intensity

        grid_um = self.line_x_m * 1e6
        t_end = self.values.end_time_ms
        potential = np.asarray(projected_potential_khz(self.values, [t_end], grid_um))[0]
        survival = None
        if self.light.has_terminator:
            step = tset.resolution_ms
            times = np.arange(0.0, t_end + step / 2, step)
            dose = np.asarray(terminator_intensity(self.values, times, grid_um)).sum(axis=0) * step
            survival = np.exp(-self.settings.terminator_loss_per_ms * dose)
        return condensate_line_density_in_potential(
            self.end.condensed_atom_number, potential, grid_um, survival_x=survival
        )

    # -- column densities, atoms / m^2

    def _condensate(self, x_um, y_um, tof_ms: float) -> np.ndarray:
        if self.condensed_atoms <= 0:
            return np.zeros((np.size(y_um), np.size(x_um)))
        return column_from_line_density(
            x_um, y_um, self.line_x_m, self.n1, time_of_flight_ms=tof_ms, velocity_m_s=self.v1
        )

    def in_trap(self, x_um, y_um) -> np.ndarray:
        return self._condensate(x_um, y_um, 0.0) + self.thermal.column(x_um, y_um, 0.0)

    def tof(self, x_um, y_um, tof_ms: float) -> np.ndarray:
        return self._condensate(x_um, y_um, tof_ms) + self.thermal.column(x_um, y_um, tof_ms)


class _CondensateMeanField:
    """The force of the change of the condensate's mean field ``2 g n_c`` on thermal atoms.

    ``n_c`` is the local Thomas-Fermi density of the condensate's line density at
    each stored snapshot; only its change since t = 0 pushes (the equilibrium
    cloud is drawn without the static mean field). Axial force only: the light
    and the condensate's changes are along x, and the radial motion stays harmonic.
    """

    def __init__(self, x_m, equilibrium, snapshots, save_every: int, n_updates: int):
        self.x0, self.dx = float(x_m[0]), float(x_m[1] - x_m[0])
        a_eq = line_to_local_mu(equilibrium)
        a = line_to_local_mu(snapshots)
        rows = np.clip(np.round(np.arange(max(n_updates, 1)) / save_every), 0, len(a) - 1)
        self.rows = rows.astype(np.int64)
        eq = np.stack([a_eq, np.gradient(a_eq, self.dx)])
        # per snapshot: (a, da/dx, a_eq, da_eq/dx) on the line grid
        tables = np.stack(
            [np.concatenate([np.stack([row, np.gradient(row, self.dx)]), eq]) for row in a]
        )
        held = np.flatnonzero(np.any(tables[:, [0, 2]] > 0, axis=(0, 1)))
        lo, hi = (max(int(held[0]) - 2, 0), int(held[-1]) + 3) if held.size else (0, 2)
        # only where a condensate is (or was) can its mean field push
        self.tables = np.ascontiguousarray(tables[:, :, lo:hi])
        self.x0 += lo * self.dx
        change = np.abs(a - a_eq[None, :])
        self.moves = bool(np.any(change > 1e-6 * max(float(a_eq.max()), 1e-300)))

    def acceleration(self, k: int, p: Particles) -> np.ndarray:
        radial = (0.5 * RB87_MASS_KG * TRAP_OMEGAS[1] ** 2) * p.radial_squared()
        table = self.tables[self.rows[k]]
        n = table.shape[1]
        u = np.clip((p.x - self.x0) / self.dx, 0.0, n - 1.0)
        i = np.minimum(u.astype(np.int64), n - 2)
        f = u - i
        v = np.take(table, i, axis=1)
        v += f * (np.take(table, i + 1, axis=1) - v)  # (4, n): a, da/dx now and in equilibrium
        now = np.where(v[0] > radial, v[1], 0.0)
        now -= np.where(v[2] > radial, v[3], 0.0)
        return (-2.0 / RB87_MASS_KG) * now


class _ThermalCloud:
    """The thermal cloud: the analytic equilibrium at t = 0, displaced by its test particles."""

    def __init__(self, values, end: CloudState, light: Light, rng, mean_field, s):
        self.end = end
        self.settings = s
        self.particles: Particles | None = None
        self.reference: Particles | None = None
        self.kept = 1.0
        self.grid_um = None
        self.potential_khz = None
        if not light.dark and light.n_updates:
            half = max(8 * end.thermal_widths_um[0], 120.0)
            self.grid_um = np.arange(-half, half + 1e-9, s.potential_step_um)
            start = light.at_start_khz(self.grid_um)
            self.potential_khz = start if np.any(start) else None
        moves = mean_field is not None and mean_field.moves
        if end.thermal_atom_number <= 0 or not (not light.dark or light.has_terminator or moves):
            return
        v0 = light.potential_function_j(0) if self.potential_khz is not None else None
        p = sample_particles(
            s.thermal_particles, end.temperature_k, end.fugacity, TRAP_OMEGAS, rng, potential_x=v0
        )
        ref = p.copy()
        table = light.acceleration_table()
        every = s.mean_field_every

        def accel(k, q):
            a = table.at(k, q.x) if table is not None else None
            if moves and k % every == 0:
                # the condensate changes slowly: its kick every few updates
                # (an impulse splitting, still symplectic)
                kick = every * mean_field.acceleration(k, q)
                a = kick if a is None else a + kick
            return a

        period = tset.resolution_ms * 1e-3
        evolve_particles(
            p,
            period,
            light.n_updates,
            accel=accel,
            loss_rate=light.loss_table(),
            substeps=s.thermal_substeps,
        )
        if v0 is None or table is None:  # table is None only without light, so v0 is too
            drift_harmonic(ref, light.n_updates * period)
        else:  # the equilibrium in the potential of t = 0 stays put: the same steps, frozen light
            frozen = AxialTable(
                table.x0_m, table.dx_m, table.rows, np.zeros_like(table.row_of_update)
            )
            evolve_particles(
                ref,
                period,
                light.n_updates,
                accel=lambda k, q: frozen.at(k, q.x),
                substeps=s.thermal_substeps,
            )
        self.particles, self.reference = p, ref
        self.kept = float(np.mean(p.weight))

    def column(self, x_um, y_um, tof_ms: float) -> np.ndarray:
        end = self.end
        if end.thermal_atom_number <= 0:
            return np.zeros((np.size(y_um), np.size(x_um)))
        column = thermal_column_density(
            x_um,
            y_um,
            end,
            time_of_flight_ms=tof_ms,
            potential_x_khz=self.potential_khz,
            potential_grid_um=self.grid_um if self.potential_khz is not None else None,
        )
        if self.particles is None or self.reference is None:
            return column
        kernel = self.settings.thermal_kernel_um(tof_ms)
        per_particle = end.thermal_atom_number / self.particles.size
        moved = deposit_column(
            np.asarray(x_um),
            np.asarray(y_um),
            *image_positions_um(self.particles, tof_ms),
            self.particles.weight * per_particle,
            kernel,
        )
        still = deposit_column(
            np.asarray(x_um),
            np.asarray(y_um),
            *image_positions_um(self.reference, tof_ms),
            np.full(self.reference.size, per_particle),
            kernel,
        )
        return np.clip(column + moved - still, 0.0, None)
