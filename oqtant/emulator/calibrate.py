"""Calibration of the emulated apparatus against runs of a real machine.

A lab's job files (written by ``write_job_to_file``: the inputs and the
machine's output image) are emulated with the same inputs; both images are
reduced to the same statistics by one analysis (:func:`image_statistics`: the
integrated and peak OD, the cloud's widths, the bimodal fit's N, T and condensed
fraction of a TOF image; the radial width and axial profile of an in-trap
image), and :func:`calibrate` adjusts the apparatus' *physical* parameters
(:data:`PARAMETERS`: capture, initial temperature, the trap bottom under the RF
knife, heating in the science trap, the in-trap camera's resolution, the
probes' detuning and saturation) by ``scipy.optimize.least_squares`` on the log
ratios emulated / real. Every parameter acts through the model, so a changed
ramp still changes the result; nothing is tabulated.

Usage (see ``scripts/calibrate_emulator.py``)::

    from oqtant.emulator.calibrate import load_real_runs, calibrate
    runs = load_real_runs("path/to/job_files")
    result = calibrate(runs)
    print(result.report())
    apparatus = Apparatus(result.settings)
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage, optimize

from oqtant.emulator._apparatus import Apparatus, ApparatusSettings
from oqtant.errors import FitError, SimulationError, ValidationError
from oqtant.schemas.job import InputValues

__all__ = [
    "DEFAULT_PARAMETERS",
    "PARAMETERS",
    "CalibrationResult",
    "Parameter",
    "RealRun",
    "calibrate",
    "compare",
    "get_parameter",
    "image_statistics",
    "load_real_runs",
    "profile_correlation",
    "radial_halo_profile",
    "subsample",
    "with_parameters",
]

# files of the reference's simulator, not of the machine
_SIMULATOR_FILES = ("DarkSolitonCollective",)
_FRACTION_FLOOR = 0.05  # condensed fractions compared as log((f + floor) / (f' + floor))


@dataclass(frozen=True)
class RealRun:
    """One real run: its name, inputs and the machine's image (OD)."""

    name: str
    values: InputValues
    image: np.ndarray
    pixcal_um: float

    @property
    def in_trap(self) -> bool:
        return self.values.image_type.value == "IN_TRAP"


def load_real_runs(folder, *, include_simulator: bool = False) -> list[RealRun]:
    """Runs of the job files (``*.json``, ``*.json.gz``) in ``folder`` with a TOF or in-trap image.

    Files of the reference's simulator (``*DarkSolitonCollective*``) are left out
    unless ``include_simulator``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"folder: {folder} is not a directory")
    runs = []
    for path in sorted(folder.glob("*.json*")):
        if not include_simulator and any(tag in path.name for tag in _SIMULATOR_FILES):
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            job = json.load(handle)
        name = path.name.split(".json")[0]
        for k, run in enumerate(job.get("inputs", [])):
            out = (run.get("output") or {}).get("values") or {}
            wire = out.get("tof_image") or out.get("it_plot")
            if not wire or not wire.get("pixels"):
                continue
            image = np.asarray(wire["pixels"], float).reshape(wire["rows"], wire["columns"])
            values = InputValues.model_validate(run["values"])
            label = name if len(job["inputs"]) == 1 else f"{name}#{k}"
            runs.append(
                RealRun(
                    label,
                    values,
                    image,
                    float(wire.get("pixcal") or 0) or (4.4 if "tof_image" in out else 0.344),
                )
            )
    return runs


# ---------------------------------------------------------------- statistics


def _fwhm(profile: np.ndarray, step: float) -> float:
    """Full width at half maximum of a 1-D profile (linear interpolation at the crossings)."""
    p = ndimage.uniform_filter1d(np.asarray(profile, float), 3)
    k = int(np.argmax(p))
    half = 0.5 * p[k]
    left = k
    while left > 0 and p[left] > half:
        left -= 1
    right = k
    while right < len(p) - 1 and p[right] > half:
        right += 1
    if p[left] > half or p[right] > half:
        return float("nan")
    x_left = left + (half - p[left]) / (p[left + 1] - p[left])
    x_right = right - 1 + (p[right - 1] - half) / (p[right - 1] - p[right])
    return float((x_right - x_left) * step)


def _background(od: np.ndarray, band: int) -> float:
    """The OD far from the cloud: median of the frame's top and bottom rows."""
    return float(np.median(np.concatenate([od[:band].ravel(), od[-band:].ravel()])))


