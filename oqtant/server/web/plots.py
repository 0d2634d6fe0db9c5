"""PNG figures of the console, drawn with the same functions the client's plots use.

Outputs are drawn with :class:`oqtant.schemas.output.OqtantOutput` (``plot_tof``,
``plot_slice``, ``plot_it``, ``plot_fit_results``) and inputs with
:class:`oqtant.schemas.quantum_matter.QuantumMatter` (``show_rf_dynamics``,
``show_potential``, ``show_barrier_dynamics``, ``show_laser_pulse_timing``).
Figures of stored runs never change, so they are cached (bytes, LRU).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from cachetools import LRUCache

from oqtant.errors import FitError, OqtantError
from oqtant.schemas.job import InputValues
from oqtant.schemas.limits import tset

__all__ = [
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "cached_png",
    "input_kinds_for",
    "peek_png",
    "potential_times_ms",
    "render_input_png",
    "render_output_png",
]

OUTPUT_KINDS = ("tof", "fit", "slice_x", "slice_y", "it")
INPUT_KINDS = ("rf", "potential", "barriers", "lasers")
CACHE_SIZE = 512

# pyplot keeps global state: one figure is drawn at a time
_draw_lock = threading.Lock()
_cache: LRUCache[tuple, bytes] = LRUCache(maxsize=CACHE_SIZE)
_cache_lock = threading.Lock()  # cachetools' caches are not thread-safe


def peek_png(key: tuple) -> bytes | None:
    """The cached PNG under ``key``, or None."""
    with _cache_lock:
        return _cache.get(key)


def cached_png(key: tuple, draw: Callable[[], bytes]) -> bytes:
    """The PNG under ``key``, drawn by ``draw()`` the first time (LRU of CACHE_SIZE figures)."""
    png = peek_png(key)
    if png is not None:
        return png
    png = draw()  # outside the lock: drawing takes long, and has its own lock
    with _cache_lock:
        _cache[key] = png
    return png


def _capture(plot: Callable[[Any], object]) -> bytes:
    """Run ``plot(file_like)`` on the Agg backend and return the PNG bytes it saved."""
    import matplotlib

    with _draw_lock:
        if matplotlib.get_backend().lower() != "agg":
            matplotlib.use("Agg")
        buf = io.BytesIO()
        plot(buf)
        return buf.getvalue()


def _message_png(text: str) -> bytes:
    """A small figure that says ``text`` (when there is nothing to draw)."""

    def plot(buf):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)

    return _capture(plot)


def render_output_png(output_values_json: str, kind: str) -> bytes:
    """One figure of a run's output: ``tof``, ``fit``, ``slice_x``, ``slice_y`` or ``it``."""
    from oqtant.matter.output import output_from_values

    output = output_from_values(json.loads(output_values_json))
    is_tof = not hasattr(output, "it_plot")
    if kind == "it":
        if is_tof:
            return _message_png("This run was imaged after time of flight: no in-trap image.")
        return _capture(lambda buf: output.plot_it(file_name=buf, figsize=(8, 4)))
    if not is_tof:
        return _message_png("This run was imaged in the trap: no time-of-flight image.")
    if kind == "tof":
        return _capture(lambda buf: output.plot_tof(file_name=buf, figsize=(6, 5)))
    if kind in ("slice_x", "slice_y"):
        axis = kind[-1]
        return _capture(lambda buf: output.plot_slice(file_name=buf, axis=axis))
    if kind == "fit":
        try:
            fit = output.fit_bimodal()
        except (FitError, OqtantError):
            return _message_png("No atoms to fit in this image.")
        pixcal = output.get_image_pixcal("TIME_OF_FLIGHT")
        return _capture(
            lambda buf: output.plot_fit_results(
                fit.params,
                file_name=buf,
                pix_cal=pixcal,
                plot_title=f"bimodal fit (R² = {fit.r_squared:.3f})",
            )
        )
    raise ValueError(f"kind: must be one of {', '.join(OUTPUT_KINDS)}, got {kind!r}")


def potential_times_ms(values: InputValues) -> list[float]:
    """A few times (ms) spread over the experiment stage at which to draw the potential."""
    end = float(values.end_time_ms or 0.0)
    if end <= 0:
        return [0.0]
    times = np.linspace(0.0, end, 4)
    step = tset.resolution_ms
    return sorted({round(round(t / step) * step, 1) for t in times})


def input_kinds_for(values: InputValues) -> list[str]:
    """Which input figures say something for this run."""
    kinds = ["rf", "potential"]
    if values.optical_barriers or values.optical_landscape:
        kinds.append("barriers")
    if values.lasers:
        kinds.append("lasers")
    return kinds


def render_input_png(name: str, values: InputValues, kind: str) -> bytes:
    """One figure of a run's input, drawn as the client's ``show_*`` methods draw it."""
    from oqtant.matter import QuantumMatter

    matter = QuantumMatter.from_input(name=name, input=values)
    if kind == "rf":
        return _capture(lambda buf: matter.show_rf_dynamics(file_name=buf))
    if kind == "potential":
        times = potential_times_ms(values)
        return _capture(
            lambda buf: matter.show_potential(times=times, include_ideal=True, file_name=buf)
        )
    if kind == "barriers":
        return _capture(lambda buf: matter.show_barrier_dynamics(file_name=buf))
    if kind == "lasers":
        return _capture(lambda buf: matter.show_laser_pulse_timing(file_name=buf))
    raise ValueError(f"kind: must be one of {', '.join(INPUT_KINDS)}, got {kind!r}")
