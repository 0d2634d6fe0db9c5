"""sim=True: each point runs on the local Gross-Pitaevskii simulator."""

from __future__ import annotations

import numpy as np
import pytest

from oqtant.optimize import optimize
from oqtant.schemas.quantum_matter import QuantumMatterFactory

qmf = QuantumMatterFactory()


def barrier_in_trap(p: dict):
    """A barrier of ``height_khz`` at the trap centre for 2 ms, imaged in the trap."""
    barrier = qmf.create_barrier(positions=[0.0, 0.0], heights=[p["height_khz"]] * 2,
                                 widths=[2.0, 2.0], times=[0.0, 2.0], shape="GAUSSIAN",
                                 interpolation="LINEAR")
    return qmf.create_quantum_matter(
        name="barrier", barriers=[barrier], lifetime=2.0, image="IN_TRAP", time_of_flight=8.0,
        rf_evap=qmf.create_rf_evap(times=[-1600, -1200, -800, -400, 0],
                                   frequencies=[17.0, 8.0, 4.0, 1.2, 0.05],
                                   powers=[500.0, 500.0, 475.0, 360.0, 220.0],
                                   interpolation="LINEAR"),
    )


def centre_density(matter) -> float:
    """The simulated axial density at the barrier (x = 0) at the end."""
    sim = matter.sim
    density = np.asarray(sim.get_axial_density(float(sim.get_times()[-1])))
    return float(density[int(np.argmin(np.abs(np.asarray(sim.x_um))))])


@pytest.mark.slow
def test_simulator_path_scores_simulated_matter():
    result = optimize(barrier_in_trap, centre_density, {"height_khz": (0.0, 30.0)}, runs=3,
                      batch_size=3, sampler="random", sim=True, direction="minimize",
                      progress=False)
    rows = result.trials
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    best = result.best_matter
    assert best.is_sim and best.sim is not None and best.output.it_plot is not None
    # a higher barrier empties its site: the lowest density belongs to the highest barrier
    heights = [r["params_height_khz"] for r in rows]
    assert result.best_params["height_khz"] == max(heights)
