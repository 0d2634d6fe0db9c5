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

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from oqtant import projection
from oqtant.errors import JobError, JobWriteError, ValidationError, format_pydantic_error
from oqtant.login import Login
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
from oqtant.schemas.limits import pset, tset
from oqtant.schemas.optical import (
    Barrier,
    Landscape,
    Laser,
    Pulse,
    Snapshot,
    _finish_plot,
)
from oqtant.schemas.output import OqtantNonPlotOutput, OqtantPlotOutput
from oqtant.schemas.rf import STANDARD_EVAPORATION, ConversionError, RfEvap, RfSequence, RfShield

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "QuantumMatter",
    "QuantumMatterFactory",
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
RF_CHAIN_CORNER_MHZ = 15.0
"""Corner frequency of the RF chain's first-order roll-off (see :func:`rf_coupling`)."""

Temperature = Annotated[float, Field(ge=0.0, le=500.0, allow_inf_nan=False)]


def _as_decimal(time_ms: float) -> Decimal:
    """A time on the 0.1 ms grid as the Decimal the reference's QuantumMatter holds (10 -> 10)."""
    value = Decimal(repr(float(time_ms)))
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


# times in ms, rounded to the 0.1 ms grid by the wire types, kept as Decimal
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


def rf_coupling(frequency_mhz):
    """Fraction of the programmed RF power that reaches the atoms at ``frequency_mhz``.

    The antenna is an inductive load driven through a matched amplifier: its
    response falls as a first-order low-pass, 1 / (1 + (f / f_c)^2) with
    f_c = RF_CHAIN_CORNER_MHZ (15 MHz). A modest, smooth model: 1 at low
    frequency, 0.5 at 15 MHz, 0.26 at 25 MHz.
    """
    f = np.asarray(frequency_mhz, dtype=float)
    return 1.0 / (1.0 + (f / RF_CHAIN_CORNER_MHZ) ** 2)


def _wire_copy(objects, wire_cls):
    """Plain wire copies of user objects (None for none)."""
    if not objects:
        return None
    return [wire_cls(**o.model_dump()) for o in objects]


