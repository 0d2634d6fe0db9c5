"""The bimodal fit recovers what synthetic images were made from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from oqtant.constants import K_B, RB87_MASS_KG, RESONANT_CROSS_SECTION_M2
from oqtant.errors import FitError, ValidationError
from oqtant.analysis.bimodal import residual_and_jacobian as _residual_and_jacobian
from oqtant.schemas.output import (
    FIT_PARAMETER_NAMES,
    BimodalFit,

    bimodal_od,
    bose_cloud_od,
    fit_bimodal_2d,
    image_space,
    polylog2,
    saturate_od,
    thermal_cloud_od,
    thomas_fermi_od,
)

SHAPE = (100, 100)
PIXCAL_UM = 4.4
ZETA3 = 1.2020569031595942  # Apery's constant, g_3(1)


def _image(params, noise_od=0.03, seed=0, shape=SHAPE):
    """A noisy image of the model as camera pixels see it (the condensate integrated over each)."""
    x, y = image_space(shape)
    rng = np.random.default_rng(seed)
    return bimodal_od(x, y, params, subpixels=7) + rng.normal(0.0, noise_od, shape)


def _assert_close(fitted, true, rel=0.03, centre_px=0.2, offset_od=0.005):
    for name, got, want in zip(FIT_PARAMETER_NAMES, fitted, true, strict=True):
        if name in ("x_0", "y_0"):
            assert abs(got - want) < centre_px, f"{name}: {got} vs {want}"
        elif name == "offset":
            assert abs(got - want) < offset_od, f"{name}: {got} vs {want}"
        elif want == 0.0:
            assert got == 0.0, f"{name}: {got} should be absent"
        else:
            assert got == pytest.approx(want, rel=rel), f"{name}: {got} vs {want}"


# --------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bimodal_cloud_is_recovered(seed):
    true = [0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 2.3, -1.7, 0.01]
    fit = fit_bimodal_2d(_image(true, noise_od=0.04, seed=seed), PIXCAL_UM)
    assert fit.model == "bimodal"
    _assert_close(fit.params, true)
    # the truth lies within a few standard errors of the fit
    assert np.all(np.abs(fit.params - true) < 5 * fit.param_errors + 1e-12)
    assert fit.residual.std() == pytest.approx(0.04, rel=0.05)
    assert fit.r_squared > 0.9


def test_pure_thermal_cloud_is_recovered():
    true = [0.8, 8.0, 7.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    fit = fit_bimodal_2d(_image(true, noise_od=0.05), PIXCAL_UM)
    assert fit.model == "gaussian"
    _assert_close(fit.params, true)
    assert fit.condensed_atom_number == 0.0
    assert fit.condensed_fraction == 0.0


def test_pure_condensate_is_recovered():
    true = [0.0, 0.0, 0.0, 2.0, 7.0, 9.0, -3.0, 2.0, 0.02]
    fit = fit_bimodal_2d(_image(true, noise_od=0.03), PIXCAL_UM, time_of_flight_ms=8.0)
    assert fit.model == "tf"
    _assert_close(fit.params, true)
    assert fit.thermal_atom_number == 0.0
    assert fit.condensed_fraction == 1.0
    assert fit.temperature_nk is None  # no thermal cloud to measure


def test_non_square_image_and_given_start_and_bounds():
    true = [0.3, 12.0, 6.0, 1.0, 9.0, 5.0, 4.0, -2.0, 0.0]
    image = _image(true, noise_od=0.02, shape=(60, 140))
    initial = [0.2, 10, 5, 1.2, 8, 4, 3, -1, 0.0]
    lower = [0, 1, 1, 0, 1, 1, -20, -20, -0.5]
    upper = [5, 40, 40, 5, 40, 40, 20, 20, 0.5]
    fit = fit_bimodal_2d(image, initial=initial, lower=lower, upper=upper)
    assert fit.model_image.shape == (60, 140)
    _assert_close(fit.params, true)
    assert np.all(fit.params[:6] <= np.array(upper[:6]))


def test_model_can_be_forced():
    true = [0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 0.0, 0.0, 0.0]
    fit = fit_bimodal_2d(_image(true), model="gaussian")
    assert fit.model == "gaussian"
    assert fit.params[3] == 0.0 and fit.params[0] > 1.0  # one Gaussian takes all the signal


# --------------------------------------------------------------------------- physics


def test_profiles_integrate_to_the_atom_number_formulas():
    # integrals on a fine grid: Gaussian 2 pi A sx sy, Thomas-Fermi column (2 pi / 5) A Rx Ry
    x, y = image_space((2000, 2000))
    x, y = x / 20.0, y / 20.0  # 0.05 pixel steps, +-50 pixels
    area = 0.05**2
    gauss = thermal_cloud_od(x, y, 0.7, 6.0, 4.0, 1.0, -2.0).sum() * area
    assert gauss == pytest.approx(2 * math.pi * 0.7 * 6.0 * 4.0, rel=1e-6)
    tf = thomas_fermi_od(x, y, 1.3, 9.0, 5.0, 1.0, -2.0).sum() * area
    assert tf == pytest.approx(2 * math.pi / 5 * 1.3 * 9.0 * 5.0, rel=1e-3)
    assert thomas_fermi_od(0.0, 0.0, 1.3, 9.0, 5.0, 0.0, 0.0) == pytest.approx(1.3)
    assert thomas_fermi_od(9.5, 0.0, 1.3, 9.0, 5.0, 0.0, 0.0) == 0.0


def _physical_image(n_thermal, n_condensed, temperature_nk, tof_ms, radii_px, freqs_hz, seed=3):
    """An OD image of a given atom number, temperature and condensate, built analytically."""
    t = tof_ms * 1e-3
    pix_m = PIXCAL_UM * 1e-6
    sigmas_px = []
    for f in freqs_hz:
        in_trap = 0.0 if f is None else 1.0 / (2 * math.pi * f) ** 2
        sigma_m = math.sqrt(K_B * temperature_nk * 1e-9 / RB87_MASS_KG * (in_trap + t**2))
        sigmas_px.append(sigma_m / pix_m)
    # Gaussian (no condensate): column density n = N / (2 pi sx sy) -> OD = sigma_0 * n.
    # Beside a condensate the cloud is saturated, OD = peak g_2(exp(-rho)) / g_2(1), which
    # holds g_3(1) / g_2(1) of the Gaussian's atoms at the same peak.
    bose_factor = (math.pi**2 / 6) / ZETA3 if n_condensed else 1.0
    g_od = (
        bose_factor
        * n_thermal
        * RESONANT_CROSS_SECTION_M2
        / (2 * math.pi * sigmas_px[0] * sigmas_px[1] * pix_m**2)
    )
    tf_area = 2 * math.pi * radii_px[0] * radii_px[1] * pix_m**2
    tf_od = 5 * n_condensed * RESONANT_CROSS_SECTION_M2 / tf_area if n_condensed else 0.0
    params = [g_od, *sigmas_px, tf_od, *radii_px, 0.5, -0.5, 0.0]
    return _image(params, noise_od=0.03, seed=seed), params


def test_atom_numbers_and_temperature_match_the_analytic_cloud():
    image, params = _physical_image(
        n_thermal=30_000,
        n_condensed=20_000,
        temperature_nk=150.0,
        tof_ms=10.0,
        radii_px=(8.0, 12.0),
        freqs_hz=(50.0, 400.0),
    )
    # realistic peak ODs (the saturated g_2 cloud peaks g_2(1) / g_3(1) = 1.37 times a Gaussian)
    assert 0.2 < params[0] < 1.5 and 1.0 < params[3] < 3.0
    fit = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=10.0)
    assert fit.thermal_atom_number == pytest.approx(30_000, rel=0.05)
    assert fit.condensed_atom_number == pytest.approx(20_000, rel=0.05)
    assert fit.total_atom_number == pytest.approx(50_000, rel=0.03)
    assert fit.integrated_atom_number == pytest.approx(50_000, rel=0.03)
    assert fit.condensed_fraction == pytest.approx(0.4, abs=0.02)
    t_x, t_y = fit.temperature_xy_nk
    assert t_x == pytest.approx(150.0, rel=0.06)
    assert t_y == pytest.approx(150.0, rel=0.06)
    assert fit.temperature_nk == pytest.approx(150.0, rel=0.05)


def test_temperature_without_the_in_trap_size():
    image, _ = _physical_image(
        n_thermal=40_000,
        n_condensed=0,
        temperature_nk=300.0,
        tof_ms=15.0,
        radii_px=(0.0, 0.0),
        freqs_hz=(None, None),
    )
    fit = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=15.0, trap_frequencies_hz=None)
    assert fit.temperature_nk == pytest.approx(300.0, rel=0.04)
    # assuming the trap's in-situ size removes part of the width: a colder estimate
    with_trap = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=15.0)
    assert with_trap.temperature_nk < fit.temperature_nk
    assert fit.thermal_atom_number == pytest.approx(40_000, rel=0.05)


def test_faint_broad_thermal_cloud_still_gives_a_temperature():
    # peak OD at the noise of one pixel, yet many pixels measure it well
    image, params = _physical_image(
        n_thermal=6_000,
        n_condensed=0,
        temperature_nk=400.0,
        tof_ms=15.0,
        radii_px=(0.0, 0.0),
        freqs_hz=(50.0, 400.0),
    )
    assert params[0] < 0.035 and params[1] > 20  # about the 0.03 OD noise, and wide
    fit = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=15.0)
    assert fit.has_thermal_cloud
    # at this signal the widths are known to about 6 %, so T (as sigma^2) to about 12 %
    relative_error = 2 * fit.param_errors[1] / fit.params[1]
    assert 0.03 < relative_error < 0.15
    assert fit.temperature_nk == pytest.approx(400.0, rel=3 * relative_error)
    assert fit.thermal_atom_number == pytest.approx(6_000, rel=0.2)


def test_temperature_needs_the_time_of_flight():
    true = [0.8, 8.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    fit = fit_bimodal_2d(_image(true), PIXCAL_UM)
    assert fit.temperature_nk is None


def test_summary_and_repr_are_short_and_complete():
    true = [0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 2.3, -1.7, 0.01]
    fit = fit_bimodal_2d(_image(true), PIXCAL_UM, time_of_flight_ms=8.0)
    text = fit.summary()
    assert len(text.splitlines()) == 12
    for name in FIT_PARAMETER_NAMES:
        assert name in text and name in repr(fit)
    assert "nK" in text and "condensed" in text
    assert len(repr(fit)) < 400


def test_to_tof_fit_carries_the_parameters():
    true = [0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 2.3, -1.7, 0.01]
    fit = fit_bimodal_2d(_image(true))
    wire = fit.to_tof_fit()
    assert [getattr(wire, n) for n in FIT_PARAMETER_NAMES] == pytest.approx(list(fit.params))
    assert fit.as_dict()["tf_od"] == pytest.approx(fit.params[3])


# --------------------------------------------------------------------------- rejection


def test_noise_only_images_have_no_atoms():
    rng = np.random.default_rng(11)
    for _ in range(60):
        noise_od = rng.uniform(0.01, 0.1)
        image = rng.normal(rng.uniform(-0.05, 0.05), noise_od, SHAPE)
        with pytest.raises(FitError, match="no atoms in the image"):
            fit_bimodal_2d(image, PIXCAL_UM)


def test_noise_with_fringes_has_no_atoms():
    x, y = image_space(SHAPE)
    fringes = 0.03 * np.sin(2 * np.pi * (x + 0.5 * y) / 15.0)
    image = fringes + np.random.default_rng(2).normal(0, 0.02, SHAPE)
    with pytest.raises(FitError, match="no atoms"):
        fit_bimodal_2d(image)


def test_flat_image_has_no_atoms():
    with pytest.raises(FitError, match="no atoms"):
        fit_bimodal_2d(np.full(SHAPE, 0.2))


def test_faint_cloud_is_still_found():
    true = [0.15, 8.0, 8.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    fit = fit_bimodal_2d(_image(true, noise_od=0.05))
    assert fit.params[0] == pytest.approx(0.15, rel=0.1)


def test_a_few_pixels_without_measurement_are_left_out():
    true = [0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 2.3, -1.7, 0.01]
    image = _image(true, noise_od=0.03)
    holes = np.random.default_rng(5).random(SHAPE) < 0.05
    image[holes] = np.nan
    image[50, 52] = np.inf  # a saturated pixel right in the cloud
    fit = fit_bimodal_2d(image, PIXCAL_UM)
    _assert_close(fit.params, true)
    assert np.isnan(fit.residual[holes]).all() and np.isfinite(fit.residual[~holes]).sum() > 9000
    assert np.isfinite(fit.model_image).all()


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros(10), "2D"),
        (np.zeros((4, 4)), "2D"),
        (np.full(SHAPE, np.nan), "NaN"),
        (np.where(np.arange(10_000).reshape(SHAPE) % 5 == 0, np.nan, 0.5), "at most 10 %"),
    ],
)
def test_bad_images_raise_fit_error(image, match):
    with pytest.raises(FitError, match=match):
        fit_bimodal_2d(image)


def test_bad_arguments_name_the_argument():
    image = _image([0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValidationError, match="model"):
        fit_bimodal_2d(image, model="lorentzian")
    with pytest.raises(ValidationError, match="initial: expected 9 values"):
        fit_bimodal_2d(image, initial=[1, 2, 3])
    with pytest.raises(ValidationError, match="lower, upper"):
        fit_bimodal_2d(image, lower=[1] * 9, upper=[1] * 9)
    with pytest.raises(ValidationError, match="pixcal_um"):
        fit_bimodal_2d(image, pixcal_um=0.0)


# --------------------------------------------------------------------------- never crashes


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(8, 120),
    columns=st.integers(8, 120),
    scale=st.sampled_from([1e-12, 1e-6, 0.05, 1.0, 1e3, 1e8]),
    kind=st.sampled_from(["uniform", "spike", "cloud", "stripe", "constant"]),
)
def test_any_image_gives_a_fit_or_a_fit_error(seed, rows, columns, scale, kind):
    rng = np.random.default_rng(seed)
    x, y = image_space((rows, columns))
    image = rng.normal(0.0, 0.05 * scale, (rows, columns))
    if kind == "uniform":
        image = rng.uniform(-scale, scale, (rows, columns))
    elif kind == "spike":
        image[rng.integers(rows), rng.integers(columns)] = 100 * scale
    elif kind == "cloud":
        size = rng.uniform(0.5, max(rows, columns))
        image += scale * np.exp(-((x - rng.uniform(-20, 20)) ** 2 + y**2) / (2 * size**2))
    elif kind == "stripe":
        image[:, columns // 2] += scale
    else:
        image = np.full((rows, columns), scale)
    try:
        fit = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=10.0)
    except FitError as exc:
        assert str(exc)
        return
    assert np.all(np.isfinite(fit.params)) and fit.model_image.shape == (rows, columns)
    assert fit.params[0] >= 0 and fit.params[3] >= 0
    assert fit.total_atom_number >= 0


# --------------------------------------------------------------------------- Bose-enhanced thermal cloud

ZETA2 = math.pi**2 / 6


def _g2_series(w, terms=200_000):
    """g_2(w) = sum_k w^k / k^2 summed directly (slow reference)."""
    k = np.arange(1, terms + 1, dtype=float)
    return np.array([np.sum(np.power(float(v), k) / k**2) for v in np.atleast_1d(w)])


def test_g2_matches_reference_values():
    assert polylog2(1.0) == pytest.approx(math.pi**2 / 6, abs=1e-12)
    assert polylog2(0.5) == pytest.approx(math.pi**2 / 12 - math.log(2) ** 2 / 2, abs=1e-12)
    assert polylog2(0.5) == pytest.approx(0.5822405265, abs=1e-9)
    assert polylog2(0.0) == 0.0
    z = np.array([1e-8, 0.01, 0.2, 0.3, 0.5, 0.7, 0.9])
    assert np.allclose(polylog2(z), _g2_series(z), rtol=0, atol=1e-10)
    # Euler's reflection g_2(z) + g_2(1 - z) = pi^2/6 - ln z ln(1 - z): checks the core near 1,
    # where the series converges too slowly to serve as a reference
    z = np.linspace(1e-6, 1 - 1e-6, 20001)
    reflection = polylog2(z) + polylog2(1 - z) + np.log(z) * np.log1p(-z)
    assert np.max(np.abs(reflection - math.pi**2 / 6)) < 1e-6
    # monotonic, and bad arguments are refused
    assert np.all(np.diff(polylog2(np.linspace(0, 1, 1001))) > 0)
    with pytest.raises(ValidationError, match="z"):
        polylog2(1.1)
    with pytest.raises(ValidationError, match="z"):
        polylog2([0.5, np.nan])


def test_bose_profile_shape_and_atom_number_integral():
    assert bose_cloud_od(1.0, -2.0, 0.7, 6.0, 4.0, 1.0, -2.0) == pytest.approx(0.7, abs=1e-12)
    # far out the saturated cloud is classical: a Gaussian of peak A / g_2(1)
    far = bose_cloud_od(30.0, 0.0, 0.7, 6.0, 4.0, 0.0, 0.0)
    assert far == pytest.approx(0.7 / ZETA2 * math.exp(-0.5 * 25.0), rel=1e-5)
    # the column g_2(exp(-rho)) is the sum of the Gaussians exp(-j rho) / j^2
    x, y = image_space((60, 80))
    rho = 0.5 * ((x - 1.3) / 6.0) ** 2 + 0.5 * ((y + 0.4) / 4.0) ** 2
    j = np.arange(1, 4001, dtype=float)
    reference = 0.7 / ZETA2 * np.sum(np.exp(-np.multiply.outer(rho, j)) / j**2, axis=-1)
    assert np.allclose(bose_cloud_od(x, y, 0.7, 6.0, 4.0, 1.3, -0.4), reference, atol=1e-4)
    # integral over the plane: 2 pi A sx sy g_3(1) / g_2(1)
    x, y = image_space((3000, 3000))
    x, y = x / 20.0, y / 20.0
    total = bose_cloud_od(x, y, 0.7, 6.0, 4.0, 1.0, -2.0).sum() * 0.05**2
    assert total == pytest.approx(2 * math.pi * 0.7 * 6.0 * 4.0 * ZETA3 / ZETA2, rel=1e-6)
    # and BimodalFit counts the atoms with that factor
    params = np.array([0.7, 6.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    zeros = np.zeros((9, 9))
    bose = BimodalFit(params, zeros, x, x, 1.0, PIXCAL_UM, thermal_profile="bose")
    gauss = BimodalFit(params, zeros, x, x, 1.0, PIXCAL_UM, thermal_profile="gaussian")
    atoms_per_od_px = (PIXCAL_UM * 1e-6) ** 2 / RESONANT_CROSS_SECTION_M2
    assert bose.thermal_atom_number == pytest.approx(total * atoms_per_od_px, rel=1e-6)
    assert bose.thermal_atom_number / gauss.thermal_atom_number == pytest.approx(ZETA3 / ZETA2)


def test_bimodal_model_uses_the_bose_profile_beside_a_condensate():
    x, y = image_space((40, 40))
    with_bec = [0.5, 6.0, 5.0, 1.0, 3.0, 3.0, 0.0, 0.0, 0.0]
    thermal_only = [0.5, 6.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    tf = thomas_fermi_od(x, y, 1.0, 3.0, 3.0, 0.0, 0.0)
    assert np.allclose(bimodal_od(x, y, with_bec) - tf, bose_cloud_od(x, y, 0.5, 6, 5, 0, 0))
    assert np.allclose(bimodal_od(x, y, thermal_only), thermal_cloud_od(x, y, 0.5, 6, 5, 0, 0))
    assert np.allclose(
        bimodal_od(x, y, with_bec, "gaussian") - tf, thermal_cloud_od(x, y, 0.5, 6, 5, 0, 0)
    )
    with pytest.raises(ValidationError, match="thermal_profile"):
        bimodal_od(x, y, with_bec, "lorentzian")


@pytest.mark.parametrize("profile", ["bose", "gaussian"])
@pytest.mark.parametrize(
    ("subpixels", "resolution_px", "saturation_od", "fugacity"),
    [
        (1, 0.0, None, 1.0),
        (3, 0.0, None, 1.0),
        (3, 0.3, None, 1.0),
        (1, 0.0, 1.5, 1.0),
        (3, 0.3, 1.5, 1.0),
        (1, 0.0, None, 0.6),
    ],
)
def test_jacobian_matches_finite_differences(
    profile, subpixels, resolution_px, saturation_od, fugacity
):
    x, y = image_space((40, 50))
    p = np.array([0.5, 7.0, 6.0, 1.2, 5.0, 4.0, 0.37, -0.21, 0.01])
    data = bimodal_od(x, y, p, profile) + np.random.default_rng(0).normal(0, 0.01, x.shape)
    residual, jacobian = _residual_and_jacobian(
        x, y, data, False, None, profile, subpixels, resolution_px, saturation_od, fugacity
    )
    analytic = jacobian(p, np.ones(9, dtype=bool))
    numeric = np.empty_like(analytic)
    for i in range(9):
        h = 1e-6 * max(1.0, abs(p[i]))
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric[:, i] = (residual(up) - residual(down)) / (2 * h)
    assert np.max(np.abs(analytic - numeric)) < 1e-7 * np.max(np.abs(analytic))


def _expanded_sigmas_px(temperature_nk, tof_ms):
    """(x, y) width parameters in pixels of a thermal cloud released from the 50 / 400 Hz trap."""
    t = tof_ms * 1e-3
    return [
        math.sqrt(K_B * temperature_nk * 1e-9 / RB87_MASS_KG * (1 / (2 * math.pi * f) ** 2 + t**2))
        / (PIXCAL_UM * 1e-6)
        for f in (50.0, 400.0)
    ]


def _camera_image(
    n_thermal,
    n_condensed,
    temperature_nk,
    tof_ms,
    radii_px,
    seed,
    *,
    psf_px=0.0,
    noise_od=0.03,
    stray_light=0.0,
):
    """A noisy TOF image of a saturated Bose cloud beside a Thomas-Fermi condensate.

    Built independently of the fit's code: the g_2 column as a sum of Gaussians, the
    light behind the cloud on a 9 x 9 sub-pixel grid, blurred, averaged over each pixel;
    a fraction ``stray_light`` of the probe passes the atoms by.
    """
    pix_m = PIXCAL_UM * 1e-6
    sigmas = _expanded_sigmas_px(temperature_nk, tof_ms)
    n = 9
    # sub-pixel centres in the fit's coordinates: pixel c spans c - 50 -+ 1/2
    fine = np.arange(100 * n) / n - 50 - (n - 1) / (2 * n)
    centre = (0.3, -0.6)
    fx, fy = np.meshgrid(fine - centre[0], fine - centre[1])
    rho = 0.5 * (fx / sigmas[0]) ** 2 + 0.5 * (fy / sigmas[1]) ** 2
    # g_2(w) = sum_j w^j / j^2 by repeated products; beyond j = 60 only the core matters
    w = np.exp(-rho)
    g2, power = np.zeros_like(rho), w.copy()
    for j in range(1, 61):
        g2 += power / j**2
        power *= w
    core = rho < 0.5
    wc, pc, gc = w[core], power[core], g2[core]
    for j in range(61, 5001):
        gc += pc / j**2
        pc *= wc
    g2[core] = gc
    # atoms per unit peak OD of g_2(e^-rho) / g_2(1): 2 pi sx sy g_3(1) / g_2(1) (pixels^2)
    per_peak = (
        2 * math.pi * sigmas[0] * sigmas[1] * ZETA3 / ZETA2 * pix_m**2 / RESONANT_CROSS_SECTION_M2
    )
    od = n_thermal / per_peak * g2 / ZETA2
    u = np.clip(1 - (fx / radii_px[0]) ** 2 - (fy / radii_px[1]) ** 2, 0, None)
    tf_area = 2 * math.pi * radii_px[0] * radii_px[1] * pix_m**2
    tf_peak = 5 * n_condensed * RESONANT_CROSS_SECTION_M2 / tf_area
    od = od + tf_peak * u**1.5
    light = np.exp(-od)
    if psf_px:
        light = ndimage.gaussian_filter(light, psf_px * n, mode="nearest")
    light = light.reshape(100, n, 100, n).mean(axis=(1, 3))
    image = -np.log(stray_light + (1.0 - stray_light) * light)
    return image + np.random.default_rng(seed).normal(0.0, noise_od, image.shape)


def test_saturate_od_never_reads_more_than_its_limit():
    od = np.array([0.0, 0.01, 1.0, 5.0, 50.0, 1e4])
    assert np.array_equal(saturate_od(od, None), od)
    seen = saturate_od(od, 2.0)
    # a thin cloud: the OD less the share of the light that passes the atoms by
    assert seen[0] == 0.0 and seen[1] == pytest.approx(0.01 * (1 - math.exp(-2)), rel=0.01)
    assert np.all(np.diff(seen) >= 0) and np.all(seen <= 2.0)
    assert seen[-1] == pytest.approx(2.0, abs=1e-9) and seen[3] < 2.0
    # the fraction exp(-2) of the light that passes the atoms by
    assert seen[3] == pytest.approx(-math.log(math.exp(-2) + (1 - math.exp(-2)) * math.exp(-5)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_condensate_the_camera_sees_flat_is_counted_when_the_fit_knows_the_saturation(seed):
    # resonant probe: the condensate's centre has OD ~ 10, the camera reads at most 2.2
    stray = math.exp(-2.2)
    image = _camera_image(
        12_000, 40_000, 180.0, 8.0, (6.0, 10.0), seed, psf_px=0.25, stray_light=stray
    )
    assert image.max() < 2.4
    fit = fit_bimodal_2d(
        image, PIXCAL_UM, time_of_flight_ms=8.0, resolution_um=1.1, saturation_od=2.2
    )
    assert fit.saturation_od == 2.2 and fit.model == "bimodal"
    assert fit.params[3] > 5.0  # the true peak OD, above what the camera shows
    assert fit.temperature_nk == pytest.approx(180.0, rel=0.05)
    assert fit.thermal_atom_number == pytest.approx(12_000, rel=0.05)
    assert fit.condensed_atom_number == pytest.approx(40_000, rel=0.05)
    assert abs(fit.temperature_nk - 180.0) < 3 * fit.temperature_error_nk
    assert np.nanmax(fit.model_image) < 2.2 + 0.05
    # a fit that takes the flat top at face value loses most of the condensate
    naive = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=8.0, resolution_um=1.1)
    assert naive.condensed_atom_number < 0.7 * 40_000


@pytest.mark.parametrize(
    ("n_thermal", "n_condensed", "temperature_nk", "radii_px", "seed"),
    [
        # peak ODs: thermal 0.43, 0.77, 0.58, 0.32; condensate 1.6, 1.6, 1.2, 2.0
        (8_000, 8_000, 180.0, (6.0, 10.0), 0),
        (12_000, 6_000, 150.0, (5.0, 9.0), 1),
        (15_000, 4_000, 250.0, (5.0, 8.0), 2),
        (4_000, 10_000, 120.0, (6.0, 10.0), 3),
    ],
)
def test_saturated_bose_cloud_beside_a_condensate_gives_temperature_and_atoms(
    n_thermal, n_condensed, temperature_nk, radii_px, seed
):
    image = _camera_image(n_thermal, n_condensed, temperature_nk, 8.0, radii_px, seed)
    fit = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=8.0)
    assert fit.model == "bimodal" and fit.thermal_profile == "bose"
    assert fit.temperature_nk == pytest.approx(temperature_nk, rel=0.05)
    assert fit.thermal_atom_number == pytest.approx(n_thermal, rel=0.05)
    assert fit.condensed_atom_number == pytest.approx(n_condensed, rel=0.05)
    assert abs(fit.params[6] - 0.3) < 0.1 and abs(fit.params[7] + 0.6) < 0.1
    # the temperature's standard error covers the truth
    assert abs(fit.temperature_nk - temperature_nk) < 3 * fit.temperature_error_nk
    # the classical Gaussian on the same image reads the temperature far too low
    gaussian = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=8.0, thermal_profile="gaussian")
    assert gaussian.thermal_profile == "gaussian"
    assert gaussian.temperature_nk < 0.93 * temperature_nk


def test_point_spread_function_and_pixels_are_modelled():
    # a faint thermal cloud (peak OD 0.13) beside a dense condensate (2.6), no noise: the
    # blur of a quarter pixel moves a fit that ignores it; the fit that knows it is exact
    image = _camera_image(2_500, 10_000, 180.0, 8.0, (5.0, 9.0), 0, psf_px=0.25, noise_od=0)
    knows = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=8.0, resolution_um=0.25 * 4.4)
    assert knows.temperature_nk == pytest.approx(180.0, rel=0.02)
    assert knows.resolution_px == pytest.approx(0.25) and knows.subpixels == 3
    # finer integration over each pixel: exact
    finer = fit_bimodal_2d(
        image, PIXCAL_UM, time_of_flight_ms=8.0, resolution_um=0.25 * 4.4, subpixels=5
    )
    assert finer.temperature_nk == pytest.approx(180.0, rel=0.005)
    assert finer.thermal_atom_number == pytest.approx(2_500, rel=0.005)
    ignores = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=8.0)
    assert abs(ignores.temperature_nk / 180.0 - 1) > 0.03
    # and pixel centres alone (no integration over the pixel) miss by more still
    centres = fit_bimodal_2d(
        image, PIXCAL_UM, time_of_flight_ms=8.0, resolution_um=1.1, subpixels=1
    )
    assert abs(centres.temperature_nk / 180.0 - 1) > 0.05
    # the model image is the fitted camera model: the residual is tiny
    assert np.nanmax(np.abs(finer.residual)) < 2e-3


def test_cloud_above_tc_keeps_the_classical_gaussian():
    # no condensate: the classical Gaussian is chosen and gives T
    image, _ = _physical_image(
        n_thermal=40_000,
        n_condensed=0,
        temperature_nk=300.0,
        tof_ms=15.0,
        radii_px=(0.0, 0.0),
        freqs_hz=(50.0, 400.0),
    )
    fit = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=15.0)
    assert fit.model == "gaussian" and fit.thermal_profile == "gaussian"
    assert fit.condensed_atom_number == 0.0
    assert fit.temperature_nk == pytest.approx(300.0, rel=0.04)


def test_new_arguments_are_checked():
    image = _image([0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 0.0, 0.0, 0.0])
    for bad in (0.0, -1.0, float("nan"), "2", True):
        with pytest.raises(ValidationError, match="saturation_od"):
            fit_bimodal_2d(image, PIXCAL_UM, saturation_od=bad)
    with pytest.raises(ValidationError, match="thermal_profile"):
        fit_bimodal_2d(image, thermal_profile="boltzmann")
    for bad in (0, 9, 2.5, True):
        with pytest.raises(ValidationError, match="subpixels"):
            fit_bimodal_2d(image, subpixels=bad)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="resolution_um"):
            fit_bimodal_2d(image, resolution_um=bad)


# --------------------------------------------------------------------------- just above T_c


def _bose_gas_image(n_atoms, fugacity, temperature_nk, tof_ms, seed, noise_od=0.026):
    """A noisy TOF image of an ideal Bose gas of fugacity z < 1, built term by term.

    Each Boltzmann term j of the gas is a Gaussian of weight z^j / j^3 (its share of
    the atoms) and widths sigma / sqrt(j); the column density is their sum.
    """
    pix_m = PIXCAL_UM * 1e-6
    sigmas = _expanded_sigmas_px(temperature_nk, tof_ms)
    x, y = image_space(SHAPE)
    dx, dy = x - 0.4, y + 0.3
    weights = [fugacity**j / j**3 for j in range(1, 400)]
    column = np.zeros(SHAPE)  # atoms per pixel
    for j, w in enumerate(weights, start=1):
        sx, sy = sigmas[0] / math.sqrt(j), sigmas[1] / math.sqrt(j)
        column += w * np.exp(-0.5 * (dx / sx) ** 2 - 0.5 * (dy / sy) ** 2) / (2 * math.pi * sx * sy)
    column *= n_atoms / sum(weights)
    od = column * RESONANT_CROSS_SECTION_M2 / pix_m**2
    return od + np.random.default_rng(seed).normal(0.0, noise_od, SHAPE)


@pytest.mark.parametrize(("fugacity", "seed"), [(0.95, 0), (0.8, 1), (0.6, 2), (0.35, 3)])
def test_a_bose_gas_just_above_tc_is_neither_a_gaussian_nor_a_small_condensate(fugacity, seed):
    image = _bose_gas_image(100_000, fugacity, 450.0, 8.0, seed)
    fit = fit_bimodal_2d(image, PIXCAL_UM, time_of_flight_ms=8.0)
    assert fit.model == "gaussian" and fit.thermal_profile == "bose"
    assert fit.condensed_atom_number == 0.0
    assert fit.fugacity == pytest.approx(fugacity, abs=0.08)
    assert fit.temperature_nk == pytest.approx(450.0, rel=0.03)
    assert fit.thermal_atom_number == pytest.approx(100_000, rel=0.03)
    # the classical Gaussian alone reads a peaked Bose gas too cold
    gaussian = fit_bimodal_2d(image, PIXCAL_UM, model="gaussian", time_of_flight_ms=8.0)
    assert gaussian.temperature_nk < 450.0 * (1.0 - 0.1 * fugacity)


def test_bose_cloud_of_a_fugacity_holds_its_atoms_and_tends_to_the_gaussian():
    x, y = np.meshgrid(np.linspace(-60, 60, 1201), np.linspace(-60, 60, 1201))
    area = (120 / 1200) ** 2
    for z in (1.0, 0.7, 0.2):
        od = bose_cloud_od(x, y, 1.0, 6.0, 5.0, 0.0, 0.0, fugacity=z)
        g2 = polylog2(z)
        g3 = sum(z**k / k**3 for k in range(1, 100_000))
        assert od.max() == pytest.approx(1.0, rel=1e-3)
        assert od.sum() * area == pytest.approx(2 * math.pi * 30.0 * g3 / g2, rel=1e-4)
        fit = BimodalFit(
            np.array([1.0, 6.0, 5.0, 0, 0, 0, 0, 0, 0]),
            np.zeros((9, 9)),
            x,
            x,
            1.0,
            PIXCAL_UM,
            thermal_profile="bose",
            fugacity=z,
        )
        per_od_pixel = (PIXCAL_UM * 1e-6) ** 2 / RESONANT_CROSS_SECTION_M2
        assert fit.thermal_atom_number == pytest.approx(od.sum() * area * per_od_pixel, rel=1e-4)
    thin = bose_cloud_od(x, y, 1.0, 6.0, 5.0, 0.0, 0.0, fugacity=1e-4)
    assert np.allclose(thin, thermal_cloud_od(x, y, 1.0, 6.0, 5.0, 0.0, 0.0), atol=1e-4)
