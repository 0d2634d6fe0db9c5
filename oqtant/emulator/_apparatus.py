"""The emulated apparatus: one run from the MOT to the fitted image.

Stages (each in its own module): MOT loading and fluorescence image
(:mod:`._imaging`), RF evaporation kinetics (:mod:`._evaporation`), degeneracy
and the cloud's profiles (:mod:`._cloud`), the experiment stage (:mod:`._stage`:
the condensate follows the Gross-Pitaevskii simulator when light or the
terminator acts on it; :mod:`._thermal`: the thermal cloud moves as test
particles in the same potential), imaging
(:mod:`._imaging`) and the analysis users run
(:func:`oqtant.analysis.fit_bimodal_2d`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError as PydanticValidationError

from oqtant.backend import RunResult
from oqtant.constants import (
    IN_TRAP_IMAGE_SHAPE,
    IN_TRAP_PIXCAL_UM,
    RESONANT_CROSS_SECTION_M2,
    TERMINATOR_LOSS_RATE_PER_MS,
    TOF_IMAGE_SHAPE,
    TOF_PIXCAL_UM,
    detuned_cross_section_m2,
)
from oqtant.emulator._cloud import (
    equilibrium_cloud,
)
from oqtant.emulator._evaporation import EvaporationModel, EvaporationResult, evaporate
from oqtant.emulator._imaging import (
    AbsorptionFrames,
    CameraSettings,
    absorption_frames,
    mot_image,
)
from oqtant.emulator._profiles import Profiles
from oqtant.errors import FitError, ValidationError, format_pydantic_error
from oqtant.schemas.images import wire_image as _wire_image
from oqtant.schemas.job import (
    Image,
    ImageType,
    InputValues,
    LineChart,
    NonPlotOutput,
    Output,
    PlotOutput,
    RawImages,
    TofFit,
)

__all__ = ["Apparatus", "ApparatusSettings", "EmulatedRun", "RunTruth"]

_TOF_SHAPE = TOF_IMAGE_SHAPE
_TOF_PIXCAL_UM = TOF_PIXCAL_UM
_IN_TRAP_SHAPE = IN_TRAP_IMAGE_SHAPE  # the machine's in-trap camera
_IN_TRAP_PIXCAL_UM = IN_TRAP_PIXCAL_UM


@dataclass(frozen=True)
class ApparatusSettings:
    """The fixed facts of the emulated machine."""

    mot_atom_number: float = 1.0e7
    mot_atom_number_scatter: float = 0.03  # relative rms shot-to-shot
    mot_counts_per_atom: float = 0.4  # fluorescence camera calibration
    # Calibrated on the real machine's runs (oqtant.emulator.calibrate,
    # scripts/calibrate_emulator.py; values and uncertainties in docs/emulator.md):
    # capture, initial temperature, the trap bottom under the knife, the heating
    # in the science trap, the probes' detunings, the in-trap camera's resolution
    # and both cameras' saturation. The science trap (50 / 600 Hz) is calibrated
    # too and lives in oqtant.constants (MACHINE_TRAP_FREQUENCY_*), which the fit
    # reads as well.
    capture_fraction: float = 0.293  # MOT -> magnetic trap
    initial_temperature_k: float = 166e-6  # in the (compressed) magnetic trap
    initial_temperature_scatter: float = 0.02
    evaporation: EvaporationModel = EvaporationModel(
        trap_bottom_mhz=-0.0615, stage_heating_nk_per_ms=0.52
    )
    # A few percent of the TOF probe never meets the atoms, so the camera reads
    # at most OD 3 (calibrated): the centre of a dense condensate looks flat.
    tof_camera: CameraSettings = CameraSettings(
        rows=_TOF_SHAPE[0],
        columns=_TOF_SHAPE[1],
        pixcal_um=_TOF_PIXCAL_UM,
        resolution_um=1.0,
        saturation_od=3.0,
    )
    in_trap_camera: CameraSettings = CameraSettings(
        rows=_IN_TRAP_SHAPE[0],
        columns=_IN_TRAP_SHAPE[1],
        pixcal_um=_IN_TRAP_PIXCAL_UM,
        resolution_um=1.4,  # blurs the 1-2 um radial size to the 4-5 um seen
        saturation_od=2.5,  # calibrated
        background_photoelectrons=300.0,  # small pixels at high magnification collect few photons
        oversample=1,
        # the machine's software subtracts a smooth background fitted over the frame,
        # atoms included (calibrated on the real frames' negative halo)
        reference_fraction=0.86,
        reference_sigma_x_um=20.2,
        reference_sigma_y_um=12.5,
    )
    # The TOF probe is circularly polarised and resonant with the cycling
    # transition (the atoms are optically pumped to the stretched state first):
    # the full cross-section 3 lambda^2 / 2 pi. Other polarisations would scale it
    # (7/15 for linear light on atoms spread over the sublevels). The calibration
    # puts it 1.2 MHz off resonance (0.87 of the cross-section).
    tof_polarization_factor: float = 1.0
    tof_detuning_mhz: float = 1.2
    # The dense in-trap cloud is imaged off resonance so that it does not go black
    # (the simulator's in-trap images use the same probe).
    in_trap_detuning_mhz: float = 20.0  # calibrated (the simulator's images: 18.07 MHz)
    position_jitter_px: float = 0.4  # shot-to-shot cloud position on the TOF camera
    in_trap_position_jitter_um: float = 0.2
    terminator_loss_per_ms: float = TERMINATOR_LOSS_RATE_PER_MS  # at full intensity
    potential_step_um: float = 0.2  # grid of the optical potential for the profiles
    use_simulator: bool = True
    # the simulator's grid for the apparatus: coarser than its defaults (0.16 / 0.22 um),
    # still finer than the 1 um optics; blurred axial profiles agree within 6 %
    simulator_axial_step_um: float = 0.25
    simulator_radial_step_um: float = 0.5
    # nonlinear phase per Strang step (the simulator's default is 0.35 rad): on this
    # grid the time-step error stays below the grid's own (barrier run at 20 kHz,
    # final line density against the fine grid and step: L1 5.4 % against 5.0 %)
    simulator_max_nonlinear_phase: float = 0.7
    thermal_particles: int = 16_000  # test particles of the thermal cloud
    thermal_substeps: int = 1  # steps per 0.1 ms projector update
    mean_field_every: int = 1  # updates between kicks of the condensate's mean field
    tof_thermal_kernel_um: float = 4.0  # rms of the particles' kernel on the TOF image
    in_trap_thermal_kernel_um: float = 0.6  # and in the trap (the optics blur by 1 um too)

    def thermal_kernel_um(self, time_of_flight_ms: float) -> float:
        if time_of_flight_ms > 0:
            return self.tof_thermal_kernel_um
        return self.in_trap_thermal_kernel_um

    @property
    def tof_cross_section_factor(self) -> float:
        """Absorption cross-section of the TOF probe over the cycling-transition one."""
        detuned = detuned_cross_section_m2(self.tof_detuning_mhz) / RESONANT_CROSS_SECTION_M2
        return self.tof_polarization_factor * detuned

    @property
    def tof_cross_section_m2(self) -> float:
        return RESONANT_CROSS_SECTION_M2 * self.tof_cross_section_factor

    @property
    def in_trap_cross_section_m2(self) -> float:
        return detuned_cross_section_m2(self.in_trap_detuning_mhz)


@dataclass(frozen=True)
class RunTruth:
    """What really happened in an emulated run (the answers an analysis should find).

    Atom numbers and temperature are those of the cloud that is imaged (after
    the experiment stage); ``*_at_start`` are at t = 0, the end of evaporation.
    """

    image_type: ImageType
    mot_atom_number: float
    atom_number: float
    condensed_atom_number: float
    thermal_atom_number: float
    temperature_nk: float
    critical_temperature_nk: float
    chemical_potential_khz: float
    tf_radii_um: tuple[float, float, float]
    fugacity: float
    eta_final: float  # knife depth over k_B T at the end of evaporation
    condensed_atom_number_at_start: float
    temperature_nk_at_start: float
    used_simulator: bool
    evaporation: EvaporationResult | None = field(default=None, repr=False)

    @property
    def condensed_fraction(self) -> float:
        return self.condensed_atom_number / self.atom_number if self.atom_number > 0 else 0.0


@dataclass
class EmulatedRun:
    """One emulated run: its truth, its wire output, its raw frames and the analysis."""

    truth: RunTruth
    output: Output
    raw_images: list[RawImages]
    od_image: np.ndarray | None = None
    od_noiseless: np.ndarray | None = None
    fit: object | None = None  # oqtant.analysis.BimodalFit of a TOF image
    timings_s: dict[str, float] = field(default_factory=dict)  # wall time of each stage

    def to_run_result(self) -> RunResult:
        """The backend's answer: wire output and raw frames."""
        return RunResult(output=self.output, raw_images=self.raw_images)


