"""Closed-loop optimisation of experiments: let the machine find the experiment.

``optimize(design, objective, space=...)`` asks an Optuna sampler for points of
the space, builds each point's QuantumMatter with ``design``, makes its runs on
the emulator (in this process), the simulator (``sim=True``) or the service
(``client=...``), scores them with ``objective`` and tells the study, until the
budget of runs is spent. Needs the ``optimize`` extra (``pip install oqtant[optimize]``).
See docs/optimize.md.
"""

from oqtant.optimize._engines import run_seed
from oqtant.optimize._gp import SklearnGPSampler
from oqtant.optimize._loop import SAMPLERS, make_sampler, optimize
from oqtant.optimize._result import OptimizationResult
from oqtant.optimize._space import parse_space

__all__ = [
    "SAMPLERS",
    "OptimizationResult",
    "SklearnGPSampler",
    "make_sampler",
    "optimize",
    "parse_space",
    "run_seed",
]
