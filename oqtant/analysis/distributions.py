"""Cloud profiles sampled on an image grid (the reference's names), and significant digits.

The functions take a meshgrid ``(x, y)`` of pixel coordinates and return the
optical density flattened to 1D (as ``scipy.optimize.curve_fit`` wants it).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TF_dist_2D", "Gaussian_dist_2D", "bimodal_dist_2D", "round_sig"]
def round_sig(x: float, sig: int = 2) -> float:
    """``x`` rounded to ``sig`` significant digits (0 stays 0)."""
    if x == 0:
        return 0.0
    return round(x, sig - int(math.floor(math.log10(abs(x)))) - 1)


def TF_dist_2D(
    xy_mesh: tuple[np.ndarray, np.ndarray],
    TFpOD: float,
    xc: float,
    yc: float,
    rx: float,
    ry: float,
    os: float,
) -> np.ndarray:
    """A Thomas-Fermi cloud: peak OD ``TFpOD`` at (xc, yc), radii rx, ry, plus offset ``os``.

    OD = TFpOD * max(0, 1 - ((x - xc) / rx)^2 - ((y - yc) / ry)^2)^(3/2) + os, flattened.
    """
    x, y = (np.asarray(a, dtype=float) for a in xy_mesh)
    inside = 1.0 - ((x - xc) / rx) ** 2 - ((y - yc) / ry) ** 2
    return (TFpOD * np.clip(inside, 0.0, None) ** 1.5 + os).ravel()


def Gaussian_dist_2D(
    xy_mesh: tuple[np.ndarray, np.ndarray],
    GpOD: float,
    xc: float,
    yc: float,
    sigx: float,
    sigy: float,
    os: float,
) -> np.ndarray:
    """A Gaussian (thermal) cloud: peak OD ``GpOD`` at (xc, yc), widths sigx, sigy, offset os."""
    x, y = (np.asarray(a, dtype=float) for a in xy_mesh)
    exponent = -0.5 * ((x - xc) / sigx) ** 2 - 0.5 * ((y - yc) / sigy) ** 2
    return (GpOD * np.exp(exponent) + os).ravel()


def bimodal_dist_2D(
    xy_mesh: tuple[np.ndarray, np.ndarray],
    GpOD: float,
    sigx: float,
    sigy: float,
    TFpOD: float,
    rx: float,
    ry: float,
    xc: float,
    yc: float,
    os: float,
) -> np.ndarray:
    """A thermal cloud plus a condensate at the same centre: the sum of the two profiles.

    Each profile carries the offset ``os``, so the far background is ``2 os``.
    """
    return Gaussian_dist_2D(xy_mesh, GpOD, xc, yc, sigx, sigy, os) + TF_dist_2D(
        xy_mesh, TFpOD, xc, yc, rx, ry, os
    )