class _Clock:
    """Wall time of consecutive stages."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now


def _slice(values: np.ndarray) -> LineChart:
    return LineChart(points=[{"x": float(i), "y": float(v)} for i, v in enumerate(values)])


class Apparatus:
    """The emulated cold-atom machine: the default backend of the job service.

    Cheap to construct and picklable; every run is independent and reproducible
    from its seed.

    Args:
        settings: the machine's fixed facts (defaults: the standard machine).
    """

    def __init__(self, settings: ApparatusSettings | None = None):
        self.settings = settings or ApparatusSettings()

    def __repr__(self) -> str:
        return f"Apparatus(use_simulator={self.settings.use_simulator})"

    # ------------------------------------------------------------------ public

    def run(self, input_values: InputValues, seed: int = 0) -> RunResult:
        """Run one cycle: the wire output and the raw absorption frames."""
        return self.simulate(input_values, seed).to_run_result()

    def simulate(self, input_values: InputValues | dict, seed: int = 0) -> EmulatedRun:
        """Run one cycle and keep everything: truth, output, frames, fit.

        Args:
            input_values: the run (an ``InputValues`` or its JSON dict).
            seed: a non-negative integer; the same seed gives the same run.
        """
        values = self._validate(input_values)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValidationError(f"seed: must be a non-negative integer, got {seed!r}")
        s = self.settings
        rng = np.random.default_rng(int(seed))
        clock = _Clock()

        # 1. MOT
        scatter = s.mot_atom_number_scatter * rng.standard_normal()
        n_mot = s.mot_atom_number * max(0.5, 1.0 + scatter)
        mot_counts = mot_image(n_mot, rng, counts_per_atom=s.mot_counts_per_atom)
        mot_measured = self._mot_atom_number(mot_counts)
        mot_wire = _wire_image(mot_counts, 1.0)
        clock.lap("mot")
        if values.image_type == ImageType.MOT:
            run = self._mot_run(n_mot, mot_measured, mot_wire)
            run.timings_s = clock.laps
            return run

        # 2. RF evaporation, through the experiment stage (RF shield, losses)
        t0 = s.initial_temperature_k * (1.0 + s.initial_temperature_scatter * rng.standard_normal())
        evap = evaporate(
            values.rf_evaporation,
            initial_atom_number=n_mot * s.capture_fraction,
            initial_temperature_k=t0,
            end_time_ms=values.end_time_ms,
            model=s.evaporation,
        )
        start = equilibrium_cloud(*evap.at(0.0))
        end = equilibrium_cloud(*evap.at(values.end_time_ms))
        at_zero = len(evap.times_ms) - 1 - int(np.argmin(np.abs(evap.times_ms[::-1])))
        eta_final = float(evap.eta[at_zero])
        clock.lap("evaporation")

        # 3./4. the experiment stage and the profiles of the imaged cloud
        # the thermal cloud's test particles draw from their own stream, so that
        # the camera's noise of a run does not depend on whether they were needed
        particle_rng = np.random.default_rng([int(seed), 1])
        profile = Profiles(values, start, end, s, particle_rng)
        clock.lap("experiment")
        clock.laps.update({f"experiment: {k}": v for k, v in profile.laps.items()})

        # 5./6. imaging and analysis
        if values.image_type == ImageType.IN_TRAP:
            camera = s.in_trap_camera
            jitter = s.in_trap_position_jitter_um / camera.pixcal_um
            centre = tuple(jitter * rng.standard_normal(2))
            frames = absorption_frames(
                profile.in_trap, camera, s.in_trap_cross_section_m2, rng, centre_px=centre
            )
            clock.lap("imaging")
            output = Output(values=PlotOutput(it_plot=_wire_image(frames.od, camera.pixcal_um)))
            fit = None
            raw_kind = "IN_TRAP imaging"
        else:
            camera = s.tof_camera
            centre = tuple(s.position_jitter_px * rng.standard_normal(2))
            frames = absorption_frames(
                lambda x, y: profile.tof(x, y, values.time_of_flight_ms),
                camera,
                s.tof_cross_section_m2,
                rng,
                centre_px=centre,
            )
            clock.lap("imaging")
            fit, non_plot = self._analyse(frames, values.time_of_flight_ms, mot_wire, mot_measured)
            output = Output(values=non_plot)
            raw_kind = "TOF imaging"

        truth = RunTruth(
            image_type=values.image_type,
            mot_atom_number=n_mot,
            atom_number=profile.condensed_atoms + profile.thermal_atoms,
            condensed_atom_number=profile.condensed_atoms,
            thermal_atom_number=profile.thermal_atoms,
            temperature_nk=end.temperature_k * 1e9,
            critical_temperature_nk=end.critical_temperature_k * 1e9,
            chemical_potential_khz=end.chemical_potential_khz,
            tf_radii_um=end.tf_radii_um,
            fugacity=end.fugacity,
            eta_final=eta_final,
            condensed_atom_number_at_start=start.condensed_atom_number,
            temperature_nk_at_start=start.temperature_k * 1e9,
            used_simulator=profile.used_simulator,
            evaporation=evap,
        )
        raw = RawImages(
            image_type=raw_kind,
            absolute=_wire_image(frames.atoms, camera.pixcal_um),
            background=_wire_image(frames.background, camera.pixcal_um),
            dark=_wire_image(frames.dark, camera.pixcal_um),
        )
        clock.lap("analysis")
        return EmulatedRun(
            truth=truth,
            output=output,
            raw_images=[raw],
            od_image=frames.od,
            od_noiseless=frames.od_noiseless,
            fit=fit,
            timings_s=clock.laps,
        )

    # ------------------------------------------------------------------ pieces

    @staticmethod
    def _validate(input_values) -> InputValues:
        if isinstance(input_values, InputValues):
            return input_values
        if isinstance(input_values, dict):
            try:
                return InputValues.model_validate(input_values)
            except PydanticValidationError as exc:
                raise format_pydantic_error(exc, "Invalid run") from None
        raise ValidationError(
            f"input_values: expected InputValues or a dict, got {type(input_values).__name__}"
        )

    def _mot_atom_number(self, counts: np.ndarray) -> float:
        """Atoms from the fluorescence: counts above the frame's border level, calibrated."""
        border = np.concatenate([counts[:10].ravel(), counts[-10:].ravel()])
        return float(np.sum(counts - np.median(border)) / self.settings.mot_counts_per_atom)

    def _mot_run(self, n_mot: float, mot_measured: float, mot_wire: Image) -> EmulatedRun:
        zeros = np.zeros(_TOF_SHAPE)
        values = NonPlotOutput(
            mot_fluorescence_image=mot_wire,
            tof_image=_wire_image(zeros, _TOF_PIXCAL_UM),
            tof_fit_image=_wire_image(zeros, _TOF_PIXCAL_UM),
            tof_fit=TofFit(**{k: 0.0 for k in TofFit.model_fields}),
            tof_x_slice=_slice(zeros[0]),
            tof_y_slice=_slice(zeros[:, 0]),
            total_mot_atom_number=round(mot_measured),
            tof_atom_number=0,
            thermal_atom_number=0,
            condensed_atom_number=0,
            temperature_nk=0,
        )
        truth = RunTruth(
            image_type=ImageType.MOT,
            mot_atom_number=n_mot,
            atom_number=n_mot,
            condensed_atom_number=0.0,
            thermal_atom_number=n_mot,
            temperature_nk=float("nan"),
            critical_temperature_nk=0.0,
            chemical_potential_khz=0.0,
            tf_radii_um=(0.0, 0.0, 0.0),
            fugacity=0.0,
            eta_final=float("nan"),
            condensed_atom_number_at_start=0.0,
            temperature_nk_at_start=float("nan"),
            used_simulator=False,
        )
        raw = RawImages(image_type="MOT imaging", absolute=mot_wire)
        return EmulatedRun(truth=truth, output=Output(values=values), raw_images=[raw])

    def _analyse(
        self, frames: AbsorptionFrames, tof_ms: float, mot_wire: Image, mot_measured: float
    ):
        """The bimodal fit users run, and the calibrated numbers of the wire output."""
        from oqtant.analysis import fit_bimodal_2d

        od = frames.od
        pixcal = self.settings.tof_camera.pixcal_um
        # the fit counts atoms with the cycling-transition cross-section; the
        # machine's calibration divides by the probe's actual fraction of it
        calibration = 1.0 / self.settings.tof_cross_section_factor
        try:
            fit = fit_bimodal_2d(
                od,
                pixcal,
                time_of_flight_ms=tof_ms,
                resolution_um=self.settings.tof_camera.resolution_um,
                saturation_od=self.settings.tof_camera.saturation_od,
            )
        except FitError:
            fit = None
        rows, cols = od.shape
        if fit is None:
            params = TofFit(**{k: 0.0 for k in TofFit.model_fields})
            model_image = np.zeros_like(od)
            n_th = n_c = 0.0
            temperature = 0.0
            row, col = rows // 2, cols // 2
        else:
            params = fit.to_tof_fit()
            model_image = fit.model_image
            n_th = fit.thermal_atom_number * calibration
            n_c = fit.condensed_atom_number * calibration
            temperature = fit.temperature_nk or 0.0
            row = int(np.clip(round(params.y_0 + round(rows / 2)), 0, rows - 1))
            col = int(np.clip(round(params.x_0 + round(cols / 2)), 0, cols - 1))
        non_plot = NonPlotOutput(
            mot_fluorescence_image=mot_wire,
            tof_image=_wire_image(od, pixcal),
            tof_fit_image=_wire_image(model_image, pixcal),
            tof_fit=params,
            tof_x_slice=_slice(od[row, :]),
            tof_y_slice=_slice(od[:, col]),
            total_mot_atom_number=round(mot_measured),
            tof_atom_number=round(n_th + n_c),
            thermal_atom_number=round(n_th),
            condensed_atom_number=round(n_c),
            temperature_nk=round(temperature),
        )
        return fit, non_plot
