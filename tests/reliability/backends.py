"""Backends that misbehave on purpose: slow, hanging, raising, returning garbage.

They are named by ``tests.reliability.backends:ClassName`` in ``OQTANT_BACKEND``
and are imported inside the server's worker processes, so their knobs are
environment variables (inherited by those processes):

* ``OQTANT_TEST_RUN_SECONDS``: how long ``SlowBackend`` takes per run (default 2);
* ``OQTANT_TEST_RUN_LOG``: a file to which every backend appends one line when a
  run starts (``start <seed> <pid> <time>``) and one when it finishes (``done ...``;
  ``<time>``: ``time.time()``).

``FaultyBackend`` picks its behaviour from the run's final RF frequency, so that
one job can hold a good run next to broken ones.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from oqtant.backend import RunResult
from oqtant.schemas.job import InputValues
from tests.server.fast_backend import FastBackend

__all__ = [
    "FAULT_GARBAGE_MHZ",
    "FAULT_HANG_MHZ",
    "FAULT_NAN_MHZ",
    "FAULT_RAISE_MHZ",
    "FAULT_SLOW_MHZ",
    "FaultyBackend",
    "SlowBackend",
    "read_run_log",
    "read_run_times",
]

#: final RF frequencies (MHz) that make FaultyBackend raise, hang, return garbage or NaN
FAULT_RAISE_MHZ = 2.0
FAULT_HANG_MHZ = 3.0
FAULT_GARBAGE_MHZ = 4.0
FAULT_NAN_MHZ = 5.0
FAULT_SLOW_MHZ = 6.0  # takes OQTANT_TEST_RUN_SECONDS (default 2), then succeeds


def _log(event: str, seed: int) -> None:
    path = os.environ.get("OQTANT_TEST_RUN_LOG")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{event} {seed} {os.getpid()} {time.time()!r}\n".encode())
    finally:
        os.close(fd)


def read_run_log(path) -> list[tuple[str, int, int]]:
    """The ``(event, seed, pid)`` lines a backend appended to ``path`` (none if missing)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        event, seed, pid, *_ = line.split()
        out.append((event, int(seed), int(pid)))
    return out


def read_run_times(path) -> list[tuple[str, int, float]]:
    """The ``(event, seed, time.time())`` of each line a backend appended to ``path``."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [
        (event, int(seed), float(when))
        for event, seed, _, when in (line.split() for line in text.splitlines())
    ]


class SlowBackend(FastBackend):
    """FastBackend that takes ``OQTANT_TEST_RUN_SECONDS`` per run and logs start and end."""

    def run(self, input_values: InputValues, seed: int = 0) -> RunResult:
        _log("start", seed)
        time.sleep(float(os.environ.get("OQTANT_TEST_RUN_SECONDS", "2")))
        result = super().run(input_values, seed)
        _log("done", seed)
        return result


class FaultyBackend(FastBackend):
    """Raises, hangs, returns garbage or NaN depending on the final RF frequency; fast otherwise."""

    def run(self, input_values: InputValues, seed: int = 0):
        final_mhz = input_values.rf_evaporation.frequencies_mhz[-1]
        _log("start", seed)
        if final_mhz == FAULT_RAISE_MHZ:
            raise RuntimeError("the RF amplifier tripped")
        if final_mhz == FAULT_HANG_MHZ:
            time.sleep(120)  # far past any test's run timeout
        if final_mhz == FAULT_SLOW_MHZ:
            time.sleep(float(os.environ.get("OQTANT_TEST_RUN_SECONDS", "2")))
        if final_mhz == FAULT_GARBAGE_MHZ:
            return {"output": "not an output", "raw_images": 7}
        result = super().run(input_values, seed)
        if final_mhz == FAULT_NAN_MHZ:
            fit = result.output.values.tof_fit
            object.__setattr__(fit, "gaussian_od", math.nan)
        _log("done", seed)
        return result
