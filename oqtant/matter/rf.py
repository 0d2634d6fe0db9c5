"""User objects for the RF knife: the evaporation ramp and the RF shield.

The wire format has one RF program (``RfEvaporation``): points at t <= 0 are
the forced evaporation that makes the cold cloud; points at t > 0 form the RF
shield, a constant knife held during the experiment stage. Users build the two
separately (``RfEvap``, ``RfShield``); ``QuantumMatter`` joins them.

Units: times in ms (whole numbers), frequencies in MHz, powers in mW.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Self, TypedDict

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from oqtant.errors import ValidationError
from oqtant.matter.optical import FloatArray, _UserModel
from oqtant.schemas import job as job_schema
from oqtant.schemas.interpolation import interpolate_1d
from oqtant.schemas.limits import jset, tset

__all__ = [
    "RfSequence",
    "RfEvap",
    "RfShield",
    "STANDARD_EVAPORATION",
    "RF_CHAIN_CORNER_MHZ",
    "rf_coupling",
    "ConversionError",
    "RfInterpolationType",
    "interpolate_1d_list",
    "format_frequency",
]

RfInterpolationType = job_schema.RfInterpolationType


def format_frequency(frequency_mhz: float) -> str:
    """An RF frequency to read: 4 significant digits, kHz below 1 MHz (0.0104183 -> 10.42 kHz)."""
    if abs(frequency_mhz) < 1.0:
        return f"{frequency_mhz * 1000.0:.4g} kHz"
    return f"{frequency_mhz:.4g} MHz"


class RfPoints(TypedDict):
    """The points of an RF program: whole ms, MHz, mW."""

    times_ms: list[int]
    frequencies_mhz: list[float]
    powers_mw: list[float]


STANDARD_EVAPORATION: RfPoints = {
    "times_ms": [-1100, -1050, -800, -300, 0],
    "frequencies_mhz": [21.12, 12.12, 5.12, 0.62, 0.02],
    "powers_mw": [600.0, 800.0, 600.0, 400.0, 400.0],
}
"""The evaporation ramp a QuantumMatter uses when given no ``rf_evap`` (the one home of it).

