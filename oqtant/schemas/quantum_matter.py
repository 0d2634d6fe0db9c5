"""The reference's import path of QuantumMatter and its factory (a re-export of
:mod:`oqtant.matter`; every name that was importable here still is).
"""

from oqtant.client.login import (
    Login,
)
from oqtant.errors import (
    JobError,
    JobWriteError,
    ValidationError,
    format_pydantic_error,
)
from oqtant.matter import quantum_matter as _home
from oqtant.matter.factory import (
    QuantumMatterFactory,
)
from oqtant.matter.optical import (
    Barrier,
    Landscape,
    Laser,
    Pulse,
    Snapshot,
)
from oqtant.matter.output import (
    OqtantNonPlotOutput,
    OqtantPlotOutput,
)
from oqtant.matter.quantum_matter import (
    DEFAULT_IMAGE,
    DEFAULT_LIFETIME,
    DEFAULT_NAME,
    DEFAULT_RF_EVAP,
    DEFAULT_TIME_OF_FLIGHT_MS,
    DEFAULT_TOF,
    RF_CHAIN_CORNER_MHZ,
    STANDARD_EVAPORATION,
    TEMPERATURE_TO_EVAP_FREQUENCY,
    OqtantLogin,
    ProjectedSettings,
    QuantumMatter,
    temperature_to_final_frequency_mhz,
)
from oqtant.matter.rf import (
    ConversionError,
    RfEvap,
    RfSequence,
    RfShield,
    rf_coupling,
)
from oqtant.schemas.job import (
    ImageType,
    InputValues,
    NonPlotOutput,
    OqtantJob,
    PlotOutput,
)
from oqtant.schemas.limits import (
    pset,
    tset,
)

# the names of QuantumMatter's home, and its factory
__all__ = ["QuantumMatterFactory", *_home.__all__]
