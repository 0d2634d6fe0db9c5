"""What the atoms feel: the magnetic trap and the light of the projection system.

Units: positions in um, times in ms, energies E/h in kHz. Arrays of potentials
have shape ``(nt, nx)``: one row per time, one column per position.

The projection system paints light along x with 121 Gaussian spots, one every
1 um from -60 to 60 um, each of 1/e^2 diameter 2.2 um (sigma = 0.55 um). What
the atoms feel at a time is

1. the *ideal* (requested) profile: the sum of the barriers and the landscape,
   read at the last update of the projector (updates every 0.1 ms; the light
   is held between updates);
2. sampled at the spots, and turned into non-negative spot weights by a
   multiplicative deconvolution (Richardson-Lucy iterations) so that the
   rendered profile reaches the requested value at every spot, in particular
   at every peak: neighbouring spots overlap, so using the requested values
   directly as weights would paint a flat top about 1.39 times too high;
3. rendered as the sum of the weighted spots, and clipped to 0..100 kHz.

Features narrower than the spot spacing are rendered at the resolution of the
projector: a NATIVE barrier centred on a spot is exactly one spot.
"""

from __future__ import annotations

import math

import numpy as np

from oqtant.constants import KHZ_TO_J, RB87_MASS_KG, TRAP_FREQUENCY_AXIAL_HZ
from oqtant.schemas.interpolation import interpolate_1d
from oqtant.schemas.job import InputValues, ShapeType
from oqtant.schemas.limits import pset, tset

__all__ = [
    "SPOT_POSITIONS_UM",
    "SPOT_SIGMA_UM",
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
_MATCH_TOLERANCE = 1e-4
# spots further than this many sigma apart do not overlap to float precision
_KERNEL_CUTOFF_SIGMA = 8.0


def _as_1d(values, name: str) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values, dtype=float))
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1D list of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers")
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
# The overlap matrix is well conditioned (its eigenvalues lie between 0.62 and
# 1.39), so its inverse is a stable first guess for the weights.
_SPOT_OVERLAP_INVERSE = np.linalg.inv(_SPOT_OVERLAP)


def spot_weights_khz(ideal_at_spots_khz) -> np.ndarray:
    """Non-negative spot weights whose rendering matches the requested values at the spots.

    First guess: the exact deconvolution of the spot overlap (a linear solve),
    with dark requests kept dark and negative weights (ringing next to sharp
    edges) removed, since light cannot be negative. Then multiplicative
    (Richardson-Lucy) corrections, each weight rescaled by requested / rendered
    at its spot, until every spot matches; they keep the weights non-negative.

    Args:
        ideal_at_spots_khz: (..., 121) requested energies at the spots; negative
            values are treated as 0.

    Returns:
        (..., 121) weights in kHz.
    """
    ideal = np.clip(np.asarray(ideal_at_spots_khz, dtype=float), 0.0, None)
    if ideal.shape[-1] != pset.num_projected_spots:
        raise ValueError(
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
    for _ in range(_MAX_ITERATIONS):
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
    return weights.reshape(*lead, pset.num_projected_spots)


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


def project_profile(ideal_at_spots_khz, positions_um) -> np.ndarray:
    """Render a requested profile through the projection system (no clipping, no timing).

    Args:
        ideal_at_spots_khz: (..., 121) requested energies at the 121 spots.
        positions_um: (nx,) where to evaluate.

    Returns:
        (..., nx) energies in kHz: corrected spot weights, rendered.
    """
    return render_spots_khz(spot_weights_khz(ideal_at_spots_khz), positions_um)


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
    at_spots = ideal_khz(unique_t, SPOT_POSITIONS_UM)
    rendered = project_profile(at_spots, x)
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
