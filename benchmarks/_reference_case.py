"""Time one case with the reference client's simulator (run by the reference venv's python).

Usage: python _reference_case.py CASE   (CASE: in_trap | tof | barrier)
Prints one JSON line: {"case", "seconds", "peak_mb"}.
"""

import json
import resource
import sys
import time
import tracemalloc


def main() -> None:
    case = sys.argv[1]
    import io
    from contextlib import redirect_stdout

    from oqtant.schemas.optical import Barrier
    from oqtant.schemas.quantum_matter import QuantumMatter
    from oqtant.simulator import QMPotential, Simulator

    kwargs = {"name": f"bench {case}"}
    if case == "in_trap":
        kwargs.update(lifetime=float(sys.argv[2]) if len(sys.argv) > 2 else 10, image="IN_TRAP")
    elif case == "tof":
        kwargs.update(lifetime=0, image="TIME_OF_FLIGHT", time_of_flight=8)
    elif case == "barrier":
        barrier = Barrier.new(positions=[0, 0], heights=[0, 3], widths=[1, 1], times=[0, 6])
        barrier.evolve(duration=4, height=3)
        kwargs.update(lifetime=10, image="IN_TRAP", barriers=[barrier])
    else:
        raise SystemExit(f"unknown case {case}")
    matter = QuantumMatter(**kwargs)
    tracemalloc.start()
    start, start_cpu = time.perf_counter(), time.process_time()
    with redirect_stdout(io.StringIO()):
        sim = Simulator(QMPotential(matter))
        sim.set_ground_state()
        sim.run_evolution()
        if case == "tof":
            sim.run_TOF()
            _ = sim.tof_output
        else:
            _ = sim.it_plot
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - start_cpu
    _, peak = tracemalloc.get_traced_memory()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "case": case,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "peak_mb": peak / 2**20,
                "rss_mb": rss_mb,
            }
        )
    )


if __name__ == "__main__":
    main()
