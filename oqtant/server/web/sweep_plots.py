"""PNG figures of several runs side by side: a sweep of one job, or runs picked to compare.

Three figures, each drawn from :class:`SweepRun` records (no database here):

- ``results``: each run's results against the input that differs between the
  runs (a numeric axis when its values are numbers, else one tick per value):
  atoms, temperature and condensed fraction of time-of-flight runs; peak OD,
  integrated atoms and the OD at the barrier of in-trap runs.
- ``thumbs``: every run's image in one grid on ONE colour scale (shared
  ``vmin``/``vmax``, one colour bar), each titled with its label and varied value.
- ``profiles``: the images integrated along y against x, overlaid, above the
  optical potential each run's atoms felt at its end (as ``make demo`` draws a
  barrier sweep, with the projected potential of :mod:`oqtant.projection`).

Runs that are not done are drawn as pending, failed runs are named. A running
job gains runs, so callers cache these figures under a key that holds the
number of runs done (see :func:`oqtant.server.web.plots.cached_png`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oqtant.schemas.job import InputValues
from oqtant.server.figures import _draw_lock  # pyplot is global: one figure at a time

__all__ = [
    "IN_TRAP_RESULTS",
    "SWEEP_KINDS",
    "TOF_RESULTS",
    "SweepRun",
    "profiles_figure",
    "render_sweep_png",
    "results_figure",
    "shared_scale",
    "thumbs_figure",
]

SWEEP_KINDS = ("results", "thumbs", "profiles")

TOF_RESULTS = {
    "tof_atom_number": "atoms",
    "temperature_nk": "temperature (nK)",
    "condensed_fraction": "condensed fraction",
}
IN_TRAP_RESULTS = {
    "peak_od": "peak OD",
    "integrated_atoms": "integrated atoms",
    "barrier_od": "OD at the barrier",
}
_DONE = "COMPLETE"
_DPI = 80
_THUMBS_DPI = 110  # the grid spans the page's width: more pixels for the same inches
_MAX_THUMBS = 30  # beyond, the grid shows the first ones (the compare view allows 20)


@dataclass
class SweepRun:
    """One run as the figures need it.

    ``x``: its value of the varied input (a number, or the text of the input);
    ``results``: its numbers (see TOF_RESULTS, IN_TRAP_RESULTS; None where there
    is none, e.g. the temperature of a nearly pure condensate); ``image``: its
    OD image, None until it is done.
    """

    label: str
    status: str
    x: float | str | None = None
    x_text: str = ""
    results: dict[str, float | None] = field(default_factory=dict)
    image: np.ndarray | None = None
    pixcal_um: float = 1.0
    in_trap: bool = False
    values: InputValues | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status == _DONE

    @property
    def title(self) -> str:
        return f"{self.label}: {self.x_text}" if self.x_text else self.label


def _figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=_DPI)


def _png(fig, dpi: int = _DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 3})
    return buf.getvalue()


def _not_done(runs: list[SweepRun]) -> str:
    """'pending: run 4, run 5; failed: run 2' for the runs without a result."""
    pending = [r.label for r in runs if r.status not in (_DONE, "FAILED", "CANCELLED")]
    failed = [r.label for r in runs if r.status == "FAILED"]
    cancelled = [r.label for r in runs if r.status == "CANCELLED"]
    parts = [
        f"{word}: {', '.join(labels)}"
        for word, labels in (("pending", pending), ("failed", failed), ("cancelled", cancelled))
        if labels
    ]
    return "; ".join(parts)


def _numeric(runs: list[SweepRun]) -> bool:
    return all(isinstance(r.x, int | float) and math.isfinite(r.x) for r in runs)


# --------------------------------------------------------------------------- results


def results_figure(runs: list[SweepRun], x_label: str):
    """Each run's results against the varied input, one panel per result."""
    keys: dict[str, str] = {}
    if any(not r.in_trap for r in runs):
        keys.update(TOF_RESULTS)
    if any(r.in_trap for r in runs):
        keys.update(IN_TRAP_RESULTS)
    numeric = _numeric(runs)
    categories = list(dict.fromkeys(r.x_text or r.label for r in runs))
    fig = _figure(6.4, 1.7 * len(keys) + 0.9)
    axes = fig.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]

    def where(r: SweepRun) -> float:
        return float(r.x) if numeric else categories.index(r.x_text or r.label)  # type: ignore[arg-type]

    not_done = [(where(r), r) for r in runs if not r.done]
    for x, r in not_done:
        word = "failed" if r.status == "FAILED" else r.status.lower()
        axes[0].text(
            x,
            0.97,
            f" {r.label} {word}",
            transform=axes[0].get_xaxis_transform(),
            fontsize=7,
            color="0.4",
            rotation=90,
            va="top",
            ha="right",
        )
    for ax, (key, label) in zip(axes, keys.items(), strict=True):
        points = []
        for r in runs:
            value = r.results.get(key) if r.done else None
            if value is None or not math.isfinite(float(value)):
                continue
            points.append((where(r), float(value)))
        for x, _ in not_done:  # where the runs without a result stand: pending or failed
            ax.axvline(x, color="0.6", lw=1.0, ls=":")
        points.sort()
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, "o-" if numeric else "o", color="C0")
        missing = sum(1 for r in runs if r.done and r.results.get(key) is None)
        if missing and key == "temperature_nk":
            ax.set_title(f"{missing} run(s): not measurable", loc="right", fontsize=8, color="0.4")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    if not numeric:
        axes[-1].set_xticks(range(len(categories)), categories, rotation=20, ha="right")
        axes[-1].set_xlim(-0.5, len(categories) - 0.5)
    axes[-1].set_xlabel(x_label, fontsize=9)
    note = _not_done(runs)
    fig.suptitle(
        f"{sum(r.done for r in runs)} of {len(runs)} runs" + (f" ({note})" if note else ""),
        fontsize=9,
    )
    height = fig.get_figheight()
    bottom = (0.6 if numeric else 1.1) / height
    fig.subplots_adjust(left=0.15, right=0.97, top=1 - 0.4 / height, bottom=bottom, hspace=0.3)
    return fig


