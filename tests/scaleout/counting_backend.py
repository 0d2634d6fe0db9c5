"""A test backend that records every invocation in a file, with seed-dependent outputs.

``CountingBackend`` is the fast test backend plus: each call sleeps
``$OQTANT_TEST_RUN_SLEEP_S`` seconds (default 0), appends one line
``seed pid wall_time_s`` to the file named by ``$OQTANT_TEST_CALL_LOG`` (one
``write`` of a short line on a file opened for appending, so lines of several
processes never interleave), and the output carries seed-dependent noise so
that two runs agree only if they were given the same seed.
"""

from __future__ import annotations

import os
import random
import time

from oqtant.backend import RunResult
from oqtant.schemas.job import InputValues
from tests.server.fast_backend import FastBackend

__all__ = ["CALL_LOG_ENV", "SLEEP_ENV", "CountingBackend", "read_calls"]

CALL_LOG_ENV = "OQTANT_TEST_CALL_LOG"
SLEEP_ENV = "OQTANT_TEST_RUN_SLEEP_S"


class CountingBackend(FastBackend):
    """FastBackend whose fitted temperature and offset depend on the seed; logs each call."""

    def run(self, input_values: InputValues, seed: int = 0) -> RunResult:
        path = os.environ.get(CALL_LOG_ENV)
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{seed} {os.getpid()} {time.time():.6f}\n".encode())
            finally:
                os.close(fd)
        time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
        result = super().run(input_values, seed)
        rng = random.Random(seed)
        values = result.output.values
        if hasattr(values, "tof_fit"):
            values.tof_fit.offset = rng.uniform(-0.01, 0.01)
            values.temperature_nk += rng.randrange(1000)
        return result


def read_calls(path) -> list[tuple[int, int, float]]:
    """The (seed, pid, wall_time_s) of every logged invocation, in file order."""
    calls = []
    with open(path) as f:
        for line in f:
            seed, pid, t = line.split()
            calls.append((int(seed), int(pid), float(t)))
    return calls
