"""The job wire format: every model and enum a job is made of, with every rule.

Field names are those of the reference service's JSON, so that job files and
requests written for it load here unchanged. Each limit of the apparatus is a
pydantic constraint or validator, and each violation is reported with the path
of the field and the rule it breaks.

Times in the experiment stage (0 to ``end_time_ms``) are kept at the 0.1 ms
resolution of the projection system: values are rounded to the nearest 0.1 ms
on input. RF ramp times are whole milliseconds from -2000 to 200.

Lists given out of order (RF ramp times, barrier times, landscape positions,
snapshot times, pulse times) are sorted, with a warning, rather than rejected.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)

from oqtant.schemas._display import SIG_ABS, print_keys
from oqtant.schemas.enums import (  # the wire's enums, named here too
    ACTIVE_STATUSES,
    STANDARD_RF_TIMES_MS,
    TERMINAL_STATUSES,
    ImageType,
    InterpolationType,
    JobOrigin,
    JobStatus,
    JobType,
    LaserType,
    OutputImageType,
    QPUName,
    RfInterpolationType,
    ShapeType,
)
from oqtant.schemas.limits import jset, pset, tset

__all__ = [
    "JobOrigin",
    "JobType",
    "ImageType",
    "JobStatus",
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "STANDARD_RF_TIMES_MS",
    "RfInterpolationType",
    "InterpolationType",
    "LaserType",
    "ShapeType",
    "QPUName",
    "OutputImageType",
    "JobName",
    "JobNote",
    "NO_NUL_PATTERN",
    "NoNul",
    "TimeMs",
    "EndTimeMs",
    "TimeOfFlightMs",
    "RfEvaporation",
    "Barrier",
    "Landscape",
    "OpticalLandscape",
    "Pulse",
    "Laser",
    "Image",
    "LineChart",
    "TofFit",
    "NonPlotOutput",
    "PlotOutput",
    "Output",
    "JobOutput",
    "InputValues",
    "Input",
    "JobCreateResponse",
    "RawImages",
    "OqtantJob",
    "derive_job_type",
    "round_time_ms",
    "SIG_ABS",
    "print_keys",
]


# --------------------------------------------------------------------------- scalar types


def round_time_ms(t: float) -> float:
    """Round a time to the 0.1 ms resolution of the experiment stage.

    Rounds the decimal value as written, halves away from zero (19.95 -> 20.0),
    not its binary approximation (which would give 19.9).
    """
    value = float(t)
    if not math.isfinite(value):
        return value
    step = Decimal(str(tset.resolution_ms))
    steps = (Decimal(repr(value)) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return float(steps * step) + 0.0  # + 0.0 turns -0.0 into 0.0


_Time = AfterValidator(round_time_ms)

#: text without the NUL character, which databases (PostgreSQL) cannot store in text
NO_NUL_PATTERN = r"^[^\x00]*$"


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain the NUL character (\\x00)")
    return value


#: refuses text holding the NUL character, with a clear message
NoNul = BeforeValidator(_no_nul)

# (NoNul after the constraints: it wraps them, so it runs first, and the pattern is described)
JobName = Annotated[
    str,
    StringConstraints(
        min_length=jset.min_name_length, max_length=jset.max_name_length, pattern=NO_NUL_PATTERN
    ),
    NoNul,
]
JobNote = Annotated[
    str, StringConstraints(max_length=jset.max_note_length, pattern=NO_NUL_PATTERN), NoNul
]
def _not_bool(value):
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    return value


#: refuses true and false where a number is meant (pydantic would read them as 1 and 0)
NotBool = BeforeValidator(_not_bool)

TimeMs = Annotated[
    float, Field(ge=0.0, le=tset.max_exp_time_ms, allow_inf_nan=False), _Time, NotBool
]
EndTimeMs = TimeMs
TimeOfFlightMs = Annotated[
    float, Field(ge=tset.min_tof_ms, le=tset.max_tof_ms, allow_inf_nan=False), _Time, NotBool
]
ProjectedPosition = Annotated[
    float, Field(ge=pset.min_position, le=pset.max_position, allow_inf_nan=False), NotBool
]
ProjectedEnergy = Annotated[
    float, Field(ge=0.0, le=pset.max_energy, allow_inf_nan=False), NotBool
]
BarrierWidth = Annotated[
    float,
    Field(ge=pset.min_barrier_width, le=pset.max_barrier_width, allow_inf_nan=False),
    NotBool,
]
RfTime = Annotated[int, Field(ge=tset.min_evap_time_ms, le=int(tset.max_exp_time_ms)), NotBool]
RfFrequency = Annotated[
    float, Field(ge=0.0, le=jset.max_rf_frequency_mhz, allow_inf_nan=False), NotBool
]
RfPower = Annotated[
    float, Field(ge=0.0, le=jset.max_rf_power_mw, allow_inf_nan=False), NotBool
]

_WIRE = ConfigDict(validate_assignment=True, extra="forbid", use_enum_values=False)


def _check_unique(values: Sequence[float], what: str) -> None:
    if len(set(values)) != len(values):
        dupes = sorted({v for v in values if values.count(v) > 1})
        raise ValueError(f"{what} must be unique (repeated: {dupes})")


def _check_same_length(model: BaseModel, names: tuple[str, ...], what: str) -> None:
    lengths = {n: len(getattr(model, n)) for n in names}
    if len(set(lengths.values())) != 1:
        detail = ", ".join(f"{n}={k}" for n, k in lengths.items())
        raise ValueError(f"{what} lists must have the same length ({detail})")


def _sort_together(model: BaseModel, key: str, others: tuple[str, ...], what: str) -> None:
    """Sort parallel lists by ``key``, warning that the input was out of order."""
    keys = list(getattr(model, key))
    if keys == sorted(keys):
        return
    warnings.warn(f"{what}: {key} was out of order and has been sorted", UserWarning, stacklevel=4)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    for name in (key, *others):
        values = getattr(model, name)
        # bypass validate_assignment: the values were already validated
        model.__dict__[name] = [values[i] for i in order]


# --------------------------------------------------------------------------- inputs


class RfEvaporation(BaseModel):
    """The RF knife as a piecewise ramp of (time, frequency, power).

    Times <= 0 are the evaporation; times > 0 form the RF shield held during
    the experiment stage.
    """

    model_config = _WIRE

    times_ms: Annotated[
        list[RfTime], Field(min_length=jset.min_rf_points, max_length=jset.max_rf_points)
    ] = list(STANDARD_RF_TIMES_MS)
    frequencies_mhz: Annotated[
        list[RfFrequency], Field(min_length=jset.min_rf_points, max_length=jset.max_rf_points)
    ]
    powers_mw: Annotated[
        list[RfPower], Field(min_length=jset.min_rf_points, max_length=jset.max_rf_points)
    ]
    interpolation: RfInterpolationType = RfInterpolationType.LINEAR

    @field_validator("times_ms")
    @classmethod
    def _times_rules(cls, v: list[int]) -> list[int]:
        _check_unique(v, "RF times")
        if sum(1 for t in v if t <= 0) < 2:
            raise ValueError("at least two RF times must be <= 0 ms (the evaporation ramp)")
        return v

    @model_validator(mode="after")
    def _cross(self) -> RfEvaporation:
        names = ("times_ms", "frequencies_mhz", "powers_mw")
        _check_same_length(self, names, "RF evaporation")
        _sort_together(self, "times_ms", names[1:], "RF evaporation")
        return self


class Barrier(BaseModel):
    """One optical barrier: its position, height and width at 2 to 20 times."""

    model_config = _WIRE

    times_ms: Annotated[
        list[TimeMs], Field(min_length=pset.min_barrier_times, max_length=pset.max_barrier_times)
    ] = [0.0, 10.0]
    positions_um: Annotated[
        list[ProjectedPosition],
        Field(min_length=pset.min_barrier_times, max_length=pset.max_barrier_times),
    ] = [0.0, 0.0]
    heights_khz: Annotated[
        list[ProjectedEnergy],
        Field(min_length=pset.min_barrier_times, max_length=pset.max_barrier_times),
    ] = [0.0, 0.0]
    widths_um: Annotated[
        list[BarrierWidth],
        Field(min_length=pset.min_barrier_times, max_length=pset.max_barrier_times),
    ] = [1.0, 1.0]
    interpolation: InterpolationType = InterpolationType.LINEAR
    shape: ShapeType = ShapeType.GAUSSIAN

    @model_validator(mode="before")
    @classmethod
    def _native_width(cls, data: Any) -> Any:
        if isinstance(data, dict) and str(data.get("shape")) == ShapeType.NATIVE.value:
            data = dict(data)
            n = len(data.get("times_ms") or data.get("heights_khz") or [0, 0])
            widths = data.get("widths_um")
            if widths is None:
                data["widths_um"] = [pset.native_barrier_width] * n
            elif any(w != pset.native_barrier_width for w in widths):
                raise ValueError(
                    f"widths_um: a NATIVE barrier has its width fixed at "
                    f"{pset.native_barrier_width} um"
                )
        return data

    @field_validator("times_ms")
    @classmethod
    def _unique_times(cls, v: list[float]) -> list[float]:
        _check_unique(v, "barrier times (at 0.1 ms resolution)")
        return v

    @model_validator(mode="after")
    def _cross(self) -> Barrier:
        names = ("times_ms", "positions_um", "heights_khz", "widths_um")
        _check_same_length(self, names, "barrier")
        _sort_together(self, "times_ms", names[1:], "barrier")
        return self


class Landscape(BaseModel):
    """One snapshot of a painted potential: (position, energy) pairs at one time."""

    model_config = _WIRE

    time_ms: TimeMs = 0.0
    potentials_khz: Annotated[
        list[ProjectedEnergy],
        Field(min_length=pset.min_landscape_points, max_length=pset.max_landscape_points),
    ] = [0.0, 0.0]
    positions_um: Annotated[
        list[ProjectedPosition],
        Field(min_length=pset.min_landscape_points, max_length=pset.max_landscape_points),
    ] = [-1.0, 1.0]
    spatial_interpolation: InterpolationType = InterpolationType.LINEAR

    @model_validator(mode="after")
    def _cross(self) -> Landscape:
        _check_same_length(self, ("positions_um", "potentials_khz"), "landscape")
        _sort_together(self, "positions_um", ("potentials_khz",), "landscape")
        return self


class OpticalLandscape(BaseModel):
    """A painted potential: 2 to 5 snapshots, interpolated in time between them."""

    model_config = _WIRE

    interpolation: InterpolationType = InterpolationType.LINEAR
    landscapes: Annotated[
        list[Landscape], Field(min_length=pset.min_snapshots, max_length=pset.max_snapshots)
    ]

    @model_validator(mode="after")
    def _cross(self) -> OpticalLandscape:
        times = [s.time_ms for s in self.landscapes]
        _check_unique(times, "snapshot times (at 0.1 ms resolution)")
        if times != sorted(times):
            warnings.warn(
                "optical landscape: snapshots were out of time order and have been sorted",
                UserWarning,
                stacklevel=3,
            )
            self.__dict__["landscapes"] = sorted(self.landscapes, key=lambda s: s.time_ms)
        return self


class Pulse(BaseModel):
    """One laser pulse: on at ``times_ms[0]``, off at ``times_ms[1]``; resonant, fixed power."""

    model_config = _WIRE

    times_ms: Annotated[list[TimeMs], Field(min_length=2, max_length=2)] = [0.0, 1.0]
    intensities_mw_per_cm2: Annotated[list[float], Field(min_length=2, max_length=2)] = [1.0, 1.0]
    detuning_mhz: float = 0.0
    interpolation: InterpolationType = InterpolationType.OFF

    @field_validator("intensities_mw_per_cm2")
    @classmethod
    def _fixed_intensity(cls, v: list[float]) -> list[float]:
        if any(i != 1.0 for i in v):
            raise ValueError("the terminator has a fixed intensity: must be [1.0, 1.0] mW/cm^2")
        return v

    @field_validator("detuning_mhz")
    @classmethod
    def _resonant(cls, v: float) -> float:
        if v != 0.0:
            raise ValueError("the terminator is resonant: detuning must be 0 MHz")
        return v

    @field_validator("times_ms")
    @classmethod
    def _times(cls, v: list[float]) -> list[float]:
        _check_unique(v, "pulse times (at 0.1 ms resolution)")
        if v != sorted(v):
            warnings.warn(
                "pulse: times_ms was out of order and has been sorted", UserWarning, stacklevel=2
            )
            v = sorted(v)
        return v

    @field_validator("interpolation")
    @classmethod
    def _no_interp(cls, v: InterpolationType) -> InterpolationType:
        if v != InterpolationType.OFF:
            raise ValueError("a laser pulse is on or off: interpolation must be OFF")
        return v


class Laser(BaseModel):
    """A laser acting during the experiment stage; only the TERMINATOR is available."""

    model_config = _WIRE

    type: LaserType = LaserType.TERMINATOR
    position_um: float = pset.terminator_position
    pulses: Annotated[list[Pulse], Field(min_length=1, max_length=1)]

    @field_validator("type")
    @classmethod
    def _terminator(cls, v: LaserType) -> LaserType:
        if v != LaserType.TERMINATOR:
            raise ValueError("only the TERMINATOR laser is available")
        return v

    @field_validator("position_um")
    @classmethod
    def _fixed_position(cls, v: float) -> float:
        if v != pset.terminator_position:
            raise ValueError(
                f"the terminator beam is fixed at {pset.terminator_position} um"
            )
        return v


# --------------------------------------------------------------------------- outputs


class Image(BaseModel):
    """An image as the wire carries it: flat pixels, row-major; pixcal in um per pixel."""

    model_config = ConfigDict(extra="ignore")

    pixels: list[float]
    rows: int
    columns: int
    pixcal: float | None = 1.0


class LineChart(BaseModel):
    """A line plot: points ``{"x": ..., "y": ...}``."""

    model_config = ConfigDict(extra="ignore")

    points: list[dict[str, float]]


class TofFit(BaseModel):
    """Parameters of the bimodal fit of a time-of-flight image (pixels and OD)."""

    model_config = ConfigDict(extra="ignore")

    gaussian_od: float
    gaussian_sigma_x: float
    gaussian_sigma_y: float
    tf_od: float
    tf_x: float
    tf_y: float
    x_0: float
    y_0: float
    offset: float


class NonPlotOutput(BaseModel):
    """What a TIME_OF_FLIGHT (or MOT) run returns."""

    model_config = ConfigDict(extra="ignore")

    mot_fluorescence_image: Image
    tof_image: Image
    tof_fit_image: Image
    tof_fit: TofFit
    tof_x_slice: LineChart
    tof_y_slice: LineChart
    total_mot_atom_number: int
    tof_atom_number: int
    thermal_atom_number: int
    condensed_atom_number: int
    temperature_nk: int


class PlotOutput(BaseModel):
    """What an IN_TRAP run returns: the column density image."""

    model_config = ConfigDict(extra="ignore")

    it_plot: Image


class Output(BaseModel):
    """The output of one run."""

    model_config = ConfigDict(extra="ignore")

    input_id: int | None = None
    values: PlotOutput | NonPlotOutput


JobOutput = Output


class InputValues(BaseModel):
    """Everything that defines one run (one cycle of the apparatus)."""

    model_config = _WIRE

    end_time_ms: EndTimeMs = 0.0
    image_type: ImageType = ImageType.TIME_OF_FLIGHT
    time_of_flight_ms: TimeOfFlightMs = 10.0
    rf_evaporation: RfEvaporation
    optical_barriers: (
        Annotated[list[Barrier], Field(min_length=1, max_length=pset.max_barriers)] | None
    ) = None
    optical_landscape: OpticalLandscape | None = None
    lasers: Annotated[list[Laser], Field(min_length=1, max_length=1)] | None = None

    @model_validator(mode="after")
    def _nothing_after_end(self) -> InputValues:
        end = self.end_time_ms
        late: list[float] = [t for t in self.rf_evaporation.times_ms if t > end]
        if late:
            raise ValueError(
                f"rf_evaporation.times_ms: {late} ms is after end_time_ms={end} ms"
            )
        for i, barrier in enumerate(self.optical_barriers or []):
            late = [t for t in barrier.times_ms if t > end]
            if late:
                raise ValueError(
                    f"optical_barriers[{i}].times_ms: {late} ms is after end_time_ms={end} ms"
                )
        if self.optical_landscape is not None:
            for i, snap in enumerate(self.optical_landscape.landscapes):
                if snap.time_ms > end:
                    raise ValueError(
                        f"optical_landscape.landscapes[{i}].time_ms: {snap.time_ms} ms is after "
                        f"end_time_ms={end} ms"
                    )
        for i, laser in enumerate(self.lasers or []):
            for j, pulse in enumerate(laser.pulses):
                late = [t for t in pulse.times_ms if t > end]
                if late:
                    raise ValueError(
                        f"lasers[{i}].pulses[{j}].times_ms: {late} ms is after "
                        f"end_time_ms={end} ms"
                    )
        return self


class Input(BaseModel):
    """One run of a job: its values, and its output once it has run."""

    model_config = ConfigDict(validate_assignment=True, extra="ignore")

    job_id: int | None = None
    run: int | None = None
    values: InputValues
    output: Output | None = None
    notes: JobNote | None = None
    # the run's state and, if it failed, why (as the service reports them; not
    # written to job files, which keep the reference's layout)
    status: str | None = Field(default=None, exclude=True)  # a JobStatus; unknown ones kept
    error: str | None = Field(default=None, exclude=True)


class JobCreateResponse(BaseModel):
    """The service's answer to a submitted job."""

    job_id: UUID
    queue_position: int
    est_time: int | str