class QuantumMatter(BaseModel):
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
        times = list(evap.times_ms)
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
            return job_schema.RfEvaporation(
                times_ms=times,
                frequencies_mhz=frequencies,
                powers_mw=powers,
                interpolation=evap.interpolation,
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
                end_time_ms=self.lifetime,
                image_type=self.image,
                time_of_flight_ms=self.time_of_flight,
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
            return OqtantJob(name=self.name, inputs=[run])
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
        from oqtant.schemas.output import OqtantNonPlotOutput, OqtantPlotOutput

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
        from oqtant.jobfiles import default_job_file_name, write_job_file

        path = kwargs.get("file_path") or (args[0] if args else None) or kwargs.get("file_name")
        write_job_file(self.result, Path(path or default_job_file_name(self.result)))

    # ---- running

    def _client(self) -> Any:
        """This matter's client, else the one get_client() made last (then it is kept)."""
        if self.client is None:
            from oqtant.oqtant_client import current_client

            client = current_client()
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
        """Fetch the job (run ``run``, default this matter's run) and its output."""
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
        output = job.inputs[index].output
        if output is not None:
            self.output = self.output_values_to_oqtant_output(output.values)

    # ---- RF

    def corrected_rf_power(self, frequency_mhz: float, power_mw: float) -> float:
        """The RF power (mW) that reaches the atoms: programmed power times :func:`rf_coupling`."""
        return float(power_mw * rf_coupling(frequency_mhz))

    def corrected_rf_powers(self, frequencies: list[float], powers: list[float]) -> list[float]:
        """:meth:`corrected_rf_power` for lists of frequencies (MHz) and powers (mW)."""
        return list(np.asarray(powers, dtype=float) * rf_coupling(frequencies))

    def show_rf_dynamics(
        self, corrected: bool = False, file_name: str | None = None
    ) -> Figure | None:
        """Plot the RF knife frequency and power against time, evaporation then shield."""
        import matplotlib.pyplot as plt

        wire = self.rf_evaporation
        evap = RfEvap.from_input(wire)
        shield = self.rf_shield
        t_start = float(min(evap.times_ms))
        t_end = max(float(self.lifetime or 0.0), shield.lifetime if shield is not None else 0.0)
        t = np.linspace(t_start, 0.0, 801)
        frequencies, powers = evap.get_frequencies(t), evap.get_powers(t)
        if shield is not None:  # a constant knife through the experiment stage
            t_shield = np.linspace(0.0, t_end, 50)[1:]
            t = np.concatenate([t, t_shield])
            frequencies = np.concatenate([frequencies, shield.frequencies(t_shield)])
            powers = np.concatenate([powers, shield.powers(t_shield)])
        fig, ax_f = plt.subplots(figsize=(7, 4))
        ax_p = ax_f.twinx()
        ax_f.plot(t, frequencies, color="C0", label="frequency")
        ax_f.plot(wire.times_ms, wire.frequencies_mhz, "o", color="C0")
        ax_p.plot(t, powers, color="C1", label="power")
        ax_p.plot(wire.times_ms, wire.powers_mw, "o", color="C1")
        if corrected:
            ax_p.plot(t, self.corrected_rf_powers(frequencies, powers),
                      "--", color="C1", label="power reaching the atoms")
        rf = wire
        ax_f.axvline(0.0, color="gray", lw=0.8, ls=":")
        ax_f.set_xlabel("time (ms); evaporation before 0, experiment stage after")
        ax_f.set_ylabel("RF frequency (MHz)", color="C0")
        ax_p.set_ylabel("RF power (mW)", color="C1")
        ax_f.set_ylim(0, max(1.0, 1.1 * max(rf.frequencies_mhz)))
        ax_p.set_ylim(0, max(1.0, 1.1 * max(rf.powers_mw)))
        lines = ax_f.get_lines()[:1] + ax_p.get_lines()[::2]
        ax_f.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="upper right")
        ax_f.set_title(f"RF knife of '{self.name}'")
        return _finish_plot(fig, file_name)

    # ---- potentials

    def get_magnetic_potential(self, positions: list[float]) -> np.ndarray:
        """The magnetic trap (kHz) at the positions (um): harmonic, 50 Hz, 0 at x = 0."""
        return projection.magnetic_potential_khz(positions)

    def get_ideal_optical_potential(self, time: float, positions: list[float]) -> np.ndarray:
        """The requested optical profile (kHz) at ``time`` (ms): no blur, no clipping."""
        return projection.ideal_potential_khz(self.input, [time], positions)[0]

    def get_potential(
        self, time: float, positions: list[float], include_magnetic: bool = True
    ) -> np.ndarray:
        """What the atoms feel (kHz) at ``time`` (ms): projected light plus the magnetic trap."""
        potential = projection.projected_potential_khz(self.input, [time], positions)[0]
        if include_magnetic:
            potential = potential + projection.magnetic_potential_khz(positions)
        return potential

    def show_potential(
        self,
        times: list[float] = [0.0],  # noqa: B006
        xlimits: list[float] = [pset.min_position - 1, pset.max_position + 1],  # noqa: B006
        ylimits: list[float] = [0.0 - 1, pset.max_energy + 1],  # noqa: B006
        include_ideal: bool = False,
        include_magnetic: bool = True,
        include_terminator: bool = False,
        file_name: str | None = None,
    ) -> Figure | None:
        """Plot the potential the atoms feel against position at the given times."""
        import matplotlib.pyplot as plt

        values = self.input
        x = np.linspace(xlimits[0], xlimits[1], 1201)
        t = np.atleast_1d(np.asarray(times, dtype=float))
        felt = projection.projected_potential_khz(values, t, x)
        magnetic = projection.magnetic_potential_khz(x)
        if include_magnetic:
            felt = felt + magnetic
        fig, ax = plt.subplots(figsize=(7, 4))
        for i, time in enumerate(t):
            (line,) = ax.plot(x, felt[i], label=f"t = {time:g} ms")
            if include_ideal:
                ideal = projection.ideal_potential_khz(values, [time], x)[0]
                ax.plot(x, ideal + (magnetic if include_magnetic else 0.0), "--",
                        color=line.get_color(), alpha=0.7, label=f"requested, t = {time:g} ms")
        if include_magnetic:
            ax.plot(x, magnetic, ":", color="gray", label="magnetic trap")
        if include_terminator:
            span = ylimits[1] - ylimits[0]
            beam = projection.terminator_intensity(values, t, x)
            for i, time in enumerate(t):
                if beam[i].any():
                    ax.fill_between(x, ylimits[0], ylimits[0] + span * beam[i], color="red",
                                    alpha=0.15, label=f"terminator on, t = {time:g} ms")
        ax.set_xlim(xlimits)
        ax.set_ylim(ylimits)
        ax.set_xlabel("position x (um)")
        ax.set_ylabel("potential energy E/h (kHz)")
        ax.set_title(f"what the atoms of '{self.name}' feel")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return _finish_plot(fig, file_name)

    def show_barrier_dynamics(self, file_name: str | None = None) -> Figure | None:
        """Plot every barrier's position, height and width against time, one panel each.

        The curves step at the experiment stage's 0.1 ms resolution, as the
        projector updates; dots mark the programmed points. The time axis spans
        the lifetime.
        """
        import matplotlib.pyplot as plt

        lifetime = max(float(self.lifetime or 0.0), tset.resolution_ms)
        fig, axes = plt.subplots(3, 1, sharex=True, figsize=(6, 6))
        panels = (
            ("get_positions", "positions_um", "position (um)"),
            ("get_heights", "heights_khz", "height (kHz)"),
            ("get_widths", "widths_um", "width (um)"),
        )
        for i, barrier in enumerate(self.barriers or []):
            t = np.arange(barrier.birth, barrier.death + tset.resolution_ms / 2, tset.resolution_ms)
            color = f"C{i % 10}"
            for ax, (curve, points, _) in zip(axes, panels):
                ax.step(t, getattr(barrier, curve)(t), where="post", color=color,
                        label=f"barrier {i + 1}")
                ax.plot(barrier.times_ms, getattr(barrier, points), ".", color=color)
        for ax, (_, _, label) in zip(axes, panels):
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[-1].set_xlim(-1.0, lifetime)
        axes[-1].set_xlabel("time (ms)")
        if self.barriers:
            fig.legend(*axes[0].get_legend_handles_labels(), loc="upper right", fontsize=8)
        else:
            axes[0].set_title("no barriers", fontsize=9)
        fig.suptitle(f"barrier dynamics of '{self.name}'")
        return _finish_plot(fig, file_name)

    def show_laser_pulse_timing(
        self, figsize=(6, 4), file_name: str | None = None
    ) -> Figure | None:
        """Plot when the terminator is on during the experiment stage."""
        import matplotlib.pyplot as plt

        lifetime = max(float(self.lifetime or 0.0), tset.resolution_ms)
        t = np.linspace(0.0, lifetime, 2001)
        fig, ax = plt.subplots(figsize=figsize)
        on = np.array([any(laser.is_on(time) for laser in self.lasers or []) for time in t])
        ax.fill_between(t, 0, on.astype(float), step="post", color="red", alpha=0.3)
        ax.step(t, on.astype(float), where="post", color="red", label="terminator")
        for laser in self.lasers or []:
            for pulse in laser.pulses:
                for edge in pulse.times_ms:
                    ax.axvline(edge, color="gray", lw=0.6, ls=":")
        ax.set_yticks([0, 1], ["off", "on"])
        ax.set_ylim(-0.1, 1.2)
        ax.set_xlim(0, lifetime)
        ax.set_xlabel("time (ms)")
        ax.set_title(f"terminator pulse timing of '{self.name}'")
        ax.legend(fontsize=8)
        return _finish_plot(fig, file_name)