def _column_background(od: np.ndarray, band: int, smooth: int = 31) -> np.ndarray:
    """The OD far from the cloud in each column: median of its top and bottom rows,
    smoothed along x (the probe's background varies across a wide in-trap frame)."""
    edge = np.median(np.concatenate([od[:band], od[-band:]]), axis=0)
    return ndimage.uniform_filter1d(edge, smooth, mode="nearest")


def _in_trap_statistics(od: np.ndarray, pixcal_um: float) -> dict[str, float]:
    od = od - _column_background(od, 20)[None, :]
    smooth = ndimage.uniform_filter(od, 3)
    row, col = np.unravel_index(np.argmax(smooth), od.shape)
    x_profile = od.sum(axis=0)
    y_profile = od.sum(axis=1)
    # the axial extent: the columns around the peak above a tenth of the profile's
    # maximum (contiguous: noise far out does not widen the cloud)
    sm = ndimage.uniform_filter1d(x_profile, 9)
    peak = int(np.argmax(sm))
    low = np.flatnonzero(sm <= 0.1 * sm[peak])
    first = int(low[low < peak].max()) + 1 if np.any(low < peak) else 0
    last = int(low[low > peak].min()) if np.any(low > peak) else len(sm)
    cols = slice(first, last)
    radial = od[:, cols].sum(axis=1)
    x = np.arange(od.shape[1])[cols] * pixcal_um
    w = np.clip(sm[cols], 0, None)
    centre = np.sum(w * x) / np.sum(w)
    axial_rms = math.sqrt(np.sum(w * (x - centre) ** 2) / np.sum(w))
    return {
        "integrated_od": float(od.sum()),
        "peak_od": float(smooth[row, col]),
        "radial_fwhm_um": _fwhm(radial, pixcal_um),
        "axial_rms_um": float(axial_rms),
        "_x_profile": x_profile,
        "_y_profile": y_profile,
    }


def radial_halo_profile(od: np.ndarray, pixcal_um: float, bin_um: float = 2.5, out_um=22.5):
    """Mean OD across an in-trap cloud against the distance from its row.

    The frame's column background is taken away as in :func:`image_statistics`; the
    OD is averaged over the columns where the axial profile exceeds 30 % of its
    maximum and over both sides of the cloud's row, in bins of ``bin_um`` out to
    ``out_um``. Returns (bin starts in um, mean OD per bin). Real frames read
    -0.04 to -0.06 from 5 to 12 um out: the halo of the software's background.
    """
    od = np.nan_to_num(np.asarray(od, float)) - _column_background(od, 20)[None, :]
    sm = ndimage.uniform_filter1d(od.sum(axis=0), 9)
    cols = np.flatnonzero(sm > 0.3 * sm.max())
    across = od[:, cols.min() : cols.max() + 1].mean(axis=1)
    row = int(np.argmax(ndimage.uniform_filter1d(across, 3)))
    d = np.abs(np.arange(len(across)) - row) * pixcal_um
    starts = np.arange(0.0, out_um, bin_um)
    return starts, np.array([across[(d >= a) & (d < a + bin_um)].mean() for a in starts])