class RawImages(BaseModel):
    """Raw absorption frames of one run (atoms, background, dark), as wire images."""

    model_config = ConfigDict(extra="ignore")

    job_external_id: UUID | None = None
    run: int = 1
    image_type: str = "TOF imaging"
    absolute: Image
    background: Image | None = None
    dark: Image | None = None


# --------------------------------------------------------------------------- job


def derive_job_type(values: InputValues) -> JobType:
    """The job type follows from a run: landscape -> PAINT_1D; barriers or IN_TRAP -> BARRIER."""
    if values.optical_landscape is not None:
        return JobType.PAINT_1D
    if values.optical_barriers or values.image_type == ImageType.IN_TRAP:
        return JobType.BARRIER
    return JobType.BEC


class OqtantJob(BaseModel):
    """A job: 1 to 30 runs, with its name, status and timestamps.

    ``job_type`` is derived from the first run; a ``job_type`` key in loaded JSON
    is accepted and recomputed.
    """

    model_config = ConfigDict(validate_assignment=True, extra="ignore")

    name: JobName
    origin: JobOrigin | None = None
    status: JobStatus = JobStatus.PENDING
    display: bool = True
    time_start: datetime | None = None
    time_complete: datetime | None = None
    qpu_name: QPUName = QPUName.UNDEFINED
    input_count: int | None = None
    inputs: Annotated[list[Input], Field(min_length=jset.min_runs, max_length=jset.max_runs)]
    external_id: UUID | None = None
    time_submit: datetime | None = None
    failed_inputs: list[int] = []
    # why the job failed, as the service reports it (None unless it failed; not
    # written to job files, which keep the reference's layout)
    failure_reason: str | None = Field(default=None, exclude=True)
    # which run the ``input``/``lifetime``/``run`` shortcuts refer to (1-based)
    active_run: int = Field(default=1, ge=1, exclude=True)

    @model_validator(mode="after")
    def _number_runs(self) -> OqtantJob:
        for i, inp in enumerate(self.inputs):
            if not inp.run:
                inp.__dict__["run"] = i + 1
        if self.input_count is None:
            self.__dict__["input_count"] = len(self.inputs)
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def job_type(self) -> JobType:
        return derive_job_type(self.inputs[0].values)

    # ---- conveniences of the reference client

    @property
    def truncated_name(self) -> str:
        """The name shortened to 40 characters for tables."""
        return self.name if len(self.name) <= 40 else self.name[:37] + "..."

    @property
    def id(self) -> UUID | None:
        return self.external_id

    @staticmethod
    def format_datetime(datetime_value: str | datetime) -> str:
        """A timestamp as 'dd Mon YYYY, HH:MM:SS' for display."""
        if isinstance(datetime_value, str):
            datetime_value = datetime.fromisoformat(datetime_value.replace("Z", "+00:00"))
        return datetime_value.strftime("%d %b %Y, %H:%M:%S")

    @property
    def formatted_time_submit(self) -> str:
        return self.format_datetime(self.time_submit) if self.time_submit else ""

    @property
    def _active_input(self) -> Input:
        index = min(self.active_run, len(self.inputs)) - 1
        return self.inputs[index]

    @property
    def input(self) -> InputValues:
        """The values of the active run (the first, unless another was fetched)."""
        return self._active_input.values

    @property
    def input_fields(self) -> None:
        """Print the fields of the active run's input."""
        print(self.input.model_dump_json(indent=2))

    @property
    def lifetime(self) -> float:
        """The active run's end_time_ms: how long the matter lives in the experiment stage."""
        return self.input.end_time_ms

    @property
    def run(self) -> int:
        return self._active_input.run or self.active_run

    def add_notes_to_input(self, notes: str) -> None:
        """Attach a note (at most 500 characters) to the active run."""
        self._active_input.notes = notes
