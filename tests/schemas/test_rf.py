"""User objects of the RF knife: RfSequence, RfEvap, RfShield."""

from __future__ import annotations

import numpy as np
import pytest

from oqtant import errors
from oqtant.schemas import job
from oqtant.schemas.rf import STANDARD_EVAPORATION, RfEvap, RfSequence, RfShield

WIRE = job.RfEvaporation(
    times_ms=[-1600, -800, 0, 5, 20],
    frequencies_mhz=[17.0, 4.0, 0.1, 0.2, 0.2],
    powers_mw=[500.0, 475.0, 220.0, 100.0, 100.0],
    interpolation="LINEAR",
)


def test_sequence_is_wire_and_reads_the_program():
    seq = RfSequence.from_input(WIRE)
    assert isinstance(seq, job.RfEvaporation)
    assert seq.model_dump() == WIRE.model_dump()
    np.testing.assert_allclose(seq.get_frequencies([-1600, -1200, 0, 2.5, 100, -1700]),
                               [17.0, 10.5, 0.1, 0.15, 0.0, 0.0])  # 0 outside the program
    np.testing.assert_allclose(seq.get_powers([-400]), [347.5])
    with pytest.raises(errors.ValidationError):  # the one-point defaults are no program
        RfSequence.new()
    standard = RfSequence.new(times=STANDARD_EVAPORATION["times_ms"],
                              powers=STANDARD_EVAPORATION["powers_mw"],
                              frequencies=STANDARD_EVAPORATION["frequencies_mhz"])
    assert standard.times_ms == [-1100, -1050, -800, -300, 0]


def test_sequence_previous_interpolation_steps():
    seq = RfSequence.new(times=[-100, -50, 0], frequencies=[3.0, 2.0, 1.0], powers=[1, 2, 3],
                         interpolation="PREVIOUS")
    np.testing.assert_allclose(seq.get_frequencies([-100, -51, -50, -1, 0]), [3, 3, 2, 2, 1])


def test_evap_keeps_the_points_up_to_zero():
    evap = RfEvap.from_input(WIRE)
    assert evap.times_ms == [-1600, -800, 0]
    assert evap.frequencies_mhz == [17.0, 4.0, 0.1] and evap.powers_mw == [500.0, 475.0, 220.0]
    assert evap.final_frequency == 0.1
    assert isinstance(evap, job.RfEvaporation)


def test_evap_given_forwards_is_shifted_to_end_at_zero():
    evap = RfEvap.new(times=[0, 400, 1600], frequencies=[10.0, 2.0, 0.05], powers=[500, 400, 200])
    assert evap.times_ms == [-1600, -1200, 0]
    # times before 0 are shifted too: the last one is always 0 ms
    shifted = RfEvap.new(times=[-1000, -200], frequencies=[10.0, 2.0], powers=[500, 400])
    assert shifted.times_ms == [-800, 0]


def test_evap_rules_name_the_field():
    with pytest.raises(errors.ValidationError, match="frequencies_mhz"):
        RfEvap.new(times=[-100, 0], frequencies=[30.0, 1.0], powers=[1.0, 1.0])
    with pytest.raises(errors.ValidationError, match="times_ms"):
        RfEvap.new(times=[0], frequencies=[1.0], powers=[1.0])  # one point is no ramp
    with pytest.raises(errors.ValidationError, match="RfShield"):
        RfEvap(times_ms=[-100, 0, 5], frequencies_mhz=[1, 1, 1], powers_mw=[1, 1, 1])


def test_shield_is_constant_from_zero_to_its_lifetime():
    shield = RfShield.new(lifetime=20, frequency=0.3, power=150.0)
    assert shield.lifetime == 20.0 and shield.frequency == 0.3 and shield.power == 150.0
    np.testing.assert_allclose(shield.frequencies([0.0, 7.3, 20.0]), [0.3, 0.3, 0.3])
    np.testing.assert_allclose(shield.powers([1.0, 19.0]), [150.0, 150.0])


def test_shield_from_wire_keeps_every_point_after_zero():
    shield = RfShield.from_input(WIRE)
    assert shield.times_ms == [5, 20] and shield.lifetime == 20.0
    assert shield.frequency == 0.2 and shield.power == 100.0
    no_shield = job.RfEvaporation(times_ms=[-100, 0], frequencies_mhz=[1, 0.1], powers_mw=[1, 1])
    with pytest.raises(errors.ValidationError, match="no point after 0 ms"):
        RfShield.from_input(no_shield)


def test_shield_rules():
    with pytest.raises(errors.ValidationError, match="whole number"):
        RfShield.new(lifetime=10.5, frequency=0.1, power=1.0)
    with pytest.raises(errors.ValidationError, match="times_ms"):
        RfShield.new(lifetime=0, frequency=0.1, power=1.0)
    with pytest.raises(errors.ValidationError, match="powers_mw"):
        RfShield.new(lifetime=5, frequency=0.1, power=2000.0)
