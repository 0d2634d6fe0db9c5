"""What a QuantumMatter shows: its RF power at the atoms, its potentials, their plots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from oqtant import projection
from oqtant.matter.optical import FloatArray, _finish_plot
from oqtant.matter.rf import RfEvap, format_frequency, rf_coupling
from oqtant.schemas.limits import pset, tset

if TYPE_CHECKING:
    from decimal import Decimal

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from oqtant.matter.optical import Barrier, Laser
    from oqtant.matter.rf import RfShield
    from oqtant.schemas.job import InputValues, RfEvaporation

__all__ = ["MatterViews"]


class MatterViews:
    """RF, potentials and plots of a QuantumMatter (a mixin of it: it gives the members
    declared below)."""

    if TYPE_CHECKING:
        name: str
        lifetime: Decimal
        rf_shield: RfShield | None
        barriers: list[Barrier] | None
        lasers: list[Laser] | None

        @property
        def rf_evaporation(self) -> RfEvaporation: ...

        @property
        def input(self) -> InputValues: ...

    # ---- RF

    def corrected_rf_power(self, frequency_mhz: float, power_mw: float) -> float:
        """The RF power (mW) that reaches the atoms: programmed power times :func:`rf_coupling`."""
        return float(power_mw * rf_coupling(frequency_mhz))

    def corrected_rf_powers(self, frequencies: FloatArray, powers: FloatArray) -> list[float]:
        """:meth:`corrected_rf_power` for lists of frequencies (MHz) and powers (mW)."""
        return list(np.asarray(powers, dtype=float) * rf_coupling(frequencies))

    def show_rf_dynamics(
        self, corrected: bool = False, file_name: str | None = None
    ) -> Figure | None:
        """Plot the RF knife frequency and power against time, evaporation then shield."""
        import matplotlib.pyplot as plt

        fig, ax_f = plt.subplots(figsize=(7, 4))
        ax_p = ax_f.twinx()
        lines = self.draw_rf_dynamics(ax_f, ax_p, corrected=corrected)
        ax_f.legend(lines, [str(ln.get_label()) for ln in lines], fontsize=8, loc="upper right")
        ax_f.set_title(f"RF knife of '{self.name}'")
        return _finish_plot(fig, file_name)

    def draw_rf_dynamics(self, ax_f: Axes, ax_p: Axes, corrected: bool = False) -> list:
        """Draw the RF knife on the axes of frequency ``ax_f`` and power ``ax_p`` (its twin).

        What :meth:`show_rf_dynamics` shows, without its legend and title; returns the
        lines its legend names (frequency, power, and the corrected power if drawn).
        """
        wire = self.rf_evaporation
        evap = RfEvap.from_input(wire)
        shield = self.rf_shield
        t_start = float(min(evap.times_ms))
        t_end = max(float(self.lifetime or 0.0), shield.lifetime if shield is not None else 0.0)
        t = np.linspace(t_start, 0.0, 801)
        frequencies, powers = evap.get_frequencies(t), evap.get_powers(t)
        if shield is not None:  # a constant knife through the experiment stage
            t_shield = np.linspace(0.0, t_end, 50)[1:]
            t = np.concatenate([t, t_shield])
            frequencies = np.concatenate([frequencies, shield.frequencies(t_shield)])
            powers = np.concatenate([powers, shield.powers(t_shield)])
        ax_f.plot(t, frequencies, color="C0", label="frequency")
        ax_f.plot(wire.times_ms, wire.frequencies_mhz, "o", color="C0")
        ax_p.plot(t, powers, color="C1", label="power")
        ax_p.plot(wire.times_ms, wire.powers_mw, "o", color="C1")
        if corrected:
            ax_p.plot(
                t,
                self.corrected_rf_powers(frequencies, powers),
                "--",
                color="C1",
                label="power reaching the atoms",
            )
        last_t, last_f = wire.times_ms[-1], wire.frequencies_mhz[-1]
        ax_f.annotate(
            f"final {format_frequency(last_f)}",
            (last_t, last_f),
            textcoords="offset points",
            xytext=(-6, 10),
            ha="right",
            fontsize=8,
            color="C0",
        )
        ax_f.axvline(0.0, color="gray", lw=0.8, ls=":")
        ax_f.set_xlabel("time (ms); evaporation before 0, experiment stage after")
        ax_f.set_ylabel("RF frequency (MHz)", color="C0")
        ax_p.set_ylabel("RF power (mW)", color="C1")
        ax_f.set_ylim(0, max(1.0, 1.1 * max(wire.frequencies_mhz)))
        ax_p.set_ylim(0, max(1.0, 1.1 * max(wire.powers_mw)))
        return ax_f.get_lines()[:1] + ax_p.get_lines()[::2]

    # ---- potentials

    def get_magnetic_potential(self, positions: FloatArray) -> np.ndarray:
        """The magnetic trap (kHz) at the positions (um): harmonic, 50 Hz, 0 at x = 0."""
        return projection.magnetic_potential_khz(positions)

    def get_ideal_optical_potential(self, time: float, positions: FloatArray) -> np.ndarray:
        """The requested optical profile (kHz) at ``time`` (ms): no blur, no clipping."""
        return projection.ideal_potential_khz(self.input, [time], positions)[0]

    def get_potential(
        self, time: float, positions: FloatArray, include_magnetic: bool = True
    ) -> np.ndarray:
        """What the atoms feel (kHz) at ``time`` (ms): projected light plus the magnetic trap."""
        potential = projection.projected_potential_khz(self.input, [time], positions)[0]
        if include_magnetic:
            potential = potential + projection.magnetic_potential_khz(positions)
        return potential

    def show_potential(
        self,
        times: list[float] = [0.0],  # noqa: B006
        xlimits: list[float] = [pset.min_position - 1, pset.max_position + 1],  # noqa: B006
        ylimits: list[float] = [0.0 - 1, pset.max_energy + 1],  # noqa: B006
        include_ideal: bool = False,
        include_magnetic: bool = True,
        include_terminator: bool = False,
        file_name: str | None = None,
    ) -> Figure | None:
        """Plot the potential the atoms feel against position at the given times."""
        import matplotlib.pyplot as plt

        values = self.input
        x = np.linspace(xlimits[0], xlimits[1], 1201)
        t = np.atleast_1d(np.asarray(times, dtype=float))
        felt = projection.projected_potential_khz(values, t, x)
        magnetic = projection.magnetic_potential_khz(x)
        if include_magnetic:
            felt = felt + magnetic
        fig, ax = plt.subplots(figsize=(7, 4))
        for i, time in enumerate(t):
            (line,) = ax.plot(x, felt[i], label=f"t = {time:g} ms")
            if include_ideal:
                ideal = projection.ideal_potential_khz(values, [time], x)[0]
                ax.plot(
                    x,
                    ideal + (magnetic if include_magnetic else 0.0),
                    "--",
                    color=line.get_color(),
                    alpha=0.7,
                    label=f"requested, t = {time:g} ms",
                )
        if include_magnetic:
            ax.plot(x, magnetic, ":", color="gray", label="magnetic trap")
        if include_terminator:
            span = ylimits[1] - ylimits[0]
            beam = projection.terminator_intensity(values, t, x)
            for i, time in enumerate(t):
                if beam[i].any():
                    ax.fill_between(
                        x,
                        ylimits[0],
                        ylimits[0] + span * beam[i],
                        color="red",
                        alpha=0.15,
                        label=f"terminator on, t = {time:g} ms",
                    )
        ax.set_xlim(xlimits[0], xlimits[1])
        ax.set_ylim(ylimits[0], ylimits[1])
        ax.set_xlabel("position x (µm)")
        ax.set_ylabel("potential energy E/h (kHz)")
        ax.set_title(f"what the atoms of '{self.name}' feel")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return _finish_plot(fig, file_name)

    def show_barrier_dynamics(self, file_name: str | None = None) -> Figure | None:
        """Plot every barrier's position, height and width against time, one panel each.

        The curves step at the experiment stage's 0.1 ms resolution, as the
        projector updates; dots mark the programmed points. The time axis spans
        the lifetime.
        """
        import matplotlib.pyplot as plt

        lifetime = max(float(self.lifetime or 0.0), tset.resolution_ms)
        fig, axes = plt.subplots(3, 1, sharex=True, figsize=(6, 6))
        panels = (
            ("get_positions", "positions_um", "position (µm)"),
            ("get_heights", "heights_khz", "height (kHz)"),
            ("get_widths", "widths_um", "width (µm)"),
        )
        for i, barrier in enumerate(self.barriers or []):
            t = np.arange(barrier.birth, barrier.death + tset.resolution_ms / 2, tset.resolution_ms)
            color = f"C{i % 10}"
            for ax, (curve, points, _) in zip(axes, panels, strict=True):
                ax.step(
                    t,
                    getattr(barrier, curve)(t),
                    where="post",
                    color=color,
                    label=f"barrier {i + 1}",
                )
                ax.plot(barrier.times_ms, getattr(barrier, points), ".", color=color)
        for ax, (_, _, label) in zip(axes, panels, strict=True):
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[-1].set_xlim(-1.0, lifetime)
        axes[-1].set_xlabel("time (ms)")
        if self.barriers:
            fig.legend(*axes[0].get_legend_handles_labels(), loc="upper right", fontsize=8)
        else:
            axes[0].set_title("no barriers", fontsize=9)
        fig.suptitle(f"barrier dynamics of '{self.name}'")
        return _finish_plot(fig, file_name)

    def show_laser_pulse_timing(
        self, figsize=(6, 4), file_name: str | None = None
    ) -> Figure | None:
        """Plot when the terminator is on during the experiment stage."""
        import matplotlib.pyplot as plt

        lifetime = max(float(self.lifetime or 0.0), tset.resolution_ms)
        t = np.linspace(0.0, lifetime, 2001)
        fig, ax = plt.subplots(figsize=figsize)
        on = np.array([any(laser.is_on(time) for laser in self.lasers or []) for time in t])
        ax.fill_between(t, 0, on.astype(float), step="post", color="red", alpha=0.3)
        ax.step(t, on.astype(float), where="post", color="red", label="terminator")
        for laser in self.lasers or []:
            for pulse in laser.pulses:
                for edge in pulse.times_ms:
                    ax.axvline(edge, color="gray", lw=0.6, ls=":")
        ax.set_yticks([0, 1], ["off", "on"])
        ax.set_ylim(-0.1, 1.2)
        ax.set_xlim(0, lifetime)
        ax.set_xlabel("time (ms)")
        ax.set_title(f"terminator pulse timing of '{self.name}'")
        ax.legend(fontsize=8)
        return _finish_plot(fig, file_name)
