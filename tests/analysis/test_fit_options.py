"""The fit as one function with its options and its result as objects (oqtant.analysis)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.special import spence

from oqtant import errors
from oqtant.analysis import (
    BimodalFit,
    FitOptions,
    FitResult,
    bimodal_od,
    fit_bimodal_2d,
    image_space,
    polylog2,
)
from oqtant.analysis.bose import g2_exp

SHAPE = (100, 100)
TRUE = np.array([0.6, 9.0, 7.0, 1.5, 6.0, 4.5, 1.0, -0.5, 0.02])


def _image(seed=0):
    x, y = image_space(SHAPE)
    rng = np.random.default_rng(seed)
    return bimodal_od(x, y, TRUE, "bose", subpixels=3) + rng.normal(0.0, 0.02, SHAPE)


def test_options_as_an_object_fit_as_the_keywords_do():
    image = _image()
    by_keywords = fit_bimodal_2d(image, 4.4, model="bimodal", subpixels=2, time_of_flight_ms=10)
    options = FitOptions(model="bimodal", subpixels=2, time_of_flight_ms=10)
    by_options = fit_bimodal_2d(image, 4.4, options=options)
    assert isinstance(by_options, FitResult) and FitResult is BimodalFit
    np.testing.assert_allclose(by_options.params, by_keywords.params, rtol=1e-10)
    assert by_options.temperature_nk == pytest.approx(by_keywords.temperature_nk, rel=1e-10)
    assert by_options.model == "bimodal" and by_options.subpixels == 2
    # the fit finds the cloud it was given
    np.testing.assert_allclose(by_options.params[[0, 3]], TRUE[[0, 3]], rtol=0.1)


def test_options_are_checked_when_made_and_immutable():
    for bad, field in (
        ({"model": "lorentzian"}, "model"),
        ({"thermal_profile": "fermi"}, "thermal_profile"),
        ({"subpixels": 0}, "subpixels"),
        ({"subpixels": True}, "subpixels"),
        ({"resolution_um": -1.0}, "resolution_um"),
        ({"saturation_od": 0.0}, "saturation_od"),
    ):
        with pytest.raises(errors.ValidationError, match=field):
            FitOptions(**bad)
    options = FitOptions(model="TF")
    assert options.model == "tf"  # normalised once, when made
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.model = "auto"


def test_g2_is_scipys_spence_where_it_applies():
    z = np.linspace(0.0, 1.0, 2001)
    np.testing.assert_allclose(polylog2(z), spence(1.0 - z), rtol=0, atol=1e-13)
    # far out in the wings (z = e^-rho tiny) the series keeps full relative accuracy
    rho = np.array([5.0, 20.0, 40.0])
    k = np.arange(1, 60)[:, None]
    series = np.sum(np.exp(-k * rho) / k**2, axis=0)
    np.testing.assert_allclose(g2_exp(rho), series, rtol=1e-12)