def _tof_statistics(od: np.ndarray, pixcal_um: float, tof_ms: float, s: ApparatusSettings):
    from oqtant.schemas.output import fit_bimodal_2d

    stats = {
        "integrated_od": float((od - _background(od, 8)).sum()),
        "peak_od": float(ndimage.uniform_filter(od, 3).max()),
    }
    try:
        fit = fit_bimodal_2d(
            od,
            pixcal_um,
            time_of_flight_ms=tof_ms,
            resolution_um=s.tof_camera.resolution_um,
            saturation_od=s.tof_camera.saturation_od,
        )
    except FitError:
        return stats
    p = fit.params
    sx, sy = abs(p[1]) * pixcal_um, abs(p[2]) * pixcal_um
    stats.update(
        atom_number=float(fit.total_atom_number),
        temperature_nk=float(fit.temperature_nk or float("nan")),
        condensed_fraction=float(fit.condensed_fraction),
        thermal_sigma_x_um=sx if sx > 0 else float("nan"),
        thermal_sigma_y_um=sy if sy > 0 else float("nan"),
        tf_radius_x_um=abs(p[4]) * pixcal_um if p[3] > 0 else float("nan"),
    )
    return stats


def image_statistics(
    od: np.ndarray, pixcal_um: float, values: InputValues, settings: ApparatusSettings
) -> dict[str, float]:
    """The statistics of one OD image that the calibration compares (one analysis for both)."""
    od = np.nan_to_num(np.asarray(od, float), nan=0.0, posinf=0.0, neginf=0.0)
    if values.image_type.value == "IN_TRAP":
        return _in_trap_statistics(od, pixcal_um)
    return _tof_statistics(od, pixcal_um, values.time_of_flight_ms, settings)


def profile_correlation(real: np.ndarray, emulated: np.ndarray, max_shift: int = 60) -> float:
    """Pearson correlation of two axial profiles, the emulated one shifted to align best.

    The profiles may differ in length (503 or 512 columns); both are compared on
    the real one's columns, the shift searched over ``max_shift`` pixels.
    """
    a = np.asarray(real, float)
    b = np.asarray(emulated, float)
    n = len(a)
    pad = np.zeros(n + 2 * max_shift)
    off = max_shift + (n - len(b)) // 2
    lo, hi = max(off, 0), min(off + len(b), len(pad))
    pad[lo:hi] = b[lo - off : hi - off]
    best = -1.0
    for shift in range(-max_shift, max_shift + 1):
        seg = pad[max_shift + shift : max_shift + shift + n]
        if np.std(seg) > 0 and np.std(a) > 0:
            best = max(best, float(np.corrcoef(a, seg)[0, 1]))
    return best


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Parameter:
    """One physical parameter of the apparatus: where it lives and its range.

    ``path`` names the field of :class:`ApparatusSettings` (dots into its
    ``evaporation`` model and cameras); ``log``: fitted on a log scale.
    """

    name: str
    path: str
    lower: float
    upper: float
    log: bool
    unit: str
    description: str
    step: float = 1.0  # natural step of a linear parameter


PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter(
            "capture_fraction", "capture_fraction", 0.02, 1.0, True, "", "MOT -> magnetic trap"
        ),
        Parameter(
            "initial_temperature_uk",
            "initial_temperature_k",
            30e-6,
            600e-6,
            True,
            "K",
            "temperature in the compressed magnetic trap",
        ),
        Parameter(
            "trap_bottom_khz",
            "evaporation.trap_bottom_mhz",
            -0.08,
            0.03,
            False,
            "MHz",
            "trap bottom under the RF knife (negative: the knife is deeper)",
            0.002,
        ),
        Parameter(
            "stage_heating",
            "evaporation.stage_heating_nk_per_ms",
            0.0,
            30.0,
            False,
            "nK/ms",
            "heating in the science trap (t > 0)",
            1.0,
        ),
        Parameter(
            "in_trap_resolution",
            "in_trap_camera.resolution_um",
            0.3,
            4.0,
            True,
            "um",
            "rms of the in-trap camera's point-spread function",
        ),
        Parameter(
            "in_trap_detuning",
            "in_trap_detuning_mhz",
            5.0,
            40.0,
            True,
            "MHz",
            "detuning of the in-trap probe",
        ),
        Parameter(
            "in_trap_saturation",
            "in_trap_camera.saturation_od",
            0.8,
            5.0,
            True,
            "OD",
            "most OD the in-trap camera reads (stray probe light)",
        ),
        Parameter(
            "tof_saturation",
            "tof_camera.saturation_od",
            0.8,
            5.0,
            True,
            "OD",
            "most OD the TOF camera reads (stray probe light)",
        ),
        Parameter(
            "tof_detuning", "tof_detuning_mhz", 0.0, 8.0, False, "MHz", "detuning of the TOF probe"
        ),
        Parameter(
            "in_trap_reference_fraction",
            "in_trap_camera.reference_fraction",
            0.0,
            1.0,
            False,
            "",
            "part of the smoothed in-trap OD the software subtracts",
            0.05,
        ),
        Parameter(
            "in_trap_reference_sigma_x",
            "in_trap_camera.reference_sigma_x_um",
            2.0,
            80.0,
            True,
            "um",
            "axial rms of the software's smooth background",
        ),
        Parameter(
            "in_trap_reference_sigma_y",
            "in_trap_camera.reference_sigma_y_um",
            2.0,
            60.0,
            True,
            "um",
            "radial rms of the software's smooth background",
        ),
        Parameter(
            "background_lifetime",
            "evaporation.background_lifetime_s",
            0.3,
            30.0,
            True,
            "s",
            "background-gas lifetime",
        ),
    )
}
DEFAULT_PARAMETERS = (
    "capture_fraction",
    "initial_temperature_uk",
    "trap_bottom_khz",
    "stage_heating",
    "in_trap_resolution",
    "in_trap_detuning",
    "tof_saturation",
)


def get_parameter(settings: ApparatusSettings, name: str) -> float:
    obj: Any = settings
    for part in PARAMETERS[name].path.split("."):
        obj = getattr(obj, part)
    return float(obj)


def _replace(obj, parts: list[str], value):
    if len(parts) == 1:
        return dataclasses.replace(obj, **{parts[0]: value})
    child = getattr(obj, parts[0])
    return dataclasses.replace(obj, **{parts[0]: _replace(child, parts[1:], value)})


def with_parameters(settings: ApparatusSettings, values: dict[str, float]) -> ApparatusSettings:
    """A copy of ``settings`` with the named parameters set."""
    for name, value in values.items():
        if name not in PARAMETERS:
            raise ValidationError(
                f"parameters: unknown parameter {name!r}; known: {', '.join(PARAMETERS)}"
            )
        settings = _replace(settings, PARAMETERS[name].path.split("."), float(value))
    return settings


# ---------------------------------------------------------------- the fit

# statistics compared per kind of image, and their weights in the least squares
_TOF_KEYS = {
    "integrated_od": 1.0,
    "peak_od": 1.0,
    "atom_number": 1.0,
    "temperature_nk": 1.0,
    "condensed_fraction": 1.0,
    "thermal_sigma_x_um": 0.5,
    "thermal_sigma_y_um": 0.5,
}
_IN_TRAP_KEYS = {"integrated_od": 1.0, "peak_od": 1.0, "radial_fwhm_um": 1.5, "axial_rms_um": 0.5}
_CORRELATION_WEIGHT = 2.0


def _log_ratio(key: str, emu: float, real: float) -> float:
    if key == "condensed_fraction":
        emu, real = emu + _FRACTION_FLOOR, real + _FRACTION_FLOOR
    if not (np.isfinite(emu) and np.isfinite(real)) or emu <= 0 or real <= 0:
        return 1.0  # a statistic one side lacks (e.g. no fit): a fixed penalty
    return math.log(emu / real)


def compare(run: RealRun, real_stats: dict, emu_stats: dict) -> dict[str, float]:
    """Log ratios emulated / real of the compared statistics (and 1 - correlation)."""
    keys = _IN_TRAP_KEYS if run.in_trap else _TOF_KEYS
    out = {k: _log_ratio(k, emu_stats.get(k, np.nan), real_stats.get(k, np.nan)) for k in keys}
    if run.in_trap:
        out["x_profile_correlation"] = 1.0 - profile_correlation(
            real_stats["_x_profile"], emu_stats["_x_profile"]
        )
    return out


