"""How fast is the projection model? A full run: 10 barriers, 1000 positions, 2000 times.

Goal: the potential the atoms feel for the whole run in well under 1 s.
Prints the best of a few repetitions (wall and CPU time) for the projected
potential (what the simulator uses), the ideal profile and the terminator, and
the ratio to the goal. On a machine busy with other work the wall time grows;
the CPU time is what this process itself spent.
"""

from __future__ import annotations

import os
import time

import numpy as np

from oqtant import projection
from oqtant.schemas import job

__all__ = ["main", "make_run"]

GOAL_S = 1.0
N_BARRIERS, N_POSITIONS, N_TIMES = 10, 1000, 2000


def make_run(seed: int = 0) -> job.InputValues:
    """A 200 ms run with 10 moving, growing barriers of every shape and a terminator pulse."""
    rng = np.random.default_rng(seed)
    times = list(np.round(np.linspace(0.0, 200.0, 20), 1))
    shapes = ["GAUSSIAN", "LORENTZIAN", "SQUARE", "NATIVE"] * 2 + ["GAUSSIAN", "LORENTZIAN"]
    barriers = []
    for shape in shapes[:N_BARRIERS]:
        widths = [0.5] * 20 if shape == "NATIVE" else list(rng.uniform(0.5, 8.0, 20))
        barriers.append(
            job.Barrier(
                times_ms=times,
                positions_um=list(rng.uniform(-55.0, 55.0, 20)),
                heights_khz=list(rng.uniform(0.0, 80.0, 20)),
                widths_um=widths,
                shape=shape,
                interpolation="SMOOTH",
            )
        )
    return job.InputValues(
        end_time_ms=200.0,
        image_type="IN_TRAP",
        rf_evaporation=job.RfEvaporation(
            frequencies_mhz=[17.0, 8.0, 4.0, 1.2, 0.1],
            powers_mw=[500.0, 500.0, 475.0, 360.0, 220.0],
        ),
        optical_barriers=barriers,
        lasers=[job.Laser(pulses=[job.Pulse(times_ms=[50.0, 60.0])])],
    )


def _best_of(fn, repeats: int = 3) -> tuple[float, float]:
    """Best (wall, CPU) seconds of a few calls."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def main() -> dict[str, tuple[float, float]]:
    """Time the projection model on a full run and print the figures."""
    values = make_run()
    t = np.linspace(0.0, 200.0, N_TIMES)
    x = np.linspace(-60.0, 60.0, N_POSITIONS)
    results = {
        "projected_potential_khz": _best_of(
            lambda: projection.projected_potential_khz(values, t, x)
        ),
        "ideal_potential_khz": _best_of(lambda: projection.ideal_potential_khz(values, t, x)),
        "terminator_intensity": _best_of(lambda: projection.terminator_intensity(values, t, x)),
    }
    print(f"{N_BARRIERS} barriers, {N_POSITIONS} positions, {N_TIMES} times (goal {GOAL_S:.1f} s)")
    print(f"  load average of the machine: {os.getloadavg()[0]:.1f}")
    print(f"  {'':<26} {'wall':>10} {'cpu':>10}   wall / goal")
    for name, (wall, cpu) in results.items():
        print(f"  {name:<26} {wall * 1e3:7.1f} ms {cpu * 1e3:7.1f} ms   {wall / GOAL_S:6.3f}")
    return results


if __name__ == "__main__":
    main()
