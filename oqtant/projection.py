"""What the atoms feel: the magnetic trap and the light of the projection system.

Units: positions in um, times in ms, energies E/h in kHz. Arrays of potentials
have shape ``(nt, nx)``: one row per time, one column per position.

The projection system paints light along x with 121 Gaussian spots, one every
1 um from -60 to 60 um, each of 1/e^2 diameter 2.2 um (sigma = 0.55 um). What
the atoms feel at a time is

1. the *ideal* (requested) profile: the sum of the barriers and the landscape,
   read at the last update of the projector (updates every 0.1 ms; the light
   is held between updates);
2. turned into non-negative spot weights: neighbouring spots overlap, so using
   the requested values directly as weights would paint a flat top about 1.39
   times too high. The weights deconvolve the overlap (a linear solve, then
   multiplicative Richardson-Lucy corrections that keep light non-negative)
   so that the rendering reaches the request at every spot; then each weight
   is rescaled so that the highest rendered value in its 1 um bin equals the
   highest requested one: the rendered peaks match the requested peaks, also
   for a narrow barrier between two spots, and sharp edges do not overshoot;
3. rendered as the sum of the weighted spots, and clipped to 0..100 kHz.

What the projector cannot do stays visible: features narrower than 2.2 um
are widened to about that size (a NATIVE barrier centred on a spot is exactly
one spot), edges are blurred over about 1 um, and a flat top ripples by 1%
between spots.
"""

from __future__ import annotations

import math

import numpy as np

from oqtant.constants import KHZ_TO_J, RB87_MASS_KG, TRAP_FREQUENCY_AXIAL_HZ
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

# Richardson-Lucy corrections after the linear first guess; the loop stops for
# each time as soon as every spot matches to _MATCH_TOLERANCE of its peak.
_MAX_ITERATIONS = 40
# with the peak matching to follow, fewer are needed (it does the fine work)
_MAX_ITERATIONS_BEFORE_PEAKS = 10
_MATCH_TOLERANCE = 1e-4
# spots further than this many sigma apart do not overlap to float precision
_KERNEL_CUTOFF_SIGMA = 8.0


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

    V(x) = m omega_x^2 x^2 / 2 with omega_x = 2 pi 50 Hz.
    """
    x_m = _as_1d(positions_um, "positions_um") * 1e-6
    omega = 2.0 * math.pi * TRAP_FREQUENCY_AXIAL_HZ
    return 0.5 * RB87_MASS_KG * omega**2 * x_m**2 / KHZ_TO_J


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
    """The requested profile of a list of barriers (wire Barrier objects), (nt, nx) kHz."""
    times_ms = _as_1d(times_ms, "times_ms")
    positions_um = _as_1d(positions_um, "positions_um")
    total = np.zeros((times_ms.size, positions_um.size))
    for barrier in barriers or []:
        ts = np.asarray(barrier.times_ms, dtype=float)
        active = (times_ms >= ts[0] - 1e-9) & (times_ms <= ts[-1] + 1e-9)
        if not active.any():
            continue
        t_on = times_ms[active]
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
    for j in range(positions_um.size):  # PCHIP is not linear in the values
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
    kernel = np.exp(-0.5 * d**2)
    kernel[np.abs(d) > _KERNEL_CUTOFF_SIGMA] = 0.0
    return kernel


_SPOT_OVERLAP = _spot_kernel(SPOT_POSITIONS_UM)  # (121, 121), symmetric

BIN_OFFSETS_UM: np.ndarray = np.array([-0.4, -0.2, 0.0, 0.2, 0.4])
"""Where each spot's 1 um wide bin is sampled, relative to the spot, to find its peak."""
BIN_POSITIONS_UM: np.ndarray = (SPOT_POSITIONS_UM[:, None] + BIN_OFFSETS_UM[None, :]).ravel()
"""(121 * 5,) sample positions of all bins, spot by spot; every fifth is a spot centre."""
_BIN_KERNEL_T = _spot_kernel(BIN_POSITIONS_UM).T  # (121, 605)
# passes of the peak matching: neighbouring spots share light, so each pass
# moves the others a little; three bring every bin peak within 0.5%
_PEAK_PASSES = 3
# The overlap matrix is well conditioned (its eigenvalues lie between 0.62 and
# 1.39), so its inverse is a stable first guess for the weights.
_SPOT_OVERLAP_INVERSE = np.linalg.inv(_SPOT_OVERLAP)


