"""What the atoms feel: the magnetic trap and the light of the projection system.

Units: positions in um, times in ms, energies E/h in kHz. Arrays of potentials
have shape ``(nt, nx)``: one row per time, one column per position.

The projection system paints light along x with 121 Gaussian spots, one every
1 um from -60 to 60 um, each of 1/e^2 diameter 2.2 um (sigma = 0.55 um). What
the atoms feel at a time is

1. the *ideal* (requested) profile: the sum of the barriers and the landscape,
   read at the last update of the projector (updates every 0.1 ms; the light
   is held between updates);
2. turned into spot weights: neighbouring spots overlap, so using the
   requested values directly as weights would paint a flat top about 1.39
   times too high. Each weight is the requested value at its spot rescaled so
   that the highest rendered value in its 1 um bin (sampled every 0.1 um)
   equals the highest requested one: rendered peaks match requested peaks,
   also for a narrow barrier between two spots;
3. rendered as the sum of the weighted spots, and clipped to 0..100 kHz.

What the projector cannot do stays visible: features narrower than 2.2 um
are widened to about that size (a NATIVE barrier centred on a spot lights it
and a little of its two neighbours, about 3 um across), edges are blurred
over about 1 um, and a flat top ripples by 1% between spots.

This is the model of the reference client (the same weights and bins), so the
potentials drawn here are those notebooks written for it show; the parity
tests (tests/reference) hold it to the reference's values within 1e-6 kHz.
"""

from __future__ import annotations

import math

import numpy as np

from oqtant.constants import TRAP_FREQUENCY_AXIAL_HZ
from oqtant.errors import ValidationError
from oqtant.schemas.interpolation import interpolate_1d
from oqtant.schemas.job import InputValues, ShapeType
from oqtant.schemas.limits import pset, tset

__all__ = [
    "SPOT_POSITIONS_UM",
    "SPOT_SIGMA_UM",
    "BIN_OFFSETS_UM",
    "BIN_POSITIONS_UM",
    "TERMINATOR_RADIUS_UM",
    "magnetic_potential_khz",
    "barrier_profile_khz",
    "barriers_ideal_khz",
    "snapshot_ideal_khz",
    "landscape_ideal_khz",
    "projected_from_ideal_khz",
    "ideal_potential_khz",
    "project_profile",
    "spot_weights_khz",
    "spot_weights_at_times_khz",
    "render_spots_khz",
    "projected_potential_khz",
    "update_times_ms",
    "terminator_intensity",
]

SPOT_POSITIONS_UM: np.ndarray = np.linspace(
    pset.min_position, pset.max_position, pset.num_projected_spots
)
"""Centres of the 121 projected spots, um."""

SPOT_SIGMA_UM: float = pset.resolution_um / 4.0
"""Gaussian sigma of one spot: its 1/e^2 diameter is 4 sigma = 2.2 um."""

TERMINATOR_RADIUS_UM: float = pset.terminator_width / 2.0
"""1/e^2 intensity radius of the terminator beam, um."""

# the display convention of the trap: 87 u and h = 6.626e-34 J s, as notebooks
# written for the reference client draw it (0.1% from the exact Rb-87 values,
# well within the calibration of the 50 Hz trap frequency)
_DISPLAY_MASS_KG = 87 * 1.66054e-27
_DISPLAY_H_J_S = 6.626e-34


