"""User objects for the light of the experiment stage: barriers, landscapes, the terminator.

Each class subclasses its wire model (``oqtant.schemas.job``), so every user
object IS a valid wire object, and adds what a physicist wants to do with it:
build it, evolve it, read it at any time, see the potential it makes.

Units: times in ms, positions and widths in um, energies E/h in kHz.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError as PydanticValidationError

from oqtant import projection
from oqtant._plotting import finish_figure
from oqtant.errors import ValidationError, format_pydantic_error
from oqtant.schemas import job as job_schema
from oqtant.schemas.interpolation import interpolate_1d
from oqtant.schemas.job import round_time_ms
from oqtant.schemas.limits import ProjectionSettings, pset, tset

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Barrier",
    "Snapshot",
    "Landscape",
    "Pulse",
    "Laser",
    "ProjectionSettings",
    "decimal_to_float",
]


def decimal_to_float(d) -> float:
    """A time (Decimal, int or float) as a float."""
    return float(d)


def _kind_name(interpolation) -> str:
    """The scipy-style name of an interpolation kind: OFF is "zero", the others lower case."""
    name = str(getattr(interpolation, "value", interpolation)).upper()
    return "zero" if name == "OFF" else name.lower()


FloatArray = Sequence[float] | np.ndarray
"""Where (um) or when (ms) a profile is evaluated: a sequence of floats or a 1D array."""

_XLIMITS = [pset.min_position - 1, pset.max_position + 1]
_YLIMITS = [-1.0, pset.max_energy + 1]


# --------------------------------------------------------------------------- shared helpers


class _UserModel:
    """Mixin: constructor errors become oqtant ValidationErrors naming field and rule."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as err:
            raise format_pydantic_error(err, f"Invalid {type(self).__name__}") from None


def _replace_fields(model, **changes: Any) -> None:
    """Validate ``model`` with ``changes`` as a whole, then adopt the result in place.

    Parallel lists must change together: assigning them one by one would fail
    the equal-length rule in between.
    """
    data = model.model_dump()
    data.update(changes)
    fresh = type(model)(**data)
    for name in type(model).model_fields:
        model.__dict__[name] = fresh.__dict__[name]


def _times(times) -> np.ndarray:
    return np.atleast_1d(np.asarray(times, dtype=float))


def _finish_plot(fig, file_name: str | None):
    """Save as PNG when asked, then show, or return the figure under a backend without display."""
    fig.tight_layout()
    return finish_figure(fig, file_name, dpi=110)


