"""The backend of simulator jobs (``"sim": true``): the Gross-Pitaevskii simulator."""

from __future__ import annotations

from oqtant.backend import RunResult
from oqtant.schemas.job import InputValues

__all__ = ["SimulatorBackend"]


class SimulatorBackend:
    """Runs a job's input through ``oqtant.simulator.Simulator``; no raw frames."""

    def run(self, input_values: InputValues, seed: int = 0) -> RunResult:
        from oqtant.simulator import Simulator  # heavy: imported in the worker only

        output = Simulator(input_values).run(progress=False).output
        return RunResult(output=output, raw_images=[])
