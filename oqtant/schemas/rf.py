"""The reference's import path of the RF objects (a re-export of :mod:`oqtant.matter.rf`)."""

from oqtant.errors import (
    ValidationError,
)
from oqtant.matter.rf import (
    STANDARD_EVAPORATION,
    ConversionError,
    RfEvap,
    RfSequence,
    RfShield,
    interpolate_1d_list,
)
from oqtant.schemas.interpolation import (
    interpolate_1d,
)
from oqtant.schemas.job import (
    RfInterpolationType,
)
from oqtant.schemas.limits import (
    jset,
    tset,
)

__all__ = [
    "RfSequence",
    "RfEvap",
    "RfShield",
    "STANDARD_EVAPORATION",
    "ConversionError",
    "RfInterpolationType",
    "interpolate_1d_list",
]
