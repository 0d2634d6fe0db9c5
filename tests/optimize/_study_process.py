"""A study on the service in a process of its own (the server test kills it mid-study).

``python -m tests.optimize._study_process URL TOKEN STORAGE RUNS``
"""

from __future__ import annotations

import sys

from oqtant.login import ClientSettings
from oqtant.optimize import optimize
from oqtant.oqtant_client import OqtantClient
from tests.optimize.helpers import evap_design, tof_atoms

__all__ = ["SPACE", "main"]

SPACE = {"final_mhz": (0.02, 2.0, "log"), "final_mw": (100.0, 500.0)}


def main(url: str, token: str, storage: str, runs: int) -> None:
    client = OqtantClient(settings=ClientSettings(url=url, poll_interval_s=0.05), token=token)
    client.verbosity = 0
    optimize(evap_design, tof_atoms, SPACE, runs=runs, batch_size=4, sampler="tpe", seed=1,
             client=client, storage=storage, study_name="on the service", progress=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