@dataclass
class CalibrationResult:
    """The fitted parameters, their one-sigma uncertainties and the settings they make."""

    names: tuple[str, ...]
    values: np.ndarray
    errors: np.ndarray
    settings: ApparatusSettings
    cost: float
    residual_rms: float
    evaluations: int
    runs: tuple[str, ...]

    def report(self) -> str:
        lines = [
            (
                f"calibrated on {len(self.runs)} runs, {self.evaluations} evaluations, "
                f"rms log ratio {self.residual_rms:.3f}"
            )
        ]
        for name, v, e in zip(self.names, self.values, self.errors, strict=True):
            p = PARAMETERS[name]
            lines.append(f"  {p.path:38s} = {v:11.5g} +- {e:.2g} {p.unit:6s} ({p.description})")
        return "\n".join(lines)


class _Objective:
    """Residuals of a parameter vector; the real runs' statistics computed once."""

    def __init__(self, runs, names, base: ApparatusSettings, seeds, reference):
        self.reference = dict(reference)
        self.runs = list(runs)
        self.names = tuple(names)
        self.base = base
        self.seeds = tuple(seeds)
        self.real = [image_statistics(r.image, r.pixcal_um, r.values, base) for r in self.runs]
        self.evaluations = 0
        self._cache: dict[tuple, np.ndarray] = {}

    # internal coordinates: 0 at the start, one unit a tenth in a log parameter
    # or ``step`` of a linear one, so that one finite-difference step suits all
    def to_physical(self, z):
        out = {}
        for name, zi in zip(self.names, z, strict=True):
            p = PARAMETERS[name]
            ref = self.reference[name]
            out[name] = ref * math.exp(0.1 * zi) if p.log else ref + p.step * zi
        return out

    def to_internal(self, values):
        out = []
        for n in self.names:
            p, ref = PARAMETERS[n], self.reference[n]
            out.append(10.0 * math.log(values[n] / ref) if p.log else (values[n] - ref) / p.step)
        return np.array(out)

    def bounds(self):
        lo = self.to_internal({n: PARAMETERS[n].lower for n in self.names})
        hi = self.to_internal({n: PARAMETERS[n].upper for n in self.names})
        return lo, hi

    def jacobian(self, z, step: float = 0.5) -> np.ndarray:
        """Forward differences of one internal unit's half (5 % of a log parameter),
        backwards at an upper bound."""
        f0 = self(z)
        _lo, hi = self.bounds()
        columns = []
        for i in range(len(z)):
            h = step if z[i] + step <= hi[i] else -step
            zi = np.array(z, float)
            zi[i] += h
            columns.append((self(zi) - f0) / h)
        return np.stack(columns, axis=1)

    def settings(self, z) -> ApparatusSettings:
        return with_parameters(self.base, self.to_physical(z))

    def __call__(self, z) -> np.ndarray:
        key = tuple(np.round(z, 12))
        if key in self._cache:
            return self._cache[key]
        self.evaluations += 1
        apparatus = Apparatus(self.settings(z))
        residuals: list[float] = []
        for run, real in zip(self.runs, self.real, strict=True):
            keys: list[str] = []
            per_seed = []
            for seed in self.seeds:
                emu = apparatus.simulate(run.values, seed)
                if emu.od_image is None:
                    raise SimulationError("calibration: an emulated run returned no OD image")
                stats = image_statistics(
                    emu.od_image, run.pixcal_um, run.values, apparatus.settings
                )
                c = compare(run, real, stats)
                keys = list(c)
                per_seed.append([c[k] for k in keys])
            weights = _IN_TRAP_KEYS if run.in_trap else _TOF_KEYS
            mean = np.mean(per_seed, axis=0)
            residuals.extend(
                m * weights.get(k, _CORRELATION_WEIGHT) for k, m in zip(keys, mean, strict=True)
            )
        r = np.asarray(residuals)
        self._cache[key] = r
        return r