# --------------------------------------------------------------------------- thumbnails


def shared_scale(images: list[np.ndarray]) -> tuple[float, float]:
    """One colour scale for all ``images``: from the lowest 1st to the highest 99.9th percentile.

    Percentiles, not extremes, so that a few noisy pixels do not set the scale.
    """
    finite = [im[np.isfinite(im)] for im in images]
    finite = [f for f in finite if f.size]
    if not finite:
        return 0.0, 1.0
    low = min(float(np.percentile(f, 1.0)) for f in finite)
    high = max(float(np.percentile(f, 99.9)) for f in finite)
    return low, high if high > low else low + 1.0


def thumbs_figure(runs: list[SweepRun]):
    """The runs' images in one grid (one mosaic), on one shared colour scale with one colour bar.

    Runs of the other image type than most (an in-trap run among time-of-flight
    runs, say) are named below the grid instead: their pixels are not comparable.
    """
    in_trap = sum(r.in_trap for r in runs) > len(runs) / 2
    shown = [r for r in runs if r.in_trap == in_trap][:_MAX_THUMBS]
    others = [r.label for r in runs if r.in_trap != in_trap]
    images = [r.image for r in shown if r.done and r.image is not None]
    vmin, vmax = shared_scale(images)
    cell_rows = max((im.shape[0] for im in images), default=100)
    cell_cols = max((im.shape[1] for im in images), default=100)
    columns = min(len(shown), 2 if in_trap else 5) or 1
    rows = math.ceil(len(shown) / columns) or 1
    gap = max(cell_rows // 6, 4)  # blank pixels between cells, room for the titles
    mosaic = np.full((rows * (cell_rows + gap), columns * (cell_cols + gap // 2)), np.nan)
    pixcal = shown[0].pixcal_um if shown else 1.0
    grid_in = 5.6 if in_trap or columns > 3 else 2.0 * columns  # the mosaic's width (inches)
    bar_in = 0.95  # room for the colour bar and its label, right of the mosaic
    width_in = grid_in + bar_in + 0.1
    aspect = mosaic.shape[0] / mosaic.shape[1]
    height_in = max(1.5, grid_in * aspect + 0.35)
    fig = _figure(width_in, height_in)
    ax = fig.add_axes((0.05 / width_in, 0.25 / height_in, grid_in / width_in, 1 - 0.3 / height_in))
    # the characters of a title that fit over its cell (7 pt text, at most about 4.3 pt a character)
    cell_pt = 72.0 * grid_in * (cell_cols + gap // 2) / mosaic.shape[1]
    fits = max(int(cell_pt / 4.3), 8)
    labels = []
    for i, r in enumerate(shown):
        top = (i // columns) * (cell_rows + gap)
        left = (i % columns) * (cell_cols + gap // 2)
        if r.done and r.image is not None:
            ny, nx = r.image.shape
            mosaic[top + gap : top + gap + ny, left : left + nx] = r.image
            labels.append((left, top + gap * 0.5, _fitted(r, "", fits), "k"))
        else:
            word = "failed" if r.status == "FAILED" else r.status.lower()
            labels.append((left, top + gap * 0.5, _fitted(r, f" ({word})", fits), "0.45"))
            ax.add_patch(_cell_patch(left, top + gap, cell_cols, cell_rows))
    cmap = _viridis_with_blank()
    shown_image = ax.imshow(
        mosaic,
        origin="upper",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        interpolation="auto",  # smoothed where the mosaic is shrunk
        aspect="equal",
    )
    for x, y, text, colour in labels:
        ax.text(x, y, text, fontsize=7, color=colour, va="center", ha="left")
    ax.set_axis_off()
    bar_axes = fig.add_axes(
        ((grid_in + 0.25) / width_in, 0.3 / height_in, 0.15 / width_in, 1 - 0.6 / height_in)
    )
    bar = fig.colorbar(shown_image, cax=bar_axes)
    bar.set_label("optical density", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    notes = []
    if shown:
        notes.append(f"each image {cell_cols * pixcal:.0f} × {cell_rows * pixcal:.0f} µm")
    if len(runs) - len(others) > len(shown):
        notes.append(f"the first {len(shown)} of {len(runs) - len(others)} runs")
    if others:
        kind = "time-of-flight" if in_trap else "in-trap"
        notes.append(f"not in the grid ({kind} images): {', '.join(others)}")
    if notes:
        fig.text(0.01, 0.01, "; ".join(notes), fontsize=7, color="0.3")
    return fig


def _fitted(run: SweepRun, suffix: str, chars: int) -> str:
    """The run's title and ``suffix`` in at most ``chars`` characters: a long job name (in
    the compare view, ``NAME #RUN``) is shortened with an ellipsis; the run number, its
    value and its state are kept."""
    text = run.title + suffix
    name, mark, number = run.label.rpartition(" #")
    if len(text) <= chars or not mark:  # a run of this job ("run 3") is never shortened
        return text
    tail = f" #{number}" + (f": {run.x_text}" if run.x_text else "") + suffix
    return name[: max(chars - len(tail) - 1, 3)].rstrip() + "…" + tail


def _viridis_with_blank():
    import matplotlib

    return matplotlib.colormaps["viridis"].with_extremes(bad="white")


def _cell_patch(left: int, top: int, width: int, height: int):
    from matplotlib.patches import Rectangle

    return Rectangle((left - 0.5, top - 0.5), width, height, facecolor="0.93", edgecolor="0.8")


# --------------------------------------------------------------------------- profiles


def _potential_khz(values: InputValues | None, x_um: np.ndarray) -> np.ndarray | None:
    if values is None or not (values.optical_barriers or values.optical_landscape):
        return None
    from oqtant import projection

    end = float(values.end_time_ms or 0.0)
    return projection.projected_potential_khz(values, [end], x_um)[0]


def profiles_figure(runs: list[SweepRun]):
    """Images integrated along y against x, overlaid; below, the potential at each run's end.

    Only the runs of the image type most runs have (in-trap or time-of-flight) are drawn;
    the others are named in the title.
    """
    from oqtant.analysis.in_trap import axis_positions_um

    in_trap = sum(r.in_trap for r in runs) > len(runs) / 2
    done = [r for r in runs if r.done and r.image is not None and r.in_trap == in_trap]
    others = [r.label for r in runs if r.in_trap != in_trap]
    potentials = []
    lines = []
    for i, r in enumerate(done):
        assert r.image is not None
        x_um, _ = axis_positions_um(r.image, r.pixcal_um)
        profile = np.nansum(r.image, axis=0) * r.pixcal_um  # OD integrated over y (µm)
        lines.append((f"C{i % 10}", r, x_um, profile))
        grid = np.linspace(float(x_um[0]), float(x_um[-1]), 400)
        potential = _potential_khz(r.values, grid)
        if potential is not None:
            potentials.append((f"C{i % 10}", r, grid, potential))
    with_light = bool(potentials)
    fig = _figure(8.4, 4.6 if with_light else 3.2)
    if with_light:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    else:
        top, bottom = fig.subplots(1, 1), None
    for colour, r, x_um, profile in lines:
        top.plot(x_um, profile, color=colour, lw=1.2, label=r.title)
    top.set_ylabel("OD integrated over y (µm)", fontsize=8)
    top.grid(alpha=0.3)
    top.tick_params(labelsize=8)
    if lines:  # beside the axes, never over the wings of a cloud
        top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    note = _not_done(runs)
    if others:
        kind = "time-of-flight" if in_trap else "in-trap"
        note = (note + "; " if note else "") + f"not drawn ({kind}): {', '.join(others)}"
    top.set_title(
        "Density along x"
        + (" (in the trap, at the end of each run)" if in_trap else " after time of flight")
        + (f"\n{note}" if note else ""),
        fontsize=9,
    )
    if bottom is not None:
        for colour, _, grid, potential in potentials:
            bottom.plot(grid, potential, color=colour, lw=1.0)
        bottom.set_ylabel("light (kHz)", fontsize=8)
        bottom.grid(alpha=0.3)
        bottom.tick_params(labelsize=8)
        bottom.set_xlabel("x (µm)", fontsize=8)
    else:
        top.set_xlabel("x (µm)", fontsize=8)
    if lines:  # the whole field of view: the thermal wings after time of flight reach its edges
        half = max(abs(float(x_um[0])) for _, _, x_um, _ in lines)
        top.set_xlim(-half, half)
    height, width = fig.get_figheight(), fig.get_figwidth()
    # room right of the axes for the legend: its line, then 7 pt text (about 0.06 in a character)
    longest = max((len(r.title) for _, r, _, _ in lines), default=0)
    legend_in = 0.55 + 0.06 * longest if lines else 0.0
    fig.subplots_adjust(
        left=0.09,
        right=min(0.97, 1 - (legend_in + 0.1) / width),
        top=1 - 0.55 / height,
        bottom=0.5 / height,
        hspace=0.12,
    )
    return fig


def render_sweep_png(kind: str, runs: list[SweepRun], x_label: str = "run") -> bytes:
    """One figure of ``runs`` as PNG: ``results``, ``thumbs`` or ``profiles``."""
    if kind not in SWEEP_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(SWEEP_KINDS)}, got {kind!r}")
    with _draw_lock:
        if kind == "results":
            fig: Any = results_figure(runs, x_label)
        elif kind == "thumbs":
            fig = thumbs_figure(runs)
        else:
            fig = profiles_figure(runs)
        return _png(fig, _THUMBS_DPI if kind == "thumbs" else _DPI)