A ``temperature`` replaces its last frequency (see
``oqtant.schemas.quantum_matter.TEMPERATURE_TO_EVAP_FREQUENCY``).
"""


class ConversionError(ValidationError):
    """A wire RF program has no part of the kind asked for (no evaporation, or no shield)."""

    def __init__(self, message: str = "the RF program has no part of that kind", errors=None):
        super().__init__(message, errors)


def interpolate_1d_list(xs, ys, x_values, interpolation="LINEAR") -> list[float]:
    """The program of points ``(xs, ys)`` read at ``x_values``; 0 outside ``[min(xs), max(xs)]``.

    A list version of :func:`oqtant.schemas.interpolation.interpolate_1d` (repeated
    abscissae are steps there).
    """
    values = np.atleast_1d(np.asarray(x_values, dtype=float))
    return [float(v) for v in interpolate_1d(xs, ys, values, interpolation, fill_value=0.0)]


def _points(rf_evaporation: job_schema.RfEvaporation, keep: list[int]) -> dict:
    """The fields of a wire RF program restricted to the points at indices ``keep``."""
    return {
        "times_ms": [rf_evaporation.times_ms[i] for i in keep],
        "frequencies_mhz": [rf_evaporation.frequencies_mhz[i] for i in keep],
        "powers_mw": [rf_evaporation.powers_mw[i] for i in keep],
        "interpolation": rf_evaporation.interpolation,
    }


def _evaluate(model, values, times) -> np.ndarray:
    """A program read at ``times`` (ms): 0 outside its first and last time."""
    return interpolate_1d(
        model.times_ms,
        values,
        np.atleast_1d(np.asarray(times, dtype=float)),
        model.interpolation,
        fill_value=0.0,
    )


class RfSequence(_UserModel, job_schema.RfEvaporation):
    """A whole RF program (evaporation and shield): a valid wire ``RfEvaporation``."""

    @classmethod
    def new(
        cls,
        times: Sequence[int] = [0],  # noqa: B006 - never mutated
        powers: Sequence[float] = [0],  # noqa: B006
        frequencies: Sequence[float] = [0],  # noqa: B006
        interpolation: job_schema.RfInterpolationType = job_schema.RfInterpolationType.LINEAR,
    ) -> Self:
        """A program of ``frequencies`` (MHz) and ``powers`` (mW) at ``times`` (ms).

        The one-point defaults are not a valid program (it needs two points at or
        before 0 ms): give the lists. ``STANDARD_EVAPORATION`` is the usual ramp.
        """
        return cls(
            times_ms=list(times),
            powers_mw=list(powers),
            frequencies_mhz=list(frequencies),
            interpolation=interpolation,
        )

    @classmethod
    def from_input(cls, rf_evaporation: job_schema.RfEvaporation) -> RfSequence:
        """The user object of a wire RF program (an exact copy)."""
        return cls(**rf_evaporation.model_dump())

    def get_frequencies(self, times: FloatArray) -> np.ndarray:
        """Knife frequency (MHz) at the times (ms); end values are held outside the program."""
        return _evaluate(self, self.frequencies_mhz, times)

    def get_powers(self, times: FloatArray) -> np.ndarray:
        """RF power (mW) at the times (ms); end values are held outside the program."""
        return _evaluate(self, self.powers_mw, times)


class RfEvap(RfSequence):
    """The forced evaporation: the RF points at t <= 0 ms, ending at (or before) 0."""

    @model_validator(mode="after")
    def _no_shield_points(self) -> RfEvap:
        late = [t for t in self.times_ms if t > 0]
        if late:
            raise ValueError(
                f"times_ms: an evaporation ramp ends by 0 ms (got {late} ms); "
                "use an RfShield for the experiment stage"
            )
        return self

    @classmethod
    def new(
        cls,
        times: Sequence[int] = [0],  # noqa: B006 - never mutated
        powers: Sequence[float] = [0],  # noqa: B006
        frequencies: Sequence[float] = [0],  # noqa: B006
        interpolation: job_schema.RfInterpolationType = job_schema.RfInterpolationType.LINEAR,
    ) -> RfEvap:
        """An evaporation ramp; the times are shifted so that the last one is 0 ms.

        So times may be given forwards from the start (0, 50, ..., 1100) or as
        times before the experiment stage (-1100, ..., 0): both make the same ramp.
        """
        times = list(times)
        if times:
            end = max(times)
            times = [t - end for t in times]
        return super().new(times, powers, frequencies, interpolation)

    @classmethod
    def from_input(cls, rf_evaporation: job_schema.RfEvaporation) -> RfEvap:
        """The evaporation part (t <= 0) of a wire RF program."""
        keep = [i for i, t in enumerate(rf_evaporation.times_ms) if t <= 0]
        if not keep:
            raise ConversionError(
                "rf_evaporation.times_ms: no point at or before 0 ms, so there is no evaporation",
                [("rf_evaporation.times_ms", "needs a time <= 0 for an evaporation")],
            )
        return cls(**_points(rf_evaporation, keep))

    @property
    def final_frequency(self) -> float:
        """The last knife frequency (MHz) of the ramp, which sets the temperature."""
        return float(self.frequencies_mhz[-1])


_ShieldTime = Annotated[int, Field(ge=1, le=int(tset.max_exp_time_ms))]


class RfShield(_UserModel, BaseModel):
    """The RF shield: a constant knife (frequency, power) held from 0 ms to ``lifetime``.

    It keeps the hottest atoms out during the experiment stage. In the wire
    format it is the RF point(s) at t > 0; times are whole milliseconds.
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    times_ms: Annotated[list[_ShieldTime], Field(min_length=1, max_length=jset.max_rf_points - 2)]
    frequencies_mhz: Annotated[
        list[Annotated[float, Field(ge=0.0, le=jset.max_rf_frequency_mhz)]],
        Field(min_length=1, max_length=jset.max_rf_points - 2),
    ]
    powers_mw: Annotated[
        list[Annotated[float, Field(ge=0.0, le=jset.max_rf_power_mw)]],
        Field(min_length=1, max_length=jset.max_rf_points - 2),
    ]
    interpolation: job_schema.RfInterpolationType = job_schema.RfInterpolationType.LINEAR

    @model_validator(mode="after")
    def _cross(self) -> RfShield:
        lengths = {len(self.times_ms), len(self.frequencies_mhz), len(self.powers_mw)}
        if len(lengths) != 1:
            raise ValueError(
                "RF shield: times_ms, frequencies_mhz and powers_mw must have the same length"
            )
        if len(set(self.times_ms)) != len(self.times_ms):
            raise ValueError("times_ms: RF shield times must be unique")
        if self.times_ms != sorted(self.times_ms):
            order = np.argsort(self.times_ms, kind="stable")
            for name in ("times_ms", "frequencies_mhz", "powers_mw"):
                values = getattr(self, name)
                self.__dict__[name] = [values[i] for i in order]
        return self

    @classmethod
    def new(
        cls,
        lifetime: float = 1.0,
        frequency: float = 0.0,
        power: float = 0.0,
        interpolation: job_schema.RfInterpolationType = job_schema.RfInterpolationType.LINEAR,
    ) -> RfShield:
        """A shield at ``frequency`` (MHz) and ``power`` (mW) lasting ``lifetime`` ms.

        The lifetime is a whole number of ms (RF times are integers), 1 to 200.
        """
        if lifetime is None or float(lifetime) != int(float(lifetime)):
            raise ValidationError(
                f"lifetime: an RF shield lasts a whole number of ms (RF times are integers), "
                f"got {lifetime}",
                [("lifetime", "whole number of ms")],
            )
        return cls(
            times_ms=[int(lifetime)],
            frequencies_mhz=[frequency],
            powers_mw=[power],
            interpolation=interpolation,
        )

    @classmethod
    def from_input(cls, rf_evaporation: job_schema.RfEvaporation) -> RfShield:
        """The shield part (t > 0) of a wire RF program; an error if it has none."""
        keep = [i for i, t in enumerate(rf_evaporation.times_ms) if t > 0]
        if not keep:
            raise ConversionError(
                "rf_evaporation.times_ms: no point after 0 ms, so there is no RF shield",
                [("rf_evaporation.times_ms", "needs a time > 0 for a shield")],
            )
        return cls(**_points(rf_evaporation, keep))

    @property
    def lifetime(self) -> float:
        """How long (ms) the shield is programmed for: its last time."""
        return float(self.times_ms[-1])

    @property
    def frequency(self) -> float:
        """The shield's knife frequency (MHz): its first point's."""
        return float(self.frequencies_mhz[0])

    @property
    def power(self) -> float:
        """The shield's RF power (mW): its first point's."""
        return float(self.powers_mw[0])

    def frequencies(self, times: FloatArray) -> np.ndarray:
        """Knife frequency (MHz) at the times (ms): the shield's, held at every time."""
        return np.full(np.atleast_1d(np.asarray(times, dtype=float)).shape, self.frequency)

    def powers(self, times: FloatArray) -> np.ndarray:
        """RF power (mW) at the times (ms): the shield's, held at every time."""
        return np.full(np.atleast_1d(np.asarray(times, dtype=float)).shape, self.power)

    # the names of RfSequence, for code that treats both alike
    get_frequencies = frequencies
    get_powers = powers


RF_CHAIN_CORNER_MHZ = 15.0
"""Corner frequency of the RF chain's first-order roll-off (see :func:`rf_coupling`)."""


def rf_coupling(frequency_mhz):
    """Fraction of the programmed RF power that reaches the atoms at ``frequency_mhz``.

    The antenna is an inductive load driven through a matched amplifier: its
    response falls as a first-order low-pass, 1 / (1 + (f / f_c)^2) with
    f_c = RF_CHAIN_CORNER_MHZ (15 MHz). A modest, smooth model: 1 at low
    frequency, 0.5 at 15 MHz, 0.26 at 25 MHz.
    """
    f = np.asarray(frequency_mhz, dtype=float)
    return 1.0 / (1.0 + (f / RF_CHAIN_CORNER_MHZ) ** 2)
