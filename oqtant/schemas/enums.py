"""The enums of the wire format, the job status sets and the standard RF ramp's times."""

from __future__ import annotations

from enum import Enum

__all__ = [
    "JobOrigin",
    "JobType",
    "ImageType",
    "JobStatus",
    "RfInterpolationType",
    "InterpolationType",
    "LaserType",
    "ShapeType",
    "QPUName",
    "OutputImageType",
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "STANDARD_RF_TIMES_MS",
]


class _StrEnum(str, Enum):  # noqa: UP042 - str() and format() as the reference's enums
    def __str__(self) -> str:
        return str(self.value)


class JobOrigin(_StrEnum):
    WEB = "WEB"
    OQTAPI = "OQTAPI"


class JobType(_StrEnum):
    BEC = "BEC"
    BARRIER = "BARRIER"
    BRAGG = "BRAGG"
    ATOMTRONIC_1D = "ATOMTRONIC_1D"
    PAINT_1D = "PAINT_1D"


class ImageType(_StrEnum):
    IN_TRAP = "IN_TRAP"
    TIME_OF_FLIGHT = "TIME_OF_FLIGHT"
    MOT = "MOT"


class JobStatus(_StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INCOMPLETE = "INCOMPLETE"


ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RUNNING})
"""A job (or run) in these is waiting or running (equal to their strings, "PENDING", ...)."""
TERMINAL_STATUSES = frozenset(
    {JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.INCOMPLETE, JobStatus.CANCELLED}
)
"""A job in these has finished: it never changes again."""

STANDARD_RF_TIMES_MS = (-1600, -1200, -800, -400, 0)
"""The times (ms) of the standard RF ramp: the default of ``RfEvaporation.times_ms``."""


class RfInterpolationType(_StrEnum):
    LINEAR = "LINEAR"
    OFF = "OFF"
    PREVIOUS = "PREVIOUS"


class InterpolationType(_StrEnum):
    LINEAR = "LINEAR"
    SMOOTH = "SMOOTH"
    OFF = "OFF"
    ZERO = "ZERO"
    SLINEAR = "SLINEAR"
    QUADRATIC = "QUADRATIC"
    CUBIC = "CUBIC"
    NEAREST = "NEAREST"
    PREVIOUS = "PREVIOUS"
    NEXT = "NEXT"


class LaserType(_StrEnum):
    TERMINATOR = "TERMINATOR"
    BRAGG = "BRAGG"


class ShapeType(_StrEnum):
    GAUSSIAN = "GAUSSIAN"
    LORENTZIAN = "LORENTZIAN"
    SQUARE = "SQUARE"
    NATIVE = "NATIVE"


class QPUName(_StrEnum):
    SMALLBERT = "SMALLBERT"
    BIGBERT = "BIGBERT"
    UNDEFINED = "UNDEFINED"
    SIMULATOR = "SIMULATOR"


class OutputImageType(_StrEnum):
    """The images a run's output can hold."""

    TIME_OF_FLIGHT = "TIME_OF_FLIGHT"
    IN_TRAP = "IN_TRAP"
    MOT = "MOT"
    TIME_OF_FLIGHT_FIT = "TIME_OF_FLIGHT_FIT"
