"""The bimodal fit recovers what synthetic images were made from."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oqtant.constants import K_B, RB87_MASS_KG, RESONANT_CROSS_SECTION_M2
from oqtant.errors import FitError, ValidationError
from oqtant.schemas.output import (
    FIT_PARAMETER_NAMES,
    BimodalFit,
    bimodal_od,
    fit_bimodal_2d,
    image_space,
    thermal_cloud_od,
    thomas_fermi_od,
)

SHAPE = (100, 100)
PIXCAL_UM = 4.4


def _image(params, noise_od=0.03, seed=0, shape=SHAPE):
    x, y = image_space(shape)
    rng = np.random.default_rng(seed)
    return bimodal_od(x, y, params) + rng.normal(0.0, noise_od, shape)


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
    # column density n = N / (2 pi sx sy) -> OD = sigma_0 * n, with sigmas in metres
    g_od = (
        n_thermal
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
    assert 0.2 < params[0] < 1.0 and 1.0 < params[3] < 3.0  # realistic peak ODs
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


def test_fit_is_fast_on_a_tof_image():
    # about 0.06 s of one core; CPU time, so that a busy machine does not fail the test
    image = _image([0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 2.3, -1.7, 0.01])
    fit_bimodal_2d(image)  # warm up
    best = math.inf
    for _ in range(3):
        start = time.process_time()
        result = fit_bimodal_2d(image)
        best = min(best, time.process_time() - start)
    assert isinstance(result, BimodalFit)
    assert best < 0.2, f"a 100 x 100 fit took {best:.3f} s of CPU"


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
