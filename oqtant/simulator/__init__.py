"""Gross-Pitaevskii simulation of the apparatus' condensate (Rb-87, 50 Hz x 400 Hz trap).

``Simulator(values, atom_number=...).run()`` computes the ground state, the
evolution through the experiment stage under the projected light and, for
TIME_OF_FLIGHT runs, the free expansion; ``.output`` is the run's output in the
apparatus' wire format. The pure solvers (:func:`ground_state`, :func:`evolve`,
:func:`expand`) work in trap units on a :class:`Grid` (see :mod:`.grid`).
"""

from oqtant.simulator.grid import Grid, make_grid
from oqtant.simulator.simulator import (
    TERMINATOR_LOSS_RATE_PER_MS,
    GridEdgeWarning,
    Simulator,
    SimulatorOptions,
)
from oqtant.simulator.solver import (
    Energies,
    Evolution,
    Expansion,
    GroundState,
    energies,
    evolve,
    expand,
    ground_state,
    scaling_factors,
)

__all__ = [
    "TERMINATOR_LOSS_RATE_PER_MS",
    "Energies",
    "Evolution",
    "Expansion",
    "Grid",
    "GridEdgeWarning",
    "GroundState",
    "Simulator",
    "SimulatorOptions",
    "energies",
    "evolve",
    "expand",
    "ground_state",
    "make_grid",
    "scaling_factors",
]
