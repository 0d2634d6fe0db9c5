"""Interpolation of the piecewise programs users write (ramps, barriers, landscapes).

One function, used by the projection model, the simulator, the emulator and the
plots, so that every part of the system reads a program the same way.

Kinds (names of the wire format):
    LINEAR, SLINEAR      straight lines between points
    OFF, ZERO, PREVIOUS  steps: each value holds until the next point
    NEXT                 steps: each value applies from the previous point on
    NEAREST              the value of the nearest point
    QUADRATIC, CUBIC     splines of that order (lower order when too few points)
    SMOOTH               a monotone cubic (PCHIP): smooth, and never overshoots
                         the values the user gave
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator, make_interp_spline

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


def _unique_sorted(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    # Repeated abscissae (a step painted as two points at one position) keep the
    # last value given, which is what a step drawn left to right means.
    keep = np.append(np.diff(xs) != 0, True)
    return xs[keep], ys[keep]


def interpolate_1d(
    xs,
    ys,
    x_new,
    interpolation: str = "LINEAR",
    fill_value: float | None = None,
) -> np.ndarray:
    """Evaluate the program given by points ``(xs, ys)`` at ``x_new``.

    Args:
        xs, ys: the points, shape (n,); need not be sorted.
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
    xs, ys = _unique_sorted(xs, ys)
    if xs.size == 1:
        out = np.full(x_new.shape, ys[0])
    elif kind in ("LINEAR", "SLINEAR"):
        out = np.interp(x_new, xs, ys)
    elif kind in ("OFF", "ZERO", "PREVIOUS"):
        idx = np.clip(np.searchsorted(xs, x_new, side="right") - 1, 0, xs.size - 1)
        out = ys[idx]
    elif kind == "NEXT":
        idx = np.clip(np.searchsorted(xs, x_new, side="left"), 0, xs.size - 1)
        out = ys[idx]
    elif kind == "NEAREST":
        right = np.clip(np.searchsorted(xs, x_new), 1, xs.size - 1)
        left = right - 1
        choose_left = np.abs(x_new - xs[left]) <= np.abs(xs[right] - x_new)
        out = np.where(choose_left, ys[left], ys[right])
    elif kind == "SMOOTH":
        out = PchipInterpolator(xs, ys, extrapolate=False)(np.clip(x_new, xs[0], xs[-1]))
    else:  # QUADRATIC, CUBIC
        order = {"QUADRATIC": 2, "CUBIC": 3}[kind]
        order = min(order, xs.size - 1)
        spline = make_interp_spline(xs, ys, k=order)
        out = spline(np.clip(x_new, xs[0], xs[-1]))
    out = np.asarray(out, dtype=float)
    if fill_value is not None:
        outside = (x_new < xs[0]) | (x_new > xs[-1])
        out = np.where(outside, fill_value, out)
    return out
