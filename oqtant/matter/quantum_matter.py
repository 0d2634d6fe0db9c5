"""QuantumMatter: one experiment as a physicist designs it, and the factory that makes them.

A ``QuantumMatter`` gathers the evaporation (or a target temperature), the
lifetime of the experiment stage, the light (barriers, a landscape, the
terminator), the RF shield and the imaging. ``input`` turns it into the wire
``InputValues`` of one run; ``get_potential`` shows what the atoms feel;
``submit`` sends it to the service (or the local simulator).

Units: times in ms, positions in um, energies E/h in kHz, RF in MHz and mW,
temperatures in nK.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from oqtant.errors import (
    JobError,
    JobFailed,
    JobWriteError,
    ValidationError,
    format_pydantic_error,
)
from oqtant.matter._matter_views import MatterViews
from oqtant.matter._services import client_layer
from oqtant.matter.optical import Barrier, Landscape, Laser
from oqtant.matter.output import OqtantNonPlotOutput, OqtantPlotOutput
from oqtant.matter.rf import (
    RF_CHAIN_CORNER_MHZ,
    STANDARD_EVAPORATION,
    ConversionError,
    RfEvap,
    RfShield,
    rf_coupling,
)
from oqtant.schemas import job as job_schema
from oqtant.schemas.job import (
    EndTimeMs,
    ImageType,
    InputValues,
    JobName,
    JobNote,
    NonPlotOutput,
    OqtantJob,
    PlotOutput,
    TimeOfFlightMs,
)
from oqtant.schemas.limits import ProjectionSettings as ProjectedSettings
from oqtant.schemas.limits import pset

__all__ = [
    "QuantumMatter",
    "OqtantLogin",
    "temperature_to_final_frequency_mhz",
    "rf_coupling",
    "DEFAULT_NAME",
    "DEFAULT_LIFETIME",
    "DEFAULT_TOF",
    "DEFAULT_IMAGE",
    "DEFAULT_RF_EVAP",
    "DEFAULT_TIME_OF_FLIGHT_MS",
    "TEMPERATURE_TO_EVAP_FREQUENCY",
    "RF_CHAIN_CORNER_MHZ",
    "ConversionError",
    "ProjectedSettings",
    "NonPlotOutput",
    "PlotOutput",
    "OqtantNonPlotOutput",
    "OqtantPlotOutput",
]

DEFAULT_NAME = "quantum matter"
DEFAULT_LIFETIME = 10.0
"""Length (ms) of the experiment stage of a QuantumMatter given no ``lifetime``."""
DEFAULT_TOF = 12.0
"""Time of flight (ms) of a QuantumMatter given no ``time_of_flight``."""
DEFAULT_TIME_OF_FLIGHT_MS = DEFAULT_TOF
DEFAULT_IMAGE = ImageType.TIME_OF_FLIGHT
DEFAULT_RF_EVAP = RfEvap.new(
    times=STANDARD_EVAPORATION["times_ms"],
    powers=STANDARD_EVAPORATION["powers_mw"],
    frequencies=STANDARD_EVAPORATION["frequencies_mhz"],
)
"""The evaporation of a QuantumMatter given no ``rf_evap`` (``rf.STANDARD_EVAPORATION``)."""
TEMPERATURE_TO_EVAP_FREQUENCY = 0.067 / 200
"""MHz per nK: a ``temperature`` sets the last evaporation frequency to this times it."""


Temperature = Annotated[float, Field(ge=0.0, le=500.0, allow_inf_nan=False)]


def _as_decimal(time_ms: float) -> Decimal:
    """A time on the 0.1 ms grid as the Decimal the reference's QuantumMatter holds (10 -> 10)."""
    value = Decimal(repr(float(time_ms)))
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


# times in ms, checked and rounded to the 0.1 ms grid by the wire types, kept as Decimal:
# the fields hold a Decimal (the type checker's view), validated as the wire's time
if TYPE_CHECKING:
    MatterLifetimeMs = Decimal
    MatterTimeOfFlightMs = Decimal