# --------------------------------------------------------------------------- factory


class QuantumMatterFactory:
    """Makes QuantumMatter and its parts; with a client, also talks to the service."""

    def __init__(self, client: Any = None) -> None:
        self.client = client
        self.login: Login | None = None

    # ---- service

    def _require_client(self, what: str) -> Any:
        if self.client is None:
            from oqtant.oqtant_client import current_client

            self.client = current_client()
        if self.client is None:
            raise ValidationError(
                f"client: {what} needs the service; call factory.get_client() first",
                [("client", "log in first")],
            )
        return self.client

    def get_login(self, port: int = 8080, **login_options: Any) -> Login:
        """Log in through the browser (or reuse a cached token) for :meth:`get_client`.

        Returns the login, whose repr names the server but hides the token (a
        notebook cell showing it does not save the token); the token itself is
        ``factory.login.access_token``.
        """
        from oqtant.login import ClientSettings, get_user_token

        settings = login_options.get("settings") or ClientSettings()
        login_options["settings"] = settings
        self.login = Login(get_user_token(port, **login_options), settings)
        return self.login

    def get_client(self, token: str | None = None) -> None:
        """Connect to the service with ``token`` (or get_login's), else by logging in.

        The client becomes this factory's, that of the matter it makes from now
        on, and the one any matter without a client submits with.
        """
        from oqtant import oqtant_client

        if isinstance(token, Login):
            token = token.access_token
        if token is None and self.login is not None:
            token = self.login.access_token
        if token:
            self.client = oqtant_client.get_oqtant_client(token)
        else:
            self.client = oqtant_client.get_client()

    def search_jobs(self, *args: Any, **kwargs: Any) -> list[dict]:
        """Your jobs matching the filters (see OqtantClient.search_jobs)."""
        return self._require_client("search_jobs").search_jobs(*args, **kwargs)

    def show_queue_status(self, *args: Any, **kwargs: Any):
        """Print the status of your queued jobs (see OqtantClient.show_queue_status)."""
        return self._require_client("show_queue_status").show_queue_status(*args, **kwargs)

    def show_job_limits(self):
        """Print your job limits."""
        return self._require_client("show_job_limits").show_job_limits()

    def load_matter_from_job_id(self, job_id: str, run: int = 1) -> QuantumMatter:
        """The QuantumMatter of run ``run`` of a submitted job, with its results."""
        job = self._require_client("load_matter_from_job_id").get_job(job_id, run)
        return QuantumMatter.from_oqtant_job(job, self.client)

    def submit_list_as_batch(self, *args: Any, **kwargs: Any):
        """Submit several QuantumMatter as one job of several runs."""
        return self._require_client("submit_list_as_batch").submit_list_as_batch(*args, **kwargs)

    def load_matter_from_file(self, *args: Any, **kwargs: Any) -> QuantumMatter:
        """The QuantumMatter of a job file (its first run, with results if the file has them).

        ``load_matter_from_file(file_path)`` (or ``file_path=...``).
        """
        from oqtant.jobfiles import read_job_file

        file_path = kwargs.get("file_path", args[0] if args else None)
        if file_path is None:
            raise ValidationError(
                "file_path: give the job file to load", [("file_path", "required")]
            )
        job = read_job_file(file_path)
        return QuantumMatter.from_oqtant_job(job, self.client)

    # ---- matter

    def create_quantum_matter(
        self,
        name: str | None = None,
        temperature: float | None = None,
        lifetime: float | None = None,
        image: job_schema.ImageType | None = None,
        time_of_flight: float | None = None,
        rf_evap: RfEvap | None = None,
        rf_shield: RfShield | None = None,
        barriers: list[Barrier] | None = None,
        landscape: Landscape | None = None,
        lasers: list[Laser] | None = None,
        note: str | None = None,
    ) -> QuantumMatter:
        """A QuantumMatter; anything not given takes the standard BEC job's value."""
        given = {
            "name": name,
            "temperature": temperature,
            "lifetime": lifetime,
            "image": image,
            "time_of_flight": time_of_flight,
            "rf_evap": rf_evap,
            "rf_shield": rf_shield,
            "barriers": barriers,
            "landscape": landscape,
            "lasers": lasers,
            "note": note,
        }
        return QuantumMatter(
            **{k: v for k, v in given.items() if v is not None}, client=self.client
        )

    def create_quantum_matter_from_input(
        self, name: str, input: InputValues, note: str | None = None  # noqa: A002
    ) -> QuantumMatter:
        """The QuantumMatter of wire input values."""
        return QuantumMatter.from_input(name=name, input=input, note=note, client=self.client)

    # ---- parts

    @staticmethod
    def create_snapshot(
        time: float = 0,
        positions: list = [-10, 10],  # noqa: B006
        potentials: list = [0, 0],  # noqa: B006
        interpolation: job_schema.InterpolationType = "LINEAR",
    ) -> Snapshot:
        return Snapshot.new(time, positions, potentials, interpolation)

    @staticmethod
    def create_snapshot_from_input(input: job_schema.Landscape) -> Snapshot:  # noqa: A002
        return Snapshot.from_input(input)

    @staticmethod
    def create_landscape(
        snapshots: list[Snapshot] = [Snapshot.new(time=0), Snapshot.new(time=2)],  # noqa: B006,B008
        interpolation: job_schema.InterpolationType = "LINEAR",
    ) -> Landscape:
        return Landscape.new(snapshots, interpolation)

    @staticmethod
    def create_landscape_from_input(input: job_schema.OpticalLandscape) -> Landscape:  # noqa: A002
        return Landscape.from_input(input)

    @staticmethod
    def create_barrier(
        positions: list[float] = [0.0, 0.0],  # noqa: B006
        heights: list[float] = [0.0, 0.0],  # noqa: B006
        widths: list[float] = [1.0, 1.0],  # noqa: B006
        times: list[float] = [0.0, 10.0],  # noqa: B006
        shape: job_schema.ShapeType = "GAUSSIAN",
        interpolation: job_schema.InterpolationType = "LINEAR",
    ) -> Barrier:
        return Barrier.new(positions, heights, widths, times, shape, interpolation)

    @staticmethod
    def create_barrier_from_input(input: job_schema.Barrier) -> Barrier:  # noqa: A002
        return Barrier.from_input(input)

    @staticmethod
    def create_terminator(time_on: float, time_off: float) -> Laser:
        """The terminator beam, on from ``time_on`` to ``time_off`` (ms)."""
        if not float(time_off) > float(time_on):
            raise ValidationError(
                f"time_off: the terminator goes off after it goes on (time_on {time_on} ms, "
                f"time_off {time_off} ms)",
                [("time_off", "must be after time_on")],
            )
        return Laser.new(pulses=[Pulse.new(times_ms=[time_on, time_off])])

    @staticmethod
    def create_terminator_from_input(input: job_schema.Laser) -> Laser:  # noqa: A002
        return Laser.from_input(input)

    @staticmethod
    def create_rf_sequence(
        times: list = [0],  # noqa: B006 - never mutated
        powers: list = [0],  # noqa: B006
        frequencies: list = [0],  # noqa: B006
        interpolation: str = "LINEAR",
    ) -> RfSequence:
        return RfSequence.new(times, powers, frequencies, interpolation)

    @staticmethod
    def create_rf_sequence_from_input(input: job_schema.RfEvaporation) -> RfSequence:  # noqa: A002
        return RfSequence.from_input(input)

    @staticmethod
    def create_rf_evap(
        times: list = [0],  # noqa: B006 - never mutated
        powers: list = [0],  # noqa: B006
        frequencies: list = [0],  # noqa: B006
        interpolation: str = "LINEAR",
    ) -> RfEvap:
        return RfEvap.new(times, powers, frequencies, interpolation)

    @staticmethod
    def create_rf_evap_from_input(input: job_schema.RfEvaporation) -> RfEvap:  # noqa: A002
        return RfEvap.from_input(input)

    @staticmethod
    def create_rf_shield(power: float = 0, frequency: float = 0, lifetime: float = 1.0) -> RfShield:
        """An RF shield (a constant knife, OFF interpolation) of ``lifetime`` whole ms."""
        return RfShield.new(lifetime=lifetime, frequency=frequency, power=power,
                            interpolation="OFF")

    @staticmethod
    def create_rf_shield_from_input(input: job_schema.RfEvaporation) -> RfShield:  # noqa: A002
        return RfShield.from_input(input)

