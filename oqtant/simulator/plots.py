"""Plots and animations of a :class:`~oqtant.simulator.Simulator` run (matplotlib).

Every function takes an optional ``file_name``: a figure is saved as PNG, an
animation as GIF (pillow) or MP4 (when the name ends in .mp4 and ffmpeg is
available). Each returns the matplotlib Figure (or FuncAnimation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from oqtant.errors import SimulationError
from oqtant.schemas.images import image_array
from oqtant.schemas.job import PlotOutput

if TYPE_CHECKING:  # pragma: no cover
    from oqtant.simulator.simulator import Simulator

__all__ = [
    "animate",
    "show_column_densities",
    "show_current",
    "show_density",
    "show_final_result",
    "show_phase",
    "show_potential",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, file_name: str | None):
    if file_name:
        fig.savefig(file_name, dpi=110, bbox_inches="tight")
    return fig


def _mirror(values: np.ndarray) -> np.ndarray:
    """(nr, nx) -> (2 nr, nx): the r >= 0 half mirrored to negative r for display."""
    return np.concatenate([values[::-1], values], axis=0)


def _extent(sim: Simulator, time_ms: float) -> list[float]:
    x, r = sim.get_grids(time_ms)
    return [x[0], x[-1], -r[-1], r[-1]]


def _rows(n: int, height: float = 2.6, width: float = 9.0):
    plt = _plt()
    fig, axes = plt.subplots(n, 1, figsize=(width, height * n), squeeze=False)
    return fig, axes[:, 0]


def _window(
    sim: Simulator, time_ms: float, values_x: np.ndarray | None, pad_um: float = 5.0
) -> tuple[float, float]:
    """x limits around where the atoms are."""
    x, _ = sim.get_grids(time_ms)
    profile = sim.get_axial_density(time_ms)
    where = (
        np.flatnonzero(profile > 1e-3 * profile.max()) if profile.max() > 0 else np.zeros(0, int)
    )
    if len(where) == 0:
        return x[0], x[-1]
    return max(x[0], x[where[0]] - pad_um), min(x[-1], x[where[-1]] + pad_um)


def show_density(sim: Simulator, times_ms: list[float], *, file_name: str | None = None):
    """Density n(x, r) in atoms/um^3 at each time, mirrored about the x axis."""
    fig, axes = _rows(len(times_ms))
    for ax, t in zip(axes, times_ms, strict=True):
        t_near = sim.nearest_time_ms(t)
        density = sim.get_density(t_near)
        image = ax.imshow(
            _mirror(density),
            extent=_extent(sim, t_near),
            aspect="auto",
            origin="lower",
            cmap="viridis",
        )
        ax.set_xlim(*_window(sim, t_near, density))
        ax.set_title(f"density at t = {t_near:.1f} ms")
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("r (µm)")
        fig.colorbar(image, ax=ax, label="atoms / um$^3$")
    fig.tight_layout()
    return _finish(fig, file_name)


def show_phase(sim: Simulator, times_ms: list[float], *, file_name: str | None = None):
    """Phase of the wave function (radians) where there are atoms, at each time."""
    fig, axes = _rows(len(times_ms))
    for ax, t in zip(axes, times_ms, strict=True):
        t_near = sim.nearest_time_ms(t)
        density = sim.get_density(t_near)
        phase = np.where(density > 1e-4 * density.max(), sim.get_phase(t_near), np.nan)
        image = ax.imshow(
            _mirror(phase),
            extent=_extent(sim, t_near),
            aspect="auto",
            origin="lower",
            cmap="twilight",
            vmin=-np.pi,
            vmax=np.pi,
        )
        ax.set_xlim(*_window(sim, t_near, density))
        ax.set_title(f"phase at t = {t_near:.1f} ms (blank: no atoms)")
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("r (µm)")
        fig.colorbar(image, ax=ax, label="phase (rad)")
    fig.tight_layout()
    return _finish(fig, file_name)


def show_column_densities(sim: Simulator, times_ms: list[float], *, file_name: str | None = None):
    """Column density image (looking along z) and the axial line density, at each time."""
    plt = _plt()
    fig, axes = plt.subplots(len(times_ms), 2, figsize=(12, 2.8 * len(times_ms)), squeeze=False)
    for (ax_img, ax_line), t in zip(axes, times_ms, strict=True):
        t_near = sim.nearest_time_ms(t)
        x, r = sim.get_grids(t_near)
        y = np.linspace(-r[-1], r[-1], 121)
        column = sim.get_column_density(t_near, x, y)
        image = ax_img.imshow(
            column, extent=[x[0], x[-1], y[0], y[-1]], aspect="auto", origin="lower", cmap="inferno"
        )
        lo, hi = _window(sim, t_near, column)
        ax_img.set_xlim(lo, hi)
        ax_img.set_title(f"column density at t = {t_near:.1f} ms")
        ax_img.set_xlabel("x (µm)")
        ax_img.set_ylabel("y (µm)")
        fig.colorbar(image, ax=ax_img, label="atoms / um$^2$")
        ax_line.plot(x, sim.get_axial_density(t_near), color="C0")
        ax_line.set_xlim(lo, hi)
        ax_line.set_xlabel("x (µm)")
        ax_line.set_ylabel("atoms / um")
        ax_line.set_title("axial line density")
    fig.tight_layout()
    return _finish(fig, file_name)


def show_current(sim: Simulator, times_ms: list[float], *, file_name: str | None = None):
    """Axial atom current (atoms/ms) through each plane x, at each time (in the trap)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for t in times_ms:
        t_near = sim.nearest_time_ms(min(t, sim.end_time_ms))
        ax.plot(sim.x_um, sim.get_current(t_near), label=f"t = {t_near:.1f} ms")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlim(*_window(sim, 0.0, None))
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("atom current (atoms / ms)")
    ax.legend()
    ax.set_title("axial current (positive: towards +x)")
    fig.tight_layout()
    return _finish(fig, file_name)