def subsample(runs: list[RealRun], tof: int, in_trap: int) -> list[RealRun]:
    """Up to ``tof`` TOF and ``in_trap`` in-trap runs spread evenly over the list."""

    def pick(items, k):
        if k >= len(items):
            return items
        idx = np.linspace(0, len(items) - 1, k).round().astype(int)
        return [items[i] for i in idx]

    return pick([r for r in runs if not r.in_trap], tof) + pick(
        [r for r in runs if r.in_trap], in_trap
    )


def calibrate(
    runs: list[RealRun],
    parameters=DEFAULT_PARAMETERS,
    *,
    base: ApparatusSettings | None = None,
    tof_runs: int = 3,
    in_trap_runs: int = 2,
    seeds=(0,),
    coarse_evaluations: int = 10,
    fine_evaluations: int = 2,
    verbose: int = 0,
) -> CalibrationResult:
    """Fit the physical ``parameters`` so that emulations of ``runs`` look like the real images.

    Coarse then fine: first without the Gross-Pitaevskii simulator and with few
    test particles (fast), then with the full model from the coarse optimum.
    The uncertainties come from the fine stage's Jacobian: ``cov = s^2 (J^T J)^-1``
    with ``s^2`` the residuals' variance per degree of freedom, propagated to the
    physical scale. ``fine_evaluations=0`` skips the fine stage. With the
    defaults (7 parameters, 3 + 2 runs) about 3 minutes on one core.
    """
    base = base or ApparatusSettings()
    unknown = [p for p in parameters if p not in PARAMETERS]
    if unknown:
        raise ValidationError(f"parameters: unknown {unknown}; known: {', '.join(PARAMETERS)}")
    chosen = subsample(runs, tof_runs, in_trap_runs)
    if not chosen:
        raise ValidationError("runs: no real runs with an image to calibrate on")
    start = {n: get_parameter(base, n) for n in parameters}
    stages = [
        (dataclasses.replace(base, use_simulator=False, thermal_particles=4000), coarse_evaluations)
    ]
    if fine_evaluations > 0:
        stages.append((base, fine_evaluations))
    z: np.ndarray | None = None
    reference = dict(start)
    for stage_base, budget in stages:
        objective = _Objective(chosen, parameters, stage_base, seeds, reference)
        lo, hi = objective.bounds()
        # half a unit inside the bounds: the reflective trust region crawls at a bound
        z0 = np.clip(objective.to_internal(start) if z is None else z, lo + 0.5, hi - 0.5)
        result = optimize.least_squares(
            objective,
            z0,
            jac=objective.jacobian,
            bounds=(lo, hi),
            x_scale=1.0,
            max_nfev=budget,
            verbose=verbose,
        )
        z = result.x
        start = objective.to_physical(z)
    if z is None:  # unreachable: the coarse stage always runs
        raise ValidationError("coarse_evaluations: the calibration ran no stage")
    jac = result.jac
    dof = max(len(result.fun) - len(z), 1)
    s2 = float(np.sum(result.fun**2)) / dof
    cov = np.linalg.pinv(jac.T @ jac) * s2
    errors_internal = np.sqrt(np.clip(np.diag(cov), 0, None))
    physical = objective.to_physical(z)
    values = np.array([physical[n] for n in parameters])
    # one internal unit: a tenth of a log parameter, ``step`` of a linear one
    errors = np.array(
        [
            v * 0.1 * e if PARAMETERS[n].log else PARAMETERS[n].step * e
            for n, v, e in zip(parameters, values, errors_internal, strict=True)
        ]
    )
    return CalibrationResult(
        names=tuple(parameters),
        values=values,
        errors=errors,
        settings=with_parameters(base, physical),
        cost=float(result.cost),
        residual_rms=float(np.sqrt(np.mean(result.fun**2))),
        evaluations=objective.evaluations,
        runs=tuple(r.name for r in chosen),
    )