else:
    MatterLifetimeMs = Annotated[EndTimeMs, AfterValidator(_as_decimal)]
    MatterTimeOfFlightMs = Annotated[TimeOfFlightMs, AfterValidator(_as_decimal)]


@dataclass
class OqtantLogin:
    """The access token a factory logged in with (None before logging in); repr hides it."""

    access_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        state = "token hidden" if self.access_token else "not logged in"
        return f"OqtantLogin({state})"


def temperature_to_final_frequency_mhz(temperature_nk: float) -> float:
    """The last RF frequency (MHz) that makes a cloud of ``temperature_nk`` (nK).

    Linear in the temperature: ``TEMPERATURE_TO_EVAP_FREQUENCY`` MHz per nK
    (0.067 MHz at 200 nK), as the reference service calibrates it.
    """
    return TEMPERATURE_TO_EVAP_FREQUENCY * float(temperature_nk)


def _wire_copy(objects, wire_cls):
    """Plain wire copies of user objects (None for none)."""
    if not objects:
        return None
    return [wire_cls(**o.model_dump()) for o in objects]


class QuantumMatter(BaseModel, MatterViews):
    """One experiment: how the matter is made, what it lives through, how it is imaged.

    ``temperature`` (nK) sets the last frequency of the evaporation (the
    standard ramp, or ``rf_evap`` with a warning). ``lifetime`` (ms, default
    10) is the length of the experiment stage: no barrier, snapshot or pulse
    may outlive it; an RF shield is held for all of it.
    """

    model_config = ConfigDict(
        arbitrary_types_allowed=True, validate_assignment=True, extra="forbid"
    )

    name: JobName = DEFAULT_NAME
    temperature: Temperature | None = None
    lifetime: MatterLifetimeMs = _as_decimal(DEFAULT_LIFETIME)
    image: ImageType = DEFAULT_IMAGE
    time_of_flight: MatterTimeOfFlightMs = _as_decimal(DEFAULT_TOF)
    rf_evap: RfEvap | None = None
    rf_shield: RfShield | None = None
    barriers: Annotated[list[Barrier], Field(max_length=pset.max_barriers)] | None = None
    landscape: Landscape | None = None
    lasers: Annotated[list[Laser], Field(max_length=1)] | None = None
    note: JobNote | None = None
    client: Any = None
    result: Any = None
    job_id: str | None = None
    output: Any = None
    is_sim: bool = False
    sim: Any = None
    run: int = Field(default=1, ge=1)
    failure_reason: str | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as err:
            raise format_pydantic_error(err, "Invalid QuantumMatter") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).model_fields:
            super().__setattr__(name, value)
            return
        before = dict(self.__dict__)
        try:
            super().__setattr__(name, value)
        except PydanticValidationError as err:
            # a rejected assignment leaves the matter as it was
            self.__dict__.clear()
            self.__dict__.update(before)
            raise format_pydantic_error(err, f"Invalid QuantumMatter.{name}") from None

    # ---- accept wire objects where user objects are expected

    @field_validator("rf_evap", mode="before")
    @classmethod
    def _evap(cls, v: Any) -> Any:
        if isinstance(v, job_schema.RfEvaporation) and not isinstance(v, RfEvap):
            return v.model_dump()
        return v

    @field_validator("job_id", mode="before")
    @classmethod
    def _job_id(cls, v: Any) -> Any:
        return None if v is None else str(v)  # a UUID from the service, kept as text

    @field_validator("barriers", mode="before")
    @classmethod
    def _barriers(cls, v: Any) -> Any:
        if v is None:
            return None
        return [
            b.model_dump()
            if isinstance(b, job_schema.Barrier) and not isinstance(b, Barrier)
            else b
            for b in v
        ]

    @field_validator("landscape", mode="before")
    @classmethod
    def _landscape(cls, v: Any) -> Any:
        if isinstance(v, job_schema.OpticalLandscape) and not isinstance(v, Landscape):
            return v.model_dump()
        return v

    @field_validator("lasers", mode="before")
    @classmethod
    def _lasers(cls, v: Any) -> Any:
        if v is None:
            return None
        return [
            laser.model_dump()
            if isinstance(laser, job_schema.Laser) and not isinstance(laser, Laser)
            else laser
            for laser in v
        ]

    @model_validator(mode="after")
    def _rules(self) -> QuantumMatter:
        if self.temperature is not None and self.rf_evap is not None:
            warnings.warn(
                "temperature and rf_evap both given: the temperature replaces the last "
                "frequency of rf_evap",
                stacklevel=2,
            )
        problems = self._lifetime_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _object_ends(self) -> list[tuple[str, float]]:
        """(name, end time in ms) of every object of the experiment stage."""
        ends: list[tuple[str, float]] = []
        for i, barrier in enumerate(self.barriers or []):
            ends.append((f"barriers[{i}]", float(max(barrier.times_ms))))
        if self.landscape is not None:
            for i, snap in enumerate(self.landscape.landscapes):
                name = f"landscape snapshot {i} (landscape.landscapes[{i}])"
                ends.append((name, float(snap.time_ms)))
        for i, laser in enumerate(self.lasers or []):
            for j, pulse in enumerate(laser.pulses):
                name = f"lasers[{i}].pulses[{j}] (terminator pulse)"
                ends.append((name, float(max(pulse.times_ms))))
        return ends

    def _lifetime_problems(self) -> list[str]:
        lifetime = float(self.lifetime or 0.0)
        return [
            f"{name} ends at {end:g} ms, after the lifetime of {lifetime:g} ms"
            for name, end in self._object_ends()
            if end > lifetime + 1e-9
        ]

    def _check_lifetime(self) -> None:
        problems = self._lifetime_problems()
        if problems:
            raise ValidationError(
                f"QuantumMatter '{self.name}': " + "; ".join(problems),
                [(p.split(" ends at")[0], "must end within the lifetime") for p in problems],
            )

    # ---- job state (from the result, once submitted)

    @property
    def job_type(self) -> job_schema.JobType:
        """The job type this matter makes (PAINT_1D, BARRIER or BEC)."""
        return job_schema.derive_job_type(self.input)

    @property
    def status(self) -> job_schema.JobStatus | None:
        """Status of the submitted job (None before submission)."""
        return self.result.status if self.result is not None else None

    @property
    def run_count(self) -> int | None:
        return self.result.input_count if self.result is not None else None

    @property
    def time_submit(self):
        return self.result.time_submit if self.result is not None else None

    @property
    def time_start(self):
        return self.result.time_start if self.result is not None else None

    @property
    def time_complete(self):
        return self.result.time_complete if self.result is not None else None

    # ---- wire format

    @property
    def rf_evaporation(self) -> job_schema.RfEvaporation:
        """The wire RF program: the evaporation (with the temperature shortcut) then the shield.

        The shield is one point at the end of the lifetime: its knife is held
        through the whole experiment stage.
        """
        evap = self.rf_evap if self.rf_evap is not None else DEFAULT_RF_EVAP
        times: list[float] = list(evap.times_ms)
        frequencies = list(evap.frequencies_mhz)
        powers = list(evap.powers_mw)
        if self.temperature is not None:
            frequencies[-1] = temperature_to_final_frequency_mhz(self.temperature)
        if self.rf_shield is not None:
            lifetime = float(self.lifetime)
            times.append(int(lifetime) if lifetime == int(lifetime) else lifetime)
            frequencies.append(self.rf_shield.frequency)
            powers.append(self.rf_shield.power)
        try:
            # validated as given: a lifetime of a fraction of a ms is refused as an RF time
            return job_schema.RfEvaporation.model_validate(
                {
                    "times_ms": times,
                    "frequencies_mhz": frequencies,
                    "powers_mw": powers,
                    "interpolation": evap.interpolation,
                }
            )
        except PydanticValidationError as err:
            title = f"QuantumMatter '{self.name}': invalid RF program"
            raise format_pydantic_error(err, title) from None

    @property
    def input(self) -> InputValues:
        """The wire values of the one run this matter makes."""
        self._check_lifetime()
        try:
            return InputValues(
                end_time_ms=float(self.lifetime),
                image_type=self.image,
                time_of_flight_ms=float(self.time_of_flight),
                rf_evaporation=self.rf_evaporation,
                optical_barriers=_wire_copy(self.barriers, job_schema.Barrier),
                optical_landscape=(
                    job_schema.OpticalLandscape(**self.landscape.model_dump())
                    if self.landscape is not None
                    else None
                ),
                lasers=_wire_copy(self.lasers, job_schema.Laser),
            )
        except PydanticValidationError as err:
            title = f"QuantumMatter '{self.name}' is not a valid run"
            raise format_pydantic_error(err, title) from None

    def to_job(self) -> OqtantJob:
        """A one-run job of this matter (name, note into the run's notes, output if any)."""
        run: dict[str, Any] = {"values": self.input, "notes": self.note}
        if self.output is not None and hasattr(self.output, "model_dump"):
            run["output"] = {"values": self.output.model_dump()}
        try:
            return OqtantJob.model_validate({"name": self.name, "inputs": [run]})
        except PydanticValidationError as err:
            title = f"QuantumMatter '{self.name}' is not a valid job"
            raise format_pydantic_error(err, title) from None

    as_job = to_job

    @classmethod
    def from_input(
        cls,
        name: str,
        input: InputValues,  # noqa: A002 - the reference's name
        note: str | None = None,
        client: Any = None,
    ) -> QuantumMatter:
        """The QuantumMatter of one wire run (``input`` round-trips exactly)."""
        rf = input.rf_evaporation
        shield = RfShield.from_input(rf) if any(t > 0 for t in rf.times_ms) else None
        return cls(
            name=name,
            lifetime=input.end_time_ms,
            image=input.image_type,
            time_of_flight=input.time_of_flight_ms,
            rf_evap=RfEvap.from_input(rf),
            rf_shield=shield,
            barriers=[Barrier.from_input(b) for b in input.optical_barriers]
            if input.optical_barriers
            else None,
            landscape=Landscape.from_input(input.optical_landscape)
            if input.optical_landscape is not None
            else None,
            lasers=[Laser.from_input(laser) for laser in input.lasers] if input.lasers else None,
            note=note,
            client=client,
        )

    @classmethod
    def from_oqtant_job(cls, job: OqtantJob, client: Any = None) -> QuantumMatter:
        """The QuantumMatter of a job's active run, with the job as its result."""
        index = min(job.active_run, len(job.inputs)) - 1
        run = job.inputs[index]
        matter = cls.from_input(name=job.name, input=run.values, note=run.notes, client=client)
        matter.result = job
        matter.job_id = str(job.external_id) if job.external_id is not None else None
        matter.run = run.run or index + 1
        if run.output is not None:
            matter.output = cls.output_values_to_oqtant_output(run.output.values)
        return matter

    @staticmethod
    def output_values_to_oqtant_output(output_values):
        """The analysis object (OqtantPlotOutput or OqtantNonPlotOutput) of a run's output."""
        if isinstance(output_values, job_schema.PlotOutput) or hasattr(output_values, "it_plot"):
            return OqtantPlotOutput.model_validate(output_values.model_dump())
        return OqtantNonPlotOutput.model_validate(output_values.model_dump())

    def write_to_file(self, *args: Any, **kwargs: Any) -> None:
        """Write this matter's submitted job (with its results, once it has them) to a job file.

        Takes the arguments of ``OqtantClient.write_job_to_file`` after the job
        (``file_name=None, file_path=None``); without a client, a path (or
        ``file_path``/``file_name``) to write to.

        Raises:
            JobWriteError: the matter was never submitted (no job to write), or the
                file cannot be written.
        """
        if self.result is None and self.job_id is not None and self._client() is not None:
            self.get_result()
        if self.result is None:
            raise JobWriteError(
                f"QuantumMatter '{self.name}' has no job to write: submit it and fetch its "
                "result (matter.submit(), matter.get_result()) first"
            )
        client = self._client()
        if client is not None:
            client.write_job_to_file(self.result, *args, **kwargs)
            return
        layer = client_layer()
        path = kwargs.get("file_path") or (args[0] if args else None) or kwargs.get("file_name")
        layer.write_job_file(self.result, Path(path or layer.default_job_file_name(self.result)))

    # ---- running

    def _client(self) -> Any:
        """This matter's client, else the one get_client() made last (then it is kept)."""
        if self.client is None:
            client = client_layer().current_client()
            if client is not None:
                self.client = client
        return self.client

    def submit(self, track: bool = False, sim: bool = False) -> None:
        """Submit to the service, or to the local simulator with ``sim=True``.

        Needs a client: this matter's (from its factory), else the one
        ``get_client()`` made. Afterwards ``job_id`` is the job's id and
        :meth:`get_result` fetches it.
        """
        if sim:
            self.submit_sim()
            return
        client = self._client()
        if client is None:
            raise ValidationError(
                f"client: QuantumMatter '{self.name}' has no client to submit with; log in "
                "first (client = get_client(), or factory.get_client()), or use "
                "submit(sim=True)",
                [("client", "required to submit")],
            )
        client.submit(self, track=track)

    def submit_sim(self) -> None:
        """Run this matter on the local Gross-Pitaevskii simulator."""
        from oqtant.simulator import Simulator

        self.sim = Simulator(self.input)
        self.sim.run()
        self.is_sim = True

    def get_sim_result(self) -> None:
        """Take the simulator's output as this matter's output."""
        if self.sim is None:
            raise ValidationError(
                "sim: nothing was simulated yet; call submit(sim=True) first", [("sim", "missing")]
            )
        self.output = self.output_values_to_oqtant_output(self.sim.output.values)

    def get_result(self, run: int | None = None) -> None:
        """Fetch the job (run ``run``, default this matter's run) and its output.

        Raises:
            JobFailed: the run failed; the error names job, run and the service's
                reason (also kept in ``failure_reason``).
        """
        if self.is_sim:
            self.get_sim_result()
            return
        client = self._client()
        if client is None or self.job_id is None:
            missing = "job_id" if self.job_id is None else "client"
            raise JobError(
                f"QuantumMatter '{self.name}' has no submitted job to fetch "
                f"({'submit it first' if missing == 'job_id' else 'log in first: get_client()'})"
            )
        job = client.get_job(self.job_id, run or self.run or 1)
        self.result = job
        if run is not None:
            self.run = run
        index = min(getattr(job, "active_run", 1), len(job.inputs)) - 1
        fetched = job.inputs[index]
        output = fetched.output
        self.output = (
            self.output_values_to_oqtant_output(output.values) if output is not None else None
        )
        self.failure_reason = run_failure(job, fetched)
        if _run_failed(job, fetched):
            number = fetched.run or self.run
            raise JobFailed(
                f"Job {self.job_id} ('{job.name}'): run {number} of "
                f"{job.input_count or len(job.inputs)} failed (job {job.status}): "
                f"{self.failure_reason or 'the service gave no reason'}",
                job_id=self.job_id,
                run=number,
                reason=self.failure_reason,
            )


def _run_failed(job: OqtantJob, fetched: job_schema.Input) -> bool:
    """Whether the fetched run failed (its own status, else the job's when it has one run)."""
    if fetched.status is not None:
        return fetched.status == job_schema.JobStatus.FAILED
    return job.status == job_schema.JobStatus.FAILED or (fetched.run or 1) in job.failed_inputs


def run_failure(job: OqtantJob, fetched: job_schema.Input) -> str | None:
    """Why the fetched run failed: its error, else the job's reason; None if it did not fail."""
    if not _run_failed(job, fetched):
        return None
    return fetched.error or job.failure_reason
