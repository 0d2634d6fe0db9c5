"""The bimodal fit of an OD image: one solver function, its options and its result as objects.

``fit_bimodal_2d(od_image, pixcal_um, *, initial, lower, upper, options=...)``
takes the image positionally and everything else by keyword (the shape of a
solver call); :class:`FitOptions` holds the settings of the model and the
camera, :class:`~oqtant.analysis.result.BimodalFit` (alias ``FitResult``) the
result. Units: see :mod:`oqtant.analysis.bimodal`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

from oqtant.analysis.bimodal import (
    FIT_PARAMETER_NAMES,
    bimodal_od,
    image_space,
    parameter_vector,
    residual_and_jacobian,
    thermal_profile_of,
)
from oqtant.analysis.bose import BOSE_ATOMS_FACTOR
from oqtant.analysis.images import Detection, detect_signal, moments_guess
from oqtant.analysis.result import BimodalFit
from oqtant.constants import MACHINE_TRAP_FREQUENCY_AXIAL_HZ, MACHINE_TRAP_FREQUENCY_RADIAL_HZ
from oqtant.errors import FitError, ValidationError

__all__ = ["FIT_MODELS", "FitOptions", "fit_bimodal_2d"]

FIT_MODELS = ("auto", "bimodal", "gaussian", "tf")

_FREE = {
    "bimodal": np.ones(9, dtype=bool),
    "gaussian": np.array([1, 1, 1, 0, 0, 0, 1, 1, 1], dtype=bool),
    "tf": np.array([0, 0, 0, 1, 1, 1, 1, 1, 1], dtype=bool),
}
# -ln(fugacity) tried for a thermal Bose gas just above T_c (0: saturated; 2.5: z = 0.08,
# where the profile is within a few percent of the classical Gaussian)
_FUGACITY_SHIFTS = (2.5, 1.5, 0.9, 0.55, 0.32, 0.17, 0.07, 0.0)
_DEFAULT_TRAP_HZ = (MACHINE_TRAP_FREQUENCY_AXIAL_HZ, MACHINE_TRAP_FREQUENCY_RADIAL_HZ)


# --------------------------------------------------------------------------- options


def _check_subpixels(subpixels) -> int:
    if isinstance(subpixels, bool) or not isinstance(subpixels, int | np.integer):
        raise ValidationError(f"subpixels: must be an integer from 1 to 8, got {subpixels!r}")
    if not 1 <= subpixels <= 8:
        raise ValidationError(f"subpixels: must be an integer from 1 to 8, got {subpixels}")
    return int(subpixels)


def _check_saturation(saturation_od) -> float | None:
    if saturation_od is None:
        return None
    if isinstance(saturation_od, bool) or not isinstance(saturation_od, int | float):
        raise ValidationError(f"saturation_od: must be a number > 0 or None, got {saturation_od!r}")
    if not saturation_od > 0:  # also rejects NaN
        raise ValidationError(f"saturation_od: must be > 0 (OD) or None, got {saturation_od}")
    return float(saturation_od)


@dataclass(frozen=True)
class FitOptions:
    """Settings of the bimodal fit (immutable, checked when made).

    Attributes:
        model: "auto", "bimodal", "gaussian" (thermal only) or "tf" (condensate only).
        thermal_profile: "bose" or "gaussian", the thermal part of the bimodal model.
        subpixels: points per pixel side over which the condensate is integrated (1 to 8).
        resolution_um: rms width (um) of the imaging point-spread function; 0 neglects it.
        saturation_od: the most OD the camera can read; None: it reads every OD.
        min_snr: smoothed peak over smoothed noise below which the image holds no atoms.
        time_of_flight_ms: expansion time, needed for a temperature.
        trap_frequencies_hz: (x, y) trap frequencies; None neglects the in-trap size.
    """

    model: str = "auto"
    thermal_profile: str = "bose"
    subpixels: int = 3
    resolution_um: float = 0.0
    saturation_od: float | None = None
    min_snr: float = 6.0
    time_of_flight_ms: float | None = None
    trap_frequencies_hz: tuple[float, float] | None = field(default=_DEFAULT_TRAP_HZ)

    def __post_init__(self) -> None:
        model = str(self.model).lower()
        if model not in FIT_MODELS:
            raise ValidationError(f"model: must be one of {FIT_MODELS}, got {model!r}")
        object.__setattr__(self, "model", model)
        object.__setattr__(
            self, "thermal_profile", thermal_profile_of((0, 0, 0, 0), self.thermal_profile)
        )
        object.__setattr__(self, "subpixels", _check_subpixels(self.subpixels))
        if not (math.isfinite(self.resolution_um) and self.resolution_um >= 0):
            raise ValidationError(f"resolution_um: must be >= 0 um, got {self.resolution_um}")
        object.__setattr__(self, "saturation_od", _check_saturation(self.saturation_od))


# --------------------------------------------------------------------------- least squares


def _least_squares(problem, p0, free, max_nfev, tol=1e-8, binned=False, profile="gaussian",
                   fugacity=1.0, full_model=False):  # fmt: skip
    """Bounded least squares of the bimodal model with the parameters not ``free`` held fixed.

    ``full_model``: the condensate integrated over pixels and blurred as the options say
    (the final fit); otherwise sampled at pixel centres (the quick trials).
    """
    opts = problem.options
    residual_fn, jac_fn = residual_and_jacobian(
        problem.x, problem.y, problem.data, binned, problem.weight, profile,
        opts.subpixels if full_model else 1,
        problem.resolution_px if full_model else 0.0,
        opts.saturation_od, fugacity,
    )  # fmt: skip
    fixed = np.array(p0, dtype=float)

    def full(q):
        p = fixed.copy()
        p[free] = q
        return p

    lo, hi = problem.lower[free], problem.upper[free]
    q0 = np.clip(fixed[free], lo, hi)
    # trust-region reflective needs a start strictly inside the bounds
    width = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    q0 = np.where(q0 <= lo, lo + 1e-6 * width, q0)
    q0 = np.where(q0 >= hi, hi - 1e-6 * width, q0)
    try:
        result = optimize.least_squares(
            lambda q: residual_fn(full(q)), q0, jac=lambda q: jac_fn(full(q), free),
            bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=max_nfev,
            ftol=tol, xtol=tol, gtol=tol,
        )  # fmt: skip
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise FitError(f"the bimodal fit failed: {exc}") from exc
    return full(result.x), float(2.0 * result.cost), result.jac


@dataclass(frozen=True)
class _Problem:
    """One image to fit: its pixel grid, data, mask, bounds and options."""

    x: np.ndarray
    y: np.ndarray
    data: np.ndarray
    finite: np.ndarray
    weight: np.ndarray | None
    lower: np.ndarray
    upper: np.ndarray
    options: FitOptions
    resolution_px: float

    def trial(self, p0, free: str, profile="gaussian", fugacity=1.0):
        """A quick fit on the 2x2-binned image, to choose the model and start the final fit."""
        return _least_squares(self, p0, _FREE[free], 100, 1e-5, True, profile, fugacity)

    def final(self, name: str, p0, fugacity: float):
        """The fit on the full image; returns ((params, rss, jacobian), thermal profile)."""
        bimodal_thermal = self.options.thermal_profile
        profile = {"bimodal": bimodal_thermal, "bose_gas": "bose"}.get(name, "gaussian")
        free = _FREE["gaussian" if name == "bose_gas" else name]
        z = fugacity if name == "bose_gas" else 1.0
        got = _least_squares(self, p0, free, 400, profile=profile, fugacity=z, full_model=True)
        if not np.all(np.isfinite(got[0])):
            raise FitError("the bimodal fit did not converge to finite parameters")
        return got, profile


# --------------------------------------------------------------------------- steps of the fit


def _prepare_image(od_image) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(data, finite mask, weight) of an image; a few missing pixels are left out."""
    data = np.asarray(od_image, dtype=float)
    if data.ndim != 2 or min(data.shape) < 8:
        raise FitError(
            f"od_image: expected a 2D image of at least 8x8 pixels, got shape {data.shape}"
        )
    finite = np.isfinite(data)
    if finite.all():
        return data, finite, None
    # a few pixels without a measurement (e.g. a saturated probe) are left out
    if finite.mean() < 0.9:
        raise FitError(
            f"od_image: {int((~finite).sum())} of {data.size} pixels are NaN or infinite "
            f"(at most 10 % may be)"
        )
    return np.where(finite, data, float(np.median(data[finite]))), finite, finite.astype(float)


