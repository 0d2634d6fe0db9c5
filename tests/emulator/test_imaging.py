"""Absorption frames: calibration, noise and geometry of the emulated cameras."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oqtant.emulator import CameraSettings
from oqtant.emulator._imaging import absorption_frames, mot_image, pixel_centres_um

CAMERA = CameraSettings(rows=100, columns=100, pixcal_um=4.4, resolution_um=2.0)
SIGMA_M2 = 1e-13


def uniform(n_per_m2):
    return lambda x, y: np.full((np.size(y), np.size(x)), n_per_m2)


def test_pixel_centres_put_the_centre_pixel_at_zero():
    x = pixel_centres_um(100, 4.4)
    assert x[50] == 0.0 and x[51] == pytest.approx(4.4)
    fine = pixel_centres_um(100, 4.4, oversample=3)
    assert fine.reshape(100, 3).mean(axis=1) == pytest.approx(x)


def test_empty_field_has_the_shot_noise_of_the_probe():
    frames = absorption_frames(uniform(0.0), CAMERA, SIGMA_M2, np.random.default_rng(1))
    i0, r = CAMERA.background_photoelectrons, CAMERA.read_noise_electrons
    expected = math.sqrt(2 * (i0 + 2 * r**2 + 2 / 12)) / i0  # atoms and background, each minus dark
    assert np.std(frames.od) == pytest.approx(expected, rel=0.1)
    assert abs(np.mean(frames.od)) < 0.02  # probe drift between the frames is small
    assert np.mean(frames.dark) == pytest.approx(CAMERA.adc_offset_counts, abs=1.0)
    assert np.mean(frames.background) == pytest.approx(i0 + CAMERA.adc_offset_counts, rel=0.02)


def test_optical_density_is_column_density_times_cross_section():
    n = 1.0 / SIGMA_M2  # OD 1
    frames = absorption_frames(uniform(n), CAMERA, SIGMA_M2, np.random.default_rng(2))
    assert np.mean(frames.od) == pytest.approx(1.0, abs=0.02)
    assert np.allclose(frames.od_noiseless, 1.0)


def test_frames_are_reproducible_from_the_generator_seed():
    a = absorption_frames(uniform(5e12), CAMERA, SIGMA_M2, np.random.default_rng(7))
    b = absorption_frames(uniform(5e12), CAMERA, SIGMA_M2, np.random.default_rng(7))
    c = absorption_frames(uniform(5e12), CAMERA, SIGMA_M2, np.random.default_rng(8))
    assert np.array_equal(a.atoms, b.atoms) and np.array_equal(a.od, b.od)
    assert not np.array_equal(a.atoms, c.atoms)


def test_cloud_lands_where_the_position_says_and_is_blurred_by_the_optics():
    def spot(x, y):  # a 1 um wide cloud: narrower than the resolution
        return 2e13 * np.exp(-0.5 * (x[None, :] ** 2 + y[:, None] ** 2) / 1.0**2)

    cam = CameraSettings(rows=64, columns=64, pixcal_um=0.5, resolution_um=2.0, oversample=1)
    frames = absorption_frames(spot, cam, SIGMA_M2, np.random.default_rng(3), centre_px=(6.0, -4.0))
    row, col = np.unravel_index(np.argmax(frames.od_noiseless), frames.od_noiseless.shape)
    assert (row, col) == (32 - 4, 32 + 6)
    profile = frames.od_noiseless[row]
    x = pixel_centres_um(64, 0.5) - 3.0
    width = math.sqrt(np.sum(profile * x**2) / np.sum(profile))
    assert width == pytest.approx(math.sqrt(1.0**2 + 2.0**2), rel=0.1)


def test_mot_fluorescence_counts_the_atoms():
    rng = np.random.default_rng(4)
    image = mot_image(1e7, rng, counts_per_atom=0.4)
    assert image.shape == (352, 217)
    assert image.max() <= 4095
    border = np.median(np.concatenate([image[:10].ravel(), image[-10:].ravel()]))
    assert np.sum(image - border) / 0.4 == pytest.approx(1e7, rel=0.02)
