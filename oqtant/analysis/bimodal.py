"""The bimodal model of a time-of-flight image: a thermal cloud plus a Thomas-Fermi condensate.

Coordinates and units used throughout:
    * An image is a 2D array indexed ``[row, column]``; ``x`` runs along the
      columns (the trap's long, axial direction) and ``y`` along the rows.
    * Fit coordinates are **pixels measured from the image centre**: pixel
      ``(row, column)`` sits at ``x = column - round(n_columns / 2)``,
      ``y = row - round(n_rows / 2)``. Widths, radii and centres of a fit are in
      pixels; multiply by the image's ``pixcal`` (um per pixel) for microns.
    * Image values are optical densities (OD, dimensionless).

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

import math

import numpy as np
from scipy import ndimage

from oqtant.analysis.bose import g1_exp, g2_exp
from oqtant.analysis.images import bin2
from oqtant.errors import ValidationError

__all__ = [
    "FIT_PARAMETER_NAMES",
    "THERMAL_PROFILES",
    "image_space",
    "thermal_cloud_od",
    "bose_cloud_od",
    "thomas_fermi_od",
    "bimodal_od",
    "saturate_od",
    "thermal_profile_of",
    "residual_and_jacobian",
    "parameter_vector",
]

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


def image_space(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x along columns, y along rows) centred on the image, each of ``shape``."""
    n_rows, n_columns = int(shape[0]), int(shape[1])
    x = np.arange(n_columns, dtype=float) - round(n_columns / 2)
    y = np.arange(n_rows, dtype=float) - round(n_rows / 2)
    return np.meshgrid(x, y)


THERMAL_PROFILES = ("bose", "gaussian")
"""Thermal profiles of the fit: saturated ideal Bose gas (g_2 at fugacity 1), classical Gaussian."""


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
    out = peak_od * g2_exp(rho + shift) / float(g2_exp(np.array(shift)))
    return float(out) if out.ndim == 0 else out


def thermal_profile_of(params, thermal: str | None) -> str:
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
    profile = thermal_profile_of(params, thermal_profile)
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


def residual_and_jacobian(
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
            return bin2(a.reshape(shape + a.shape[1:])).reshape((r // 2) * (c // 2), *a.shape[1:])
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
    g2_z = float(g2_exp(np.array(shift)))
    cache: dict[bytes, tuple] = {}

    def parts(p):
        # the solver asks for the residual and the Jacobian at the same point: compute once
        key = np.asarray(p, dtype=float).tobytes()
        if key not in cache:
            _, s_x, s_y, a_tf, r_x, r_y, x_0, y_0, _ = p
            dx, dy = x - x_0, y - y_0
            rho = 0.5 * (dx / s_x) ** 2 + 0.5 * (dy / s_y) ** 2
            if bose:
                g = g2_exp(rho + shift) / g2_z
                slope = g1_exp(rho + shift) / g2_z
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


def parameter_vector(values, name: str) -> np.ndarray:
    """9 values (no NaN) in FIT_PARAMETER_NAMES order as a float vector; ``name`` names them."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != 9:
        raise ValidationError(
            f"{name}: expected 9 values in the order {FIT_PARAMETER_NAMES}, got {arr.size}"
        )
    if np.any(np.isnan(arr)):
        raise ValidationError(f"{name}: values must not be NaN")
    return arr
