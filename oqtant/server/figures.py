"""The figures of a run as PNG bytes, drawn with the same functions the client's plots use.

Outputs are drawn with :class:`oqtant.schemas.output.OqtantOutput` (``plot_tof``,
``plot_slice``, ``plot_it``, ``plot_fit_results``) and inputs with
:class:`oqtant.schemas.quantum_matter.QuantumMatter` (``show_rf_dynamics``,
``show_potential``, ``show_barrier_dynamics``, ``show_laser_pulse_timing``); the
thumbnail of the job list is the image alone, coloured without a pyplot figure.

No database, no web: the worker that runs a run draws its figures here as the run
completes (:func:`draw_run_figure`, one task a figure), and the console draws here the figures of
older runs on demand. matplotlib is imported on the first figure, never at import.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from oqtant.errors import FitError, OqtantError
from oqtant.schemas.job import InputValues
from oqtant.schemas.limits import tset

__all__ = [
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "THUMB_KIND",
    "THUMB_PX",
    "draw_run_figure",
    "figure_kinds",
    "input_kinds_for",
    "output_kinds_for",
    "potential_times_ms",
    "render_input_png",
    "render_output_png",
    "render_thumb_png",
]

log = logging.getLogger("oqtant.server.figures")

OUTPUT_KINDS = ("tof", "fit", "slice_x", "slice_y", "it")
INPUT_KINDS = ("rf", "potential", "barriers", "lasers")
#: the small image of a run in the job list
THUMB_KIND = "thumb"
#: the longest side of a thumbnail, in pixels
THUMB_PX = 48

# pyplot keeps global state: one figure is drawn at a time
_draw_lock = threading.Lock()


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


def output_kinds_for(output_values: dict) -> list[str]:
    """The output figures of a run: its image, fit and cuts after time of flight, or in trap."""
    if "it_plot" in output_values:
        return ["it"]
    return ["tof", "fit", "slice_x", "slice_y"]


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


def render_thumb_png(output_values: dict, size_px: int = THUMB_PX) -> bytes:
    """The run's image (time of flight, or in trap) as a tiny PNG, longest side ``size_px``.

    The optical density is sampled down to ``size_px`` and coloured with viridis (the
    colour map of the full figures), from its minimum to its maximum; no pyplot figure.
    """
    from matplotlib import colormaps
    from matplotlib.image import imsave

    from oqtant.schemas.images import image_array
    from oqtant.schemas.job import Image

    key = "it_plot" if "it_plot" in output_values else "tof_image"
    od = image_array(Image.model_validate(output_values[key]), key)
    rows, cols = od.shape
    scale = min(1.0, size_px / max(rows, cols))
    out_rows, out_cols = max(1, round(rows * scale)), max(1, round(cols * scale))
    picked = od[
        np.linspace(0, rows - 1, out_rows).round().astype(int)[:, None],
        np.linspace(0, cols - 1, out_cols).round().astype(int)[None, :],
    ]
    picked = np.nan_to_num(picked)
    low, high = float(picked.min()), float(picked.max())
    norm = (picked - low) / (high - low) if high > low else np.zeros_like(picked)
    buf = io.BytesIO()
    imsave(buf, norm, cmap=colormaps["viridis"], vmin=0.0, vmax=1.0, format="png")
    return buf.getvalue()


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


def figure_kinds(values: InputValues, output_values: dict) -> list[str]:
    """The figures the console shows of one completed run: the thumbnail, outputs, inputs."""
    return [THUMB_KIND, *output_kinds_for(output_values), *input_kinds_for(values)]


def draw_run_figure(name: str, values_json: str, output_values_json: str, kind: str) -> bytes:
    """Figure ``kind`` (one of :func:`figure_kinds`) of a completed run, as PNG bytes.

    ``name``: the job's name (in the titles of the input figures); ``values_json``
    the run's input values, ``output_values_json`` its output's values (JSON).
    """
    if kind == THUMB_KIND:
        return render_thumb_png(json.loads(output_values_json))
    if kind in OUTPUT_KINDS:
        return render_output_png(output_values_json, kind)
    return render_input_png(name, InputValues.model_validate_json(values_json), kind)


def draw_run_figures(name: str, values: InputValues, output_values: dict) -> dict[str, bytes]:
    """Every figure of :func:`figure_kinds` of one completed run: ``{kind: PNG bytes}``.

    A figure that fails to draw is logged and left out (the console draws it
    when it is asked for).
    """
    values_json, output_json = values.model_dump_json(), json.dumps(output_values)
    figures: dict[str, bytes] = {}
    for kind in figure_kinds(values, output_values):
        try:
            figures[kind] = draw_run_figure(name, values_json, output_json, kind)
        except Exception:  # noqa: BLE001 - a figure is never worth a run: drawn later on demand
            log.exception(
                "could not draw the %s figure of job %r; it is drawn when asked", kind, name
            )
    return figures
