"""What the client does for QuantumMatter: submit one or a batch, simulate locally."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from oqtant.errors import ValidationError, format_pydantic_error
from oqtant.schemas.job import ImageType, OqtantJob

if TYPE_CHECKING:
    from oqtant.matter.quantum_matter import QuantumMatter

__all__ = ["MatterCalls", "attach"]


def attach(matter: QuantumMatter, client: Any, job_id: str, run: int) -> None:
    """Tell a submitted matter its client, job and run (its old result no longer holds)."""
    matter.client = client
    matter.result = None
    matter.output = None
    matter.is_sim = False
    matter.job_id = str(job_id)
    matter.run = run


class MatterCalls:
    """The QuantumMatter methods of a client (a mixin of OqtantClient, which gives the
    attribute and methods declared below)."""

    verbosity: int

    if TYPE_CHECKING:

        def convert_matter_to_job(self, matter: QuantumMatter) -> OqtantJob: ...

        def run_jobs(
            self, job_list: list[OqtantJob], track_status: bool = False, write: bool = False
        ) -> list[str]: ...

    def submit_sim(self, matter: QuantumMatter):
        """A Gross-Pitaevskii simulator set up for the matter's run (not yet run).

        Run it with :meth:`get_sim_result`; nothing is sent to the server.
        """
        from oqtant.simulator import Simulator

        return Simulator(matter.input)

    def get_sim_result(self, sim, image_type=None):
        """Run a simulator if it has not run yet (ground state, evolution, time of flight).

        Args:
            sim: an ``oqtant.simulator.Simulator``.
            image_type: the imaging of the run; the simulator already follows its input's
                image type, so this is only checked against it.

        Returns:
            The same simulator, with its ``output`` ready.
        """
        if image_type is not None and ImageType(image_type) != sim.values.image_type:
            raise ValidationError(
                f"image_type: the simulated run is imaged {sim.values.image_type}, "
                f"not {ImageType(image_type)}",
                [("image_type", "must match the simulated run")],
            )
        if sim.evolution is None:
            sim.run(progress=self.verbosity >= 1)
        return sim

    def submit(self, matter: QuantumMatter, track: bool = False, sim: bool = False) -> str | None:
        """Submit a QuantumMatter as a one-run job and return its id (a simulation returns None).

        Args:
            matter: the matter to make.
            track: wait (with a progress bar) until the job has finished.
            sim: run it on the local simulator instead (nothing is queued).
        """
        if sim:
            matter.submit_sim()
            return None
        job = self.convert_matter_to_job(matter)
        job_id = self.run_jobs([job], track_status=track)[0]
        attach(matter, self, job_id, run=1)
        return job_id

    def submit_list_as_batch(
        self,
        matter_list: list[QuantumMatter],
        track: bool = False,
        name: str | None = None,
        sim: bool = False,
    ) -> QuantumMatter:
        """Submit several QuantumMatter as ONE job with one run each; return the batch's matter.

        Every matter of the list learns the batch's ``job_id`` and its own run, so
        ``matter_list[N - 1].get_result()`` fetches run N. The matter returned is a
        new one (none of the list: their names and runs stay theirs), named as the
        job, for run 1; ``batch.get_result(run=N)`` fetches run N.

        Args:
            matter_list: the matter, one run each (1 to 30, all of the same job type).
            track: wait until the job has finished.
            name: the job's name (the first matter's name if None).
            sim: refused: simulations run one matter at a time.
        """
        if sim:
            raise ValidationError(
                "sim: a batch cannot be simulated; simulate each QuantumMatter on its own "
                "with matter.submit(sim=True)",
                [("sim", "must be False for a batch")],
            )
        matter_list = list(matter_list)
        if not matter_list:
            raise ValidationError(
                "matter_list: give at least one QuantumMatter", [("matter_list", "1 to 30 items")]
            )
        first = matter_list[0]
        jobs = [self.convert_matter_to_job(m) for m in matter_list]
        types = {str(j.job_type) for j in jobs}
        if len(types) > 1:
            raise ValidationError(
                f"matter_list: every matter of a batch must make the same job type "
                f"(got {sorted(types)})",
                [("matter_list", "one job type")],
            )
        data = {
            "name": name or first.name,
            "inputs": [{"values": j.inputs[0].values, "notes": j.inputs[0].notes} for j in jobs],
        }
        try:
            job = OqtantJob.model_validate(data)
        except PydanticValidationError as err:
            raise format_pydantic_error(err, "Invalid batch job") from None
        job_id = self.run_jobs([job], track_status=track)[0]
        for run, matter in enumerate(matter_list, start=1):
            attach(matter, self, job_id, run=run)
        batch = _fresh_copy(first)
        batch.name = job.name
        attach(batch, self, job_id, run=1)
        return batch


_NOT_COPIED = ("client", "result", "output", "sim")


def _fresh_copy(matter: QuantumMatter) -> QuantumMatter:
    """A new matter with the same design (deep copies), no client, result or simulation."""
    fields = {
        key: copy.deepcopy(value)
        for key, value in matter.__dict__.items()
        if key in type(matter).model_fields and key not in _NOT_COPIED
    }
    return type(matter).model_construct(**fields)
