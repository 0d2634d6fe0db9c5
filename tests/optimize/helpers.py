"""Designs, objectives and backends of the optimisation tests (explicit ramps: no defaults)."""

from __future__ import annotations

import os
import threading
import time

from oqtant.schemas.quantum_matter import QuantumMatterFactory
from tests.server.fast_backend import FastBackend

__all__ = ["RAMP_TIMES_MS", "CountingBackend", "SlowBackend", "evap_design", "tof_atoms"]

qmf = QuantumMatterFactory()
RAMP_TIMES_MS = [-1600, -1200, -800, -400, 0]


def evap_design(p: dict) -> object:
    """An evaporation ramp whose last frequency (``final_mhz``) and power are the parameters."""
    return qmf.create_quantum_matter(
        name="optimised evaporation",
        rf_evap=qmf.create_rf_evap(
            times=list(RAMP_TIMES_MS),
            frequencies=[17.0, 8.0, 4.0, 1.2, p["final_mhz"]],
            powers=[500.0, 500.0, 475.0, 360.0, p.get("final_mw", 220.0)],
            interpolation="LINEAR",
        ),
        image="TIME_OF_FLIGHT",
        time_of_flight=8.0,
        lifetime=0.0,
    )


def tof_atoms(matter) -> float:
    return float(matter.output.tof_atom_number)


class CountingBackend(FastBackend):
    """FastBackend that records (final MHz, seed) of every run; fails above ``fail_above_mhz``."""

    def __init__(self, fail_above_mhz: float | None = None):
        self.calls: list[tuple[float, int]] = []
        self.fail_above_mhz = fail_above_mhz
        self._lock = threading.Lock()

    def run(self, input_values, seed: int = 0):
        final = input_values.rf_evaporation.frequencies_mhz[-1]
        with self._lock:
            self.calls.append((final, seed))
        if self.fail_above_mhz is not None and final > self.fail_above_mhz:
            raise RuntimeError("the RF amplifier tripped")
        return super().run(input_values, seed)


class SlowBackend(FastBackend):
    """FastBackend taking ``$OQTANT_TEST_RUN_DELAY_S`` (0.2 s) a run, so that jobs stay queued.

    A run whose last RF frequency is above 10 MHz fails (the amplifier trips).
    """

    def run(self, input_values, seed: int = 0):
        time.sleep(float(os.environ.get("OQTANT_TEST_RUN_DELAY_S", "0.2")))
        if input_values.rf_evaporation.frequencies_mhz[-1] > 10.0:
            raise RuntimeError("the RF amplifier tripped")
        return super().run(input_values, seed)
