"""Emulated apparatus benchmark: run times per stage, and the emulator beside the real machine.

    python benchmarks/bench_emulator.py [--runs 10] [--out DIR]

Prints the time of a standard BEC (TIME_OF_FLIGHT) run, stage by stage
(goal: at most 0.3 s), and of runs with light (goal: at most 0.6 s): the barrier
manipulator run at 100 kHz (the calibrated machine leaves no condensate), the
same run ending at 20 kHz (a condensate the Gross-Pitaevskii simulator follows),
a landscape run, and a 100 ms stage (no goal), as wall time and as CPU time of
this process (on a shared machine the wall time also counts other people's work). Then the
analysis against the emulator's own truth on the inputs of the real TOF runs
(fitted / true atom number, temperature and condensate). Writes two figures to
``DIR`` (default: a temporary folder): ``emulator_vs_real.png`` puts real runs
of the reference machine beside emulated runs of the same inputs, and
``emulator_sweep.png`` shows atom number, temperature and condensed fraction
against the final RF frequency (truth and fit).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from oqtant.standard_jobs import barrier_manipulator_job

BEC_TARGET_S = 0.3
LIGHT_TARGET_S = 0.6
HERE = Path(__file__).resolve().parent
REAL_JOBS = [
    *([Path(os.environ["OQTANT_REAL_JOBS_DIR"])] if os.environ.get("OQTANT_REAL_JOBS_DIR") else []),
    HERE.parents[1] / "shared" / "data" / "real_jobs",
    Path("/work/shared/data/real_jobs"),
    HERE.parent / "tests" / "data" / "real_jobs",
]

_RAMP = {
    "times_ms": [-1600, -1200, -800, -400, 0],
    "frequencies_mhz": [17.0, 8.0, 4.0, 1.2, 0.045],
    "powers_mw": [500.0, 500.0, 475.0, 360.0, 220.0],
    "interpolation": "LINEAR",
}
BEC_VALUES = {
    "time_of_flight_ms": 8.0,
    "image_type": "TIME_OF_FLIGHT",
    "end_time_ms": 0.0,
    "rf_evaporation": _RAMP,
}
# the standard barrier manipulator run (ramp ending at 100 kHz, a barrier raised over 20 ms)
BARRIER_VALUES = copy.deepcopy(barrier_manipulator_job["inputs"][0]["values"])

# the same run ending at 20 kHz: a condensate (about 3.7e4 atoms) under the light
BARRIER_BEC_VALUES = {
    **BARRIER_VALUES,
    "rf_evaporation": {**_RAMP, "frequencies_mhz": [17.0, 8.0, 4.0, 1.2, 0.02]},
}
# a painted landscape (a double well raised over 10 ms), with a condensate
LANDSCAPE_VALUES = {
    "time_of_flight_ms": 7.0,
    "image_type": "IN_TRAP",
    "end_time_ms": 10.0,
    "rf_evaporation": BARRIER_BEC_VALUES["rf_evaporation"],
    "optical_landscape": {
        "landscapes": [
            {"time_ms": 0.0, "positions_um": [-20.0, 0.0, 20.0], "potentials_khz": [0.0, 0.0, 0.0]},
            {
                "time_ms": 10.0,
                "positions_um": [-20.0, 0.0, 20.0],
                "potentials_khz": [0.0, 5.0, 0.0],
            },
        ]
    },
}
# a long experiment stage: a barrier raised in 10 ms and held until 100 ms, with a condensate
LONG_VALUES = {
    **BARRIER_BEC_VALUES,
    "end_time_ms": 100.0,
    "optical_barriers": [
        {
            "times_ms": [0.0, 10.0, 100.0],
            "positions_um": [0.0] * 3,
            "heights_khz": [0.0, 10.0, 10.0],
            "widths_um": [2.0] * 3,
            "interpolation": "LINEAR",
            "shape": "GAUSSIAN",
        }
    ],
}
LIGHT_CASES = (
    ("barrier manipulator IN_TRAP run (light, 100 kHz)", BARRIER_VALUES),
    ("barrier manipulator run ending at 20 kHz (light, condensate)", BARRIER_BEC_VALUES),
    ("landscape IN_TRAP run (light, condensate, 10 ms)", LANDSCAPE_VALUES),
    ("long stage: barrier held to 100 ms (light, condensate)", LONG_VALUES),
)


def _real_job(name: str):
    for folder in REAL_JOBS:
        path = folder / f"{name}.json.gz"
        if path.exists():
            return json.loads(gzip.open(path).read())
    return None


def _image(wire) -> np.ndarray:
    return np.asarray(wire["pixels"] if isinstance(wire, dict) else wire.pixels, float).reshape(
        (wire["rows"], wire["columns"]) if isinstance(wire, dict) else (wire.rows, wire.columns)
    )


def _time_runs(apparatus, values, runs: int):
    totals, cpus, stages = [], [], {}
    result = None
    for seed in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        result = apparatus.simulate(values, seed)
        totals.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        for k, v in result.timings_s.items():
            stages.setdefault(k, []).append(v)
    stages = {k: statistics.median(v) for k, v in stages.items()}
    return totals, stages, result, statistics.median(cpus)


def _real_tof_inputs():
    folder = next((f for f in REAL_JOBS if f.exists()), None)
    if folder is None:
        return []
    out = []
    for path in sorted(folder.glob("*.json.gz")):
        with gzip.open(path) as f:
            job = json.loads(f.read())
        values = job["inputs"][0]["values"]
        if values.get("image_type") == "TIME_OF_FLIGHT":
            out.append((path.name.removesuffix(".json.gz"), values))
    return out


def _fit_against_truth(apparatus) -> None:
    """Fitted over true N, T and N_c of emulations of the real TOF runs' inputs."""
    from oqtant.schemas.job import InputValues

    cases = _real_tof_inputs()
    if not cases:
        print("real job files not found: no fit check on real sequences")
        return
    rows = []
    for name, values in cases:
        run = apparatus.simulate(InputValues.model_validate(values), seed=0)
        t, o = run.truth, run.output.values
        rows.append(
            (
                name,
                o.tof_atom_number / t.atom_number,
                o.temperature_nk / t.temperature_nk,
                (o.condensed_atom_number + 1) / (t.condensed_atom_number + 1),
            )
        )
    ratios = np.array([r[1:] for r in rows])
    within = np.all(np.abs(ratios[:, :2] - 1) < 0.1, axis=1)
    print(
        f"\nfit / truth on emulations of {len(rows)} real TOF inputs (seed 0): "
        f"N and T within 10 % on {int(within.sum())}"
    )
    for label, col in (("N", 0), ("T", 1), ("N_c", 2)):
        q = np.percentile(ratios[:, col], [0, 50, 100])
        print(f"  {label:4s} min {q[0]:.2f}  median {q[1]:.2f}  max {q[2]:.2f}")
    for (name, *r), ok in zip(rows, within, strict=True):
        if not ok:
            print(f"  outside: {name[:58]:58s} N {r[0]:.2f} T {r[1]:.2f} N_c {r[2]:.2f}")


