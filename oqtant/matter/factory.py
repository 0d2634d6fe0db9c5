"""QuantumMatterFactory: makes QuantumMatter and its parts; with a client, talks to the service."""

from __future__ import annotations

from typing import Any

from oqtant.errors import ValidationError
from oqtant.matter._services import client_layer
from oqtant.matter.optical import Barrier, Landscape, Laser, Pulse, Snapshot
from oqtant.matter.quantum_matter import QuantumMatter
from oqtant.matter.rf import RfEvap, RfSequence, RfShield
from oqtant.schemas import job as job_schema
from oqtant.schemas.job import InputValues

__all__ = ["QuantumMatterFactory"]


class QuantumMatterFactory:
    """Makes QuantumMatter and its parts; with a client, also talks to the service."""

    def __init__(self, client: Any = None) -> None:
        self.client = client
        self.login: Any = None  # the Login of get_login(), with its access_token

    # ---- service

    def _require_client(self, what: str) -> Any:
        if self.client is None:
            self.client = client_layer().current_client()
        if self.client is None:
            raise ValidationError(
                f"client: {what} needs the service; call factory.get_client() first",
                [("client", "log in first")],
            )
        return self.client

    def get_login(self, port: int = 8080, **login_options: Any) -> Any:
        """Log in through the browser (or reuse a cached token) for :meth:`get_client`.

        Returns the login, whose repr names the server but hides the token (a
        notebook cell showing it does not save the token); the token itself is
        ``factory.login.access_token``.
        """
        self.login = client_layer().login(port, **login_options)
        return self.login

    def get_client(self, token: str | None = None) -> None:
        """Connect to the service with ``token`` (or get_login's), else by logging in.

        The client becomes this factory's, that of the matter it makes from now
        on, and the one any matter without a client submits with.
        """
        if token is not None and not isinstance(token, str):
            token = token.access_token  # a Login
        if token is None and self.login is not None:
            token = self.login.access_token
        self.client = client_layer().connect(token or None)

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
        file_path = kwargs.get("file_path", args[0] if args else None)
        if file_path is None:
            raise ValidationError(
                "file_path: give the job file to load", [("file_path", "required")]
            )
        job = client_layer().read_job_file(file_path)
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
        self,
        name: str,
        input: InputValues,  # noqa: A002
        note: str | None = None,
    ) -> QuantumMatter:
        """The QuantumMatter of wire input values."""
        return QuantumMatter.from_input(name=name, input=input, note=note, client=self.client)

    # ---- parts

    @staticmethod
    def create_snapshot(
        time: float = 0,
        positions: list = [-10, 10],  # noqa: B006
        potentials: list = [0, 0],  # noqa: B006
        interpolation: job_schema.InterpolationType = job_schema.InterpolationType.LINEAR,
    ) -> Snapshot:
        return Snapshot.new(time, positions, potentials, interpolation)

    @staticmethod
    def create_snapshot_from_input(input: job_schema.Landscape) -> Snapshot:  # noqa: A002
        return Snapshot.from_input(input)

    @staticmethod
    def create_landscape(
        snapshots: list[Snapshot] = [Snapshot.new(time=0), Snapshot.new(time=2)],  # noqa: B006,B008
        interpolation: job_schema.InterpolationType = job_schema.InterpolationType.LINEAR,
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
        shape: job_schema.ShapeType = job_schema.ShapeType.GAUSSIAN,
        interpolation: job_schema.InterpolationType = job_schema.InterpolationType.LINEAR,
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
        interpolation: job_schema.RfInterpolationType = job_schema.RfInterpolationType.LINEAR,
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
        interpolation: job_schema.RfInterpolationType = job_schema.RfInterpolationType.LINEAR,
    ) -> RfEvap:
        return RfEvap.new(times, powers, frequencies, interpolation)

    @staticmethod
    def create_rf_evap_from_input(input: job_schema.RfEvaporation) -> RfEvap:  # noqa: A002
        return RfEvap.from_input(input)

    @staticmethod
    def create_rf_shield(power: float = 0, frequency: float = 0, lifetime: float = 1.0) -> RfShield:
        """An RF shield (a constant knife, OFF interpolation) of ``lifetime`` whole ms."""
        return RfShield.new(
            lifetime=lifetime,
            frequency=frequency,
            power=power,
            interpolation=job_schema.RfInterpolationType.OFF,
        )

    @staticmethod
    def create_rf_shield_from_input(input: job_schema.RfEvaporation) -> RfShield:  # noqa: A002
        return RfShield.from_input(input)
