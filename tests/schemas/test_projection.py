"""The projection model: what the atoms feel, checked against analytic profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oqtant import projection as P
from oqtant.constants import KHZ_TO_J, RB87_MASS_KG
from oqtant.schemas import job

RAMP = dict(
    frequencies_mhz=[17.0, 8.0, 4.0, 1.2, 0.045], powers_mw=[500.0, 500.0, 475.0, 360.0, 220.0]
)


def run(barriers=None, landscape=None, lasers=None, end_time_ms=50.0) -> job.InputValues:
    return job.InputValues(
        end_time_ms=end_time_ms,
        image_type="IN_TRAP",
        rf_evaporation=job.RfEvaporation(**RAMP),
        optical_barriers=barriers,
        optical_landscape=landscape,
        lasers=lasers,
    )


def barrier(position=0.0, height=50.0, width=5.0, shape="GAUSSIAN", times=(0.0, 10.0)):
    n = len(times)
    return job.Barrier(
        times_ms=list(times),
        positions_um=[position] * n,
        heights_khz=[height] * n,
        widths_um=[width] * n,
        shape=shape,
    )


def full_width_at(x, profile, fraction):
    """Width of the region where profile > fraction * max."""
    above = x[profile > fraction * profile.max()]
    return above[-1] - above[0]


X_FINE = np.linspace(-30.0, 30.0, 6001)  # 0.01 um steps


# --------------------------------------------------------------------------- magnetic trap


def test_magnetic_trap_is_harmonic_50_hz():
    x = np.array([-10.0, 0.0, 10.0, 20.0])
    v = P.magnetic_potential_khz(x)
    omega = 2 * math.pi * 50.0
    # drawn as notebooks for the reference client draw it: 87 u, h = 6.626e-34 J s
    expected = 0.5 * 87 * 1.66054e-27 * omega**2 * (x * 1e-6) ** 2 / 6.626e-34 / 1e3
    np.testing.assert_allclose(v, expected, rtol=1e-12)
    exact = 0.5 * RB87_MASS_KG * omega**2 * (x * 1e-6) ** 2 / KHZ_TO_J
    np.testing.assert_allclose(v, exact, rtol=2e-3)
    assert v[1] == 0.0
    # hbar omega / 2 = 25 Hz at the oscillator length 1.52 um, so about 1.07 kHz at 10 um
    assert 1.07 < v[2] < 1.08
    assert v[3] == pytest.approx(4 * v[2])


# --------------------------------------------------------------------------- ideal profile


@pytest.mark.parametrize(
    "shape, width, at, expected_fraction",
    [
        ("GAUSSIAN", 4.0, 4.0, math.exp(-0.5)),  # width is sigma
        ("LORENTZIAN", 4.0, 4.0, 0.5),  # width is HWHM
        ("SQUARE", 4.0, 3.99, 1.0),  # width is the half width
        ("SQUARE", 4.0, 4.01, 0.0),
        ("NATIVE", 0.5, P.SPOT_SIGMA_UM, math.exp(-0.5)),  # one spot, sigma 0.55 um
    ],
)
def test_barrier_shapes_follow_their_width_conventions(shape, width, at, expected_fraction):
    v = P.ideal_potential_khz(run([barrier(position=10.0, height=40.0, width=width, shape=shape)]),
                              [5.0], [10.0, 10.0 + at])[0]
    assert v[0] == pytest.approx(40.0)
    assert v[1] == pytest.approx(40.0 * expected_fraction, abs=1e-9)


def test_barrier_is_dark_outside_its_times_and_interpolates_inside():
    b = job.Barrier(times_ms=[2.0, 6.0], positions_um=[0.0, 8.0], heights_khz=[10.0, 30.0],
                    widths_um=[2.0, 2.0])
    t = np.array([1.9, 2.0, 4.0, 6.0, 6.1])
    ideal = P.ideal_potential_khz(run([b]), t, [0.0, 4.0, 8.0])
    assert np.all(ideal[0] == 0.0) and np.all(ideal[-1] == 0.0)
    assert ideal[1, 0] == pytest.approx(10.0)
    assert ideal[2, 1] == pytest.approx(20.0)  # half way: at 4 um, 20 kHz
    assert ideal[3, 2] == pytest.approx(30.0)


def test_barriers_add_up():
    b1, b2 = barrier(-10.0, 20.0, 2.0), barrier(10.0, 30.0, 2.0)
    x = np.linspace(-20, 20, 81)
    both = P.ideal_potential_khz(run([b1, b2]), [3.0], x)
    sum_ = P.ideal_potential_khz(run([b1]), [3.0], x) + P.ideal_potential_khz(run([b2]), [3.0], x)
    np.testing.assert_allclose(both, sum_)


def landscape(kind="LINEAR"):
    return job.OpticalLandscape(
        interpolation=kind,
        landscapes=[
            job.Landscape(time_ms=t, positions_um=[-10.0, 0.0, 10.0], potentials_khz=[0.0, h, 0.0])
            for t, h in ((2.0, 20.0), (6.0, 40.0))
        ],
    )


def test_landscape_interpolates_in_space_and_time_and_is_dark_outside():
    t = np.array([1.0, 2.0, 4.0, 6.0, 7.0])
    x = np.array([-20.0, -5.0, 0.0, 5.0, 20.0])
    ideal = P.ideal_potential_khz(run(landscape=landscape()), t, x)
    assert np.all(ideal[0] == 0) and np.all(ideal[-1] == 0)
    np.testing.assert_allclose(ideal[1], [0.0, 10.0, 20.0, 10.0, 0.0])
    np.testing.assert_allclose(ideal[2], [0.0, 15.0, 30.0, 15.0, 0.0])
    np.testing.assert_allclose(ideal[3], [0.0, 20.0, 40.0, 20.0, 0.0])


@pytest.mark.parametrize("kind", ["OFF", "NEXT", "SMOOTH", "CUBIC"])
def test_landscape_time_interpolation_kinds(kind):
    ideal = P.ideal_potential_khz(run(landscape=landscape(kind)), [2.0, 4.0, 5.9], [0.0])[:, 0]
    expected = {
        "OFF": [20.0, 20.0, 20.0],
        "NEXT": [20.0, 40.0, 40.0],
        # two points: smooth and cubic both reduce to the straight line
        "SMOOTH": [20.0, 30.0, 39.5],
        "CUBIC": [20.0, 30.0, 39.5],
    }[kind]
    np.testing.assert_allclose(ideal, expected, atol=1e-9)


# --------------------------------------------------------------------------- projection


def test_wide_flat_request_renders_flat_in_the_middle():
    flat = job.Landscape(time_ms=0.0, positions_um=[-50.0, 50.0], potentials_khz=[30.0, 30.0])
    later = flat.model_copy(update={"time_ms": 10.0})
    values = run(landscape=job.OpticalLandscape(landscapes=[flat, later]))
    x = np.linspace(-30, 30, 3001)
    felt = P.projected_potential_khz(values, [5.0], x)[0]
    # exact at the spots; between two spots the sum of Gaussians dips by the
    # ripple of 1 um spacing at sigma 0.55 um, about 1%
    s = P.SPOT_SIGMA_UM
    k = np.arange(-10, 11)
    ripple = 1 - np.exp(-((k + 0.5) ** 2) / (2 * s * s)).sum() / np.exp(-(k**2) / (2 * s * s)).sum()
    assert 0.009 < ripple < 0.011
    assert np.max(felt) == pytest.approx(30.0, rel=1e-3)
    assert np.min(felt) == pytest.approx(30.0 * (1 - ripple), rel=1e-3)
    assert abs(felt.mean() / 30.0 - 1.0) < 0.01
    # and not the naive sum of overlapping spots, about 1.39 times too high
    naive = P.render_spots_khz(P.ideal_potential_khz(values, [5.0], P.SPOT_POSITIONS_UM), x)[0]
    assert naive.mean() / 30.0 > 1.3


def test_gaussian_barrier_renders_with_its_peak_and_width():
    values = run([barrier(position=3.0, height=50.0, width=5.0)])
    felt = P.projected_potential_khz(values, [5.0], X_FINE)[0]
    assert felt.max() == pytest.approx(50.0, rel=0.02)
    assert X_FINE[np.argmax(felt)] == pytest.approx(3.0, abs=0.05)
    # blurred by 0.55 um: sigma_eff = sqrt(5^2 + 0.55^2) within 1%
    fwhm = full_width_at(X_FINE, felt, 0.5)
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    assert sigma == pytest.approx(5.0, rel=0.01)


def test_native_barrier_renders_as_the_sharpest_feature():
    values = run([barrier(position=10.0, height=40.0, width=0.5, shape="NATIVE")])
    felt = P.projected_potential_khz(values, [5.0], X_FINE)[0]
    assert felt.max() == pytest.approx(40.0, rel=0.02)
    # the centre spot and a little of its two neighbours: 1/e^2 diameter under 3.2 um
    diameter = full_width_at(X_FINE, felt, math.exp(-2))
    assert 2.2 <= diameter < 3.2
    in_bins = P.ideal_potential_khz(values, [5.0], P.BIN_POSITIONS_UM).reshape(1, 121, -1)
    at_spots = P.ideal_potential_khz(values, [5.0], P.SPOT_POSITIONS_UM)
    weights = P.spot_weights_khz(at_spots, in_bins)[0]
    lit = weights > 0.05 * weights.max()
    assert list(P.SPOT_POSITIONS_UM[lit]) == [9.0, 10.0, 11.0]
    assert weights.argmax() == 70


def test_narrow_barrier_between_spots_keeps_its_height():
    values = run([barrier(position=0.5, height=60.0, width=0.5, shape="NATIVE")])
    felt = P.projected_potential_khz(values, [5.0], X_FINE)[0]
    assert felt.max() == pytest.approx(60.0, rel=0.02)
    assert X_FINE[np.argmax(felt)] == pytest.approx(0.5, abs=0.1)
    # two spots light it: wider than one spot, but not much
    assert 2.2 < full_width_at(X_FINE, felt, math.exp(-2)) < 3.5


def test_square_barrier_edges_do_not_overshoot():
    values = run([barrier(position=-3.0, height=40.0, width=5.0, shape="SQUARE")])
    felt = P.projected_potential_khz(values, [5.0], X_FINE)[0]
    assert felt.max() < 40.0 * 1.01
    inside = felt[np.abs(X_FINE + 3.0) <= 4.0]
    assert inside.min() > 40.0 * 0.95
    # the edges are blurred over about the spot size: half height at the edges
    assert full_width_at(X_FINE, felt, 0.5) == pytest.approx(10.0, abs=1.2)
    assert felt[np.abs(X_FINE + 3.0) >= 8.0].max() < 0.4


def test_project_profile_is_vectorised_over_leading_axes():
    rng = np.random.default_rng(1)
    requests = rng.uniform(0, 50, size=(2, 3, 121))
    x = np.linspace(-5, 5, 11)
    out = P.project_profile(requests, x)
    assert out.shape == (2, 3, 11)
    np.testing.assert_allclose(out[1, 2], P.project_profile(requests[1, 2], x))


def test_spot_weights_are_never_negative_and_dark_stays_dark():
    square = np.where(np.abs(P.SPOT_POSITIONS_UM) <= 5, 60.0, 0.0)
    weights = P.spot_weights_khz(square)
    assert np.all(weights >= 0)
    assert np.all(weights[np.abs(P.SPOT_POSITIONS_UM) > 5] == 0)
    with pytest.raises(ValueError, match="121"):
        P.spot_weights_khz(np.zeros(120))


def test_clipped_to_0_100_khz():
    b1 = barrier(position=0.0, height=90.0, width=5.0)
    b2 = barrier(position=1.0, height=90.0, width=5.0)
    felt = P.projected_potential_khz(run([b1, b2]), [5.0], X_FINE)[0]
    ideal = P.ideal_potential_khz(run([b1, b2]), [5.0], X_FINE)[0]
    assert ideal.max() > 170
    assert felt.max() == pytest.approx(100.0)
    assert felt.min() >= 0.0
    assert np.sum(felt >= 100.0 - 1e-9) > 100  # a flat, clipped top


def test_held_between_updates():
    b = job.Barrier(times_ms=[0.0, 10.0], positions_um=[0.0, 0.0], heights_khz=[0.0, 100.0],
                    widths_um=[5.0, 5.0])
    t = np.array([2.0, 2.03, 2.06, 2.0999, 2.1, 0.3])
    felt = P.projected_potential_khz(run([b]), t, [0.0])[:, 0]
    assert felt[0] == felt[1] == felt[2] == felt[3]
    assert felt[0] == pytest.approx(20.0, rel=0.01)
    assert felt[4] == pytest.approx(21.0, rel=0.01)
    assert felt[5] == pytest.approx(3.0, rel=0.01)  # 0.3 / 0.1 is 2.999...: still the 0.3 update
    np.testing.assert_allclose(P.update_times_ms([0.05, 0.1, 0.29999, 0.3]), [0.0, 0.1, 0.2, 0.3])


def test_terminator_profile_and_timing():
    laser = job.Laser(pulses=[job.Pulse(times_ms=[2.0, 5.0])])
    values = run(lasers=[laser])
    x = np.linspace(0, 60, 6001)
    beam = P.terminator_intensity(values, [1.9, 2.0, 3.0, 5.0, 5.1], x)
    assert np.all(beam[0] == 0) and np.all(beam[-1] == 0)
    on = beam[2]
    assert on.max() == pytest.approx(1.0) and x[np.argmax(on)] == pytest.approx(30.0)
    # 1/e^2 diameter 20.7 um
    assert full_width_at(x, on, math.exp(-2)) == pytest.approx(20.7, abs=0.02)
    assert np.all((beam >= 0) & (beam <= 1))
    assert np.all(P.terminator_intensity(run(), [3.0], x) == 0)


def test_shapes_and_range_of_a_full_run():
    rng = np.random.default_rng(0)
    times = list(np.round(np.linspace(0, 200, 20), 1))
    barriers = [
        job.Barrier(times_ms=times, positions_um=list(rng.uniform(-50, 50, 20)),
                    heights_khz=list(rng.uniform(0, 60, 20)),
                    widths_um=list(rng.uniform(0.5, 5, 20)),
                    shape=shape)
        for shape in ["GAUSSIAN", "LORENTZIAN", "SQUARE"] * 3 + ["GAUSSIAN"]
    ]
    values = run(barriers, end_time_ms=200.0)
    t = np.linspace(0, 200, 2000)
    x = np.linspace(-60, 60, 1000)
    felt = P.projected_potential_khz(values, t, x)  # its speed: benchmarks/bench_projection.py
    assert felt.shape == (2000, 1000)
    assert np.all((felt >= 0) & (felt <= 100))
