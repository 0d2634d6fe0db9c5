"""User objects of the light: Barrier, Snapshot, Landscape, Pulse, Laser."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from oqtant import errors
from oqtant import projection as P
from oqtant.schemas import job
from oqtant.schemas.optical import Barrier, Landscape, Laser, Pulse, Snapshot


def assert_png_not_blank(path):
    assert path.exists() and path.stat().st_size > 0
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1


# --------------------------------------------------------------------------- Barrier


def test_barrier_is_a_wire_barrier_and_round_trips():
    b = Barrier.new(positions=[-5.0, 5.0], heights=[10.0, 20.0], widths=[2.0, 3.0],
                    times=[1.0, 9.0], shape="LORENTZIAN", interpolation="SMOOTH")
    assert isinstance(b, job.Barrier)
    wire = job.Barrier(**b.model_dump())
    again = Barrier.from_input(wire)
    assert type(again) is Barrier
    assert again.model_dump() == b.model_dump() == wire.model_dump()


def test_barrier_new_defaults_and_native_width():
    b = Barrier.new()
    assert b.times_ms == [0.0, 10.0] and b.widths_um == [1.0, 1.0] and b.shape == "GAUSSIAN"
    native = Barrier.new(widths=[3.0, 3.0], shape="NATIVE")
    assert native.widths_um == [0.5, 0.5]


def test_barrier_rejects_bad_values_naming_the_field():
    with pytest.raises(errors.ValidationError, match="heights_khz"):
        Barrier.new(heights=[0.0, 120.0])
    with pytest.raises(errors.ValidationError, match="positions_um"):
        Barrier.new(positions=[0.0, 70.0])
    with pytest.raises(errors.ValidationError, match="widths_um"):
        Barrier.new(widths=[0.1, 1.0])


def test_evolve_appends_a_point_keeping_what_is_not_given():
    b = Barrier.new(positions=[0.0, 0.0], heights=[0.0, 10.0], widths=[2.0, 2.0], times=[0.0, 5.0])
    b.evolve(2.5, height=30.0)
    b.evolve(1.0, position=8.0, width=4.0)
    assert b.times_ms == [0.0, 5.0, 7.5, 8.5]
    assert b.heights_khz == [0.0, 10.0, 30.0, 30.0]
    assert b.positions_um == [0.0, 0.0, 0.0, 8.0]
    assert b.widths_um == [2.0, 2.0, 2.0, 4.0]
    assert b.death == 8.5 and b.birth == 0.0 and b.lifetime == 8.5


def test_evolve_is_validated_as_a_whole():
    b = Barrier.new(times=[0.0, 1.0])
    with pytest.raises(errors.ValidationError, match="duration"):
        b.evolve(0.0)
    with pytest.raises(errors.ValidationError, match="heights_khz"):
        b.evolve(1.0, height=500.0)
    assert b.times_ms == [0.0, 1.0]  # a rejected evolve changes nothing
    for _ in range(18):
        b.evolve(1.0)
    with pytest.raises(errors.ValidationError, match="times_ms"):
        b.evolve(1.0)  # 21 points: too many
    native = Barrier.new(shape="NATIVE")
    with pytest.raises(errors.ValidationError, match="NATIVE"):
        native.evolve(1.0, width=2.0)


def test_is_active_from_first_to_last_time():
    b = Barrier.new(times=[2.0, 6.0])
    assert [b.is_active(t) for t in (1.9, 2.0, 4.0, 6.0, 6.1)] == [False, True, True, True, False]


def test_program_reads_at_any_time():
    b = Barrier.new(positions=[0.0, 10.0], heights=[0.0, 40.0], widths=[1.0, 5.0],
                    times=[0.0, 10.0])
    np.testing.assert_allclose(b.get_positions([0.0, 2.5, 10.0]), [0.0, 2.5, 10.0])
    np.testing.assert_allclose(b.get_heights([5.0]), [20.0])
    np.testing.assert_allclose(b.get_widths([5.0]), [3.0])
    assert b.get_height(7.5) == pytest.approx(30.0)
    step = Barrier.new(heights=[10.0, 20.0], times=[0.0, 10.0], interpolation="OFF")
    np.testing.assert_allclose(step.get_heights([0.0, 9.9, 10.0]), [10.0, 10.0, 20.0])


def test_barrier_potentials_ideal_and_projected():
    b = Barrier.new(positions=[5.0, 5.0], heights=[30.0, 30.0], widths=[4.0, 4.0],
                    times=[0.0, 10.0])
    x = np.array([5.0, 9.0, 30.0])
    ideal = b.get_ideal_potential(3.0, x)
    expected = [30.0, 30.0 * math.exp(-0.5), 30.0 * math.exp(-0.5 * 6.25**2)]
    np.testing.assert_allclose(ideal, expected)
    felt = b.get_potential(3.0, x)
    assert felt[0] == pytest.approx(30.0, rel=0.01)
    blurred = 30.0 * math.exp(-0.5 * 16 / (16 + P.SPOT_SIGMA_UM**2))
    assert felt[1] == pytest.approx(blurred, rel=0.01)
    assert np.all(b.get_ideal_potential(11.0, x) == 0) and np.all(b.get_potential(11.0, x) == 0)


def test_barrier_plots(tmp_path):
    b = Barrier.new(positions=[-10.0, 10.0], heights=[10.0, 40.0], widths=[3.0, 1.5],
                    times=[0.0, 10.0], interpolation="SMOOTH")
    b.evolve(5.0, height=5.0)
    b.show_dynamics(file_name=tmp_path / "dynamics.png")
    b.show_potential([0.0, 5.0, 15.0], include_ideal=True, file_name=tmp_path / "potential.png")
    assert_png_not_blank(tmp_path / "dynamics.png")
    assert_png_not_blank(tmp_path / "potential.png")


# --------------------------------------------------------------------------- Landscape


def test_snapshot_round_trip_and_spatial_interpolation():
    s = Snapshot.new(time=2.0, positions=[-10, 0, 10], potentials=[0, 20, 0])
    assert isinstance(s, job.Landscape)
    assert Snapshot.from_input(job.Landscape(**s.model_dump())).model_dump() == s.model_dump()
    np.testing.assert_allclose(s.get_ideal_potential(positions=[-20, -5, 0, 5, 20]),
                               [0, 10, 20, 10, 0])
    felt = s.get_potential([0.0, 40.0])
    assert felt[0] == pytest.approx(20.0, rel=0.02) and felt[1] == 0.0


def test_landscape_snapshots_and_time_interpolation():
    snaps = [Snapshot.new(time=t, positions=[-10, 0, 10], potentials=[0, h, 0])
             for t, h in ((4.0, 40.0), (0.0, 20.0))]  # out of order: sorted with a warning
    with pytest.warns(UserWarning, match="sorted"):
        land = Landscape.new(snaps)
    assert isinstance(land, job.OpticalLandscape)
    assert [s.time_ms for s in land.snapshots] == [0.0, 4.0]
    assert all(type(s) is Snapshot for s in land.snapshots)
    assert land.get_ideal_potential(2.0, [0.0])[0] == pytest.approx(30.0)
    assert land.get_potential(2.0, [0.0])[0] == pytest.approx(30.0, rel=0.02)
    assert land.get_ideal_potential(4.1, [0.0])[0] == 0.0
    assert land.is_active(4.0) and not land.is_active(4.1)
    again = Landscape.from_input(job.OpticalLandscape(**land.model_dump()))
    assert again.model_dump() == land.model_dump()


def test_landscape_rules():
    with pytest.raises(errors.ValidationError, match="landscapes"):
        Landscape.new([Snapshot.new(time=0)])
    with pytest.raises(errors.ValidationError, match="unique"):
        Landscape.new([Snapshot.new(time=1.0), Snapshot.new(time=1.0)])
    default = Landscape.new()
    assert [s.time_ms for s in default.snapshots] == [0.0, 2.0]


def test_landscape_plots(tmp_path):
    land = Landscape.new([Snapshot.new(0.0, [-20, 0, 20], [0, 30, 0]),
                          Snapshot.new(5.0, [-20, -10, 10, 20], [0, 40, 40, 0])])
    land.show_potential([0.0, 2.5, 5.0], include_ideal=True, file_name=tmp_path / "land.png")
    land.snapshots[1].show_potential(include_ideal=True, file_name=tmp_path / "snap.png")
    assert_png_not_blank(tmp_path / "land.png")
    assert_png_not_blank(tmp_path / "snap.png")


# --------------------------------------------------------------------------- terminator


def test_pulse_and_laser():
    pulse = Pulse.new([2.0, 5.0])
    assert isinstance(pulse, job.Pulse) and pulse.intensities_mw_per_cm2 == [1.0, 1.0]
    laser = Laser.new([pulse])
    assert isinstance(laser, job.Laser) and laser.position_um == 30.0
    assert [laser.is_on(t) for t in (1.9, 2.0, 3.5, 5.0, 5.1)] == [False, True, True, True, False]
    assert laser.death == 5.0
    beam = laser.get_intensity(3.0, [30.0, 30.0 + 10.35])
    np.testing.assert_allclose(beam, [1.0, math.exp(-2)])
    assert np.all(laser.get_intensity(6.0, [30.0]) == 0)
    assert Laser.from_input(job.Laser(**laser.model_dump())).model_dump() == laser.model_dump()


def test_terminator_rules():
    with pytest.raises(errors.ValidationError, match="interpolation"):
        Pulse.new([1.0, 2.0], interpolation="LINEAR")
    with pytest.raises(errors.ValidationError, match="position_um"):
        Laser.new([Pulse.new([1.0, 2.0])], position_um=10.0)
    with pytest.raises(errors.ValidationError, match="pulses"):
        Laser.new([Pulse.new([1.0, 2.0]), Pulse.new([3.0, 4.0])])
