"""The reference's import path of the light objects (a re-export of oqtant.matter.optical)."""

from oqtant.errors import (
    ValidationError,
    format_pydantic_error,
)
from oqtant.matter.optical import (
    Barrier,
    Landscape,
    Laser,
    Pulse,
    Snapshot,
    decimal_to_float,
    finish_figure,
)
from oqtant.schemas.interpolation import (
    interpolate_1d,
)
from oqtant.schemas.job import (
    round_time_ms,
)
from oqtant.schemas.limits import (
    ProjectionSettings,
    pset,
    tset,
)

__all__ = [
    "Barrier",
    "Snapshot",
    "Landscape",
    "Pulse",
    "Laser",
    "ProjectionSettings",
    "decimal_to_float",
]
