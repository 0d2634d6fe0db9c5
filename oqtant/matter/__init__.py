"""The user objects: light, RF, QuantumMatter and its factory, outputs and their plots.

Built on the wire models (:mod:`oqtant.schemas`), the analysis, the projection
and the simulator; below the client, which it never imports: a QuantumMatter
reaches the service through the client layer registered in
:mod:`oqtant.matter._services`.
"""

from oqtant.matter.factory import QuantumMatterFactory
from oqtant.matter.optical import Barrier, Landscape, Laser, Pulse, Snapshot
from oqtant.matter.output import OqtantNonPlotOutput, OqtantOutput, OqtantPlotOutput
from oqtant.matter.quantum_matter import QuantumMatter
from oqtant.matter.rf import RfEvap, RfSequence, RfShield
from oqtant.matter.sweeps import SweepTable, plot_sweep, sweep_table

__all__ = [
    "Barrier",
    "Landscape",
    "Laser",
    "OqtantNonPlotOutput",
    "OqtantOutput",
    "OqtantPlotOutput",
    "Pulse",
    "QuantumMatter",
    "QuantumMatterFactory",
    "RfEvap",
    "RfSequence",
    "RfShield",
    "Snapshot",
    "SweepTable",
    "plot_sweep",
    "sweep_table",
]
