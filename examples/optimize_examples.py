"""The worked examples of docs/optimize.md; writes their figures to docs/figures/.

    python examples/optimize_examples.py [--out docs/figures] [--runs 40] [--transport-runs 24]

1. Evaporation on the emulator: four parameters of the RF ramp, most condensed atoms.
2. Barrier transport on the simulator: a barrier pushes the condensate 12 um along
   the trap; find the move that leaves the least sloshing behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from oqtant.optimize import optimize
from oqtant.schemas.quantum_matter import QuantumMatterFactory

qmf = QuantumMatterFactory()
HERE = Path(__file__).resolve().parent
TIMES_MS = [-1600, -1200, -800, -400, 0]


# --------------------------------------------------------------------------- 1. evaporation


def evaporation(p: dict):
    """The ramp of a point: the last three frequencies and the final power are free."""
    return qmf.create_quantum_matter(
        name="evaporation",
        rf_evap=qmf.create_rf_evap(
            times=list(TIMES_MS),
            frequencies=[17.0, 8.0, p["f800_mhz"], p["f400_mhz"], p["final_khz"] / 1000.0],
            powers=[500.0, 500.0, 475.0, 360.0, p["final_mw"]],
            interpolation="LINEAR",
        ),
        image="TIME_OF_FLIGHT", time_of_flight=8.0, lifetime=0.0,
    )


def condensed_atoms(matter) -> float:
    return matter.output.condensed_atom_number


EVAPORATION_SPACE = {
    "f800_mhz": (1.0, 8.0),
    "f400_mhz": (0.2, 3.0),
    "final_khz": (10.0, 300.0, "log"),
    "final_mw": (50.0, 500.0),
}


# --------------------------------------------------------------------------- 2. transport

HOLD_MS = 10.0
START_UM, DISTANCE_UM = -24.0, 12.0


def transport(p: dict):
    """A 20 kHz barrier moves from -24 um to -12 um in ``move_ms``, then stays for 10 ms.

    ``midway`` is the fraction of the distance covered at half the time (0.5: steady).
    """
    move = round(p["move_ms"], 1)
    half = round(move / 2, 1)
    positions = [START_UM, START_UM + p["midway"] * DISTANCE_UM, START_UM + DISTANCE_UM,
                 START_UM + DISTANCE_UM]
    barrier = qmf.create_barrier(
        positions=positions, heights=[20.0] * 4, widths=[3.0] * 4,
        times=[0.0, half, move, round(move + HOLD_MS, 1)], shape="GAUSSIAN",
        interpolation=p["interpolation"],
    )
    return qmf.create_quantum_matter(
        name="barrier transport",
        rf_evap=qmf.create_rf_evap(
            times=list(TIMES_MS), frequencies=[17.0, 8.0, 4.0, 1.2, 0.05],
            powers=[500.0, 500.0, 475.0, 360.0, 220.0], interpolation="LINEAR"),
        barriers=[barrier], lifetime=round(move + HOLD_MS, 1), image="IN_TRAP",
        time_of_flight=8.0,
    )


def sloshing_um(matter) -> float:
    """The rms motion of the condensate's centre while the barrier stands still afterwards."""
    sim = matter.sim
    times = np.asarray(sim.get_times())
    hold = times[times >= float(matter.lifetime) - HOLD_MS - 1e-9]
    x = np.asarray(sim.x_um)
    centres = []
    for t in hold:
        density = np.asarray(sim.get_axial_density(float(t)))
        centres.append(float((x * density).sum() / density.sum()))
    return float(np.std(centres))


TRANSPORT_SPACE = {
    "move_ms": (4.0, 16.0),  # shorter than the 20 ms trap period: the path's shape matters
    "midway": (0.2, 0.8),
    "interpolation": ["LINEAR", "SMOOTH"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "figures")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--transport-runs", type=int, default=24)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    evap = optimize(evaporation, condensed_atoms, EVAPORATION_SPACE, runs=args.runs,
                    batch_size=5, sampler="tpe", seed=0, direction="maximize",
                    study_name="evaporation")
    print(evap, evap.best_params)
    evap.plot_history(file_name=str(args.out / "optimize_evaporation_history.png"),
                      objective_name="condensed atoms")
    evap.plot_parameters(file_name=str(args.out / "optimize_evaporation_parameters.png"),
                         objective_name="condensed atoms")

    move = optimize(transport, sloshing_um, TRANSPORT_SPACE, runs=args.transport_runs,
                    batch_size=4, sampler="gp", seed=0, direction="minimize", sim=True,
                    study_name="barrier transport")
    print(move, move.best_params)
    move.plot_history(file_name=str(args.out / "optimize_transport_history.png"),
                      objective_name="sloshing after the move (µm rms)")
    move.plot_parameters(file_name=str(args.out / "optimize_transport_parameters.png"),
                         objective_name="sloshing (µm rms)")


if __name__ == "__main__":
    main()