def _plot_potentials(
    owner,
    times: list[float],
    xlimits,
    ylimits,
    include_ideal: bool,
    title: str,
    file_name: str | None,
) -> Figure | None:
    """Plot potential vs position at a few times: projected (solid) and requested (dashed).

    ``owner._ideal(times, positions)`` is the requested potential (kHz).
    """
    import matplotlib.pyplot as plt

    x = np.linspace(xlimits[0], xlimits[1], 1201)
    t = _times(times)
    projected = projection.projected_from_ideal_khz(owner._ideal, t, x)
    ideal = owner._ideal(t, x) if include_ideal else None
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, time in enumerate(t):
        (line,) = ax.plot(x, projected[i], label=f"t = {time:g} ms")
        if ideal is not None:
            ax.plot(
                x,
                ideal[i],
                "--",
                color=line.get_color(),
                alpha=0.8,
                label=f"requested, t = {time:g} ms",
            )
    ax.set_xlim(xlimits)
    ax.set_ylim(ylimits)
    ax.set_xlabel("position x (µm)")
    ax.set_ylabel("potential energy E/h (kHz)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish_plot(fig, file_name)


class _ShowsPotential:
    """The potential of a light pattern that changes in time (barriers, landscapes).

    A subclass gives ``_ideal(times, positions)``, the requested potential (kHz),
    and ``_potential_title()``.
    """

    def _ideal(self, times, positions) -> np.ndarray:
        raise NotImplementedError

    def _potential_title(self) -> str:
        raise NotImplementedError

    def get_ideal_potential(
        self, time: float = 0.0, positions: FloatArray = projection.SPOT_POSITIONS_UM
    ) -> np.ndarray:
        """The requested profile (kHz) at ``time`` (ms): no blur, no clipping; 0 when inactive."""
        return self._ideal([time], positions)[0]

    def get_potential(
        self, time: float, positions: FloatArray = projection.SPOT_POSITIONS_UM
    ) -> np.ndarray:
        """The profile (kHz) the atoms feel at ``time`` (ms): projected, blurred and clipped."""
        return projection.projected_from_ideal_khz(self._ideal, [time], positions)[0]

    def show_potential(
        self,
        times: list[float] = [0.0],  # noqa: B006
        xlimits: list[float] = _XLIMITS,  # noqa: B006
        ylimits: list[float] = _YLIMITS,  # noqa: B006
        include_ideal: bool = False,
        file_name: str | None = None,
    ) -> Figure | None:
        """Plot the potential against position at the given times (ms): as the atoms feel
        it (solid) and, with ``include_ideal``, as requested (dashed)."""
        return _plot_potentials(
            self, times, xlimits, ylimits, include_ideal, self._potential_title(), file_name
        )


# --------------------------------------------------------------------------- barrier


class Barrier(_ShowsPotential, _UserModel, job_schema.Barrier):
    """A repulsive barrier of light whose position, height and width follow a program in time.

    Shapes: GAUSSIAN (width = sigma), LORENTZIAN (width = half width at half
    maximum), SQUARE (width = half width), NATIVE (one projected spot; width
    fixed at 0.5 um). Between its time points the barrier follows
    ``interpolation``; before its first and after its last it does not exist.
    """

    @classmethod
    def new(
        cls,
        positions: list[float] = [0.0, 0.0],  # noqa: B006 - never mutated
        heights: list[float] = [0.0, 0.0],  # noqa: B006
        widths: list[float] = [1.0, 1.0],  # noqa: B006
        times: list[float] = [0.0, 10.0],  # noqa: B006
        shape: job_schema.ShapeType = job_schema.ShapeType.GAUSSIAN,
        interpolation: job_schema.InterpolationType = job_schema.InterpolationType.LINEAR,
    ) -> Barrier:
        """A new barrier from its program: positions (um), heights (kHz), widths (um) at times (ms).

        For a NATIVE barrier the widths are set to the fixed 0.5 um.
        """
        if str(shape) == job_schema.ShapeType.NATIVE.value:
            widths = [pset.native_barrier_width] * len(list(times))
        return cls(
            times_ms=list(times),
            positions_um=list(positions),
            heights_khz=list(heights),
            widths_um=list(widths),
            shape=shape,
            interpolation=interpolation,
        )

    @classmethod
    def from_input(cls, barrier: job_schema.Barrier) -> Barrier:
        """The user object of a wire barrier (an exact copy)."""
        return cls(**barrier.model_dump())

    # ---- lifetime

    @property
    def birth(self) -> float:
        """Time (ms) the barrier appears."""
        return float(self.times_ms[0])

    @property
    def death(self) -> float:
        """Time (ms) the barrier disappears."""
        return float(self.times_ms[-1])

    @property
    def lifetime(self) -> float:
        """How long (ms) the barrier exists."""
        return round_time_ms(self.death - self.birth)

    def is_active(self, time: float) -> bool:
        """Whether the barrier exists at ``time`` (ms), its first and last times included."""
        return self.birth - 1e-9 <= float(time) <= self.death + 1e-9

    @property
    def is_precision(self) -> bool:
        """Whether this is a NATIVE barrier (one projected spot, the sharpest there is)."""
        return self.shape == job_schema.ShapeType.NATIVE

    @property
    def interpolation_kind(self) -> str:
        """The interpolation in time, by its scipy name ("zero" for OFF)."""
        return _kind_name(self.interpolation)

    def get_params(self, time_ms: float) -> dict:
        """``{"position_um", "width_um", "height_khz"}`` of the program at ``time_ms`` (not
        snapped to the update grid)."""
        t = _times([time_ms])
        read = lambda values: float(  # noqa: E731
            interpolate_1d(self.times_ms, values, t, self.interpolation, fill_value=0.0)[0]
        )
        return {
            "position_um": read(self.positions_um),
            "width_um": read(self.widths_um),
            "height_khz": read(self.heights_khz),
        }

    def evaluate_position_spectrum(self, h: float, x0: float, w: float, positions_um) -> np.ndarray:
        """This barrier's shape of height ``h`` (kHz) at ``x0`` (um), width ``w`` (um)."""
        x = np.atleast_1d(np.asarray(positions_um, dtype=float))
        if h == 0.0 or w == 0.0:
            return np.zeros_like(x)
        return projection.barrier_profile_khz(self.shape, x, [x0], [h], [w])[0]

    def get_position_spectrum(self, time_ms: float, positions_um) -> np.ndarray:
        """The requested profile (kHz) at ``time_ms`` at the positions (um)."""
        return self._ideal([time_ms], positions_um)[0]

    def get_position_spectra(self, times_ms: list, positions_um) -> np.ndarray:
        """(times, positions) requested profiles (kHz)."""
        return self._ideal(times_ms, positions_um)

    # ---- program

    def evolve(
        self,
        duration: float,
        position: float | None = None,
        height: float | None = None,
        width: float | None = None,
    ) -> None:
        """Append a time point ``duration`` ms after the last one.

        Values not given keep their last value, so ``evolve(5, height=20)``
        ramps the height to 20 kHz over 5 ms while the barrier stays put.
        """
        if duration is None or not np.isfinite(duration) or duration < tset.resolution_ms - 1e-9:
            raise ValidationError(
                f"duration: must be at least {tset.resolution_ms} ms, got {duration}",
                [("duration", f"at least {tset.resolution_ms} ms")],
            )
        native = self.shape == job_schema.ShapeType.NATIVE
        if native and width not in (None, pset.native_barrier_width):
            raise ValidationError(
                f"width: a NATIVE barrier has its width fixed at {pset.native_barrier_width} um",
                [("width", f"fixed at {pset.native_barrier_width} um for NATIVE")],
            )
        _replace_fields(
            self,
            times_ms=[*self.times_ms, round_time_ms(self.times_ms[-1] + duration)],
            positions_um=[
                *self.positions_um,
                self.positions_um[-1] if position is None else position,
            ],
            heights_khz=[*self.heights_khz, self.heights_khz[-1] if height is None else height],
            widths_um=[*self.widths_um, self.widths_um[-1] if width is None else width],
        )

    def _program(self, values, times) -> np.ndarray:
        """The program at the projector's last 0.1 ms update before each time; 0 outside."""
        t = projection.update_times_ms(_times(times))
        return interpolate_1d(self.times_ms, values, t, self.interpolation, fill_value=0.0)

    def get_positions(self, times: FloatArray) -> np.ndarray:
        """Centre (um) at each time (on the 0.1 ms update grid); 0 before birth and after death."""
        return self._program(self.positions_um, times)

    def get_heights(self, times: FloatArray) -> np.ndarray:
        """Height (kHz) at each time (on the 0.1 ms update grid); 0 outside the program."""
        return self._program(self.heights_khz, times)

    def get_widths(self, times: FloatArray) -> np.ndarray:
        """Width (um) at each time (on the 0.1 ms update grid); 0 outside the program."""
        return self._program(self.widths_um, times)

    def get_position(self, time: float) -> float:
        return float(self.get_positions([time])[0])

    def get_height(self, time: float) -> float:
        return float(self.get_heights([time])[0])

    def get_width(self, time: float) -> float:
        return float(self.get_widths([time])[0])

    # ---- potential

    def _ideal(self, times, positions) -> np.ndarray:
        return projection.barriers_ideal_khz([self], times, positions)

    # ---- plots

    def show_dynamics(self, file_name: str | None = None) -> Figure | None:
        """Plot the barrier's position, height and width against time."""
        import matplotlib.pyplot as plt

        span = max(self.death - self.birth, 1.0)
        t = np.linspace(self.birth, self.death, max(200, int(span / tset.resolution_ms) + 1))
        fig, axes = plt.subplots(3, 1, sharex=True, figsize=(6, 6))
        rows = (
            (self.get_positions, self.positions_um, "position (µm)"),
            (self.get_heights, self.heights_khz, "height (kHz)"),
            (self.get_widths, self.widths_um, "width (µm)"),
        )
        for ax, (curve, points, label) in zip(axes, rows, strict=True):
            ax.plot(t, curve(t), "-", color="C0")
            ax.plot(self.times_ms, points, "o", color="C1", label="programmed points")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0].set_title(f"{self.shape} barrier, {self.interpolation} interpolation")
        axes[0].legend(fontsize=8)
        axes[-1].set_xlabel("time (ms)")
        return _finish_plot(fig, file_name)

    def _potential_title(self) -> str:
        return f"{self.shape} barrier"


