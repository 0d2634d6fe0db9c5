"""The emulated apparatus: realistic results for every run, from the RF ramp to the camera.

``Apparatus().run(input_values, seed)`` returns what the machine returns (the
wire ``Output`` and the raw absorption frames); ``Apparatus().simulate(...)``
also keeps the run's ground truth (atom numbers, temperature, condensed
fraction, chemical potential), the optical-density image and the fit.

Stages, each a physical model: MOT loading; forced RF evaporation as a kinetic
model of N(t), T(t) (:func:`evaporate`); degeneracy (critical temperature,
condensed fraction, Thomas-Fermi condensate, ideal Bose thermal cloud); the
experiment stage (the condensate follows the Gross-Pitaevskii simulator under
light and terminator, the thermal cloud moves as collisionless test particles);
absorption imaging with shot and camera noise; the bimodal fit users run.
"""

from oqtant.emulator._apparatus import Apparatus, ApparatusSettings, EmulatedRun, RunTruth
from oqtant.emulator._cloud import (
    CloudState,
    castin_dum_scaling,
    critical_temperature_k,
    equilibrium_cloud,
    thomas_fermi_chemical_potential_j,
)
from oqtant.emulator._evaporation import (
    EvaporationModel,
    EvaporationResult,
    evaporate,
    knife_depth_k,
    phase_space_density,
)
from oqtant.emulator._imaging import CameraSettings

__all__ = [
    "Apparatus",
    "ApparatusSettings",
    "EmulatedRun",
    "RunTruth",
    "CloudState",
    "equilibrium_cloud",
    "critical_temperature_k",
    "thomas_fermi_chemical_potential_j",
    "castin_dum_scaling",
    "EvaporationModel",
    "EvaporationResult",
    "evaporate",
    "knife_depth_k",
    "phase_space_density",
    "CameraSettings",
]