def show_potential(sim: Simulator, times_ms: list[float], *, file_name: str | None = None):
    """Potential along x (trap + light, kHz) with the axial density, at each time (in the trap)."""
    fig, axes = _rows(len(times_ms), height=3.0)
    x = sim.x_um
    for ax, t in zip(axes, times_ms, strict=True):
        t_near = sim.nearest_time_ms(min(t, sim.end_time_ms))
        # the light held during the 0.1 ms update that contains t
        t_update = np.floor(min(t_near, max(sim.end_time_ms - 0.1, 0.0)) * 10 + 1e-9) / 10
        light = sim.optical_potential_khz([t_update])[0] if sim.end_time_ms > 0 else 0 * x
        total = sim.magnetic_potential_khz() + light
        ax.plot(x, total, color="k", label="trap + light")
        ax.plot(x, light, color="C3", lw=0.8, label="light")
        ax.set_ylim(0, max(5.0, 1.2 * float(np.max(light, initial=0.0))))
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("E / h (kHz)")
        ax.set_title(f"potential at t = {t_near:.1f} ms")
        twin = ax.twinx()
        twin.fill_between(x, sim.get_axial_density(t_near), color="C0", alpha=0.35)
        twin.set_ylabel("atoms / um", color="C0")
        ax.legend(loc="upper left")
        ax.set_xlim(max(-40.0, x[0]), min(40.0, x[-1]))
    fig.tight_layout()
    return _finish(fig, file_name)