def _as_1d(values, name: str) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values, dtype=float))
    if array.ndim != 1:
        raise ValidationError(f"{name} must be a 1D list of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValidationError(f"{name} must be finite numbers")
    return array


# --------------------------------------------------------------------------- magnetic trap


def magnetic_potential_khz(positions_um) -> np.ndarray:
    """The harmonic magnetic trap along x, E/h in kHz, zero at x = 0.

    V(x) = m omega_x^2 x^2 / 2 with omega_x = 2 pi 50 Hz, m = 87 u, over h = 6.626e-34 J s.
    """
    x_m = _as_1d(positions_um, "positions_um") * 1e-6
    omega = 2.0 * math.pi * TRAP_FREQUENCY_AXIAL_HZ
    return 0.5 * _DISPLAY_MASS_KG * omega**2 * x_m**2 / _DISPLAY_H_J_S / 1e3


# --------------------------------------------------------------------------- ideal profile


def barrier_profile_khz(
    shape, positions_um: np.ndarray, centres_um, heights_khz, widths_um
) -> np.ndarray:
    """The ideal profile of one barrier shape, broadcast over times.

    Args:
        shape: a ShapeType (or its name).
        positions_um: (nx,) where to evaluate.
        centres_um, heights_khz, widths_um: (nt,) the barrier at each time.

    Returns:
        (nt, nx) energies in kHz. GAUSSIAN: width is sigma; LORENTZIAN: width is
        the half width at half maximum; SQUARE: width is the half width; NATIVE:
        one projected spot (sigma 0.55 um), whatever the width.
    """
    shape = ShapeType(getattr(shape, "value", shape))
    x = np.asarray(positions_um, dtype=float)[None, :]
    x0 = np.asarray(centres_um, dtype=float)[:, None]
    h = np.asarray(heights_khz, dtype=float)[:, None]
    w = np.asarray(widths_um, dtype=float)[:, None]
    # in-place arithmetic on one (nt, nx) array: this is the hot loop of the simulator
    profile = np.subtract(x, x0)
    if shape == ShapeType.SQUARE:
        np.abs(profile, out=profile)
        return np.where(profile <= w, h, 0.0)
    profile /= SPOT_SIGMA_UM if shape == ShapeType.NATIVE else w
    np.square(profile, out=profile)
    if shape == ShapeType.LORENTZIAN:
        profile += 1.0
        np.reciprocal(profile, out=profile)
    else:  # GAUSSIAN, NATIVE
        profile *= -0.5
        np.exp(profile, out=profile)
    profile *= h
    return profile


def barriers_ideal_khz(barriers, times_ms, positions_um) -> np.ndarray:
    """The requested profile of a list of barriers (wire Barrier objects), (nt, nx) kHz.

    A barrier exists from its first to its last time; its position, height and
    width are those of its program at the last 0.1 ms update of the projector.
    """
    times_ms = _as_1d(times_ms, "times_ms")
    positions_um = _as_1d(positions_um, "positions_um")
    total = np.zeros((times_ms.size, positions_um.size))
    for barrier in barriers or []:
        ts = np.asarray(barrier.times_ms, dtype=float)
        active = (times_ms >= ts[0] - 1e-9) & (times_ms <= ts[-1] + 1e-9)
        if not active.any():
            continue
        # the projector shows the program as it was at its last 0.1 ms update
        t_on = update_times_ms(times_ms[active])
        kind = barrier.interpolation
        centres = interpolate_1d(ts, barrier.positions_um, t_on, kind)
        # splines may overshoot: a barrier cannot be negative nor narrower than allowed
        heights = np.clip(interpolate_1d(ts, barrier.heights_khz, t_on, kind), 0.0, None)
        widths = np.clip(
            interpolate_1d(ts, barrier.widths_um, t_on, kind), pset.min_barrier_width, None
        )
        profile = barrier_profile_khz(barrier.shape, positions_um, centres, heights, widths)
        if active.all():
            total += profile
        else:
            total[active] += profile
    return total


def _time_weights(snapshot_times_ms: np.ndarray, times_ms: np.ndarray, kind) -> np.ndarray:
    """(nt, nsnap) weights w such that the value at t is sum_k w[t, k] * y_k.

    Valid for every interpolation kind that is linear in the values (all but SMOOTH).
    """
    n = snapshot_times_ms.size
    weights = np.empty((times_ms.size, n))
    for k in range(n):
        basis = np.zeros(n)
        basis[k] = 1.0
        weights[:, k] = interpolate_1d(snapshot_times_ms, basis, times_ms, kind, fill_value=0.0)
    return weights


def snapshot_ideal_khz(snapshot, positions_um) -> np.ndarray:
    """The requested profile of one snapshot (wire Landscape), (nx,) kHz; 0 outside its points."""
    return interpolate_1d(
        snapshot.positions_um,
        snapshot.potentials_khz,
        _as_1d(positions_um, "positions_um"),
        snapshot.spatial_interpolation,
        fill_value=0.0,
    )


def landscape_ideal_khz(landscape, times_ms, positions_um) -> np.ndarray:
    """The requested profile of a landscape (wire OpticalLandscape), (nt, nx) kHz.

    Snapshots are interpolated in time with ``landscape.interpolation``; the
    landscape is dark before its first and after its last snapshot.
    """
    times_ms = _as_1d(times_ms, "times_ms")
    positions_um = _as_1d(positions_um, "positions_um")
    if landscape is None:
        return np.zeros((times_ms.size, positions_um.size))
    snaps = landscape.landscapes
    snap_times = np.array([s.time_ms for s in snaps], dtype=float)
    # each snapshot painted on the positions, dark outside the points it gives
    profiles = np.stack([snapshot_ideal_khz(s, positions_um) for s in snaps])  # (nsnap, nx)
    kind = str(getattr(landscape.interpolation, "value", landscape.interpolation)).upper()
    if kind != "SMOOTH":
        return _time_weights(snap_times, times_ms, kind) @ profiles
    out = np.empty((times_ms.size, positions_um.size))
    for j in range(positions_um.size):  # a spline through all the snapshots, position by position
        out[:, j] = interpolate_1d(snap_times, profiles[:, j], times_ms, kind, fill_value=0.0)
    return out


def ideal_potential_khz(values: InputValues, times_ms, positions_um) -> np.ndarray:
    """The requested optical profile: barriers plus landscape, no blur, no clipping.

    A barrier is dark outside [first, last] of its times; the landscape is dark
    outside [first, last] snapshot time, and each snapshot is dark outside its
    positions.

    Args:
        values: the run.
        times_ms: (nt,) times in the experiment stage, ms.
        positions_um: (nx,) positions, um.

    Returns:
        (nt, nx) energies E/h in kHz.
    """
    t = _as_1d(times_ms, "times_ms")
    x = _as_1d(positions_um, "positions_um")
    return barriers_ideal_khz(values.optical_barriers, t, x) + landscape_ideal_khz(
        values.optical_landscape, t, x
    )


# --------------------------------------------------------------------------- projection


def _spot_kernel(positions_um: np.ndarray) -> np.ndarray:
    """(nx, 121) intensity of each unit-weight spot at each position."""
    d = (positions_um[:, None] - SPOT_POSITIONS_UM[None, :]) / SPOT_SIGMA_UM
    return np.exp(-0.5 * d**2)


BIN_SAMPLES = 10
"""Samples per 1 um bin (one bin per spot) where the peaks are compared."""
BIN_POSITIONS_UM: np.ndarray = np.arange(
    pset.min_position - pset.position_step_um / 2,
    pset.max_position + pset.position_step_um / 2,
    pset.position_step_um / BIN_SAMPLES,
)
"""(121 * 10,) sample positions of all bins, spot by spot: spot - 0.5 um to spot + 0.4 um."""
BIN_OFFSETS_UM: np.ndarray = BIN_POSITIONS_UM[:BIN_SAMPLES] - SPOT_POSITIONS_UM[0]
"""Where each spot's bin is sampled, relative to the spot."""
_BIN_KERNEL_T = _spot_kernel(BIN_POSITIONS_UM).T  # (121, 1210)


def spot_weights_khz(ideal_at_spots_khz, ideal_in_bins_khz=None) -> np.ndarray:
    """Spot weights: the request at each spot, rescaled so each bin's peak is the requested one.

    Neighbouring spots overlap, so weights equal to the request would paint a
    flat top about 1.39 times too high. Each spot's weight is its requested
    value times (highest requested value in its 1 um bin) / (highest value
    rendered there by the unscaled weights); a bin with nothing rendered gets 0.

    Args:
        ideal_at_spots_khz: (..., 121) requested energies at the spots.
        ideal_in_bins_khz: (..., 121, 10) requested energies at ``BIN_POSITIONS_UM``
            (each spot's bin); None samples the request at the spots only.

    Returns:
        (..., 121) weights in kHz.
    """
    ideal = np.asarray(ideal_at_spots_khz, dtype=float)
    n_spots = pset.num_projected_spots
    if ideal.shape[-1] != n_spots:
        raise ValidationError(
            f"ideal_at_spots_khz must have {n_spots} values on its last axis, "
            f"got shape {ideal.shape}"
        )
    if ideal_in_bins_khz is None:
        target = ideal
    else:
        bins = np.asarray(ideal_in_bins_khz, dtype=float)
        if bins.shape[-2:] != (n_spots, BIN_SAMPLES) or bins.shape[:-2] != ideal.shape[:-1]:
            raise ValidationError(
                f"ideal_in_bins_khz must have shape {(*ideal.shape[:-1], n_spots, BIN_SAMPLES)}, "
                f"got {bins.shape}"
            )
        target = bins.max(axis=-1)
    rendered = (ideal @ _BIN_KERNEL_T).reshape(*ideal.shape[:-1], n_spots, BIN_SAMPLES)
    peaks = rendered.max(axis=-1)
    scaling = np.divide(target, peaks, out=np.zeros_like(target), where=peaks != 0.0)
    return scaling * ideal


def render_spots_khz(weights_khz, positions_um) -> np.ndarray:
    """The sum of the weighted Gaussian spots at the positions (no clipping).

    Args:
        weights_khz: (..., 121) spot weights.
        positions_um: (nx,) positions.

    Returns:
        (..., nx) energies in kHz.
    """
    x = _as_1d(positions_um, "positions_um")
    return np.asarray(weights_khz, dtype=float) @ _spot_kernel(x).T


def project_profile(ideal_at_spots_khz, positions_um, ideal_in_bins_khz=None) -> np.ndarray:
    """Render a requested profile through the projection system (no clipping, no timing).

    Args:
        ideal_at_spots_khz: (..., 121) requested energies at the 121 spots.
        positions_um: (nx,) where to evaluate.
        ideal_in_bins_khz: optional (..., 121, 5) request across each spot's bin
            (see :func:`spot_weights_khz`), to match peaks between spots too.

    Returns:
        (..., nx) energies in kHz: corrected spot weights, rendered.
    """
    weights = spot_weights_khz(ideal_at_spots_khz, ideal_in_bins_khz)
    return render_spots_khz(weights, positions_um)


def update_times_ms(times_ms) -> np.ndarray:
    """The last projector update at or before each time (0.1 ms grid)."""
    t = _as_1d(times_ms, "times_ms")
    step = tset.resolution_ms
    # the tiny margin keeps 0.3 on the 0.3 update despite 0.3 / 0.1 = 2.9999...
    return np.round(np.floor(t / step + 1e-6) * step, 10)


def projected_from_ideal_khz(ideal_khz, times_ms, positions_um) -> np.ndarray:
    """Project any requested profile: ``ideal_khz(times_ms, positions_um) -> (nt, nx)``.

    Reads the request at the last 0.1 ms update, renders it by the spots and
    clips to 0..100 kHz.

    Returns:
        (nt, nx) energies E/h in kHz.
    """
    t_update = update_times_ms(times_ms)
    x = _as_1d(positions_um, "positions_um")
    unique_t, inverse = np.unique(t_update, return_inverse=True)
    rendered = render_spots_khz(spot_weights_at_times_khz(ideal_khz, unique_t), x)
    return np.clip(rendered, 0.0, pset.max_energy)[inverse.reshape(-1)]


def spot_weights_at_times_khz(ideal_khz, times_ms) -> np.ndarray:
    """(nt, 121) spot weights of the request ``ideal_khz(times_ms, positions_um)`` at each time."""
    t = np.asarray(times_ms, dtype=float)
    in_bins = np.asarray(ideal_khz(t, BIN_POSITIONS_UM)).reshape(
        t.size, pset.num_projected_spots, BIN_SAMPLES
    )
    at_spots = np.asarray(ideal_khz(t, SPOT_POSITIONS_UM)).reshape(
        t.size, pset.num_projected_spots
    )
    return spot_weights_khz(at_spots, in_bins)


def projected_potential_khz(values: InputValues, times_ms, positions_um) -> np.ndarray:
    """The optical potential as the atoms feel it.

    The requested profile at the last 0.1 ms update, rendered by the 121 spots
    (2.2 um resolution, weights corrected to reach the requested values), and
    clipped to 0..100 kHz.

    Args:
        values: the run.
        times_ms: (nt,) times, ms.
        positions_um: (nx,) positions, um.

    Returns:
        (nt, nx) energies E/h in kHz.
    """
    return projected_from_ideal_khz(
        lambda t, x: ideal_potential_khz(values, t, x), times_ms, positions_um
    )


# --------------------------------------------------------------------------- terminator


def terminator_intensity(values: InputValues, times_ms, positions_um) -> np.ndarray:
    """Relative intensity (0..1) of the terminator beam.

    A Gaussian beam centred at 30 um with 1/e^2 diameter 20.7 um, on from the
    pulse's first time to its second (both included), dark otherwise and when
    the run has no laser.

    Returns:
        (nt, nx) relative intensity.
    """
    t = _as_1d(times_ms, "times_ms")
    x = _as_1d(positions_um, "positions_um")
    on = np.zeros(t.size, dtype=bool)
    centre = pset.terminator_position
    for laser in values.lasers or []:
        centre = laser.position_um
        for pulse in laser.pulses:
            t_on, t_off = float(pulse.times_ms[0]), float(pulse.times_ms[-1])
            on |= (t >= t_on - 1e-9) & (t <= t_off + 1e-9)
    profile = np.exp(-2.0 * ((x - centre) / TERMINATOR_RADIUS_UM) ** 2)
    return on[:, None].astype(float) * profile[None, :]
