"""Interpolation of the piecewise programs users write (ramps, barriers, landscapes).

One function, used by the projection model, the simulator, the emulator and the
plots, so that every part of the system reads a program the same way.

Kinds (names of the wire format):
    LINEAR, SLINEAR      straight lines between points
    OFF, ZERO, PREVIOUS  steps: each value holds until the next point
    NEXT                 steps: each value applies from the previous point on
    NEAREST              the value of the nearest point
    QUADRATIC, CUBIC     splines of that order (lower order when too few points)
    SMOOTH               the cubic spline, as the reference client reads it (it
                         may overshoot between points; the projection clips the
                         light at zero)

A point given twice (the same position, or the same time) is a step there: the
points before it and the points after it are read as two programs, joined by a
jump at the repeated point (where the second value already holds). So a
snapshot [-60, 0, 0, 60] um -> [0, 0, 5, 5] kHz is 0 left of 0 um and 5 from
0 um on, as the reference client reads it, whatever the kind.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import make_interp_spline

__all__ = ["interpolate_1d", "INTERPOLATION_KINDS"]

INTERPOLATION_KINDS = (
    "LINEAR",
    "SMOOTH",
    "OFF",
    "ZERO",
    "SLINEAR",
    "QUADRATIC",
    "CUBIC",
    "NEAREST",
    "PREVIOUS",
    "NEXT",
)


def _sorted(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def _pieces(xs: np.ndarray) -> list[slice]:
    """The runs of points between repeated abscissae.

    A position (or time) given twice is a step there: the program is the curve
    of the points up to the first of the two, then the curve of the points from
    the second on. Each run has distinct abscissae.
    """
    cuts = np.flatnonzero(np.diff(xs) == 0) + 1
    bounds = [0, *cuts.tolist(), xs.size]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _evaluate(kind: str, xs: np.ndarray, ys: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """One run of distinct, sorted points read with ``kind``; end values held outside."""
    if xs.size == 1:
        return np.full(x_new.shape, ys[0])
    if kind in ("LINEAR", "SLINEAR"):
        return np.interp(x_new, xs, ys)
    if kind in ("OFF", "ZERO", "PREVIOUS"):
        idx = np.clip(np.searchsorted(xs, x_new, side="right") - 1, 0, xs.size - 1)
        return ys[idx]
    if kind == "NEXT":
        idx = np.clip(np.searchsorted(xs, x_new, side="left"), 0, xs.size - 1)
        return ys[idx]
    if kind == "NEAREST":
        right = np.clip(np.searchsorted(xs, x_new), 1, xs.size - 1)
        left = right - 1
        choose_left = np.abs(x_new - xs[left]) <= np.abs(xs[right] - x_new)
        return np.where(choose_left, ys[left], ys[right])
    order = min({"QUADRATIC": 2, "CUBIC": 3, "SMOOTH": 3}[kind], xs.size - 1)
    spline = make_interp_spline(xs, ys, k=order)
    return spline(np.clip(x_new, xs[0], xs[-1]))


def interpolate_1d(
    xs,
    ys,
    x_new,
    interpolation: str = "LINEAR",
    fill_value: float | None = None,
) -> np.ndarray:
    """Evaluate the program given by points ``(xs, ys)`` at ``x_new``.

    Args:
        xs, ys: the points, shape (n,); need not be sorted. An abscissa given
            twice is a step (a jump in time) there: the value before is the
            first one's, from it on the second one's.
        x_new: where to evaluate, any shape.
        interpolation: one of INTERPOLATION_KINDS (an enum member or its name).
        fill_value: value outside [min(xs), max(xs)]; None holds the end values.

    Returns:
        Array of the shape of ``x_new``.
    """
    kind = getattr(interpolation, "value", interpolation)
    kind = str(kind).upper()
    if kind not in INTERPOLATION_KINDS:
        raise ValueError(f"unknown interpolation {kind!r}; use one of {INTERPOLATION_KINDS}")
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    x_new = np.asarray(x_new, dtype=float)
    xs, ys = _sorted(xs, ys)
    if kind in ("OFF", "ZERO", "PREVIOUS"):
        # a held value already steps at each point: of repeated points the last holds
        keep = np.append(np.diff(xs) != 0, True)
        xs, ys = xs[keep], ys[keep]
    pieces = _pieces(xs)
    out = _evaluate(kind, xs[pieces[0]], ys[pieces[0]], x_new)
    for piece in pieces[1:]:
        # from the repeated point on, this run's values
        later = x_new >= xs[piece.start]
        out = np.where(later, _evaluate(kind, xs[piece], ys[piece], x_new), out)
    out = np.asarray(out, dtype=float)
    if fill_value is not None:
        outside = (x_new < xs[0]) | (x_new > xs[-1])
        out = np.where(outside, fill_value, out)
    return out
