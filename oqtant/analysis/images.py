"""Statistics of an optical-density image: background, noise, signal, moments, binning."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "Detection",
    "bin2",
    "detect_signal",
    "moments_guess",
    "noise_and_offset",
    "pixel_noise",
]


def noise_and_offset(image: np.ndarray) -> tuple[float, float]:
    """Offset (median) and noise (robust std) of the image's outer frame."""
    n_rows, n_cols = image.shape
    b_r = max(1, n_rows // 10)
    b_c = max(1, n_cols // 10)
    frame = np.concatenate(
        [image[:b_r].ravel(), image[-b_r:].ravel(), image[:, :b_c].ravel(), image[:, -b_c:].ravel()]
    )
    offset = float(np.median(frame))
    noise = float(1.4826 * np.median(np.abs(frame - offset)))
    return offset, noise


def pixel_noise(image: np.ndarray) -> float:
    """OD noise of one pixel from differences of neighbours (blind to smooth clouds)."""
    diff = np.diff(image, axis=1).ravel()
    return float(1.4826 * np.median(np.abs(diff - np.median(diff))) / math.sqrt(2.0))


def moments_guess(
    x: np.ndarray, y: np.ndarray, offset: float, smooth: np.ndarray
) -> tuple[float, float, float, float, float]:
    """Peak, centre and rms widths (pixels) of the signal above a fraction of its peak.

    Returns ``(peak, x_0, y_0, s_x, s_y)`` with the widths scaled to those of a Gaussian.
    """
    signal = smooth - offset
    peak = float(signal.max())
    weight = np.where(signal > 0.2 * peak, signal, 0.0)
    total = weight.sum()
    x_0 = float((weight * x).sum() / total)
    y_0 = float((weight * y).sum() / total)
    # rms width of the part above 20 % of the peak, scaled to the full width of a Gaussian
    s_x = float(np.sqrt((weight * (x - x_0) ** 2).sum() / total))
    s_y = float(np.sqrt((weight * (y - y_0) ** 2).sum() / total))
    return peak, x_0, y_0, max(s_x * 1.6, 1.0), max(s_y * 1.6, 1.0)


def bin2(a: np.ndarray) -> np.ndarray:
    """Average over 2x2 blocks of the first two axes (odd last rows/columns dropped)."""
    r, c = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    a = a[:r, :c]
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


@dataclass(frozen=True)
class Detection:
    """How clearly a cloud stands above the noise of an image.

    Attributes:
        snr: the best smoothed peak over smoothed noise of the scales tried.
        smooth: the lightly smoothed image (for moments).
        offset: background OD (median of the outer frame).
        noise: OD noise of the outer frame (robust std).
        detail: the peak and noise of the best scale, in words.
    """

    snr: float
    smooth: np.ndarray
    offset: float
    noise: float
    detail: str


_SCALES_PX = (1.5, 4.0)


def _scale_snr(data, scale_px, offset, noise_px):
    """(snr, smoothed image, detail) of the image smoothed at ``scale_px``."""
    smoothed = ndimage.gaussian_filter(data, scale_px, mode="nearest")
    white = noise_px / (2.0 * math.sqrt(math.pi) * scale_px)
    # floor: float rounding of a flat image must never look like a signal
    floor = 1e-9 * (abs(offset) + float(np.abs(data).max())) + 1e-300
    smooth_noise = max(white, noise_and_offset(smoothed)[1], floor)
    # the edges average fewer pixels (they are repeated): look inside them
    m = min(int(math.ceil(2 * scale_px)), (min(data.shape) - 1) // 4)
    inside = smoothed[m : data.shape[0] - m, m : data.shape[1] - m]
    peak = float(inside.max() - offset)
    detail = f"peak OD above the background {peak:.3g}, smoothed noise {smooth_noise:.3g}"
    return peak / smooth_noise, smoothed, detail


def detect_signal(data: np.ndarray) -> Detection:
    """Look for a cloud at two scales.

    Compact clouds stand out after light smoothing, broad faint ones only after
    averaging over more pixels. The noise of the smoothed image is that of white
    pixel noise averaged by the kernel, or what its outer frame shows when the
    noise is correlated (fringes), whichever is larger.
    """
    offset, noise = noise_and_offset(data)
    noise_px = pixel_noise(data)
    scored = [_scale_snr(data, s, offset, noise_px) for s in _SCALES_PX]
    best = max(scored, key=lambda item: item[0])  # first of equals, as a strict > would
    return Detection(
        snr=best[0], smooth=scored[0][1], offset=offset, noise=noise, detail=best[2]
    )