# --------------------------------------------------------------------------- landscape


class Snapshot(_UserModel, job_schema.Landscape):
    """A painted 1D potential at one time: (position, energy) pairs, interpolated in space."""

    @classmethod
    def new(
        cls,
        time: float = 0.0,
        positions: list[float] = [-10, 10],  # noqa: B006
        potentials: list[float] = [0, 0],  # noqa: B006
        interpolation: job_schema.InterpolationType = job_schema.InterpolationType.LINEAR,
    ) -> Snapshot:
        """A snapshot at ``time`` (ms) of ``potentials`` (kHz) at ``positions`` (um)."""
        return cls(
            time_ms=time,
            positions_um=list(positions),
            potentials_khz=list(potentials),
            spatial_interpolation=interpolation,
        )

    @classmethod
    def from_input(cls, landscape: job_schema.Landscape) -> Snapshot:
        """The user object of a wire snapshot (an exact copy)."""
        return cls(**landscape.model_dump())

    def get_ideal_potential(
        self, time: float = 0.0, positions: FloatArray = projection.SPOT_POSITIONS_UM
    ) -> np.ndarray:
        """The requested profile (kHz): 0 outside the painted positions. ``time`` is ignored."""
        return projection.snapshot_ideal_khz(self, positions)

    def _ideal(self, times, positions) -> np.ndarray:
        return np.broadcast_to(
            projection.snapshot_ideal_khz(self, positions), (_times(times).size, len(positions))
        )

    @property
    def interpolation_kind(self) -> str:
        """The interpolation in space, by its scipy name ("zero" for OFF)."""
        return _kind_name(self.spatial_interpolation)

    def get_position_spectrum(self, positions_um) -> np.ndarray:
        """The requested profile (kHz) at the positions (um): 0 outside the painted points."""
        return projection.snapshot_ideal_khz(self, positions_um)

    def get_potential(self, positions: FloatArray = projection.SPOT_POSITIONS_UM) -> np.ndarray:
        """The profile (kHz) the atoms would feel if this snapshot were projected."""
        return projection.projected_from_ideal_khz(self._ideal, [self.time_ms], positions)[0]

    def show_potential(
        self,
        xlimits: list[float] = _XLIMITS,  # noqa: B006
        ylimits: list[float] = _YLIMITS,  # noqa: B006
        include_ideal: bool = False,
        file_name: str | None = None,
    ) -> Figure | None:
        """Plot the snapshot's potential against position."""
        return _plot_potentials(
            self, [self.time_ms], xlimits, ylimits, include_ideal,
            f"snapshot at t = {self.time_ms:g} ms", file_name,
        )  # fmt: skip


