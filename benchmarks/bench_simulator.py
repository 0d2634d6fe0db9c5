"""Speed and memory of the Gross-Pitaevskii simulator, against the reference client's simulator.

Each case runs in a fresh process (ground state + evolution + time of flight +
output image, as a user's ``submit(sim=True)`` / ``get_result()`` does); the
time is wall-clock, the memory is the peak of traced Python/numpy allocations
(tracemalloc) and the process' peak resident size.

The reference (``oqtant`` 3.3.4) runs in its own virtual environment,
``benchmarks/.refvenv`` (created with ``pip install oqtant==3.3.4 "numpy<2"
"pandas<2.3"`` when missing), or the Python named by ``OQTANT_REFERENCE_PYTHON``. Its TOF case
takes minutes, so by default only its IN_TRAP case is re-run and the other
figures are those published in the issue (2-core machine).

    python benchmarks/bench_simulator.py            # re-run the reference IN_TRAP case
    python benchmarks/bench_simulator.py --quick    # published reference figures only
    python benchmarks/bench_simulator.py --full     # re-run every reference case
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["main", "run_case"]

HERE = Path(__file__).resolve().parent
REFVENV = HERE / ".refvenv"
# Published in the issue, measured on a 2-core machine: (seconds, peak MB)
PUBLISHED = {"in_trap": (18.7, 247.0), "tof": (167.0, 406.0)}
TARGETS = {"in_trap": 50.0, "tof": 100.0, "barrier": 50.0}
CASES = {
    "in_trap": "IN_TRAP, 10 ms, no barrier",
    "tof": "TIME_OF_FLIGHT 8 ms (lifetime 0)",
    "barrier": "barrier 0 -> 3 kHz in 6 ms, held 4 ms, IN_TRAP",
}


def run_case(
    case: str, lifetime_ms: float = 10.0, atom_number: float = 1e4, repeats: int = 3
) -> dict:
    """Run one case ``repeats`` times in this process.

    Returns the best wall-clock and CPU seconds, and the peak memory (MB) of the first run.
    """
    import resource
    import time
    import tracemalloc

    import oqtant.projection
    import oqtant.schemas.output  # noqa: F401
    from oqtant.schemas.job import Barrier, InputValues, RfEvaporation
    from oqtant.simulator import Simulator

    rf = RfEvaporation(
        times_ms=[-1600, -1200, -800, -400, 0],
        frequencies_mhz=[17.0, 8.0, 4.0, 1.2, 0.045],
        powers_mw=[500.0, 500.0, 475.0, 360.0, 220.0],
    )
    if case == "tof":
        values = InputValues(
            end_time_ms=0.0, image_type="TIME_OF_FLIGHT", time_of_flight_ms=8.0, rf_evaporation=rf
        )
    elif case == "barrier":
        barrier = Barrier(
            times_ms=[0, 6, 10], positions_um=[0, 0, 0], heights_khz=[0, 3, 3], widths_um=[1, 1, 1]
        )
        values = InputValues(
            end_time_ms=10.0, image_type="IN_TRAP", rf_evaporation=rf, optical_barriers=[barrier]
        )
    else:
        values = InputValues(end_time_ms=lifetime_ms, image_type="IN_TRAP", rf_evaporation=rf)
    walls, cpus, peak = [], [], 0
    for i in range(repeats):
        if i == 0:
            tracemalloc.start()
        start, start_cpu = time.perf_counter(), time.process_time()
        sim = Simulator(values, atom_number=atom_number).run(progress=False)
        _ = sim.output
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
        if i == 0:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        del sim
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": min(walls), "cpu_seconds": min(cpus), "peak_mb": peak / 2**20, "rss_mb": rss}


def _ours(case: str, lifetime_ms: float = 10.0, atom_number: float = 1e4) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import bench_simulator as b; "
        f"print(json.dumps(b.run_case({case!r}, {lifetime_ms!r}, {atom_number!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _reference_python() -> str | None:
    """A Python with oqtant 3.3.4 importable, or None (with the reason printed)."""
    candidates = [os.environ.get("OQTANT_REFERENCE_PYTHON"), str(REFVENV / "bin" / "python")]
    if not (REFVENV / "bin" / "python").exists():
        print(f"creating {REFVENV} with oqtant==3.3.4 for the reference (once) ...", flush=True)
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(REFVENV)], check=True, capture_output=True
            )
            subprocess.run(
                # the reference client imports pandas without declaring it, and needs numpy 1
                [
                    str(REFVENV / "bin" / "pip"),
                    "install",
                    "-q",
                    "oqtant==3.3.4",
                    "numpy<2",
                    "pandas<2.3",
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"  could not install the reference: {exc}")
    for python in candidates:
        if not python or not Path(python).exists():
            continue
        probe = subprocess.run(
            [python, "-c", "import oqtant.schemas.quantum_matter, oqtant.simulator"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0:
            return python
        print(
            f"  {python} cannot import the reference simulator: {probe.stderr.strip().splitlines()[-1:]}"
        )
    return None


def _reference(python: str, case: str) -> dict | None:
    try:
        out = subprocess.run(
            [python, str(HERE / "_reference_case.py"), case],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        print(f"  reference {case} failed: {exc}")
        return None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    quick, full = "--quick" in args, "--full" in args
    rerun = set() if quick else ({"in_trap", "tof", "barrier"} if full else {"in_trap"})
    python = _reference_python() if rerun else None
    if rerun and python is None:
        print("reference not available: using the published figures where there are some")

    print("\ntimes in s (wall clock; CPU in brackets), memory in MB (traced peak / resident peak)")
    for case, label in CASES.items():
        ours = _ours(case)
        print(f"\n{label}")
        print(
            f"  ours:      {ours['seconds']:8.3f} s ({ours['cpu_seconds']:.3f} CPU)   "
            f"{ours['peak_mb']:6.1f} / {ours['rss_mb']:4.0f} MB"
        )
        ref = _reference(python, case) if python and case in rerun else None
        if ref is not None:
            print(
                f"  reference: {ref['seconds']:8.1f} s ({ref['cpu_seconds']:.1f} CPU)   "
                f"{ref['peak_mb']:6.1f} / {ref['rss_mb']:4.0f} MB   measured now"
            )
            print(
                f"  speed-up:  {ref['seconds'] / ours['seconds']:6.0f}x wall, "
                f"{ref['cpu_seconds'] / ours['cpu_seconds']:.0f}x CPU (goal {TARGETS[case]:.0f}x)"
            )
        if case in PUBLISHED:
            seconds, mb = PUBLISHED[case]
            print(
                f"  reference: {seconds:8.1f} s                   {mb:6.0f} MB        "
                f"published (idle 2-core machine)"
            )
            print(
                f"  speed-up:  {seconds / ours['seconds']:6.0f}x wall against it "
                f"({seconds / ours['cpu_seconds']:.0f}x against our CPU time; goal "
                f"{TARGETS[case]:.0f}x); memory {mb / ours['rss_mb']:.1f}x less resident"
            )
        if ref is None and case not in PUBLISHED:
            print("  reference: not measured (run with --full)")
    print("\nours, IN_TRAP without light, growth with lifetime (1e4 atoms):")
    for lifetime in (10.0, 40.0, 160.0):
        r = _ours("in_trap", lifetime)
        print(
            f"  {lifetime:5.0f} ms: {r['seconds']:6.3f} s ({r['cpu_seconds']:.3f} s CPU), "
            f"{r['peak_mb']:6.1f} MB traced, {r['rss_mb']:6.0f} MB resident"
        )
    print("ours, IN_TRAP 10 ms, growth with atom number:")
    for atoms in (1e3, 1e4, 1e5, 2e5):
        r = _ours("in_trap", 10.0, atoms)
        print(
            f"  {atoms:8.0e} atoms: {r['seconds']:6.3f} s ({r['cpu_seconds']:.3f} s CPU), {r['peak_mb']:6.1f} MB traced"
        )
    print(
        "\nours: best of 3 runs in a fresh process. CPU time exceeds the wall clock when"
        " two threads work (the image's matrix products) and falls below it when other"
        " programs share the cores. Traced: peak of the allocations (tracemalloc) of the first"
        " run; resident: the process' peak size (interpreter and libraries included). The"
        " reference is timed once, the same way."
    )


if __name__ == "__main__":
    main()
