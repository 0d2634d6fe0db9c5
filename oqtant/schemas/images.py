"""The one conversion between numpy arrays and the wire's images and line charts.

A wire ``Image`` carries flat row-major ``pixels`` with ``rows``, ``columns`` and
``pixcal`` (um per pixel); a ``LineChart`` carries points ``{"x": ..., "y": ...}``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from oqtant.errors import ValidationError
from oqtant.schemas.job import Image, LineChart

__all__ = ["image_array", "slice_chart", "wire_image", "wire_line_chart"]


def wire_image(array, pixcal_um: float = 1.0) -> Image:
    """A 2D array as the wire's Image (flat row-major pixels, rows, columns, pixcal)."""
    arr = np.asarray(array, dtype=float)
    if arr.ndim != 2:
        raise ValidationError(f"array: an image must be 2D, got shape {arr.shape}")
    return Image(
        pixels=arr.ravel().tolist(), rows=arr.shape[0], columns=arr.shape[1], pixcal=pixcal_um
    )


def wire_line_chart(xs, ys) -> LineChart:
    """Points (x, y) as the wire's LineChart, e.g. a slice with pixel index as x."""
    xs = np.asarray(xs, dtype=float).ravel()
    ys = np.asarray(ys, dtype=float).ravel()
    if xs.size != ys.size:
        raise ValidationError(f"xs, ys: must have the same length ({xs.size} != {ys.size})")
    return LineChart(points=[{"x": float(a), "y": float(b)} for a, b in zip(xs, ys, strict=True)])


def slice_chart(values) -> LineChart:
    """A slice as the wire's LineChart: the pixel index as x, the value as y."""
    ys = np.asarray(values, dtype=float).ravel()
    return wire_line_chart(np.arange(ys.size), ys)


def _inferred_shape(n: int, rows: int, cols: int) -> tuple[int, int]:
    side = math.isqrt(n)
    if side * side == n:
        return side, side
    if rows > 0 and n % rows == 0:
        return rows, n // rows
    if cols > 0 and n % cols == 0:
        return n // cols, cols
    return 1, n


def image_array(image: Image, name: str = "image") -> np.ndarray:
    """The pixels of a wire image as a 2D array.

    When ``rows * columns`` does not match the pixels, the shape is inferred
    (square, then from rows or columns) with a warning naming ``name``.
    """
    pixels = np.asarray(image.pixels, dtype=float)
    n = pixels.size
    rows, cols = int(image.rows), int(image.columns)
    if rows > 0 and cols > 0 and rows * cols == n:
        return pixels.reshape(rows, cols)
    shape = _inferred_shape(n, rows, cols)
    warnings.warn(
        f"{name}: {rows} x {cols} does not match its {n} pixels; read as {shape[0]} x {shape[1]}",
        UserWarning,
        stacklevel=3,
    )
    return pixels.reshape(shape)