def show_final_result(sim: Simulator, *, file_name: str | None = None):
    """The run's output image: IN_TRAP column OD, or TOF OD, as the apparatus returns it."""
    plt = _plt()
    values = sim.output.values
    image = values.it_plot if isinstance(values, PlotOutput) else values.tof_image
    od = image_array(image)
    if image.pixcal is None:
        raise SimulationError("the output image has no pixel calibration (pixcal)")
    width, height = image.columns * image.pixcal, image.rows * image.pixcal
    fig, ax = plt.subplots(figsize=(10, max(2.5, 10 * height / width)))
    shown = ax.imshow(
        od, extent=[-width / 2, width / 2, -height / 2, height / 2], origin="lower", cmap="inferno"
    )
    kind = (
        "in-trap"
        if hasattr(values, "it_plot")
        else f"after {sim.values.time_of_flight_ms:g} ms TOF"
    )
    ax.set_title(f"optical density, {kind}")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    fig.colorbar(shown, ax=ax, label="OD")
    fig.tight_layout()
    return _finish(fig, file_name)


def animate(
    sim: Simulator,
    what: str,
    *,
    file_name: str | None = None,
    frame_interval: int = 1,
    fps: int = 10,
):
    """Animation over the stored times of "density", "phase", "column" or "current".

    Saved to ``file_name``: MP4 through ffmpeg when the name ends in .mp4 and
    ffmpeg is installed, otherwise GIF through pillow.
    """
    plt = _plt()
    from matplotlib import animation

    times = sim.times_ms[:: max(1, int(frame_interval))]
    if what == "current":
        times = times[times <= sim.end_time_ms + 1e-9]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    x = sim.x_um
    lo, hi = _window(sim, 0.0, None)

    if what in ("density", "current"):
        (line,) = ax.plot([], [], color="C0")
        values = [
            sim.get_axial_density(t) if what == "density" else sim.get_current(t) for t in times
        ]
        top = max(float(np.max(np.abs(v))) for v in values) * 1.1 or 1.0
        ax.set_xlim(lo, hi)
        ax.set_ylim(-top if what == "current" else 0.0, top)
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("atoms / um" if what == "density" else "atoms / ms")

        def update(i):
            xs, _ = sim.get_grids(times[i])
            line.set_data(xs, values[i])
            ax.set_title(
                f"{'axial density' if what == 'density' else 'axial current'}, "
                f"t = {times[i]:.1f} ms"
            )
            return (line,)

    elif what in ("phase", "column"):
        t0 = times[0]
        if what == "phase":
            data0 = _mirror(sim.get_phase(t0))
            image = ax.imshow(
                data0,
                extent=_extent(sim, t0),
                aspect="auto",
                origin="lower",
                cmap="twilight",
                vmin=-np.pi,
                vmax=np.pi,
            )
        else:
            _, r = sim.get_grids(t0)
            y = np.linspace(-r[-1], r[-1], 81)
            data0 = sim.get_column_density(t0, x, y)
            image = ax.imshow(
                data0,
                extent=[x[0], x[-1], y[0], y[-1]],
                aspect="auto",
                origin="lower",
                cmap="inferno",
            )
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("r (µm)" if what == "phase" else "y (µm)")
        fig.colorbar(image, ax=ax)

        def update(i):
            t = times[i]
            if what == "phase":
                image.set_data(_mirror(sim.get_phase(t)))
                image.set_extent(_extent(sim, t))
            else:
                _, r = sim.get_grids(t)
                y = np.linspace(-r[-1], r[-1], 81)
                xs, _ = sim.get_grids(t)
                data = sim.get_column_density(t, xs, y)
                image.set_data(data)
                image.set_extent([xs[0], xs[-1], y[0], y[-1]])
                image.set_clim(0, max(float(data.max()), 1e-12))
            ax.set_title(f"{what} at t = {t:.1f} ms")
            return (image,)

    else:
        from oqtant.errors import SimulationError

        raise SimulationError(f"what must be density, phase, column or current, got {what!r}")

    anim = animation.FuncAnimation(fig, update, frames=len(times), interval=1000 / fps, blit=False)
    if file_name:
        if str(file_name).lower().endswith(".mp4") and animation.writers.is_available("ffmpeg"):
            anim.save(file_name, writer=animation.FFMpegWriter(fps=fps))
        else:
            anim.save(file_name, writer=animation.PillowWriter(fps=fps))
    return anim
