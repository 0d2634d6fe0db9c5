"""Outputs of a run, the bimodal fit of a time-of-flight image, and their plots.

Coordinates and units used throughout:
    * An image is a 2D array indexed ``[row, column]``; ``x`` runs along the
      columns (the trap's long, axial direction) and ``y`` along the rows.
    * Fit coordinates are **pixels measured from the image centre**: pixel
      ``(row, column)`` sits at ``x = column - round(n_columns / 2)``,
      ``y = row - round(n_rows / 2)``. Widths, radii and centres of a fit are in
      pixels; multiply by the image's ``pixcal`` (um per pixel) for microns.
    * Image values are optical densities (OD, dimensionless).
    * Atom numbers come from the integrated OD: ``N = sum(OD) * pixel_area / sigma_0``
      with ``sigma_0`` the resonant cross-section ``3 lambda^2 / (2 pi)``.

The bimodal model (the parameter order of the wire's ``tof_fit``)::

    rho(x, y) = (x-x_0)^2 / (2 gaussian_sigma_x^2) + (y-y_0)^2 / (2 gaussian_sigma_y^2)
    OD(x, y)  = gaussian_od * thermal(rho)
              + tf_od * max(0, 1 - (x-x_0)^2 / tf_x^2 - (y-y_0)^2 / tf_y^2)^(3/2)
              + offset

The first term is the thermal cloud, the second the column density of a
Thomas-Fermi condensate. Beside a condensate the thermal cloud is an ideal Bose
gas at fugacity 1 (saturated): after ballistic expansion from the harmonic trap
its column density is ``thermal(rho) = g_2(exp(-rho)) / g_2(1)`` (the "bose"
profile, :func:`bose_cloud_od`), whose core is narrower than a Gaussian with
the same wings. Just above T_c the gas is not saturated: its profile is
``g_2(z exp(-rho)) / g_2(z)`` with a fugacity ``z < 1``, and far above T_c
(``z -> 0``) the classical Gaussian ``thermal(rho) = exp(-rho)``
(:func:`thermal_cloud_od`). In every profile ``gaussian_od`` is the thermal
peak OD and ``gaussian_sigma_x/y`` the width parameter with
``sigma^2 = (k_B T / m) (1 / omega^2 + t^2)``; the wire names are kept. Rule for
a set of 9 parameters alone (the wire's ``tof_fit``): the thermal profile is
"bose" at fugacity 1 when ``tf_od > 0`` and "gaussian" otherwise; the fit itself
reports its profile and fugacity (see :func:`fit_bimodal_2d`).

The fit compares the model with what camera pixels measure: the condensate's
sharp edge is integrated over each pixel (its transmitted light, then the log)
and, when given, blurred by the imaging point-spread function; the parameters
stay those of the continuous profiles above.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel
from scipy import ndimage, optimize

try:  # small matrices: BLAS threads only add overhead (and stall on a busy machine)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

from oqtant.constants import (
    IN_TRAP_IMAGE_SHAPE,
    IN_TRAP_PIXCAL_UM,
    K_B,
    MOT_PIXCAL_UM,
    RB87_MASS_KG,
    RESONANT_CROSS_SECTION_M2,
    TRAP_FREQUENCY_AXIAL_HZ,
    TOF_IMAGE_SHAPE,
    TOF_PIXCAL_UM,
    TRAP_FREQUENCY_RADIAL_HZ,
)
from oqtant._plotting import finish_figure
from oqtant.errors import FitError, JobError, ValidationError
from oqtant.schemas import job as job_schema
from oqtant.schemas.distributions import (
    Gaussian_dist_2D,
    TF_dist_2D,
    bimodal_dist_2D,
    in_trap_check,
    round_sig,
)
from oqtant.schemas.job import Image, LineChart, OutputImageType, TofFit, print_keys
from oqtant.util.exceptions import JobPlotFitError, JobPlotFitMismatchError, JobReadError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "AxisType",
    "OutputImageType",
    "FIT_PARAMETER_NAMES",
    "TOF_IMAGE_SHAPE",
    "TOF_PIXCAL_UM",
    "IN_TRAP_IMAGE_SHAPE",
    "IN_TRAP_PIXCAL_UM",
    "MOT_PIXCAL_UM",
    "BimodalFit",
    "bimodal_od",
    "saturate_od",
    "thermal_cloud_od",
    "bose_cloud_od",
    "polylog2",
    "THERMAL_PROFILES",
    "thomas_fermi_od",
    "fit_bimodal_2d",
    "FIT_MODELS",
    "image_space",
    "wire_image",
    "wire_line_chart",
    "OqtantOutput",
    "OqtantPlotOutput",
    "OqtantNonPlotOutput",
    "output_from_values",
    "TF_dist_2D",
    "Gaussian_dist_2D",
    "bimodal_dist_2D",
    "round_sig",
    "in_trap_check",
    "print_keys",
    "JobPlotFitError",
    "JobPlotFitMismatchError",
    "JobReadError",
]

# --------------------------------------------------------------------------- facts of the camera
# (the image shapes and pixel sizes are those of oqtant.constants)

FIT_PARAMETER_NAMES = (
    "gaussian_od",
    "gaussian_sigma_x",
    "gaussian_sigma_y",
    "tf_od",
    "tf_x",
    "tf_y",
    "x_0",
    "y_0",
    "offset",
)
"""Order of the 9 bimodal fit parameters (that of the wire's ``tof_fit``)."""

_DEFAULT_PIXCAL_UM = {
    OutputImageType.TIME_OF_FLIGHT: TOF_PIXCAL_UM,
    OutputImageType.TIME_OF_FLIGHT_FIT: TOF_PIXCAL_UM,
    OutputImageType.IN_TRAP: IN_TRAP_PIXCAL_UM,
    OutputImageType.MOT: MOT_PIXCAL_UM,
}


class AxisType(str, Enum):  # noqa: UP042 - plain str values, as in the reference
    """Axis of a slice through an image: x along columns, y along rows."""

    x = "x"
    y = "y"


# --------------------------------------------------------------------------- model


def image_space(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x along columns, y along rows) centred on the image, each of ``shape``."""
    n_rows, n_columns = int(shape[0]), int(shape[1])
    x = np.arange(n_columns, dtype=float) - round(n_columns / 2)
    y = np.arange(n_rows, dtype=float) - round(n_rows / 2)
    return np.meshgrid(x, y)


THERMAL_PROFILES = ("bose", "gaussian")
"""Thermal profiles of the fit: saturated ideal Bose gas (g_2 at fugacity 1) or classical Gaussian."""

_ZETA2 = math.pi**2 / 6.0
_ZETA3 = 1.2020569031595942853997
_BOSE_ATOMS_FACTOR = _ZETA3 / _ZETA2
"""Integral of g_2(exp(-rho)) / g_2(1) over the plane, in units of that of exp(-rho)."""

# g_2(exp(-rho)) = zeta(2) - rho (1 - ln rho) + sum_k zeta(2 - k) (-rho)^k / k!  (k >= 2),
# convergent for rho < 2 pi; only even zeta(2 - k) at odd k >= 3 and k = 2 are non-zero.
_G2_SMALL_RHO_TERMS = (
    (2, -0.5 / 2.0),  # zeta(0) = -1/2
    (3, (-1.0 / 12.0) * -1.0 / 6.0),  # zeta(-1) = -1/12
    (5, (1.0 / 120.0) * -1.0 / 120.0),  # zeta(-3)
    (7, (-1.0 / 252.0) * -1.0 / 5040.0),  # zeta(-5)
    (9, (1.0 / 240.0) * -1.0 / 362880.0),  # zeta(-7)
    (11, (-1.0 / 132.0) * -1.0 / 39916800.0),  # zeta(-9)
    (13, (691.0 / 32760.0) * -1.0 / 6227020800.0),  # zeta(-11)
)
_G2_SERIES_TERMS = 26  # sum_k w^k / k^2 for w = exp(-rho) <= exp(-1): tail below 1e-13


def _g2_exp(rho: np.ndarray) -> np.ndarray:
    """g_2(exp(-rho)) for rho >= 0 (array), to about 1e-13.

    Near rho = 0 (the fugacity-1 core) the expansion in rho with its logarithm is
    used; further out the power series in ``w = exp(-rho) <= 1/e``.
    """
    rho = np.asarray(rho, dtype=float)
    out = np.empty_like(rho)
    near = rho < 1.0
    r = rho[near]
    poly = np.zeros_like(r)
    for k, c in reversed(_G2_SMALL_RHO_TERMS):
        poly = poly + c * r**k
    with np.errstate(divide="ignore", invalid="ignore"):
        rlogr = np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0)
    out[near] = _ZETA2 - r + rlogr + poly
    w = np.exp(-rho[~near])
    acc = np.zeros_like(w)
    for k in range(_G2_SERIES_TERMS, 0, -1):  # Horner: w (1 + w (1/4 + w (1/9 + ...)))
        acc = w * (1.0 / k**2 + acc)
    out[~near] = acc
    return out


def _g1_exp(rho: np.ndarray) -> np.ndarray:
    """g_1(exp(-rho)) = -ln(1 - exp(-rho)) = -d g_2(exp(-rho)) / d rho (large at rho -> 0)."""
    return -np.log(-np.expm1(-np.maximum(rho, 1e-300)))


def _g3(z: float) -> float:
    """g_3(z) = sum_k z^k / k^3 for 0 <= z <= 1 (g_3(1) = zeta(3)), to about 1e-12."""
    if z >= 1.0:
        return _ZETA3
    k = np.arange(1, 20001, dtype=float)
    return float(np.sum(z**k / k**3))


def polylog2(z) -> np.ndarray | float:
    """The Bose function g_2(z) = sum_k z^k / k^2 (dilogarithm) for 0 <= z <= 1.

    Vectorised; accurate to about 1e-13 (g_2(1) = pi^2 / 6).

    Raises:
        ValidationError: a value of ``z`` outside [0, 1].
    """
    arr = np.asarray(z, dtype=float)
    if np.any(~(arr >= 0.0) | (arr > 1.0)):
        raise ValidationError("z: the Bose function g_2 is evaluated for 0 <= z <= 1")
    with np.errstate(divide="ignore"):
        rho = -np.log(arr)
    out = np.where(arr > 0.0, _g2_exp(np.where(arr > 0.0, rho, 50.0)), 0.0)
    return float(out) if out.ndim == 0 else out


def _rho(x, y, sigma_x, sigma_y, x_0, y_0):
    return 0.5 * ((x - x_0) / sigma_x) ** 2 + 0.5 * ((y - y_0) / sigma_y) ** 2


def thermal_cloud_od(x, y, peak_od, sigma_x, sigma_y, x_0, y_0):
    """OD of a classical thermal cloud: a 2D Gaussian of peak ``peak_od`` (no offset).

    Holds ``2 pi peak_od sigma_x sigma_y`` (OD x pixels^2).
    """
    return peak_od * np.exp(-_rho(x, y, sigma_x, sigma_y, x_0, y_0))


def bose_cloud_od(x, y, peak_od, sigma_x, sigma_y, x_0, y_0, fugacity=1.0):
    """OD of an ideal Bose gas after ballistic expansion (no offset).

    ``peak_od * g_2(z exp(-rho)) / g_2(z)`` with ``rho = (x-x_0)^2 / (2 sigma_x^2) +
    (y-y_0)^2 / (2 sigma_y^2)`` and fugacity ``z``: at ``z = 1`` the saturated
    thermal cloud beside a condensate, as ``z -> 0`` the classical Gaussian. Same
    wings as a Gaussian of peak ``peak_od z / g_2(z)`` and widths ``sigma``; holds
    ``2 pi peak_od sigma_x sigma_y g_3(z) / g_2(z)`` (OD x pixels^2).
    """
    rho = np.asarray(_rho(x, y, sigma_x, sigma_y, x_0, y_0), dtype=float)
    shift = -math.log(fugacity) if fugacity < 1.0 else 0.0
    out = peak_od * _g2_exp(rho + shift) / float(_g2_exp(np.array(shift)))
    return float(out) if out.ndim == 0 else out


def _thermal_profile_of(params, thermal: str | None) -> str:
    if thermal is None:
        return "bose" if float(params[3]) > 0.0 else "gaussian"
    key = str(thermal).lower()
    if key not in THERMAL_PROFILES:
        raise ValidationError(
            f"thermal_profile: must be one of {THERMAL_PROFILES}, got {thermal!r}"
        )
    return key


def thomas_fermi_od(x, y, peak_od, radius_x, radius_y, x_0, y_0):
    """OD of a Thomas-Fermi condensate: ``peak_od * max(0, 1 - r^2)^(3/2)`` (no offset)."""
    u = 1.0 - ((x - x_0) / radius_x) ** 2 - ((y - y_0) / radius_y) ** 2
    return peak_od * np.clip(u, 0.0, None) ** 1.5


def bimodal_od(
    x,
    y,
    params,
    thermal_profile: str | None = None,
    subpixels: int = 1,
    resolution_px: float = 0.0,
    saturation_od: float | None = None,
    fugacity: float = 1.0,
) -> np.ndarray:
    """The bimodal model at pixel coordinates ``x, y`` for 9 ``params`` (FIT_PARAMETER_NAMES).

    ``thermal_profile`` "bose" or "gaussian"; None follows the rule of the fit:
    "bose" when ``tf_od > 0``, else "gaussian". ``subpixels`` > 1 gives what a
    camera pixel of side 1 centred at ``x, y`` measures of the condensate (its
    transmitted light averaged over ``subpixels^2`` points); 1 samples the
    pixel centre. ``resolution_px`` > 0 blurs that light by a Gaussian
    point-spread function of this rms (pixels). Either needs ``x, y`` to be a
    pixel grid as from :func:`image_space`. ``saturation_od`` (see
    :func:`saturate_od`) is the most a camera reads; None: no saturation.
    ``fugacity`` is that of the "bose" thermal profile (1: saturated).
    """
    profile = _thermal_profile_of(params, thermal_profile)
    a_g, s_x, s_y, a_tf, r_x, r_y, x_0, y_0, offset = (float(p) for p in params)
    out = np.zeros(np.broadcast(x, y).shape)
    if a_g != 0.0:
        if profile == "bose":
            out = out + bose_cloud_od(x, y, a_g, s_x, s_y, x_0, y_0, fugacity)
        else:
            out = out + thermal_cloud_od(x, y, a_g, s_x, s_y, x_0, y_0)
    if a_tf != 0.0:
        if subpixels > 1 or resolution_px > 0:
            dx = np.asarray(x, dtype=float) - x_0
            dy = np.asarray(y, dtype=float) - y_0
            if dx.ndim != 2 or dx.shape != dy.shape:
                raise ValidationError("x, y: pixel integration needs a 2D pixel grid")
            index, tf_od = _tf_pixels(dx, dy, a_tf, r_x, r_y, int(subpixels), resolution_px)
            flat = out.ravel().copy()
            flat[index] += tf_od
            out = flat.reshape(out.shape)
        else:
            out = out + thomas_fermi_od(x, y, a_tf, r_x, r_y, x_0, y_0)
    return saturate_od(out, saturation_od) + offset


def saturate_od(od, saturation_od: float | None):
    """The OD a camera reads of a cloud of optical density ``od``.

    A fraction ``s = exp(-saturation_od)`` of the probe light reaches the camera
    without meeting the atoms (light of the wrong polarisation or frequency,
    light scattered around the cloud), so the camera reads
    ``-ln(s + (1 - s) exp(-od))``: about ``(1 - s) od`` where the cloud is thin,
    never more than ``saturation_od``. None (or inf) leaves ``od`` as it is.
    """
    if saturation_od is None or math.isinf(saturation_od):
        return od
    s = math.exp(-saturation_od)
    return -np.log(s + (1.0 - s) * np.exp(-np.asarray(od)))


def _saturation_slope(od, saturation_od: float | None):
    """d saturate_od / d od at ``od``."""
    if saturation_od is None or math.isinf(saturation_od):
        return None
    s = math.exp(-saturation_od)
    light = (1.0 - s) * np.exp(-np.asarray(od))
    return light / (s + light)


def _tf_pixels(dx, dy, a_tf, r_x, r_y, subpixels=1, resolution_px=0.0, derivatives=False):
    """Thomas-Fermi OD that camera pixels centred at ``dx, dy`` from the cloud centre measure.

    ``dx, dy``: 2D pixel grid (unit spacing, x along columns). A pixel integrates
    the transmitted light, so with ``subpixels > 1`` or a point-spread function of
    rms ``resolution_px`` the condensate's OD of a pixel is ``-ln(mean(T))`` with
    ``T = exp(-OD)`` on ``subpixels^2`` points of the pixel, blurred first (the
    thermal cloud and the offset, smooth on that scale, factor out of T). Only a
    patch of pixels around the condensate is computed.

    Returns (flat index, od) of the patch's pixels, plus with ``derivatives`` the
    derivatives of their OD by (a_tf, r_x, r_y, x_0, y_0) as a (5, n) array.
    """
    n_cols = dx.shape[1]
    margin = 0.5 + 4.0 * resolution_px
    cols = np.flatnonzero(np.abs(dx[0]) < r_x + margin)
    rows = np.flatnonzero(np.abs(dy[:, 0]) < r_y + margin)
    if cols.size == 0 or rows.size == 0:
        empty = np.zeros(0)
        return (np.zeros(0, dtype=int), empty) + ((np.zeros((5, 0)),) if derivatives else ())
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    index = (np.arange(r0, r1)[:, None] * n_cols + np.arange(c0, c1)[None, :]).ravel()
    n = subpixels
    o = (np.arange(n, dtype=float) - 0.5 * (n - 1)) / n
    sdx = (dx[0, c0:c1, None] + o[None, :]).ravel()[None, :]  # (1, nx * n)
    sdy = (dy[r0:r1, 0, None] + o[None, :]).ravel()[:, None]  # (ny * n, 1)
    u = np.clip(1.0 - (sdx / r_x) ** 2 - (sdy / r_y) ** 2, 0.0, None)
    sqrt_u = np.sqrt(u)
    shape = u * sqrt_u
    point = n == 1 and resolution_px <= 0
    if point:
        od = (a_tf * shape).ravel()
        if not derivatives:
            return index, od
        tf_d = 3.0 * a_tf * sqrt_u  # 2 x d(a_tf u^1.5)/du
        fields = (shape, tf_d * sdx**2 / r_x**3, tf_d * sdy**2 / r_y**3)
        fields += (tf_d * sdx / r_x**2, tf_d * sdy / r_y**2)
        deriv = np.stack([np.broadcast_to(f, u.shape).ravel() for f in fields])
        return index, od, deriv

    def camera(field, outside):
        # blur on the sub-pixel grid, then the mean over each pixel's sub-pixels
        if resolution_px > 0:
            field = ndimage.gaussian_filter(
                field, resolution_px * n, mode="constant", cval=outside, truncate=4.0
            )
        ny, nx = field.shape[0] // n, field.shape[1] // n
        return field.reshape(ny, n, nx, n).mean(axis=(1, 3)).ravel()

    # ODs beyond 600 (no camera sees them) are capped so that the light never underflows
    light = np.exp(-np.minimum(a_tf * shape, 600.0))
    mean_light = camera(light, 1.0)
    od = -np.log(mean_light)
    if not derivatives:
        return index, od
    tf_d = 3.0 * a_tf * sqrt_u * light
    fields = (shape * light, tf_d * sdx**2 / r_x**3, tf_d * sdy**2 / r_y**3)
    fields += (tf_d * sdx / r_x**2, tf_d * sdy / r_y**2)
    # d od = mean(T d(sub-pixel OD)) / mean(T), blur included (it is linear)
    deriv = np.stack([camera(np.broadcast_to(f, u.shape), 0.0) for f in fields]) / mean_light
    return index, od, deriv


def _residual_and_jacobian(
    x: np.ndarray,
    y: np.ndarray,
    data: np.ndarray,
    binned: bool = False,
    weight: np.ndarray | None = None,
    thermal_profile: str = "gaussian",
    subpixels: int = 1,
    resolution_px: float = 0.0,
    saturation_od: float | None = None,
    fugacity: float = 1.0,
):
    """Residual and analytic Jacobian of the bimodal model for 2D coordinates and data.

    ``jacobian(p, free)`` returns only the columns of the ``free`` parameters. With
    ``binned`` the model is averaged over 2x2 blocks of pixels and compared with
    the data averaged the same way: a quarter of the residuals, the same model.
    ``weight`` (0 or 1 per pixel) leaves out pixels that hold no measurement.
    With the "bose" profile the thermal shape is ``t = g_2(z e^-rho) / g_2(z)`` and
    ``-dt/drho = g_1(z e^-rho) / g_2(z)`` (fugacity ``z``, 1 by default); with
    "gaussian" ``t = -dt/drho = e^-rho``.
    ``subpixels`` > 1 integrates the condensate over each pixel, ``resolution_px``
    blurs it by the imaging resolution (see _tf_pixels). ``saturation_od`` applies
    the camera's saturation (see saturate_od) to the cloud, not to the offset.
    """
    if binned:
        r, c = (data.shape[0] // 2) * 2, (data.shape[1] // 2) * 2
        x, y, data = x[:r, :c], y[:r, :c], data[:r, :c]
        if weight is not None:
            weight = weight[:r, :c]
        shape = (r, c)

        def reduce(a):
            return _bin2(a.reshape(shape + a.shape[1:])).reshape((r // 2) * (c // 2), *a.shape[1:])
    else:

        def reduce(a):
            return a

    x_grid, y_grid = x, y
    x = x.ravel()
    y = y.ravel()
    data = data.ravel()
    if weight is not None:
        weight = weight.ravel()
    bose = thermal_profile == "bose"
    shift = -math.log(fugacity) if fugacity < 1.0 else 0.0  # z e^-rho = e^-(rho + shift)
    g2_z = float(_g2_exp(np.array(shift)))
    cache: dict[bytes, tuple] = {}

    def parts(p):
        # the solver asks for the residual and the Jacobian at the same point: compute once
        key = np.asarray(p, dtype=float).tobytes()
        if key not in cache:
            _, s_x, s_y, a_tf, r_x, r_y, x_0, y_0, _ = p
            dx, dy = x - x_0, y - y_0
            rho = 0.5 * (dx / s_x) ** 2 + 0.5 * (dy / s_y) ** 2
            if bose:
                g = _g2_exp(rho + shift) / g2_z
                slope = _g1_exp(rho + shift) / g2_z
            else:
                g = np.exp(-rho)
                slope = g
            index, tf_od, tf_deriv = _tf_pixels(
                x_grid - x_0, y_grid - y_0, a_tf, r_x, r_y, subpixels, resolution_px, True
            )
            cloud = p[0] * g
            cloud[index] += tf_od
            seen = saturate_od(cloud, saturation_od)
            gain = _saturation_slope(cloud, saturation_od)  # None: no saturation
            cache.clear()
            cache[key] = (dx, dy, g, slope, index, seen, tf_deriv, gain)
        return cache[key]

    def residual(p):
        seen = parts(p)[5]
        diff = seen + p[8] - data
        return reduce(diff if weight is None else diff * weight)

    def jacobian(p, free):
        a_g, s_x, s_y = p[0], p[1], p[2]
        dx, dy, g, slope, index, _, tf_deriv, gain = parts(p)
        ag_g = a_g * slope  # -d(a_g t)/drho
        columns = (
            lambda: g,
            lambda: ag_g * dx**2 / s_x**3,
            lambda: ag_g * dy**2 / s_y**3,
            None,
            None,
            None,
            lambda: ag_g * dx / s_x**2,
            lambda: ag_g * dy / s_y**2,
            None,
        )
        tf_row = {3: 0, 4: 1, 5: 2, 6: 3, 7: 4}
        free_index = np.flatnonzero(free)
        jac = np.zeros((x.size, free_index.size))
        for k, i in enumerate(free_index):
            if i == 8:
                jac[:, k] = 1.0
                continue
            if columns[i] is not None:
                jac[:, k] = columns[i]()
            if i in tf_row:
                jac[index, k] += tf_deriv[tf_row[i]]
            if gain is not None:
                jac[:, k] *= gain
        if weight is not None:
            jac *= weight[:, None]
        return reduce(jac)

    return residual, jacobian


# --------------------------------------------------------------------------- fit result


@dataclass(frozen=True, eq=False, repr=False)
class BimodalFit:
    """Result of a bimodal fit of one optical-density image.

    Attributes:
        params: shape (9,), in the order of FIT_PARAMETER_NAMES; ODs, then widths,
            radii and centres in pixels from the image centre, then the offset OD.
        covariance: shape (9, 9), covariance of ``params`` (pseudo-inverse where a
            parameter is not determined, e.g. the radii of an absent condensate).
        model_image: the fitted model, shape of the image.
        residual: image minus model (NaN where the image had no measurement).
        r_squared: coefficient of determination of the fit.
        pixcal_um: microns per pixel of the image.
        time_of_flight_ms: free-expansion time before the image, if known.
        trap_frequencies_hz: (x, y) trap frequencies used to remove the in-trap size
            from the temperature, or None to neglect it.
        noise_od: estimated OD noise of one pixel.
        model: which model was fitted: "bimodal", "gaussian" or "tf".
        thermal_profile: shape of the thermal part, "bose" (g_2 at fugacity 1,
            fitted beside a condensate) or "gaussian"; ``params[0:3]`` are its peak
            OD and width parameters either way.
        subpixels: points per pixel side over which the condensate was integrated.
        resolution_px: rms of the point-spread function in the model (pixels).
        saturation_od: the camera's saturation OD in the model, or None.
        fugacity: of the "bose" thermal profile: 1 beside a condensate, below 1
            for a Bose gas just above T_c (fitted when the auto model finds it
            best); 1 and unused with the "gaussian" profile.
    """

    params: np.ndarray
    covariance: np.ndarray
    model_image: np.ndarray
    residual: np.ndarray
    r_squared: float
    pixcal_um: float = 1.0
    time_of_flight_ms: float | None = None
    trap_frequencies_hz: tuple[float, float] | None = (
        TRAP_FREQUENCY_AXIAL_HZ,
        TRAP_FREQUENCY_RADIAL_HZ,
    )
    noise_od: float = 0.0
    model: str = "bimodal"
    thermal_profile: str = "gaussian"
    subpixels: int = 1
    resolution_px: float = 0.0
    saturation_od: float | None = None
    fugacity: float = 1.0

    # ---- parameters

    @property
    def param_errors(self) -> np.ndarray:
        """One-standard-deviation uncertainties of ``params``."""
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))

    def summary(self) -> str:
        """The fit in a few lines: parameters with errors, atom numbers, temperature."""
        lines = [
            f"bimodal fit ({self.model} model, {self.thermal_profile} thermal profile), "
            f"R^2 = {self.r_squared:.4f}"
        ]
        for name, value, error in zip(
            FIT_PARAMETER_NAMES, self.params, self.param_errors, strict=True
        ):
            unit = "px" if name not in ("gaussian_od", "tf_od", "offset") else "OD"
            lines.append(f"  {name:>16} = {value:10.4g} +- {error:.2g} {unit}")
        lines.append(
            f"  atoms: {self.total_atom_number:.4g} ({self.thermal_atom_number:.4g} thermal, "
            f"{self.condensed_atom_number:.4g} condensed, fraction {self.condensed_fraction:.3f})"
        )
        temperature = self.temperature_nk
        lines.append(
            "  temperature: " + ("not measured" if temperature is None else f"{temperature:.1f} nK")
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.as_dict().items())
        return f"BimodalFit({self.model}: {values}; r_squared={self.r_squared:.4f})"

    def as_dict(self) -> dict[str, float]:
        """Parameters by name (pixels and OD)."""
        return {name: float(v) for name, v in zip(FIT_PARAMETER_NAMES, self.params, strict=True)}

    def to_tof_fit(self) -> TofFit:
        """The parameters as the wire's ``tof_fit``."""
        return TofFit(**self.as_dict())

    # ---- atom numbers

    @property
    def _atoms_per_od_pixel(self) -> float:
        return (self.pixcal_um * 1e-6) ** 2 / RESONANT_CROSS_SECTION_M2

    @property
    def thermal_atom_number(self) -> float:
        """Atoms in the thermal part: 2 pi A sigma_x sigma_y (pixels^2) / sigma_0.

        Times g_3(z) / g_2(z) for the "bose" profile of fugacity z (0.7308 at z = 1;
        the integral of g_2(z exp(-rho)) over the plane is 2 pi sigma_x sigma_y g_3(z)).
        """
        a_g, s_x, s_y = self.params[:3]
        factor = 1.0
        if self.thermal_profile == "bose":
            z = self.fugacity
            factor = _BOSE_ATOMS_FACTOR if z >= 1.0 else _g3(z) / float(polylog2(z))
        return float(2.0 * math.pi * factor * a_g * s_x * s_y * self._atoms_per_od_pixel)

    @property
    def condensed_atom_number(self) -> float:
        """Atoms in the Thomas-Fermi part: (2 pi / 5) A R_x R_y (pixels^2) / sigma_0."""
        a_tf, r_x, r_y = self.params[3:6]
        return float(2.0 * math.pi / 5.0 * a_tf * r_x * r_y * self._atoms_per_od_pixel)

    @property
    def total_atom_number(self) -> float:
        """Thermal plus condensed atoms of the fit."""
        return self.thermal_atom_number + self.condensed_atom_number

    @property
    def integrated_atom_number(self) -> float:
        """Atoms from the image itself: sum of (OD - fitted offset) over measured pixels."""
        data = self.model_image + self.residual
        return float(np.nansum(data - self.params[8]) * self._atoms_per_od_pixel)

    @property
    def condensed_fraction(self) -> float:
        """Condensed over total atoms of the fit (0 when the fit holds no atoms)."""
        total = self.total_atom_number
        return self.condensed_atom_number / total if total > 0 else 0.0

    # ---- temperature

    @property
    def has_thermal_cloud(self) -> bool:
        """Whether the Gaussian part is measurably present: its peak OD above 3 standard errors."""
        a_g = self.params[0]
        err = self.param_errors[0]
        return bool(a_g > 3.0 * err and self.params[1] > 0 and self.params[2] > 0)

    def _axis_temperature_nk(self, sigma_px: float, trap_frequency_hz: float | None) -> float:
        t_s = self.time_of_flight_ms * 1e-3
        sigma_m = sigma_px * self.pixcal_um * 1e-6
        # a harmonically trapped thermal cloud expands as
        # sigma(t)^2 = (k_B T / m) (1 / omega^2 + t^2); without omega, sigma_0 is neglected
        spread = t_s**2
        if trap_frequency_hz:
            spread += 1.0 / (2.0 * math.pi * trap_frequency_hz) ** 2
        return RB87_MASS_KG * sigma_m**2 / (K_B * spread) * 1e9

    @property
    def temperature_xy_nk(self) -> tuple[float, float] | None:
        """Temperature (nK) from the thermal width parameter along x and along y, or None.

        None when the time of flight is unknown or there is no measurable thermal cloud.
        """
        if self.time_of_flight_ms is None or not self.has_thermal_cloud:
            return None
        freqs = self.trap_frequencies_hz or (None, None)
        return (
            self._axis_temperature_nk(self.params[1], freqs[0]),
            self._axis_temperature_nk(self.params[2], freqs[1]),
        )

    @property
    def temperature_nk(self) -> float | None:
        """Temperature (nK): mean of the x and y estimates; None when not measurable.

        Uses sigma(t)^2 = sigma_0^2 + k_B T t^2 / m per axis, with sigma_0^2 =
        k_B T / (m omega^2) of the harmonic trap (``trap_frequencies_hz``), or
        sigma_0 = 0 when ``trap_frequencies_hz`` is None.
        """
        both = self.temperature_xy_nk
        return None if both is None else float(np.mean(both))

    @property
    def temperature_error_nk(self) -> float | None:
        """One-standard-deviation uncertainty (nK) of ``temperature_nk`` from the fit's covariance.

        T_i is proportional to sigma_i^2, so dT_i = 2 T_i dsigma_i / sigma_i; the
        covariance of the two widths is kept. None when there is no temperature.
        """
        both = self.temperature_xy_nk
        if both is None:
            return None
        grad = np.array([both[0] / self.params[1], both[1] / self.params[2]])  # d mean / d sigma
        cov = self.covariance[1:3, 1:3]
        return float(math.sqrt(max(float(grad @ cov @ grad), 0.0)))


# --------------------------------------------------------------------------- the fit


def _noise_and_offset(image: np.ndarray) -> tuple[float, float]:
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


def _pixel_noise(image: np.ndarray) -> float:
    """OD noise of one pixel from differences of neighbours (blind to smooth clouds)."""
    diff = np.diff(image, axis=1).ravel()
    return float(1.4826 * np.median(np.abs(diff - np.median(diff))) / math.sqrt(2.0))


def _moments_guess(
    image: np.ndarray, x: np.ndarray, y: np.ndarray, offset: float, smooth: np.ndarray
):
    """Centre and rms widths (pixels) of the signal above a fraction of its peak."""
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


def _as_vector(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != 9:
        raise ValidationError(
            f"{name}: expected 9 values in the order {FIT_PARAMETER_NAMES}, got {arr.size}"
        )
    if np.any(np.isnan(arr)):
        raise ValidationError(f"{name}: values must not be NaN")
    return arr


_FREE = {
    "bimodal": np.ones(9, dtype=bool),
    "gaussian": np.array([1, 1, 1, 0, 0, 0, 1, 1, 1], dtype=bool),
    "tf": np.array([0, 0, 0, 1, 1, 1, 1, 1, 1], dtype=bool),
}
FIT_MODELS = ("auto", "bimodal", "gaussian", "tf")
# -ln(fugacity) tried for a thermal Bose gas just above T_c (0: saturated; 2.5: z = 0.08,
# where the profile is within a few percent of the classical Gaussian)
_FUGACITY_SHIFTS = (2.5, 1.5, 0.9, 0.55, 0.32, 0.17, 0.07, 0.0)


def _least_squares(
    x,
    y,
    data,
    p0,
    free,
    lower,
    upper,
    max_nfev,
    tol=1e-8,
    binned=False,
    weight=None,
    thermal_profile="gaussian",
    subpixels=1,
    resolution_px=0.0,
    saturation_od=None,
    fugacity=1.0,
):
    """Bounded least squares of the bimodal model with the parameters not ``free`` held fixed."""
    residual_fn, jac_fn = _residual_and_jacobian(
        x,
        y,
        data,
        binned,
        weight,
        thermal_profile,
        subpixels,
        resolution_px,
        saturation_od,
        fugacity,
    )
    fixed = np.array(p0, dtype=float)

    def full(q):
        p = fixed.copy()
        p[free] = q
        return p

    lo, hi = lower[free], upper[free]
    q0 = np.clip(fixed[free], lo, hi)
    # trust-region reflective needs a start strictly inside the bounds
    width = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    q0 = np.where(q0 <= lo, lo + 1e-6 * width, q0)
    q0 = np.where(q0 >= hi, hi - 1e-6 * width, q0)
    try:
        result = optimize.least_squares(
            lambda q: residual_fn(full(q)),
            q0,
            jac=lambda q: jac_fn(full(q), free),
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            max_nfev=max_nfev,
            ftol=tol,
            xtol=tol,
            gtol=tol,
        )
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise FitError(f"the bimodal fit failed: {exc}") from exc
    return full(result.x), float(2.0 * result.cost), result.jac


def _fugacity_search(trial, p0):
    """The thermal Bose gas of free fugacity: (params, rss, z) of the best quick fit.

    ``trial(p0, free, profile, fugacity)`` is a quick fit (on the 2x2-binned image).
    Fits the thermal-only model for each fugacity of a grid (warm-started along
    it), then once more at the minimum of a parabola through the best point and
    its neighbours.
    """
    fits, p = [], np.array(p0, dtype=float)
    for shift in _FUGACITY_SHIFTS:
        got = trial(p, "gaussian", "bose", math.exp(-shift))
        fits.append((shift, got[0], got[1]))
        p = got[0]
    i = min(range(len(fits)), key=lambda k: fits[k][2])
    best = fits[i]
    if 0 < i < len(fits) - 1:
        (s0, _, r0), (s1, p1, r1), (s2, _, r2) = fits[i - 1], fits[i], fits[i + 1]
        denom = (s1 - s0) * (r1 - r2) - (s1 - s2) * (r1 - r0)
        if denom != 0.0:
            vertex = s1 - 0.5 * ((s1 - s0) ** 2 * (r1 - r2) - (s1 - s2) ** 2 * (r1 - r0)) / denom
            if min(s0, s2) < vertex < max(s0, s2):
                got = trial(p1, "gaussian", "bose", math.exp(-vertex))
                if got[1] < best[2]:
                    best = (vertex, got[0], got[1])
    return best[1], best[2], math.exp(-best[0])


def _bic(rss: float, n: int, k: int) -> float:
    return n * math.log(max(rss, 1e-300) / n) + k * math.log(n)


def _bin2(a: np.ndarray) -> np.ndarray:
    """Average over 2x2 blocks of the first two axes (odd last rows/columns dropped)."""
    r, c = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    a = a[:r, :c]
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


def _single_thread():
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def fit_bimodal_2d(
    od_image,
    pixcal_um: float = 1.0,
    *,
    initial=None,
    lower=None,
    upper=None,
    model: str = "auto",
    time_of_flight_ms: float | None = None,
    trap_frequencies_hz: tuple[float, float] | None = (
        TRAP_FREQUENCY_AXIAL_HZ,
        TRAP_FREQUENCY_RADIAL_HZ,
    ),
    min_snr: float = 6.0,
    thermal_profile: str = "bose",
    subpixels: int = 3,
    resolution_um: float = 0.0,
    saturation_od: float | None = None,
) -> BimodalFit:
    """Fit a thermal cloud plus a Thomas-Fermi condensate to an OD image.

    Bounded least squares (trust-region reflective, analytic Jacobian). With
    ``model="auto"`` a pure thermal cloud, a pure condensate, the bimodal model
    and a Bose gas of free fugacity are fitted (on a 2x2-binned copy, from
    moments of the image), the one
    with the lowest Bayesian information criterion is kept and refined on the
    full image; a part that is absent has its peak OD and shape set to 0.
    Pixels that are NaN or infinite (at most 10 %) are left out. About 0.15 to
    0.25 s of one CPU core on a 100 x 100 image.

    Thermal profile: beside a condensate the thermal cloud is saturated (an
    ideal Bose gas at fugacity 1), so the bimodal model uses the g_2 profile
    ``gaussian_od * g_2(exp(-rho)) / g_2(1)`` (``thermal_profile="bose"``). A
    Gaussian of the same cloud is narrower by about 10 % and reads the
    temperature some 20 % low. A cloud without a condensate (``model="gaussian"``,
    or the bimodal fit when its condensate vanishes) is fitted with the classical
    Gaussian, which is exact far above T_c. Just above T_c the gas is a Bose gas
    of fugacity below 1, whose peaked profile is neither (a Gaussian reads it
    cold, the bimodal model sees a small condensate that is not there): with
    ``model="auto"`` that profile is also tried, its fugacity fitted, and kept
    when the information criterion prefers it (``model`` "gaussian",
    ``thermal_profile`` "bose", ``BimodalFit.fugacity`` below 1).
    ``thermal_profile="gaussian"`` gives the Gaussian-plus-Thomas-Fermi model
    everywhere. The profile fitted is ``BimodalFit.thermal_profile``;
    ``gaussian_od`` and ``gaussian_sigma_x/y`` are its peak OD and width
    parameters in every case, and the temperature follows from
    ``sigma^2 = (k_B T / m) (1 / omega^2 + t^2)`` in all.

    Args:
        od_image: 2D array of optical densities, shape (rows, columns).
        pixcal_um: microns per pixel; used only for atom numbers and temperature.
        initial, lower, upper: 9 values each in FIT_PARAMETER_NAMES order (OD, and
            pixels from the image centre); None picks them from the image. Giving
            ``initial`` fits the bimodal model from there (unless ``model`` says else).
        model: "auto", "bimodal", "gaussian" (thermal only) or "tf" (condensate only).
        time_of_flight_ms: expansion time, needed for ``temperature_nk``.
        trap_frequencies_hz: (x, y) trap frequencies, used to subtract the in-trap
            size of the thermal cloud from its width; None neglects it.
        min_snr: the smoothed peak above background must exceed the smoothed
            noise this many times, or the image is taken to hold no atoms.
        thermal_profile: "bose" (default) or "gaussian", the thermal part of the
            bimodal model.
        subpixels: the condensate's sharp edge is integrated over each pixel the
            way the camera does (transmitted light averaged over ``subpixels^2``
            points per pixel, then the log); 1 samples pixel centres. Sampling
            centres biases a faint thermal cloud beside a dense condensate (its
            temperature some 5 to 10 % low on 4.4 um pixels).
        resolution_um: rms width (um) of the imaging point-spread function, which
            blurs the light behind the condensate before the pixels integrate it;
            0 neglects it. Even 1 um, a quarter of a pixel, moves the temperature
            of a faint thermal cloud beside a dense condensate by about 5 %.
        saturation_od: the most OD the camera can read (a fraction
            ``exp(-saturation_od)`` of the probe never meets the atoms, see
            :func:`saturate_od`); the model is saturated the same way, so a
            condensate whose centre the camera sees as flat is still counted
            right. None (default): the camera reads every OD.

    Returns:
        A BimodalFit (parameters in pixels and OD; derived values in physical units).

    Raises:
        FitError: the image holds no atoms (nothing above the noise), is not a
            finite 2D image, or the least squares fails.
        ValidationError: bad ``model``, ``thermal_profile``, ``pixcal_um`` or bounds.
    """
    arguments = dict(locals())  # every argument, by name
    with _single_thread():
        return _fit_bimodal_2d(**arguments)


def _fit_bimodal_2d(
    *,
    od_image,
    pixcal_um,
    initial,
    lower,
    upper,
    model,
    time_of_flight_ms,
    trap_frequencies_hz,
    min_snr,
    thermal_profile,
    subpixels,
    resolution_um,
    saturation_od,
) -> BimodalFit:
    model = str(model).lower()
    if model not in FIT_MODELS:
        raise ValidationError(f"model: must be one of {FIT_MODELS}, got {model!r}")
    bimodal_thermal = _thermal_profile_of((0, 0, 0, 0), thermal_profile)
    if isinstance(subpixels, bool) or not isinstance(subpixels, int | np.integer):
        raise ValidationError(f"subpixels: must be an integer from 1 to 8, got {subpixels!r}")
    if not 1 <= subpixels <= 8:
        raise ValidationError(f"subpixels: must be an integer from 1 to 8, got {subpixels}")
    subpixels = int(subpixels)
    if not (math.isfinite(resolution_um) and resolution_um >= 0):
        raise ValidationError(f"resolution_um: must be >= 0 um, got {resolution_um}")
    if saturation_od is not None:
        if isinstance(saturation_od, bool) or not isinstance(saturation_od, int | float):
            raise ValidationError(
                f"saturation_od: must be a number > 0 or None, got {saturation_od!r}"
            )
        if not saturation_od > 0:  # also rejects NaN
            raise ValidationError(f"saturation_od: must be > 0 (OD) or None, got {saturation_od}")
        saturation_od = float(saturation_od)
    data = np.asarray(od_image, dtype=float)
    if data.ndim != 2 or min(data.shape) < 8:
        raise FitError(
            f"od_image: expected a 2D image of at least 8x8 pixels, got shape {data.shape}"
        )
    finite = np.isfinite(data)
    weight = None
    if not finite.all():
        # a few pixels without a measurement (e.g. a saturated probe) are left out
        if finite.mean() < 0.9:
            raise FitError(
                f"od_image: {int((~finite).sum())} of {data.size} pixels are NaN or infinite "
                f"(at most 10 % may be)"
            )
        weight = finite.astype(float)
        data = np.where(finite, data, float(np.median(data[finite])))
    if not pixcal_um > 0:
        raise ValidationError(f"pixcal_um: must be > 0 um per pixel, got {pixcal_um}")

    resolution_px = float(resolution_um) / float(pixcal_um)
    x, y = image_space(data.shape)
    offset0, noise = _noise_and_offset(data)
    # look for a cloud at two scales: compact clouds stand out after light smoothing,
    # broad faint ones only after averaging over more pixels. The noise of the smoothed
    # image is that of white pixel noise averaged by the kernel, or what its outer frame
    # shows when the noise is correlated (fringes), whichever is larger.
    pixel_noise = _pixel_noise(data)
    best_snr, smooth, detail = -np.inf, None, ""
    for scale_px in (1.5, 4.0):
        smoothed = ndimage.gaussian_filter(data, scale_px, mode="nearest")
        white = pixel_noise / (2.0 * math.sqrt(math.pi) * scale_px)
        # floor: float rounding of a flat image must never look like a signal
        floor = 1e-9 * (abs(offset0) + float(np.abs(data).max())) + 1e-300
        smooth_noise = max(white, _noise_and_offset(smoothed)[1], floor)
        # the edges average fewer pixels (they are repeated): look inside them
        m = min(int(math.ceil(2 * scale_px)), (min(data.shape) - 1) // 4)
        inside = smoothed[m : data.shape[0] - m, m : data.shape[1] - m]
        peak = float(inside.max() - offset0)
        snr = peak / smooth_noise
        if smooth is None:
            smooth = smoothed  # the moments are taken on the lightly smoothed image
        if snr > best_snr:
            best_snr = snr
            detail = f"peak OD above the background {peak:.3g}, smoothed noise {smooth_noise:.3g}"
    if best_snr < min_snr:
        raise FitError(
            f"no atoms in the image: nothing stands clearly above the noise ({detail}; "
            f"need {min_snr:g} times the noise)"
        )

    span = float(max(data.shape))
    od_range = float(data.max() - data.min())
    if lower is None:
        lower = [0.0, 0.3, 0.3, 0.0, 0.3, 0.3, float(x.min()), float(y.min()), -od_range]
    if upper is None:
        upper = [
            10 * od_range,
            span,
            span,
            10 * od_range,
            span,
            span,
            float(x.max()),
            float(y.max()),
            od_range,
        ]
    lower = _as_vector(lower, "lower")
    upper = _as_vector(upper, "upper")
    if np.any(lower >= upper):
        bad = [n for n, lo, hi in zip(FIT_PARAMETER_NAMES, lower, upper, strict=True) if lo >= hi]
        raise ValidationError(
            f"lower, upper: each lower bound must be below its upper bound ({bad})"
        )

    def trial(p0, free, profile="gaussian", fugacity=1.0):
        """A quick fit on the 2x2-binned image, to choose the model and start the final fit."""
        return _least_squares(
            x, y, data, p0, _FREE[free], lower, upper, 100, 1e-5, True, weight, profile,
            saturation_od=saturation_od, fugacity=fugacity,
        )  # fmt: skip

    if initial is not None:
        chosen = "bimodal" if model == "auto" else model
        start = _as_vector(initial, "initial")
    else:
        peak0, x_0, y_0, s_x, s_y = _moments_guess(data, x, y, offset0, smooth)
        gauss0 = np.array(
            [peak0, s_x, s_y, 0, 1, 1, x_0, y_0, offset0]
        )  # absent part: shape 1, never 0
        # a Thomas-Fermi profile of radius R has about the rms width of a Gaussian of R / 2.6
        tf0 = np.array([0, 1, 1, peak0, 2.3 * s_x, 2.3 * s_y, x_0, y_0, offset0])
        n_binned = (data.shape[0] // 2) * (data.shape[1] // 2)
        trials = {}
        if model in ("auto", "gaussian"):
            trials["gaussian"] = trial(gauss0, "gaussian")
        if model in ("auto", "tf"):
            trials["tf"] = trial(tf0, "tf")
        if model in ("auto", "bimodal"):
            g = trials.get("gaussian", (gauss0,))[0]
            t = trials.get("tf", (tf0,))[0]
            starts = [
                # thermal cloud with a small condensate in its centre
                np.array(
                    [0.8 * g[0], g[1], g[2], 0.3 * g[0], 1.2 * g[1], 1.2 * g[2], g[6], g[7], g[8]]
                ),
                # condensate on a broad, faint thermal cloud
                np.array(
                    [0.1 * t[3], 0.8 * t[4], 0.8 * t[5], 0.9 * t[3], t[4], t[5], t[6], t[7], t[8]]
                ),
            ]
            best = None
            for s in starts:
                got = trial(s, "bimodal", bimodal_thermal)
                if best is None or got[1] < best[1]:
                    best = got
            trials["bimodal"] = best
        n_free = {name: int(_FREE[name].sum()) for name in trials}
        b = trials.get("bimodal", (np.zeros(9),))[0]
        condensed_share = (0.4 * b[3] * b[4] * b[5]) / max(
            0.4 * b[3] * b[4] * b[5] + b[0] * b[1] * b[2] * _BOSE_ATOMS_FACTOR, 1e-300
        )  # Thomas-Fermi: 2 pi A R_x R_y / 5; Bose cloud: 2 pi A s_x s_y g_3(1) / g_2(1)
        if model == "auto" and bimodal_thermal == "bose" and condensed_share < 0.5:
            # just above T_c the thermal cloud is a Bose gas of fugacity near 1: its
            # peaked profile is neither a Gaussian nor a small condensate on one (a
            # cloud that is mostly condensate is not such a gas: no need to look)
            bose_params, bose_rss, fugacity = _fugacity_search(trial, trials["gaussian"][0])
            trials["bose_gas"] = (bose_params, bose_rss)
            n_free["bose_gas"] = int(_FREE["gaussian"].sum()) + 1
        chosen = min(trials, key=lambda name: _bic(trials[name][1], n_binned, n_free[name]))
        start = trials[chosen][0]
    if chosen != "bose_gas":
        fugacity = 1.0

    def final(name, p0):
        profile = {"bimodal": bimodal_thermal, "bose_gas": "bose"}.get(name, "gaussian")
        got = _least_squares(
            x,
            y,
            data,
            p0,
            _FREE["gaussian" if name == "bose_gas" else name],
            lower,
            upper,
            400,
            weight=weight,
            thermal_profile=profile,
            subpixels=subpixels,
            resolution_px=resolution_px,
            saturation_od=saturation_od,
            fugacity=fugacity if name == "bose_gas" else 1.0,
        )
        if not np.all(np.isfinite(got[0])):
            raise FitError("the bimodal fit did not converge to finite parameters")
        return got, profile

    (params, rss, jac), profile = final(chosen, start)
    tiny = 1e-6 * max(params[0], params[3], 1e-9)  # an amplitude pinned at its zero bound
    if chosen == "bimodal" and profile == "bose" and params[3] <= tiny and params[0] > tiny:
        # no condensate after all: the cloud is not saturated, fit the classical profile
        chosen = "gaussian"
        (params, rss, jac), profile = final(chosen, params)
        tiny = 1e-6 * max(params[0], 1e-9)
    if chosen == "bose_gas":
        chosen = "gaussian"  # a thermal cloud alone, with the Bose profile of ``fugacity``
    free = _FREE[chosen]
    # an absent part has no shape: report it as zeros, as the wire does
    if chosen == "tf" or params[0] <= tiny:
        params[0:3] = 0.0
    if chosen == "gaussian" or params[3] <= tiny:
        params[3:6] = 0.0
    if params[0] + params[3] <= 0:
        raise FitError(
            "no atoms in the image: the fit found neither a thermal cloud nor a condensate"
        )

    model_image = bimodal_od(
        x, y, params, profile, subpixels, resolution_px, saturation_od, fugacity
    )
    # the residual keeps NaN where the image had no measurement
    residual = np.where(finite, data - model_image, np.nan)
    measured = data[finite]
    ss_res = float(np.nansum(residual**2))
    ss_tot = float(np.sum((measured - measured.mean()) ** 2))
    r_squared = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    dof = max(1, measured.size - int(free.sum()))
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    keep = sv > np.finfo(float).eps * max(jac.shape) * sv[0]
    cov_free = (vt[keep].T / sv[keep] ** 2) @ vt[keep] * (ss_res / dof)
    covariance = np.zeros((9, 9))
    covariance[np.ix_(free, free)] = cov_free
    return BimodalFit(
        params=params,
        covariance=covariance,
        model_image=model_image,
        residual=residual,
        r_squared=r_squared,
        pixcal_um=float(pixcal_um),
        time_of_flight_ms=None if time_of_flight_ms is None else float(time_of_flight_ms),
        trap_frequencies_hz=None if trap_frequencies_hz is None else tuple(trap_frequencies_hz),
        noise_od=noise,
        model=chosen,
        thermal_profile=profile,
        subpixels=subpixels,
        resolution_px=resolution_px,
        saturation_od=saturation_od,
        fugacity=fugacity,
    )


# --------------------------------------------------------------------------- wire helpers


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


def _reshape_pixels(image: Image, name: str) -> np.ndarray:
    """The flat pixels of a wire image as 2D, inferring the shape when rows*columns is wrong."""
    pixels = np.asarray(image.pixels, dtype=float)
    n = pixels.size
    rows, cols = int(image.rows), int(image.columns)
    if rows > 0 and cols > 0 and rows * cols == n:
        return pixels.reshape(rows, cols)
    side = math.isqrt(n)
    if side * side == n:
        shape = (side, side)
    elif rows > 0 and n % rows == 0:
        shape = (rows, n // rows)
    elif cols > 0 and n % cols == 0:
        shape = (n // cols, cols)
    else:
        shape = (1, n)
    warnings.warn(
        f"{name}: {rows} x {cols} does not match its {n} pixels; read as {shape[0]} x {shape[1]}",
        UserWarning,
        stacklevel=3,
    )
    return pixels.reshape(shape)


# --------------------------------------------------------------------------- plotting helpers


def _finish(fig, file_name):
    """Save when asked, then show, or return the figure under a backend without display."""
    return finish_figure(fig, file_name, dpi=100)


def _extent_um(shape: tuple[int, int], pixcal_um: float) -> tuple[float, float, float, float]:
    """imshow extent (left, right, bottom, top) of an image drawn with its first row on top.

    x grows to the right; y grows upward, as on the reference's plots: the first
    row, at the top, has the largest y. A plotted y is minus the row coordinate
    of :func:`image_space`.
    """
    x, y = image_space(shape)
    half = 0.5
    return (
        (x.min() - half) * pixcal_um,
        (x.max() + half) * pixcal_um,
        -(y.max() + half) * pixcal_um,
        -(y.min() - half) * pixcal_um,
    )


# --------------------------------------------------------------------------- output objects


_IMAGE_FIELDS = {
    OutputImageType.TIME_OF_FLIGHT: "tof_image",
    OutputImageType.IN_TRAP: "it_plot",
    OutputImageType.MOT: "mot_fluorescence_image",
    OutputImageType.TIME_OF_FLIGHT_FIT: "tof_fit_image",
}
_MODEL_PARTS = {"bimodal": (True, True), "gaussian": (True, False), "tf": (False, True)}


class OqtantOutput(BaseModel):
    """What one run returned, with its analysis and plots (base of both output kinds)."""

    # ---- what it is

    @property
    def image_type(self) -> OutputImageType:
        """IN_TRAP for a column-density output, otherwise TIME_OF_FLIGHT."""
        return (
            OutputImageType.IN_TRAP if hasattr(self, "it_plot") else OutputImageType.TIME_OF_FLIGHT
        )

    @property
    def _is_tof(self) -> bool:
        return self.image_type == OutputImageType.TIME_OF_FLIGHT

    @property
    def fields(self) -> None:
        """Print the output's fields (images as their shape)."""
        for name, value in self:
            if isinstance(value, Image):
                desc = (
                    f"image {value.rows} x {value.columns}, {len(value.pixels)} pixels, "
                    f"pixcal {value.pixcal} um"
                )
            elif isinstance(value, LineChart):
                desc = f"line chart of {len(value.points)} points"
            elif isinstance(value, BaseModel):
                desc = ", ".join(f"{k}={v:.4g}" for k, v in value.model_dump().items())
            else:
                desc = repr(value)
            print(f"{name}: {desc}")

    @property
    def atom_statistics(self) -> None:
        """Print temperature and atom numbers of a TIME_OF_FLIGHT output."""
        if not self._is_tof:
            print("Atom statistics exist only for TIME_OF_FLIGHT outputs.")
            return
        print(f"Temperature (nK): {self.temperature_nk}")
        print(f"Total atoms: {self.tof_atom_number}")
        print(f"Condensed atoms: {self.condensed_atom_number}")
        print(f"Thermal atoms: {self.thermal_atom_number}")
        print(f"MOT atoms: {self.total_mot_atom_number}")

    # ---- atom statistics (TIME_OF_FLIGHT; None for IN_TRAP, which measures none)

    @property
    def temperature(self) -> int | None:
        """Temperature of the thermal cloud (nK)."""
        return self.temperature_nk if self._is_tof else None

    @property
    def mot_population(self) -> int | None:
        """Atoms captured in the MOT."""
        return self.total_mot_atom_number if self._is_tof else None

    @property
    def thermal_population(self) -> int | None:
        """Atoms in the thermal cloud."""
        return self.thermal_atom_number if self._is_tof else None

    @property
    def condensed_population(self) -> int | None:
        """Atoms in the condensate."""
        return self.condensed_atom_number if self._is_tof else None

    @property
    def total_population(self) -> int | None:
        """Thermal plus condensed atoms."""
        if not self._is_tof:
            return None
        return self.thermal_atom_number + self.condensed_atom_number

    @property
    def condensed_fraction(self) -> float | None:
        """Condensed over total atoms, to 3 decimals; None without atoms or in trap."""
        total = self.total_population
        if not total:
            return None
        return round(self.condensed_atom_number / total, 3)

    @property
    def get_bimodal_fit_parameters(self) -> TofFit | None:
        """The stored bimodal fit (pixels from the image centre, OD)."""
        return self.tof_fit if self._is_tof else None

    # ---- images

    @property
    def TOF(self) -> np.ndarray | None:  # noqa: N802 - name of the reference API
        """The time-of-flight OD image, shape (rows, columns); None for IN_TRAP."""
        return self.get_image_data(OutputImageType.TIME_OF_FLIGHT) if self._is_tof else None

    @property
    def IT(self) -> np.ndarray | None:  # noqa: N802 - name of the reference API
        """The in-trap column-density image, shape (rows, columns); None for TIME_OF_FLIGHT."""
        return None if self._is_tof else self.get_image_data(OutputImageType.IN_TRAP)

    def _image_field(self, image) -> Image | None:
        kind = OutputImageType(getattr(image, "value", image))
        return getattr(self, _IMAGE_FIELDS[kind], None)

    def get_image_data(self, image: OutputImageType | str | None = None) -> np.ndarray | None:
        """One image as a 2D array; the run's own image when ``image`` is None.

        Returns None when the output holds no such image. When rows x columns
        does not match the number of pixels the shape is inferred (a square if
        possible) with a warning.
        """
        if image is None:
            image = self.image_type
        try:
            kind = OutputImageType(getattr(image, "value", image))
        except ValueError as exc:
            raise ValidationError(
                f"image: {image!r} is not one of {[t.value for t in OutputImageType]}"
            ) from exc
        wire = self._image_field(kind)
        if wire is None:
            return None
        return _reshape_pixels(wire, _IMAGE_FIELDS[kind])

    def get_image_pixcal(self, image: OutputImageType | str) -> float:
        """Microns per pixel of one image (the camera's default when the file has none)."""
        kind = OutputImageType(getattr(image, "value", image))
        wire = self._image_field(kind)
        if wire is None:
            raise JobError(f"a {self.image_type.value} output has no {kind.value} image")
        return float(wire.pixcal) if wire.pixcal else _DEFAULT_PIXCAL_UM[kind]

    def get_slice(self, axis: AxisType | str = "x") -> list[float]:
        """OD along a cut through the image centre: the row (x) or the column (y).

        TIME_OF_FLIGHT outputs return their stored ``tof_x_slice``/``tof_y_slice``;
        IN_TRAP outputs the cut through the centre of ``it_plot``.
        """
        axis = getattr(axis, "value", axis)
        if axis not in ("x", "y"):
            raise ValidationError(f"axis: must be 'x' or 'y', got {axis!r}")
        if self._is_tof:
            chart = self.tof_x_slice if axis == "x" else self.tof_y_slice
            return [float(p["y"]) for p in chart.points]
        image = self.IT
        return (
            image[image.shape[0] // 2] if axis == "x" else image[:, image.shape[1] // 2]
        ).tolist()

    @staticmethod
    def get_image_space(
        datafile: np.ndarray | None = None, centered: str = "y"
    ) -> tuple[list[np.ndarray], int, int]:
        """Pixel coordinates of an image.

        Args:
            datafile: the image (its shape is used); a 100 x 100 TOF image by default.
            centered: "y" measures from the image centre (the fit's frame); anything
                else from the first pixel.

        Returns:
            ``([X, Y], n_rows, n_columns)`` with X (along columns) and Y (along rows)
            of the image's shape.
        """
        shape = np.shape(np.zeros(TOF_IMAGE_SHAPE) if datafile is None else datafile)
        n_rows, n_cols = int(shape[0]), int(shape[1])
        if centered == "y":
            x, y = image_space((n_rows, n_cols))
        else:
            x, y = np.meshgrid(np.arange(n_cols, dtype=float), np.arange(n_rows, dtype=float))
        return [x, y], n_rows, n_cols

    # ---- fit

    def _require_tof(self, what: str) -> np.ndarray:
        if not self._is_tof:
            raise JobError(f"{what} needs a TIME_OF_FLIGHT output; this one is IN_TRAP")
        return self.TOF

    def camera_saturation_od(self) -> float | None:
        """The most OD the camera could read, as the stored fit shows it; None if it did not.

        A camera that a share ``s`` of the probe reaches past the atoms reads
        ``-ln(s + (1 - s) exp(-OD))`` (:func:`saturate_od`). Where the stored fit's
        peak (``gaussian_od + tf_od``) stands well above the peak of the stored fit
        image, the fit was saturated that way, and ``s`` follows from the two peaks.
        """
        if not self._is_tof or self.tof_fit is None or self.tof_fit_image is None:
            return None
        true_peak = float(self.tof_fit.gaussian_od) + float(self.tof_fit.tf_od)
        model = np.asarray(self.tof_fit_image.pixels, dtype=float)  # its peak is all we need
        if model.size < 16 or not np.all(np.isfinite(model)):
            return None
        seen_peak = float(model.max()) - float(self.tof_fit.offset)
        if not (true_peak > seen_peak + 0.5 and seen_peak > 0.1):
            return None
        light_seen, light_true = math.exp(-seen_peak), math.exp(-true_peak)
        stray = (light_seen - light_true) / (1.0 - light_true)
        return float(-math.log(stray)) if 0.0 < stray < 1.0 else None

    def fit_bimodal(self, **kwargs: Any) -> BimodalFit:
        """Bimodal fit of the TOF image (keyword arguments go to ``fit_bimodal_2d``).

        Unless given, ``saturation_od`` is the camera's as the stored fit shows it
        (:meth:`camera_saturation_od`), so that a refit sees the image as the
        machine's own analysis did.
        """
        image = self._require_tof("the bimodal fit")
        kwargs.setdefault("pixcal_um", self.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT))
        kwargs.setdefault("saturation_od", self.camera_saturation_od())
        return fit_bimodal_2d(image, **kwargs)

    def fit_bimodal_data2D(  # noqa: N802 - name of the reference API
        self,
        xi: list[float] | None = None,
        lb: list[float] | None = None,
        ub: list[float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.float64]:
        """Bimodal fit of the TOF image.

        Args:
            xi, lb, ub: initial guess, lower and upper bounds, 9 values each in the
                order of FIT_PARAMETER_NAMES (pixels from the image centre, OD).

        Returns:
            ``(params, covariance, residual_image, r_squared)``.

        Raises:
            FitError: no atoms in the image.
        """
        fit = self.fit_bimodal(initial=xi, lower=lb, upper=ub)
        return fit.params, fit.covariance, fit.residual, np.float64(fit.r_squared)

    # ---- plots

    def plot_fit_results(
        self,
        fit_params: np.ndarray,
        model: str = "bimodal",
        file_name: str | None = None,
        plot_title: str | None = None,
        pix_cal: float = 1.0,
    ) -> Figure | None:
        """Image of a fitted model on the TOF image's grid.

        Args:
            fit_params: the 9 bimodal parameters (FIT_PARAMETER_NAMES order).
            model: "bimodal", "gaussian" (thermal part only) or "TF" (condensate only).
            file_name: save the figure there as PNG.
            plot_title: title; a default names the model.
            pix_cal: microns per pixel for the axes (1.0 gives pixels).
        """
        import matplotlib.pyplot as plt

        key = str(model).lower()
        if key not in _MODEL_PARTS:
            raise ValidationError(f"model: must be 'bimodal', 'gaussian' or 'TF', got {model!r}")
        params = np.array(_as_vector(fit_params, "fit_params"))
        profile = _thermal_profile_of(params, None)  # the fit's rule, before parts are removed
        thermal, condensed = _MODEL_PARTS[key]
        if not thermal:
            params[0] = 0.0
        if not condensed:
            params[3] = 0.0
        image = self.TOF
        shape = image.shape if image is not None else TOF_IMAGE_SHAPE
        x, y = image_space(shape)
        # as the camera reads it (saturated like the stored fit, when it was)
        saturation = self.camera_saturation_od() if image is not None else None
        model_image = bimodal_od(x, y, params, profile, saturation_od=saturation)
        unit = "um" if pix_cal != 1.0 else "pixels"
        fig, ax = plt.subplots(figsize=(6, 5))
        im = ax.imshow(model_image, cmap="viridis", extent=_extent_um(shape, pix_cal))
        fig.colorbar(im, ax=ax, label="optical density")
        ax.set_xlabel(f"x ({unit})")
        ax.set_ylabel(f"y ({unit})")
        ax.set_title(plot_title or f"time-of-flight fit: {model} model")
        return _finish(fig, file_name)

    def plot_tof(
        self,
        file_name: str | None = None,
        figsize: tuple[int, int] = (12, 12),
        grid_on: bool = False,
    ) -> Figure | None:
        """The time-of-flight OD image, axes in microns from the image centre."""
        import matplotlib.pyplot as plt

        image = self._require_tof("plot_tof")
        pixcal = self.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT)
        fig, ax = plt.subplots(figsize=figsize)
        im = ax.imshow(image, cmap="viridis", extent=_extent_um(image.shape, pixcal))
        fig.colorbar(im, ax=ax, shrink=0.8, label="optical density")
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
        title = f"time of flight: peak OD {image.max():.2f}"
        if self.tof_atom_number > 0:
            title += f", {self.tof_atom_number} atoms"
        if self.temperature_nk > 0:
            title += f", {self.temperature_nk} nK"
        ax.set_title(title)
        ax.grid(grid_on)
        return _finish(fig, file_name)

    def plot_slice(
        self, file_name: str | None = None, axis: AxisType | str = "x", grid_on: bool = False
    ) -> Figure | None:
        """OD along a cut through the cloud centre, with the bimodal fit and its thermal part."""
        import matplotlib.pyplot as plt

        axis = getattr(axis, "value", axis)
        if axis not in ("x", "y"):
            raise ValidationError(f"axis: must be 'x' or 'y', got {axis!r}")
        image = self._require_tof("plot_slice")
        pixcal = self.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT)
        x, y = image_space(image.shape)
        try:
            fit = self.fit_bimodal(pixcal_um=pixcal)
        except FitError:
            fit = None
        row = image.shape[0] // 2
        col = image.shape[1] // 2
        if fit is not None:
            row = int(np.clip(round(fit.params[7] - y[0, 0]), 0, image.shape[0] - 1))
            col = int(np.clip(round(fit.params[6] - x[0, 0]), 0, image.shape[1] - 1))
        if axis == "x":
            pos, cut = x[row], image[row]
            parts = (lambda a: a[row]) if fit is not None else None
        else:
            pos, cut = -y[:, col], image[:, col]  # y grows upward, as on the image plots
            parts = (lambda a: a[:, col]) if fit is not None else None
        fig, ax = plt.subplots(figsize=(8, 5))
        ax.plot(pos * pixcal, cut, ".", color="0.3", label="data")
        if fit is not None:
            thermal = fit.params.copy()
            thermal[3] = 0.0
            ax.plot(pos * pixcal, parts(fit.model_image), "-", color="C3", label="bimodal fit")
            ax.plot(
                pos * pixcal,
                parts(
                    bimodal_od(
                        x,
                        y,
                        thermal,
                        fit.thermal_profile,
                        saturation_od=fit.saturation_od,
                        fugacity=fit.fugacity,
                    )
                ),
                "--",
                color="C0",
                label="thermal part",
            )
        ax.set_xlabel(f"{axis} (um)")
        ax.set_ylabel("optical density")
        ax.set_title(f"time-of-flight cut along {axis} through the cloud centre")
        ax.legend()
        ax.grid(grid_on)
        return _finish(fig, file_name)

    def plot_it(
        self,
        file_name: str | None = None,
        figsize: tuple[int, int] = (12, 12),
        grid_on: bool = False,
    ) -> Figure | None:
        """The in-trap column density, axes in microns from the image centre."""
        import matplotlib.pyplot as plt

        if self._is_tof:
            raise JobError("plot_it needs an IN_TRAP output; this one is TIME_OF_FLIGHT")
        image = self.IT
        pixcal = self.get_image_pixcal(OutputImageType.IN_TRAP)
        fig, ax = plt.subplots(
            figsize=(figsize[0], max(3, figsize[0] * image.shape[0] / image.shape[1] + 1))
        )
        im = ax.imshow(image, cmap="viridis", extent=_extent_um(image.shape, pixcal))
        fig.colorbar(im, ax=ax, shrink=0.8, label="optical density")
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
        ax.set_title("in-trap column density")
        ax.grid(grid_on)
        return _finish(fig, file_name)

    def plot_tof_3d(
        self,
        file_name: str | None = None,
        view_angle: int = -45,
        figsize: tuple[int, int] = (10, 10),
    ) -> Figure | None:
        """The time-of-flight OD image as a surface."""
        import matplotlib.pyplot as plt

        image = self._require_tof("plot_tof_3d")
        pixcal = self.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT)
        x, y = image_space(image.shape)
        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot(projection="3d")
        ax.plot_surface(
            x * pixcal, y * pixcal, image, cmap="viridis", linewidth=0, antialiased=False
        )
        ax.view_init(elev=30, azim=view_angle)
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
        ax.set_zlabel("optical density")
        ax.set_title("time of flight")
        return _finish(fig, file_name)


class OqtantPlotOutput(job_schema.PlotOutput, OqtantOutput):
    """Output of an IN_TRAP run: the column-density image ``it_plot``."""


class OqtantNonPlotOutput(job_schema.NonPlotOutput, OqtantOutput):
    """Output of a TIME_OF_FLIGHT run: images, the fit and the atom statistics."""


def output_from_values(
    values: job_schema.PlotOutput | job_schema.NonPlotOutput | dict,
) -> OqtantOutput:
    """The output object for a run's output values (a wire model or its dict)."""
    if isinstance(values, BaseModel):
        values = values.model_dump()
    if not isinstance(values, dict):
        raise ValidationError(f"values: expected output values, got {type(values).__name__}")
    cls = OqtantPlotOutput if "it_plot" in values else OqtantNonPlotOutput
    return cls.model_validate(values)