class Landscape(_ShowsPotential, _UserModel, job_schema.OpticalLandscape):
    """A painted potential that changes in time: 2 to 5 snapshots, interpolated between them.

    Dark before the first snapshot and after the last.
    """

    @classmethod
    def new(
        cls,
        snapshots: list[Snapshot] = [Snapshot.new(time=0), Snapshot.new(time=2)],  # noqa: B006,B008
        interpolation: job_schema.InterpolationType = job_schema.InterpolationType.LINEAR,
    ) -> Landscape:
        """A landscape from its snapshots (default: two flat, dark snapshots at 0 and 2 ms)."""
        if snapshots is None:
            snapshots = [Snapshot.new(time=0), Snapshot.new(time=2)]
        return cls(
            landscapes=[job_schema.Landscape(**s.model_dump()) for s in snapshots],
            interpolation=interpolation,
        )

    @classmethod
    def from_input(cls, landscape: job_schema.OpticalLandscape) -> Landscape:
        """The user object of a wire landscape (an exact copy)."""
        return cls(**landscape.model_dump())

    @property
    def snapshots(self) -> list[Snapshot]:
        """The snapshots, in time order, as user objects."""
        return [Snapshot.from_input(s) for s in self.landscapes]

    @property
    def birth(self) -> float:
        return float(self.landscapes[0].time_ms)

    @property
    def death(self) -> float:
        return float(self.landscapes[-1].time_ms)

    def is_active(self, time_ms: float) -> bool:
        """Whether the landscape is projected at ``time_ms``."""
        return self.birth - 1e-9 <= float(time_ms) <= self.death + 1e-9

    @property
    def interpolation_kind(self) -> str:
        """The interpolation in time, by its scipy name ("zero" for OFF)."""
        return _kind_name(self.interpolation)

    def get_position_spectra(self, times_ms: list, positions_um) -> np.ndarray:
        """(times, positions) requested profiles (kHz)."""
        return self._ideal(times_ms, positions_um)

    def _ideal(self, times, positions) -> np.ndarray:
        return projection.landscape_ideal_khz(self, times, positions)

    def _potential_title(self) -> str:
        return "painted landscape"