def spot_weights_khz(ideal_at_spots_khz, ideal_in_bins_khz=None) -> np.ndarray:
    """Non-negative spot weights whose rendering matches the request at the spots and its peaks.

    First guess: the exact deconvolution of the spot overlap (a linear solve),
    with dark requests kept dark and negative weights (ringing next to sharp
    edges) removed, since light cannot be negative. Then multiplicative
    (Richardson-Lucy) corrections, each weight rescaled by requested / rendered
    at its spot, until every spot matches; they keep the weights non-negative.

    With ``ideal_in_bins_khz`` a last correction makes the rendered peaks match
    the requested peaks: each weight is rescaled by (highest requested value
    in its 1 um bin) / (highest rendered value there). A narrow barrier
    between two spots then keeps its height, and no sharp edge overshoots.

    Args:
        ideal_at_spots_khz: (..., 121) requested energies at the spots; negative
            values are treated as 0.
        ideal_in_bins_khz: optional (..., 121, 5) requested energies at
            ``BIN_POSITIONS_UM`` (each spot's bin, sampled at ``BIN_OFFSETS_UM``).

    Returns:
        (..., 121) weights in kHz.
    """
    ideal = np.clip(np.asarray(ideal_at_spots_khz, dtype=float), 0.0, None)
    if ideal.shape[-1] != pset.num_projected_spots:
        raise ValidationError(
            f"ideal_at_spots_khz must have {pset.num_projected_spots} values on its last axis, "
            f"got shape {ideal.shape}"
        )
    lead = ideal.shape[:-1]
    ideal = ideal.reshape(-1, pset.num_projected_spots)
    lit = ideal > 0.0
    weights = ideal @ _SPOT_OVERLAP_INVERSE
    # a requested spot whose linear weight came out <= 0 restarts from a small
    # positive value, so that the multiplicative corrections can still move it
    weights = np.where(lit, np.maximum(weights, 1e-3 * ideal), 0.0)
    tolerance = _MATCH_TOLERANCE * np.maximum(ideal.max(axis=1, initial=0.0), 1e-12)
    todo = np.arange(ideal.shape[0])
    previous = np.full(ideal.shape, np.inf)
    iterations = _MAX_ITERATIONS if ideal_in_bins_khz is None else _MAX_ITERATIONS_BEFORE_PEAKS
    for _ in range(iterations):
        rendered = weights[todo] @ _SPOT_OVERLAP
        target = ideal[todo]
        # a time is done when every spot matches, or when the corrections have
        # stalled: next to sharp edges no non-negative weights match exactly
        mismatch = np.max(np.abs(rendered - target), axis=1, initial=0.0)
        change = np.max(np.abs(rendered - previous[todo]), axis=1, initial=0.0)
        off = (mismatch > tolerance[todo]) & (change > tolerance[todo])
        if not off.any():
            break
        todo, rendered, target = todo[off], rendered[off], target[off]
        previous[todo] = rendered
        ratio = np.divide(target, rendered, out=np.zeros_like(target), where=rendered > 1e-12)
        weights[todo] *= ratio
    if ideal_in_bins_khz is not None:
        weights = _match_bin_peaks(weights, ideal_in_bins_khz)
    return weights.reshape(*lead, pset.num_projected_spots)


def _match_bin_peaks(weights: np.ndarray, ideal_in_bins_khz) -> np.ndarray:
    """Rescale each spot so the highest rendered value in its bin is the highest requested."""
    n_spots, n_offsets = pset.num_projected_spots, BIN_OFFSETS_UM.size
    bins = np.asarray(ideal_in_bins_khz, dtype=float)
    if bins.shape[-2:] != (n_spots, n_offsets):
        raise ValidationError(
            f"ideal_in_bins_khz must end with shape ({n_spots}, {n_offsets}), got {bins.shape}"
        )
    target = np.clip(bins.reshape(-1, n_spots, n_offsets), 0.0, None).max(axis=-1)
    if target.shape[0] != weights.shape[0]:
        raise ValidationError("ideal_in_bins_khz and ideal_at_spots_khz must cover the same times")
    for _ in range(_PEAK_PASSES):
        rendered = (weights @ _BIN_KERNEL_T).reshape(-1, n_spots, n_offsets).max(axis=-1)
        ratio = np.divide(target, rendered, out=np.zeros_like(target), where=rendered > 1e-12)
        weights = weights * ratio
    return weights


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
    in_bins = np.asarray(ideal_khz(unique_t, BIN_POSITIONS_UM)).reshape(
        unique_t.size, pset.num_projected_spots, BIN_OFFSETS_UM.size
    )
    at_spots = in_bins[:, :, int(np.flatnonzero(BIN_OFFSETS_UM == 0.0)[0])]
    rendered = project_profile(at_spots, x, in_bins)
    return np.clip(rendered, 0.0, pset.max_energy)[inverse.reshape(-1)]


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