def _bounds(data, x, y, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """The bounds given, or bounds that any cloud on the image respects."""
    span = float(max(data.shape))
    od_range = float(data.max() - data.min())
    if lower is None:
        lower = [0.0, 0.3, 0.3, 0.0, 0.3, 0.3, float(x.min()), float(y.min()), -od_range]
    if upper is None:
        upper = [10 * od_range, span, span, 10 * od_range, span, span,
                 float(x.max()), float(y.max()), od_range]  # fmt: skip
    lower = parameter_vector(lower, "lower")
    upper = parameter_vector(upper, "upper")
    if np.any(lower >= upper):
        bad = [n for n, lo, hi in zip(FIT_PARAMETER_NAMES, lower, upper, strict=True) if lo >= hi]
        raise ValidationError(
            f"lower, upper: each lower bound must be below its upper bound ({bad})"
        )
    return lower, upper


def _bimodal_trial(problem: _Problem, gaussian, tf):
    """Best quick bimodal fit from two starts: a small condensate, or a faint thermal cloud."""
    g, t = gaussian, tf
    starts = [
        np.array([0.8 * g[0], g[1], g[2], 0.3 * g[0], 1.2 * g[1], 1.2 * g[2], g[6], g[7], g[8]]),
        np.array([0.1 * t[3], 0.8 * t[4], 0.8 * t[5], 0.9 * t[3], t[4], t[5], t[6], t[7], t[8]]),
    ]
    best = None
    for s in starts:
        got = problem.trial(s, "bimodal", problem.options.thermal_profile)
        if best is None or got[1] < best[1]:
            best = got
    return best


def _condensed_share(b) -> float:
    # Thomas-Fermi: 2 pi A R_x R_y / 5; Bose cloud: 2 pi A s_x s_y g_3(1) / g_2(1)
    condensed = 0.4 * b[3] * b[4] * b[5]
    return condensed / max(condensed + b[0] * b[1] * b[2] * BOSE_ATOMS_FACTOR, 1e-300)


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


def _choose_model(problem: _Problem, detection: Detection) -> tuple[str, np.ndarray, float]:
    """Quick fits of the candidate models from moments of the image; the lowest BIC wins.

    Returns (model name, start of the final fit, fugacity); the name "bose_gas" is a
    thermal cloud alone with the Bose profile of the fugacity found.
    """
    model = problem.options.model
    offset0 = detection.offset
    peak0, x_0, y_0, s_x, s_y = moments_guess(problem.x, problem.y, offset0, detection.smooth)
    gauss0 = np.array([peak0, s_x, s_y, 0, 1, 1, x_0, y_0, offset0])  # absent part: shape 1
    # a Thomas-Fermi profile of radius R has about the rms width of a Gaussian of R / 2.6
    tf0 = np.array([0, 1, 1, peak0, 2.3 * s_x, 2.3 * s_y, x_0, y_0, offset0])
    trials = {}
    if model in ("auto", "gaussian"):
        trials["gaussian"] = problem.trial(gauss0, "gaussian")
    if model in ("auto", "tf"):
        trials["tf"] = problem.trial(tf0, "tf")
    if model in ("auto", "bimodal"):
        g = trials.get("gaussian", (gauss0,))[0]
        t = trials.get("tf", (tf0,))[0]
        trials["bimodal"] = _bimodal_trial(problem, g, t)
    n_free = {name: int(_FREE[name].sum()) for name in trials}
    b = trials.get("bimodal", (np.zeros(9),))[0]
    fugacity = 1.0
    bose = problem.options.thermal_profile == "bose"
    if model == "auto" and bose and _condensed_share(b) < 0.5:
        # just above T_c the thermal cloud is a Bose gas of fugacity near 1: its
        # peaked profile is neither a Gaussian nor a small condensate on one (a
        # cloud that is mostly condensate is not such a gas: no need to look)
        bose_params, bose_rss, fugacity = _fugacity_search(problem.trial, trials["gaussian"][0])
        trials["bose_gas"] = (bose_params, bose_rss)
        n_free["bose_gas"] = int(_FREE["gaussian"].sum()) + 1
    n_binned = (problem.data.shape[0] // 2) * (problem.data.shape[1] // 2)
    chosen = min(trials, key=lambda name: _bic(trials[name][1], n_binned, n_free[name]))
    return chosen, trials[chosen][0], (fugacity if chosen == "bose_gas" else 1.0)


def _refine(problem: _Problem, chosen: str, start, fugacity: float):
    """The final fit; a bimodal fit whose condensate vanishes is redone as a classical cloud.

    Returns (params, jacobian, model name, thermal profile, tiny amplitude).
    """
    (params, _, jac), profile = problem.final(chosen, start, fugacity)
    tiny = 1e-6 * max(params[0], params[3], 1e-9)  # an amplitude pinned at its zero bound
    if chosen == "bimodal" and profile == "bose" and params[3] <= tiny and params[0] > tiny:
        # no condensate after all: the cloud is not saturated, fit the classical profile
        chosen = "gaussian"
        (params, _, jac), profile = problem.final(chosen, params, fugacity)
        tiny = 1e-6 * max(params[0], 1e-9)
    if chosen == "bose_gas":
        chosen = "gaussian"  # a thermal cloud alone, with the Bose profile of ``fugacity``
    return params, jac, chosen, profile, tiny


def _zero_absent(params: np.ndarray, chosen: str, tiny: float) -> np.ndarray:
    """An absent part has no shape: report it as zeros, as the wire does."""
    if chosen == "tf" or params[0] <= tiny:
        params[0:3] = 0.0
    if chosen == "gaussian" or params[3] <= tiny:
        params[3:6] = 0.0
    if params[0] + params[3] <= 0:
        raise FitError(
            "no atoms in the image: the fit found neither a thermal cloud nor a condensate"
        )
    return params


def _covariance(jac, free, ss_res: float, n_measured: int) -> np.ndarray:
    """Covariance of the 9 parameters (pseudo-inverse over the free ones, zeros elsewhere)."""
    dof = max(1, n_measured - int(free.sum()))
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    keep = sv > np.finfo(float).eps * max(jac.shape) * sv[0]
    covariance = np.zeros((9, 9))
    covariance[np.ix_(free, free)] = (vt[keep].T / sv[keep] ** 2) @ vt[keep] * (ss_res / dof)
    return covariance


def _result(problem: _Problem, params, jac, chosen, profile, fugacity, pixcal_um, noise):
    opts = problem.options
    model_image = bimodal_od(
        problem.x, problem.y, params, profile, opts.subpixels, problem.resolution_px,
        opts.saturation_od, fugacity,
    )  # fmt: skip
    # the residual keeps NaN where the image had no measurement
    residual = np.where(problem.finite, problem.data - model_image, np.nan)
    measured = problem.data[problem.finite]
    ss_res = float(np.nansum(residual**2))
    ss_tot = float(np.sum((measured - measured.mean()) ** 2))
    trap = opts.trap_frequencies_hz
    return BimodalFit(
        params=params,
        covariance=_covariance(jac, _FREE[chosen], ss_res, measured.size),
        model_image=model_image,
        residual=residual,
        r_squared=1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0,
        pixcal_um=float(pixcal_um),
        time_of_flight_ms=None if opts.time_of_flight_ms is None else float(opts.time_of_flight_ms),
        trap_frequencies_hz=None if trap is None else (trap[0], trap[1]),
        noise_od=noise,
        model=chosen,
        thermal_profile=profile,
        subpixels=opts.subpixels,
        resolution_px=problem.resolution_px,
        saturation_od=opts.saturation_od,
        fugacity=fugacity,
    )


def _fit(od_image, pixcal_um, initial, lower, upper, options: FitOptions) -> BimodalFit:
    data, finite, weight = _prepare_image(od_image)
    if not pixcal_um > 0:
        raise ValidationError(f"pixcal_um: must be > 0 um per pixel, got {pixcal_um}")
    x, y = image_space(data.shape)
    detection = detect_signal(data)
    if detection.snr < options.min_snr:
        raise FitError(
            f"no atoms in the image: nothing stands clearly above the noise ({detection.detail}; "
            f"need {options.min_snr:g} times the noise)"
        )
    lower, upper = _bounds(data, x, y, lower, upper)
    resolution_px = float(options.resolution_um) / float(pixcal_um)
    problem = _Problem(x, y, data, finite, weight, lower, upper, options, resolution_px)
    if initial is not None:
        chosen = "bimodal" if options.model == "auto" else options.model
        start, fugacity = parameter_vector(initial, "initial"), 1.0
    else:
        chosen, start, fugacity = _choose_model(problem, detection)
    params, jac, chosen, profile, tiny = _refine(problem, chosen, start, fugacity)
    params = _zero_absent(params, chosen, tiny)
    return _result(problem, params, jac, chosen, profile, fugacity, pixcal_um, detection.noise)


def fit_bimodal_2d(
    od_image,
    pixcal_um: float = 1.0,
    *,
    initial=None,
    lower=None,
    upper=None,
    model: str = "auto",
    time_of_flight_ms: float | None = None,
    trap_frequencies_hz: tuple[float, float] | None = _DEFAULT_TRAP_HZ,
    min_snr: float = 6.0,
    thermal_profile: str = "bose",
    subpixels: int = 3,
    resolution_um: float = 0.0,
    saturation_od: float | None = None,
    options: FitOptions | None = None,
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
        options: a FitOptions; given, it replaces ``model``, ``time_of_flight_ms``,
            ``trap_frequencies_hz``, ``min_snr``, ``thermal_profile``, ``subpixels``,
            ``resolution_um`` and ``saturation_od``.

    Returns:
        A BimodalFit (parameters in pixels and OD; derived values in physical units).

    Raises:
        FitError: the image holds no atoms (nothing above the noise), is not a
            finite 2D image, or the least squares fails.
        ValidationError: bad ``model``, ``thermal_profile``, ``pixcal_um`` or bounds.
    """
    if options is None:
        options = FitOptions(
            model=model,
            thermal_profile=thermal_profile,
            subpixels=subpixels,
            resolution_um=resolution_um,
            saturation_od=saturation_od,
            min_snr=min_snr,
            time_of_flight_ms=time_of_flight_ms,
            trap_frequencies_hz=trap_frequencies_hz,
        )
    # small matrices: BLAS threads only add overhead (and stall on a busy machine)
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(od_image, pixcal_um, initial, lower, upper, options)