# --------------------------------------------------------------------------- terminator


class Pulse(_UserModel, job_schema.Pulse):
    """One laser pulse: on at its first time, off at its second (resonant, fixed intensity)."""

    @classmethod
    def new(
        cls,
        times_ms: list[float],
        intensities_mw_per_cm2: list[float] = [1, 1],  # noqa: B006
        detuning_mhz: float = 0,
        interpolation: job_schema.InterpolationType = job_schema.InterpolationType.OFF,
    ) -> Pulse:
        """A pulse on from ``times_ms[0]`` to ``times_ms[1]``."""
        return cls(
            times_ms=list(times_ms),
            intensities_mw_per_cm2=list(intensities_mw_per_cm2),
            detuning_mhz=detuning_mhz,
            interpolation=interpolation,
        )

    @classmethod
    def from_input(cls, pulse: job_schema.Pulse) -> Pulse:
        """The user object of a wire pulse (an exact copy)."""
        return cls(**pulse.model_dump())

    def is_on(self, time_ms: float) -> bool:
        """Whether the pulse is on at ``time_ms`` (its two times included)."""
        return self.times_ms[0] - 1e-9 <= float(time_ms) <= self.times_ms[-1] + 1e-9


class Laser(_UserModel, job_schema.Laser):
    """The terminator: a resonant beam centred at +30 um that removes the atoms it hits."""

    @classmethod
    def new(
        cls,
        pulses: list[Pulse],
        type: job_schema.LaserType = job_schema.LaserType.TERMINATOR,  # noqa: A002
        position_um: float = pset.terminator_position,
    ) -> Laser:
        """A laser from its pulse(s)."""
        return cls(
            type=type,
            position_um=position_um,
            pulses=[job_schema.Pulse(**p.model_dump()) for p in pulses],
        )

    @classmethod
    def from_input(cls, laser: job_schema.Laser) -> Laser:
        """The user object of a wire laser (an exact copy)."""
        return cls(**laser.model_dump())

    @property
    def death(self) -> float:
        """Time (ms) the last pulse ends."""
        return max(float(p.times_ms[-1]) for p in self.pulses)

    def is_on(self, time_ms: float) -> bool:
        """Whether any pulse is on at ``time_ms``."""
        return any(Pulse.from_input(p).is_on(time_ms) for p in self.pulses)

    @property
    def detunings(self) -> list[float]:
        """The detuning (MHz) of each pulse."""
        return [p.detuning_mhz for p in self.pulses]

    @property
    def detuning_triggers(self) -> list[float]:
        """When (ms) each pulse's detuning is set: 0, then the end of the pulse before."""
        return [0.0, *[float(p.times_ms[-1]) for p in self.pulses]][: len(self.pulses)]

    def get_intensity_waveform(
        self, tstart_ms: float, tend_ms: float, sample_rate_hz: float
    ) -> np.ndarray:
        """The beam's intensity (mW/cm^2) sampled at ``sample_rate_hz`` from ``tstart_ms`` to
        ``tend_ms``: each pulse's program while it is on, 0 between pulses."""
        dt_ms = 1e3 / float(sample_rate_hz)
        t = tstart_ms + dt_ms * np.arange(int(np.floor((tend_ms - tstart_ms) / dt_ms)))
        out = np.zeros_like(t)
        for pulse in self.pulses:
            on = (t >= float(pulse.times_ms[0])) & (t < float(pulse.times_ms[-1]))
            out[on] = interpolate_1d(
                pulse.times_ms,
                pulse.intensities_mw_per_cm2,
                t[on],
                pulse.interpolation,
                fill_value=0.0,
            )
        return out

    def get_intensity(self, time_ms: float, positions: FloatArray) -> np.ndarray:
        """Relative intensity (0..1) of the beam at the positions (um) at ``time_ms``."""
        x = np.atleast_1d(np.asarray(positions, dtype=float))
        profile = np.exp(-2.0 * ((x - self.position_um) / projection.TERMINATOR_RADIUS_UM) ** 2)
        return profile if self.is_on(time_ms) else np.zeros_like(profile)
