"""The input figures of a run, drawn quickly: what the client's ``show_*`` methods show.

Each figure shows the same curves, points, labels, legend and title as the
method of :class:`oqtant.matter.QuantumMatter` it mirrors
(``show_rf_dynamics``, ``show_potential(times, include_ideal=True)``,
``show_barrier_dynamics``, ``show_laser_pulse_timing``), from the same
functions of :mod:`oqtant.projection` and :mod:`oqtant.matter`. What makes it
fast: one matplotlib figure per kind, made once and kept (its axes and tick
objects are reused; only the curves are replaced), a fixed layout instead of
``tight_layout`` and a tight bounding box (each costs a full extra draw), a
legend at a fixed corner instead of the search for the best place, 80 dpi and
fast PNG compression. No pyplot: each figure has its own lock.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from cachetools import LRUCache

from oqtant import projection
from oqtant.schemas.job import InputValues
from oqtant.schemas.limits import pset, tset

__all__ = ["DPI", "READS", "draw_input_figure", "preview_png", "render_input_png_fast"]

DPI = 80
_PNG = {"compress_level": 1}  # zlib level 1: a few ms instead of tens, files ~20 % larger

_XLIMITS = (pset.min_position - 1, pset.max_position + 1)
_YLIMITS = (-1.0, pset.max_energy + 1)
_POSITIONS = np.linspace(_XLIMITS[0], _XLIMITS[1], 1201)  # as show_potential samples x


class _Figure:
    """One kept figure: made by ``setup()`` on first use, its curves replaced on each draw.

    The axes, ticks, grid and axis labels are drawn once into a background,
    kept by the axes' limits and labels; each PNG paints the
    curves, fills, annotations, legends and titles over it (as ``savefig``
    draws them, in the same order) instead of drawing everything again.
    """

    def __init__(self, size: tuple[float, float], setup: Callable[[Any], None]) -> None:
        self.size, self.setup = size, setup
        self.fig: Any = None
        # drawn axes by their limits and labels: a few, so that the first and the last
        # run of a sweep, whose axes differ, do not draw them again in turn
        self.backgrounds: LRUCache[tuple, Any] = LRUCache(maxsize=4)
        self.lock = threading.Lock()

    def get(self):
        if self.fig is None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            self.fig = Figure(figsize=self.size, dpi=DPI)
            FigureCanvasAgg(self.fig)
            self.setup(self.fig)
        return self.fig

    def _layers(self) -> list:
        """What changes from one run to the next, in the order a full draw paints it."""
        layers: list = []
        for ax in self.fig.axes:
            layers += [*ax.collections, *ax.lines, *ax.texts, ax.get_legend(), ax.title]
        layers += [*self.fig.legends, self.fig._suptitle]
        return [a for a in layers if a is not None]

    def _key(self) -> tuple:
        return tuple(
            (*ax.get_xlim(), *ax.get_ylim(), ax.get_xlabel(), ax.get_ylabel())
            for ax in self.fig.axes
        )

    def png(self) -> bytes:
        """The PNG of the figure as drawn now."""
        canvas = self.fig.canvas
        layers = self._layers()
        key = self._key()
        background = self.backgrounds.get(key)
        if background is None:
            for artist in layers:
                artist.set_visible(False)
            canvas.draw()
            background = self.backgrounds[key] = canvas.copy_from_bbox(self.fig.bbox)
            for artist in layers:
                artist.set_visible(True)
        canvas.restore_region(background)
        renderer = canvas.get_renderer()
        for artist in layers:
            pixels = getattr(artist, "_preview_pixels", None)
            if pixels is not None:  # a kept legend: opaque, so its pixels are its own
                canvas.restore_region(pixels)
                continue
            artist.draw(renderer)
            if hasattr(artist, "_preview_key"):  # with the frame's outer edge
                box = artist.get_window_extent(renderer).padded(1.5)
                artist._preview_pixels = canvas.copy_from_bbox(box)
        return _encode(canvas)


def _clear(fig) -> None:
    """Remove every curve, fill and annotation (the axes, ticks, labels and legends stay)."""
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections, *ax.texts]:
            artist.remove()
        ax.relim()


def _legend(owner, handles: list, labels: list[str], **kwargs) -> None:
    """``owner.legend(handles, labels, **kwargs)`` (an axes or the figure), kept when the same.

    A legend draws its own copies of the handles, so one made for the same
    labels, colours and line styles shows exactly what a new one would. Its
    frame is opaque and square, so its pixels are kept too (see :class:`_Figure`).
    """
    kwargs = {**kwargs, "framealpha": 1.0, "fancybox": False}
    key = (
        tuple(labels),
        tuple((h.get_color(), h.get_linestyle(), h.get_marker(), h.get_alpha()) for h in handles),
        tuple(sorted(kwargs.items())),
    )
    current = owner.get_legend() if hasattr(owner, "get_legend") else _figure_legend(owner)
    if current is not None and getattr(current, "_preview_key", None) == key:
        return
    if current is not None:
        current.remove()
    if handles:
        legend = owner.legend(handles, labels, **kwargs)
        legend._preview_key = key


def _figure_legend(fig):
    return fig.legends[0] if fig.legends else None


def _fix_layout(fig, xlabel_y: float, ylabel_x: float, **margins: float) -> None:
    """Fixed margins, and axis labels and titles at fixed places (in axes coordinates).

    Without this every draw measures the tick labels to place the axis labels
    and the title (and ``tight_layout`` draws the whole figure once more).
    """
    fig.subplots_adjust(**margins)
    for ax in fig.axes:
        ax.xaxis.set_label_coords(0.5, xlabel_y)
        right = ax.yaxis.get_label_position() == "right"
        ax.yaxis.set_label_coords(1 - ylabel_x if right else ylabel_x, 0.5)
        ax.set_title("", y=1.0, pad=6)


def _encode(canvas) -> bytes:
    """The PNG of what the Agg canvas holds (as ``savefig`` writes it, without drawing)."""
    from PIL import Image

    rgba = canvas.buffer_rgba()
    image = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1)
    image = image.convert("RGB")  # the figure is opaque: a quarter less to compress
    buf = io.BytesIO()
    image.save(buf, format="png", **_PNG)
    return buf.getvalue()


# --------------------------------------------------------------------------- RF knife


def _setup_rf(fig) -> None:
    ax_f = fig.add_subplot()
    ax_f.twinx()
    _fix_layout(fig, -0.1, -0.08, left=0.1, right=0.88, bottom=0.13, top=0.91)


def _draw_rf(fig, matter) -> None:
    """As ``show_rf_dynamics()``: frequency and power against time, evaporation then shield."""
    ax_f, ax_p = fig.axes
    # the matter's program: its shield lasts the whole stage
    lines = matter.draw_rf_dynamics(ax_f, ax_p)
    _legend(ax_f, lines, [ln.get_label() for ln in lines], fontsize=8, loc="upper right")
    ax_f.set_title(f"RF knife of '{matter.name}'")


# --------------------------------------------------------------------------- potential


def _setup_potential(fig) -> None:
    ax = fig.add_subplot()
    ax.set_xlim(_XLIMITS)
    ax.set_ylim(_YLIMITS)
    ax.set_xlabel("position x (µm)")
    ax.set_ylabel("potential energy E/h (kHz)")
    ax.grid(alpha=0.3)
    _fix_layout(fig, -0.1, -0.08, left=0.1, right=0.98, bottom=0.13, top=0.91)


_curves: LRUCache[str, tuple] = LRUCache(maxsize=32)
_curves_lock = threading.Lock()


def _potentials(values: InputValues, t: np.ndarray) -> tuple:
    """The magnetic trap, and the felt and requested potentials at the times ``t`` (kHz).

    Kept by the light of the run and the times: renaming a job, or editing its
    RF ramp, does not compute the projection again.
    """
    light = values.model_dump_json(include={"optical_barriers", "optical_landscape"})
    key = f"{light}|{t.tolist()}"
    with _curves_lock:
        found = _curves.get(key)
    if found is None:
        x = _POSITIONS
        magnetic = projection.magnetic_potential_khz(x)
        felt = projection.projected_potential_khz(values, t, x) + magnetic
        ideal = projection.ideal_potential_khz(values, t, x) + magnetic
        found = (magnetic, felt, ideal)
        with _curves_lock:
            _curves[key] = found
    return found


def _draw_potential(fig, matter, times: list[float]) -> None:
    """As ``show_potential(times, include_ideal=True)``: felt (solid) and requested (dashed)."""
    (ax,) = fig.axes
    x = _POSITIONS
    t = np.atleast_1d(np.asarray(times, dtype=float))
    magnetic, felt, ideal = _potentials(matter.input, t)
    for i, time in enumerate(t):
        (line,) = ax.plot(x, felt[i], label=f"t = {time:g} ms")
        ax.plot(
            x,
            ideal[i],
            "--",
            color=line.get_color(),
            alpha=0.7,
            label=f"requested, t = {time:g} ms",
        )
    ax.plot(x, magnetic, ":", color="gray", label="magnetic trap")
    ax.set_title(f"what the atoms of '{matter.name}' feel")
    _legend(ax, *ax.get_legend_handles_labels(), fontsize=8, loc="upper right")
    ax.set_prop_cycle(None)  # the next draw starts again at C0


# --------------------------------------------------------------------------- barriers

_PANELS = (
    ("get_positions", "positions_um", "position (µm)"),
    ("get_heights", "heights_khz", "height (kHz)"),
    ("get_widths", "widths_um", "width (µm)"),
)


def _setup_barriers(fig) -> None:
    axes = fig.subplots(3, 1, sharex=True)
    for ax, (_, _, label) in zip(axes, _PANELS, strict=True):
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (ms)")
    _fix_layout(fig, -0.22, -0.1, left=0.13, right=0.97, bottom=0.09, top=0.92, hspace=0.12)


def _draw_barriers(fig, matter) -> None:
    """As ``show_barrier_dynamics()``: position, height and width of each barrier against time."""
    axes = fig.axes
    barriers = matter.barriers or []
    lifetime = max(float(matter.lifetime or 0.0), tset.resolution_ms)
    for i, barrier in enumerate(barriers):
        t = np.arange(barrier.birth, barrier.death + tset.resolution_ms / 2, tset.resolution_ms)
        color = f"C{i % 10}"
        for ax, (curve, points, _) in zip(axes, _PANELS, strict=True):
            ax.step(
                t, getattr(barrier, curve)(t), where="post", color=color, label=f"barrier {i + 1}"
            )
            ax.plot(barrier.times_ms, getattr(barrier, points), ".", color=color)
    for ax in axes:
        ax.autoscale_view()
    axes[-1].set_xlim(-1.0, lifetime)
    axes[0].set_title("" if barriers else "no barriers", fontsize=9)
    _legend(fig, *axes[0].get_legend_handles_labels(), loc="upper right", fontsize=8)
    fig.suptitle(f"barrier dynamics of '{matter.name}'")


# --------------------------------------------------------------------------- terminator


def _setup_lasers(fig) -> None:
    ax = fig.add_subplot()
    ax.set_yticks([0, 1], ["off", "on"])
    ax.set_ylim(-0.1, 1.2)
    ax.set_xlabel("time (ms)")
    _fix_layout(fig, -0.1, -0.06, left=0.09, right=0.97, bottom=0.14, top=0.9)


def _draw_lasers(fig, matter) -> None:
    """As ``show_laser_pulse_timing()``: when the terminator is on in the experiment stage."""
    (ax,) = fig.axes
    lifetime = max(float(matter.lifetime or 0.0), tset.resolution_ms)
    t = np.linspace(0.0, lifetime, 2001)
    on = np.zeros(t.shape, dtype=bool)
    for laser in matter.lasers or []:
        for pulse in laser.pulses:  # as Pulse.is_on: its first and last times included
            on |= (t >= pulse.times_ms[0] - 1e-9) & (t <= pulse.times_ms[-1] + 1e-9)
    ax.fill_between(t, 0, on.astype(float), step="post", color="red", alpha=0.3)
    ax.step(t, on.astype(float), where="post", color="red", label="terminator")
    for laser in matter.lasers or []:
        for pulse in laser.pulses:
            for edge in pulse.times_ms:
                ax.axvline(edge, color="gray", lw=0.6, ls=":")
    ax.set_xlim(0, lifetime)
    ax.set_title(f"terminator pulse timing of '{matter.name}'")
    _legend(ax, *ax.get_legend_handles_labels(), fontsize=8, loc="upper right")


_FIGURES = {
    "rf": _Figure((7, 4), _setup_rf),
    "potential": _Figure((7, 4), _setup_potential),
    "barriers": _Figure((6, 6), _setup_barriers),
    "lasers": _Figure((6, 4), _setup_lasers),
}


def draw_input_figure(name: str, values: InputValues, kind: str, times: list[float]):
    """Draw ``kind`` of the run on its kept figure and return the figure (hold its lock)."""
    from oqtant.matter import QuantumMatter

    matter = QuantumMatter.from_input(name=name, input=values)
    fig = _FIGURES[kind].get()
    _clear(fig)
    if kind == "rf":
        _draw_rf(fig, matter)
    elif kind == "potential":
        _draw_potential(fig, matter, times)
    elif kind == "barriers":
        _draw_barriers(fig, matter)
    else:
        _draw_lasers(fig, matter)
    return fig


def render_input_png_fast(name: str, values: InputValues, kind: str, times: list[float]) -> bytes:
    """The PNG of one input figure (``rf``, ``potential``, ``barriers`` or ``lasers``)."""
    if kind not in _FIGURES:
        raise ValueError(f"kind: must be one of {', '.join(_FIGURES)}, got {kind!r}")
    figure = _FIGURES[kind]
    with figure.lock:  # one kept figure per kind: one draw of it at a time
        draw_input_figure(name, values, kind, times)
        return figure.png()


# --------------------------------------------------------------------------- preview cache

#: the fields of a run's values each figure reads (besides the job's name, in every title)
READS = {
    "rf": ("end_time_ms", "rf_evaporation"),
    "potential": ("end_time_ms", "optical_barriers", "optical_landscape"),
    "barriers": ("end_time_ms", "optical_barriers"),
    "lasers": ("end_time_ms", "lasers"),
}
PREVIEW_CACHE_SIZE = 256
_previews: LRUCache[tuple, bytes] = LRUCache(maxsize=PREVIEW_CACHE_SIZE)
_previews_lock = threading.Lock()


def preview_png(name: str, values: InputValues, kind: str, times: list[float]) -> bytes:
    """:func:`render_input_png_fast`, kept by what the figure reads (LRU of 256 figures).

    Editing one part of a job redraws only the figures that show it: a new
    barrier height redraws the potential and the barrier map, not the RF knife.
    """
    wire = values.model_dump(mode="json", include=set(READS[kind]))
    key = (kind, name, json.dumps(wire, sort_keys=True))
    with _previews_lock:
        png = _previews.get(key)
    if png is None:
        png = render_input_png_fast(name, values, kind, times)
        with _previews_lock:
            _previews[key] = png
    return png
