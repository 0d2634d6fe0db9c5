"""The cameras: absorption frames of a column density, and the MOT fluorescence image.

Absorption imaging: the probe beam of ``background_photoelectrons`` per pixel
crosses the cloud and is attenuated by ``exp(-n sigma)``; the optics blur the
transmitted light (Gaussian point-spread function of rms ``resolution_um``);
each pixel integrates over its area. Three frames are read out: *atoms*
(probe through the cloud), *background* (probe without atoms) and *dark* (no
probe). Each frame carries photon shot noise (Poisson), camera read noise
(Gaussian, electrons) and the offset of the analogue-to-digital converter, and
the probe power drifts slightly between the two lit frames. A small fraction
``exp(-saturation_od)`` of the probe reaches the camera without meeting the
atoms (wrong polarisation or frequency, light scattered around the cloud), so no
pixel reads more than ``saturation_od``. The optical density is
``-ln((atoms - dark) / (background - dark))``.

The machine's software then corrects the OD for a slowly varying background
estimated from the frame itself, atoms included: a fraction
``reference_fraction`` of the OD smoothed by a Gaussian of rms
``reference_sigma_um`` (x, y) is subtracted. Because the smooth estimate
contains the cloud, the correction over-subtracts around it and leaves the
negative halo that every real in-trap frame shows (see docs/emulator.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "CameraSettings",
    "AbsorptionFrames",
    "absorption_frames",
    "pixel_centres_um",
    "mot_image",
    "subtract_smooth_reference",
]


@dataclass(frozen=True)
class CameraSettings:
    """One absorption-imaging camera and its probe."""

    rows: int
    columns: int
    pixcal_um: float  # microns per pixel in the object plane
    resolution_um: float  # rms width of the point-spread function
    background_photoelectrons: float = 3000.0
    read_noise_electrons: float = 8.0
    adc_offset_counts: float = 100.0
    full_well_counts: float = 65535.0
    probe_drift: float = 0.004  # relative rms change of the probe between frames
    saturation_od: float | None = None  # None: all the probe light can be absorbed
    oversample: int = 3  # sub-pixels per pixel side for pixel integration
    # the software's background correction (0: none): OD -= fraction * smooth(OD)
    reference_fraction: float = 0.0
    reference_sigma_x_um: float = 20.0
    reference_sigma_y_um: float = 12.5


@dataclass(frozen=True)
class AbsorptionFrames:
    """Raw frames (counts) and the optical density computed from them, all (rows, columns)."""

    atoms: np.ndarray
    background: np.ndarray
    dark: np.ndarray
    od: np.ndarray
    od_noiseless: np.ndarray  # what a perfect camera would see (same blur and pixels)


def pixel_centres_um(n: int, pixcal_um: float, oversample: int = 1) -> np.ndarray:
    """Centres of ``n`` pixels (or their sub-pixels) in um; the centre pixel ``n // 2`` is at 0.

    This is the convention of the fit: pixel ``k`` sits at ``k - round(n / 2)`` pixels.
    """
    k = np.arange(n * oversample, dtype=float)
    return ((k + 0.5) / oversample - 0.5 - round(n / 2)) * pixcal_um


def _bin(a: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return a
    r, c = a.shape
    return a.reshape(r // factor, factor, c // factor, factor).mean(axis=(1, 3))


def absorption_frames(
    column_density_fn,
    camera: CameraSettings,
    cross_section_m2: float,
    rng: np.random.Generator,
    *,
    centre_px: tuple[float, float] = (0.0, 0.0),
) -> AbsorptionFrames:
    """Image a cloud by absorption.

    Args:
        column_density_fn: ``f(x_um, y_um) -> (ny, nx)`` column density, atoms / m^2,
            for the cloud centred at 0.
        camera: the camera and probe.
        cross_section_m2: absorption cross-section of one atom for this probe.
        rng: source of all noise.
        centre_px: (x, y) position of the cloud on the sensor, pixels from the image centre.

    Returns:
        The raw frames and the optical density.
    """
    o = camera.oversample
    x = pixel_centres_um(camera.columns, camera.pixcal_um, o) - centre_px[0] * camera.pixcal_um
    y = pixel_centres_um(camera.rows, camera.pixcal_um, o) - centre_px[1] * camera.pixcal_um
    od_fine = np.asarray(column_density_fn(x, y)) * cross_section_m2
    transmission = np.exp(-od_fine)
    blur_px = camera.resolution_um / (camera.pixcal_um / o)
    transmission = ndimage.gaussian_filter(transmission, blur_px, mode="nearest")
    transmission = _bin(transmission, o)
    if camera.saturation_od is not None:
        stray = math.exp(-camera.saturation_od)
        transmission = stray + (1.0 - stray) * transmission

    i0 = camera.background_photoelectrons
    lit_atoms = i0 * (1.0 + camera.probe_drift * rng.standard_normal())
    lit_bg = i0 * (1.0 + camera.probe_drift * rng.standard_normal())
    shape = transmission.shape

    def read(photoelectrons):
        electrons = rng.poisson(np.clip(photoelectrons, 0.0, None)).astype(float)
        counts = electrons + camera.read_noise_electrons * rng.standard_normal(shape)
        return np.clip(np.round(counts + camera.adc_offset_counts), 0.0, camera.full_well_counts)

    atoms = read(lit_atoms * transmission)
    background = read(np.full(shape, lit_bg))
    dark = read(np.zeros(shape))
    # one photoelectron is the least light a pixel can report; deeper shadows saturate the OD
    signal = np.clip(atoms - dark, 1.0, None)
    reference = np.clip(background - dark, 1.0, None)
    od = -np.log(signal / reference)
    od_noiseless = -np.log(transmission)
    if camera.reference_fraction > 0:
        od = subtract_smooth_reference(od, camera)
        od_noiseless = subtract_smooth_reference(od_noiseless, camera)
    return AbsorptionFrames(
        atoms=atoms, background=background, dark=dark, od=od, od_noiseless=od_noiseless
    )


def subtract_smooth_reference(od: np.ndarray, camera: CameraSettings) -> np.ndarray:
    """The machine's background correction: ``od - fraction * gaussian_blur(od)``.

    The blur (rms ``reference_sigma_x_um`` along the columns, ``reference_sigma_y_um``
    along the rows) is taken over the whole frame, the cloud included.
    """
    sigma_px = (
        camera.reference_sigma_y_um / camera.pixcal_um,
        camera.reference_sigma_x_um / camera.pixcal_um,
    )
    smooth = ndimage.gaussian_filter(od, sigma_px, mode="nearest")
    return od - camera.reference_fraction * smooth


def mot_image(
    atom_number: float,
    rng: np.random.Generator,
    *,
    rows: int = 352,
    columns: int = 217,
    counts_per_atom: float = 0.4,
    sigma_px: tuple[float, float] = (13.0, 26.0),
    tilt_rad: float = -0.35,
    background_counts: float = 10.0,
    read_noise_counts: float = 3.0,
    max_counts: float = 4095.0,
) -> np.ndarray:
    """Fluorescence image (counts) of a MOT of ``atom_number`` atoms: a tilted Gaussian cloud.

    ``counts_per_atom`` folds together the scattering rate, exposure, collection
    solid angle and quantum efficiency; the 12-bit camera saturates at 4095.
    """
    r, c = np.mgrid[0:rows, 0:columns].astype(float)
    dr = r - rows / 2 + rng.normal(0, 2.0)
    dc = c - columns / 2 + rng.normal(0, 2.0)
    cos, sin = math.cos(tilt_rad), math.sin(tilt_rad)
    u = cos * dc + sin * dr
    v = -sin * dc + cos * dr
    shape = np.exp(-0.5 * (u / sigma_px[0]) ** 2 - 0.5 * (v / sigma_px[1]) ** 2)
    shape /= 2 * math.pi * sigma_px[0] * sigma_px[1]
    expected = atom_number * counts_per_atom * shape + background_counts
    counts = rng.poisson(expected) + read_noise_counts * rng.standard_normal(expected.shape)
    return np.clip(np.round(counts), 0.0, max_counts)