def _figure_real(apparatus, out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from oqtant.schemas.job import InputValues

    cases = [
        (
            "Solitons_FritschSolitons_Data_Dark_DS_hold_time_0_rep_0",
            "tof_image",
            "TOF 10 ms, RF 33.5 kHz",
        ),
        (
            "Solitons_FritschSolitons_Data_HoldTime_TOF5_FS_hold_time_0_rep_0",
            "tof_image",
            "TOF 5 ms",
        ),
        ("Superlattice_PatternedLoading_Data_NoPatternExpt_rep_0", "it_plot", "IN_TRAP, 6 ms"),
    ]
    jobs = [(_real_job(name), key, label) for name, key, label in cases]
    if any(job is None for job, _, _ in jobs):
        print("real job files not found: no comparison figure")
        return None
    fig, axes = plt.subplots(len(jobs), 3, figsize=(14, 4 * len(jobs)))
    print("\nreal machine vs emulator, same input (peak OD of a 3x3 average):")
    for row, (job, key, label) in zip(axes, jobs, strict=True):
        values = InputValues.model_validate(job["inputs"][0]["values"])
        real = _image(job["inputs"][0]["output"]["values"][key])
        run = apparatus.simulate(values, seed=0)
        emu = run.od_image
        pix = 4.4 if key == "tof_image" else 0.344
        vmax = max(np.percentile(real, 99.9), np.percentile(emu, 99.9))
        for ax, im, who in ((row[0], real, "real"), (row[1], emu, "emulated")):
            extent = (0, im.shape[1] * pix, im.shape[0] * pix, 0)
            h = ax.imshow(im, cmap="viridis", vmin=-0.1, vmax=vmax, extent=extent, aspect="equal")
            ax.set_title(f"{who}: {label}")
            ax.set_xlabel("x (µm, axial)")
            ax.set_ylabel("y (µm)")
            fig.colorbar(h, ax=ax, label="optical density")
        from scipy.ndimage import uniform_filter

        peaks = [float(uniform_filter(a, 3).max()) for a in (real, emu)]
        r_row, r_col = np.unravel_index(np.argmax(uniform_filter(real, 3)), real.shape)
        e_row, e_col = np.unravel_index(np.argmax(uniform_filter(emu, 3)), emu.shape)
        band = 2 if key == "tof_image" else 6
        x_real = (np.arange(real.shape[1]) - r_col) * pix
        x_emu = (np.arange(emu.shape[1]) - e_col) * pix
        row[2].plot(x_real, real[r_row - band : r_row + band + 1].mean(0), label="real, along x")
        row[2].plot(x_emu, emu[e_row - band : e_row + band + 1].mean(0), label="emulated, along x")
        if key == "tof_image":
            y_real = (np.arange(real.shape[0]) - r_row) * pix
            y_emu = (np.arange(emu.shape[0]) - e_row) * pix
            real_y = real[:, r_col - band : r_col + band + 1].mean(1)
            emu_y = emu[:, e_col - band : e_col + band + 1].mean(1)
            row[2].plot(y_real, real_y, "--", label="real, along y")
            row[2].plot(y_emu, emu_y, "--", label="emulated, along y")
        row[2].set_xlabel("distance from the peak (µm)")
        row[2].set_ylabel("optical density")
        row[2].legend(fontsize=8)
        t = run.truth
        row[2].set_title(
            f"emulated: N={t.atom_number:.3g}, Nc={t.condensed_atom_number:.3g}, "
            f"T={t.temperature_nk:.0f} nK",
            fontsize=9,
        )
        print(f"  {label:24s} real {peaks[0]:.2f}  emulated {peaks[1]:.2f}")
    fig.tight_layout()
    path = out / "emulator_vs_real.png"
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def _figure_sweep(apparatus, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from oqtant.schemas.job import InputValues

    finals = np.array([0.02, 0.03, 0.045, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8])
    rows = []
    for f in finals:
        values = copy.deepcopy(BEC_VALUES)
        values["rf_evaporation"] = {**_RAMP, "frequencies_mhz": [17.0, 8.0, 4.0, 1.2, float(f)]}
        run = apparatus.simulate(InputValues.model_validate(values), seed=0)
        t, o = run.truth, run.output.values
        fit_fc = o.condensed_atom_number / max(o.tof_atom_number, 1)
        rows.append(
            (
                t.atom_number,
                t.temperature_nk,
                t.condensed_fraction,
                t.critical_temperature_nk,
                o.tof_atom_number,
                o.temperature_nk,
                fit_fc,
            )
        )
    a = np.array(rows)
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    ax[0].loglog(finals * 1e3, a[:, 0], "o-", label="truth")
    ax[0].loglog(finals * 1e3, a[:, 4], "s--", label="fit")
    ax[0].set_ylabel("atom number")
    ax[1].loglog(finals * 1e3, a[:, 1], "o-", label="truth T")
    ax[1].loglog(finals * 1e3, a[:, 5], "s--", label="fit T")
    ax[1].loglog(finals * 1e3, a[:, 3], ":", label="critical temperature")
    ax[1].set_ylabel("temperature (nK)")
    ax[2].semilogx(finals * 1e3, a[:, 2], "o-", label="truth")
    ax[2].semilogx(finals * 1e3, a[:, 6], "s--", label="fit")
    ax[2].set_ylabel("condensed fraction")
    from matplotlib.ticker import NullFormatter

    for axis in ax:
        axis.set_xlabel("final RF frequency above the trap bottom (kHz)")
        axis.set_xticks([20, 50, 100, 200, 500], ["20", "50", "100", "200", "500"])
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.legend()
    fig.suptitle("Standard ramp, last point swept (seed 0)")
    fig.tight_layout()
    path = out / "emulator_sweep.png"
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


_RATIO_KEYS = {
    "TOF": (
        "integrated_od",
        "peak_od",
        "thermal_sigma_x_um",
        "thermal_sigma_y_um",
        "atom_number",
        "temperature_nk",
        "condensed_fraction",
    ),
    "IN_TRAP": ("integrated_od", "peak_od", "radial_fwhm_um", "axial_rms_um"),
}


def _real_comparison(apparatus, out: Path) -> Path | None:
    """Emulated / real median ratios over the real runs, and side-by-side figures."""
    from oqtant.emulator.calibrate import image_statistics, load_real_runs, profile_correlation

    folder = next((f for f in REAL_JOBS if f.exists()), None)
    if folder is None:
        print("real job files not found: no comparison with the machine")
        return None
    runs = load_real_runs(folder)
    s = apparatus.settings
    ratios = {
        "TOF": {k: [] for k in _RATIO_KEYS["TOF"]},
        "IN_TRAP": {k: [] for k in _RATIO_KEYS["IN_TRAP"]},
    }
    correlations, shown = [], []
    for run in runs:
        emu = apparatus.simulate(run.values, seed=0)
        real_stats = image_statistics(run.image, run.pixcal_um, run.values, s)
        emu_stats = image_statistics(emu.od_image, run.pixcal_um, run.values, s)
        kind = "IN_TRAP" if run.in_trap else "TOF"
        for k in _RATIO_KEYS[kind]:
            a, b = emu_stats.get(k, np.nan), real_stats.get(k, np.nan)
            ratios[kind][k].append(a / b if np.isfinite(a) and np.isfinite(b) and b else np.nan)
        if run.in_trap:
            correlations.append(
                profile_correlation(real_stats["_x_profile"], emu_stats["_x_profile"])
            )
        if len([r for r, _ in shown if r.in_trap == run.in_trap]) < 3:
            shown.append((run, emu.od_image))
    print(
        f"\nemulated / real over {len(runs)} real runs in {folder} (median [quartiles]; "
        "goal 0.85-1.15):"
    )
    met = []
    for kind, table in ratios.items():
        for k, values in table.items():
            v = np.asarray(values, float)
            v = v[np.isfinite(v)]
            if not v.size:
                continue
            q = np.percentile(v, [25, 50, 75])
            ok = 0.85 <= q[1] <= 1.15
            met.append(ok)
            print(
                f"  {kind:8s} {k:22s} {q[1]:6.2f}  [{q[0]:.2f}, {q[2]:.2f}]  n={v.size:2d}  "
                f"{'met' if ok else 'NOT met'}"
            )
    if correlations:
        c = np.asarray(correlations)
        ok = float(np.median(c)) >= 0.9
        met.append(ok)
        print(
            f"  IN_TRAP  x-profile correlation  median {np.median(c):.3f}  min {c.min():.3f}  "
            f"max {c.max():.3f}  (goal >= 0.9) {'met' if ok else 'NOT met'}"
        )
    print(f"  goals met: {sum(met)} of {len(met)}")
    return _figure_side_by_side(shown, out)


def _figure_side_by_side(shown, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(shown), 3, figsize=(15, 3.2 * len(shown)))
    for row, (run, emu) in zip(axes, shown, strict=True):
        real = run.image
        pix = run.pixcal_um
        vmax = max(np.percentile(real, 99.9), np.percentile(emu, 99.9))
        for ax, im, who in ((row[0], real, "real"), (row[1], emu, "emulated")):
            extent = (0, im.shape[1] * pix, im.shape[0] * pix, 0)
            h = ax.imshow(im, cmap="viridis", vmin=-0.1, vmax=vmax, extent=extent, aspect="equal")
            ax.set_title(f"{who}: {run.name[-44:]}", fontsize=8)
            fig.colorbar(h, ax=ax)
        for im, who in ((real, "real"), (emu, "emulated")):
            prof = im.sum(axis=0) * pix
            row[2].plot(np.arange(len(prof)) * pix - np.argmax(prof) * pix, prof, label=who)
        row[2].set_xlabel("x from the peak (µm)")
        row[2].set_ylabel("OD summed over y (µm)")
        row[2].legend(fontsize=8)
    fig.tight_layout()
    path = out / "emulator_vs_real_runs.png"
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args([] if argv is None else argv)

    from oqtant.emulator import Apparatus
    from oqtant.schemas.job import InputValues

    apparatus = Apparatus()
    apparatus.simulate(InputValues.model_validate(BEC_VALUES), seed=0)  # imports, caches

    values = InputValues.model_validate(BEC_VALUES)
    totals, stages, _, cpu = _time_runs(apparatus, values, args.runs)
    median = statistics.median(totals)
    print(
        f"BEC TIME_OF_FLIGHT run: median {median:.3f} s wall, {cpu:.3f} s CPU over "
        f"{args.runs} seeds (goal <= {BEC_TARGET_S:.1f} s)"
    )
    print("  stages: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in stages.items()))

    for label, case in LIGHT_CASES:
        b_totals, b_stages, b_run, b_cpu = _time_runs(
            apparatus, InputValues.model_validate(case), max(3, args.runs // 2)
        )
        b_median = statistics.median(b_totals)
        goal = f"goal <= {LIGHT_TARGET_S:.1f} s" if case["end_time_ms"] <= 20 else "no goal"
        print(
            f"{label}: median {b_median:.3f} s wall, {b_cpu:.3f} s CPU ({goal}; used "
            f"simulator: {b_run.truth.used_simulator}, "
            f"{b_run.truth.condensed_atom_number:.0f} condensed atoms)"
        )
        print("  stages: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in b_stages.items()))

    _fit_against_truth(apparatus)

    out = args.out or Path(tempfile.mkdtemp(prefix="oqtant_emulator_"))
    out.mkdir(parents=True, exist_ok=True)
    real = _figure_real(apparatus, out)
    sweep = _figure_sweep(apparatus, out)
    runs = _real_comparison(apparatus, out)
    print(f"figures: {real}, {sweep}, {runs}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
