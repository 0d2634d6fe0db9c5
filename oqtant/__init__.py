"""oqtant: design, simulate, queue and run Bose-Einstein-condensate experiments.

The names below are the public surface; they load on first use, so that
``import oqtant`` stays fast in worker processes and command-line tools::

    from oqtant import QuantumMatterFactory, get_client
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "OqtantClient": "oqtant.client",
    "get_oqtant_client": "oqtant.client",
    "get_client": "oqtant.client",
    "QuantumMatter": "oqtant.matter",
    "QuantumMatterFactory": "oqtant.matter",
    "Barrier": "oqtant.matter",
    "Snapshot": "oqtant.matter",
    "Landscape": "oqtant.matter",
    "Pulse": "oqtant.matter",
    "Laser": "oqtant.matter",
    "RfSequence": "oqtant.matter",
    "RfEvap": "oqtant.matter",
    "RfShield": "oqtant.matter",
    "OqtantJob": "oqtant.schemas.job",
    "InputValues": "oqtant.schemas.job",
    "JobType": "oqtant.schemas.job",
    "JobStatus": "oqtant.schemas.job",
    "ImageType": "oqtant.schemas.job",
    "OqtantOutput": "oqtant.matter",
    "sweep_table": "oqtant.matter",
    "plot_sweep": "oqtant.matter",
    "fit_bimodal_2d": "oqtant.analysis",
    "read_job_file": "oqtant.client.jobfiles",
    "write_job_file": "oqtant.client.jobfiles",
    "Simulator": "oqtant.simulator",
    "Apparatus": "oqtant.emulator",
    "OqtantError": "oqtant.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'oqtant' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from oqtant.analysis import fit_bimodal_2d
    from oqtant.client import OqtantClient, get_client, get_oqtant_client
    from oqtant.client.jobfiles import read_job_file, write_job_file
    from oqtant.emulator import Apparatus
    from oqtant.errors import OqtantError
    from oqtant.matter import (
        Barrier,
        Landscape,
        Laser,
        OqtantOutput,
        Pulse,
        QuantumMatter,
        QuantumMatterFactory,
        RfEvap,
        RfSequence,
        RfShield,
        Snapshot,
        plot_sweep,
        sweep_table,
    )
    from oqtant.schemas.job import ImageType, InputValues, JobStatus, JobType, OqtantJob
    from oqtant.simulator import Simulator
