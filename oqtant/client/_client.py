"""The client of an oqtant server: submit jobs, follow them, fetch their results.

:class:`OqtantClient` speaks the server's REST API (``{OQTANT_URL}/api/v1``)
with a bearer token. Every request has timeouts; connection failures and
502/503/504 answers are retried with exponential backoff, and a submitted job
carries an ``Idempotency-Key`` so that a retried submit never creates a second
job. Answers that are errors become :mod:`oqtant.errors` exceptions:

=========  ============================
HTTP       exception
=========  ============================
401, 403   AuthenticationError
404        JobNotFoundError
422        ValidationError
429        QuotaExceededError
other      ServerError
no answer  ConnectionError
=========  ============================

Get a client with :func:`get_client` (browser login) or
:func:`get_oqtant_client` (an access token you already have).
"""

from __future__ import annotations

import copy
import time
import uuid
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from packaging.version import InvalidVersion, Version
from pydantic import ValidationError as PydanticValidationError

from oqtant import __version__
from oqtant._progress import tqdm
from oqtant.client import jobfiles
from oqtant.client._display import format_table, format_time, short
from oqtant.client._matter_calls import MatterCalls
from oqtant.client._tracking import JobTally, format_counts, summary_lines
from oqtant.client._transport import Transport
from oqtant.client.login import ClientSettings, decode_token_claims
from oqtant.errors import (
    AuthenticationError,
    JobFileError,
    JobTimeout,
    ServerError,
    ValidationError,
    format_pydantic_error,
)
from oqtant.schemas.job import (
    ACTIVE_STATUSES,
    Input,
    JobStatus,
    JobType,
    OqtantJob,
    RawImages,
)
from oqtant.standard_jobs import barrier_manipulator_job, ultracold_matter_job

if TYPE_CHECKING:
    from oqtant.matter.quantum_matter import QuantumMatter

__all__ = ["OqtantClient"]


def _older(ours: str, theirs: str) -> bool:
    """Whether version ``ours`` is older than ``theirs`` (PEP 440; unreadable: not older)."""
    try:
        return Version(ours) < Version(theirs)
    except InvalidVersion:
        return False


class OqtantClient(Transport, MatterCalls):
    """A logged-in connection to an oqtant server.

    Holds the access token, builds jobs, submits them, follows them and reads
    their results. ``QuantumMatter`` and ``QuantumMatterFactory`` work through it.

    Args:
        settings: client settings (server URL, timeouts, retries); from ``OQTANT_*`` if None.
        token: access token (a JWT whose ``sub`` is the user's external id).
        debug: print every request and the server's answer (to standard error).
        transport: an ``httpx.BaseTransport`` (or a ready ``httpx.Client`` such as FastAPI's
            ``TestClient``) to talk to the server in-process instead of over the network.
    """

    def __init__(
        self,
        *,
        settings: ClientSettings | None = None,
        token: str,
        debug: bool = False,
        transport: httpx.BaseTransport | httpx.Client | None = None,
    ):
        self.settings = settings or ClientSettings()
        self.token = token
        self.debug = debug
        self.version = __version__
        self.verbosity = 1
        self.max_ind_var = self.settings.max_ind_var
        self.run_list_limit = self.settings.run_list_limit
        decode_token_claims(token)  # fail early on a malformed token
        timeout = httpx.Timeout(
            self.settings.read_timeout_s, connect=self.settings.connect_timeout_s
        )
        if isinstance(transport, httpx.Client):
            self._http = transport
            self._owns_http = False
        else:
            self._http = httpx.Client(transport=transport, timeout=timeout)
            self._owns_http = True
        self.base_url = f"{self.settings.base_url}/users/{self.external_user_id}"

    # ---- identity and plumbing

    @property
    def external_user_id(self) -> str:
        """The user's external id: the token's subject (read without checking the signature)."""
        sub = decode_token_claims(self.token).get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthenticationError("The access token has no subject ('sub'); log in again")
        return sub

    def close(self) -> None:
        """Close the HTTP connections (the client cannot be used afterwards)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> OqtantClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _print(self, message: str) -> None:
        if self.verbosity >= 1:
            print(message)

    # ---- building jobs

    def convert_matter_to_job(self, matter: QuantumMatter) -> OqtantJob:
        """A one-run OqtantJob holding the matter's input, note (and output, if it has one)."""
        if getattr(matter, "result", None):
            return matter.result
        run: dict[str, Any] = {"values": matter.input, "notes": getattr(matter, "note", None)}
        output = getattr(matter, "output", None)
        if output is not None:
            values = output.model_dump() if hasattr(output, "model_dump") else output
            run["output"] = {"values": values}
        try:
            return OqtantJob(name=matter.name, inputs=[Input(**run)])
        except PydanticValidationError as err:
            title = f"QuantumMatter '{matter.name}' is not a valid job"
            raise format_pydantic_error(err, title) from None

    def generate_oqtant_job(self, job: dict) -> OqtantJob:
        """Validate a job dictionary (wire format) into an OqtantJob; errors name field and rule."""
        if isinstance(job, OqtantJob):
            return job
        try:
            return OqtantJob(**job)
        except PydanticValidationError as err:
            raise format_pydantic_error(err, "Invalid job") from None
        except TypeError as err:
            raise ValidationError(
                f"Invalid job: expected a dictionary of job fields ({err})"
            ) from None

    def create_job(
        self,
        name: str,
        job_type: JobType,
        runs: int = 1,
        job: dict | None = None,
    ) -> OqtantJob:
        """An OqtantJob from ``job`` (a dictionary), or a standard job repeated ``runs`` times.

        Args:
            name: the job's name (1 to 50 characters).
            job_type: BEC or BARRIER for the standard jobs (with ``job``, taken from its inputs).
            runs: how many identical runs the standard job gets (1 to 30).
            job: a job dictionary to use instead of the standard job.
        """
        if job:
            data = copy.deepcopy(job)
            data["name"] = name
            return self.generate_oqtant_job(data)
        job_type = JobType(job_type)
        if job_type == JobType.BEC:
            template = ultracold_matter_job
        elif job_type == JobType.BARRIER:
            template = barrier_manipulator_job
        else:
            raise ValidationError(
                f"job_type: no standard job of type {job_type}; give the job as a dictionary "
                "(standard jobs exist for BEC and BARRIER)",
                [("job_type", "BEC or BARRIER without a job dictionary")],
            )
        if not isinstance(runs, int) or not 1 <= runs <= 30:
            raise ValidationError(
                f"runs: a job holds 1 to 30 runs (got {runs})", [("runs", "1 <= runs <= 30")]
            )
        data = copy.deepcopy(template)
        data["name"] = name
        data["inputs"] = [copy.deepcopy(data["inputs"][0]) for _ in range(runs)]
        return self.generate_oqtant_job(data)

    # ---- submitting and following jobs

    def submit_job(
        self, job: OqtantJob, write: bool = False, *, idempotency_key: str | None = None
    ) -> dict:
        """Submit one job; return ``{"job_id", "queue_position", "est_time"}``.

        One ``Idempotency-Key`` is used for all retries of this submit, so a
        retried request never creates a second job.

        Args:
            job: the job (an OqtantJob or its dictionary).
            write: also write the submitted job to a file.
            idempotency_key: reuse a key (e.g. when re-running a script that was interrupted).
        """
        if not isinstance(job, OqtantJob):
            job = self.generate_oqtant_job(job)
        body = {
            "name": job.name,
            "job_type": str(job.job_type),
            "input_count": len(job.inputs),
            "inputs": [
                inp.model_dump(mode="json", include={"values", "notes"}) for inp in job.inputs
            ],
        }
        key = idempotency_key or str(uuid.uuid4())
        response = self._request(
            "POST",
            f"{self.base_url}/jobs",
            json=body,
            what=f"submit job '{job.name}'",
            headers={"Idempotency-Key": key},
        )
        answer = response.json()
        if write:
            job.status = JobStatus.PENDING
            job.external_id = answer["job_id"]
            self.write_job_to_file(job)
        return answer

    def run_jobs(
        self, job_list: list[OqtantJob], track_status: bool = False, write: bool = False
    ) -> list[str]:
        """Submit several jobs; optionally wait for all of them (and write their results to files).

        Returns:
            The job ids, in the order of ``job_list``.
        """
        if len(job_list) > self.run_list_limit:
            raise ValidationError(
                f"job_list: at most {self.run_list_limit} jobs per call (got {len(job_list)})",
                [("job_list", f"at most {self.run_list_limit} jobs")],
            )
        self._print(f"Submitting {len(job_list)} job(s):")
        submitted: list[OqtantJob] = []
        for job in job_list:
            if not isinstance(job, OqtantJob):
                job = self.generate_oqtant_job(job)
            answer = self.submit_job(job, write=write)
            job.external_id = answer["job_id"]
            job.status = JobStatus.PENDING
            submitted.append(job)
            self._print(f"\n- Job: {job.name}\n  Job ID: {job.external_id}")
        if track_status:
            self.track_jobs(submitted, write=write)
        return [str(job.external_id) for job in submitted]

    def track_jobs(
        self,
        pending_jobs: list[OqtantJob],
        write: bool = False,
        *,
        timeout_s: float | None = None,
    ) -> None:
        """Poll the server until every job has finished, with a live progress bar of runs.

        The bar counts runs (a job of 5 runs is 5 steps) and shows how many are
        queued, running, complete and failed. Prints each change of a job's
        status, and at the end what happened: all complete, or per job that did
        not complete its status and the service's reason. With ``write`` each
        finished job's runs are written to files.

        Args:
            pending_jobs: the jobs to follow (they must have an ``external_id``).
            write: write each finished job to files (one per run).
            timeout_s: give up with JobTimeout after this many seconds (wait forever if None).
        """
        tallies = {
            str(job.external_id): JobTally(str(job.external_id), job.input_count or len(job.inputs))
            for job in pending_jobs
        }
        if not tallies:
            return
        self._print(f"\nTracking {len(tallies)} job(s):")
        started = time.monotonic()
        total = sum(t.runs for t in tallies.values())
        with tqdm(
            total=total, unit="run", desc="runs finished", disable=self.verbosity < 1, leave=True
        ) as bar:
            while True:
                self._poll(tallies, pending_jobs, bar, write)
                waiting = [job_id for job_id, t in tallies.items() if not t.done]
                if not waiting:
                    break
                if timeout_s is not None and time.monotonic() - started > timeout_s:
                    raise JobTimeout(
                        f"{len(waiting)} job(s) still unfinished after {timeout_s:.0f} s: "
                        + ", ".join(waiting)
                    )
                time.sleep(self.settings.poll_interval_s)
        for line in summary_lines(list(tallies.values())):
            self._print(("\n" if not line.startswith("-") else "") + line)

    def _poll(
        self, tallies: dict[str, JobTally], jobs: list[OqtantJob], bar: Any, write: bool
    ) -> None:
        """One round of fetching the unfinished jobs; the bar follows their runs."""
        by_id = {str(job.external_id): job for job in jobs}
        for job_id, tally in tallies.items():
            if tally.done:
                continue
            before = tally.job.status if tally.job is not None else None
            job = tally.refresh(lambda i, r: self.get_job(i, run=r))
            by_id[job_id].status = job.status
            by_id[job_id].failure_reason = job.failure_reason
            if job.status != before and self.verbosity >= 1:
                bar.write(f"- Job: {short(job.name)} ({job_id}): {job.status}")
            if tally.done and write:
                self._write_all_runs(job)
        counts: Counter = Counter()
        for tally in tallies.values():
            counts.update(tally.counts())
        finished = sum(counts[s] for s in ("complete", "failed", "cancelled"))
        bar.update(finished - bar.n)
        bar.set_postfix_str(format_counts(counts))

    def _write_all_runs(self, job: OqtantJob) -> None:
        count = job.input_count or 1
        self.write_job_to_file(job)
        for run in range(2, count + 1):
            self.write_job_to_file(self.get_job(str(job.external_id), run=run))

    def get_job(self, job_id: str, run: int = 1) -> OqtantJob:
        """Fetch a job with one of its runs (``run``, 1-based), whatever its status."""
        if not isinstance(run, int) or run < 1:
            raise ValidationError(
                f"run: must be a whole number >= 1 (got {run})", [("run", ">= 1")]
            )
        response = self._request(
            "GET",
            f"{self.base_url}/jobs/{job_id}",
            params={"run": run},
            what=f"get job {job_id}",
            job_id=str(job_id),
        )
        try:
            job = OqtantJob(**response.json())
        except PydanticValidationError as err:
            raise format_pydantic_error(err, f"The server sent an invalid job {job_id}") from None
        if len(job.inputs) == 1 and job.inputs[0].run != run:
            job.inputs[0].run = run
        job.active_run = 1
        return job

    def cancel_job(self, job_id: str) -> None:
        """Cancel a job: a pending one leaves the queue, a running one stops after this run."""
        self._request(
            "PUT",
            f"{self.base_url}/jobs/{job_id}/cancel",
            what=f"cancel job {job_id}",
            job_id=str(job_id),
        )

    def delete_job(self, job_id: str) -> None:
        """Delete a job and its results (a running job is cancelled first)."""
        self._request(
            "DELETE",
            f"{self.base_url}/jobs/{job_id}",
            what=f"delete job {job_id}",
            job_id=str(job_id),
        )

    # ---- searching

    def search_jobs(
        self,
        job_type: JobType | None = None,
        name: str | None = None,
        submit_start: str | None = None,
        submit_end: str | None = None,
        notes: str | None = None,
        limit: int = 100,
        show_results: bool = False,
        *,
        status: JobStatus | list[JobStatus] | None = None,
        offset: int = 0,
    ) -> list[dict]:
        """Your jobs matching every filter given, newest first.

        Args:
            job_type: only jobs of this type.
            name: only jobs whose name contains this (case-insensitive).
            submit_start, submit_end: ISO date-times bounding the submission time.
            notes: only jobs whose notes contain this.
            limit: at most this many jobs (1 to 100).
            show_results: print the jobs as a table.
            status: only jobs with this status (or any of these).
            offset: skip this many matches (for paging).

        Returns:
            One summary dictionary per job (external_id, name, job_type, status, times, ...).
        """
        if not 1 <= int(limit) <= 100:
            raise ValidationError(f"limit: must be 1 to 100 (got {limit})", [("limit", "1..100")])
        params = self._filters(job_type, name, submit_start, submit_end, notes, limit)
        if status is not None:
            statuses = [status] if isinstance(status, str | JobStatus) else list(status)
            params.extend(("status", str(s)) for s in statuses)
        if offset:
            params.append(("offset", int(offset)))
        response = self._request("GET", f"{self.base_url}/jobs", params=params, what="search jobs")
        items = response.json().get("items", [])
        if show_results and items:
            self._print(f"Search returned {len(items)} job(s):\n")
            self._print(
                format_table(
                    ["Name", "Job Type", "Status", "Submitted", "ID"],
                    [
                        [
                            short(j.get("name")),
                            j.get("job_type"),
                            j.get("status"),
                            format_time(j.get("time_submit")),
                            j.get("external_id"),
                        ]
                        for j in items
                    ],
                )
            )
        return items

    @staticmethod
    def _filters(job_type, name, submit_start, submit_end, notes, limit) -> list[tuple[str, Any]]:
        params: list[tuple[str, Any]] = [("limit", int(limit))]
        for key, value in (
            ("job_type", job_type),
            ("name", name),
            ("submit_start", submit_start),
            ("submit_end", submit_end),
            ("notes", notes),
        ):
            if value is not None:
                text = value.isoformat() if hasattr(value, "isoformat") else str(value)
                params.append((key, text))
        return params

    def get_queue_status(
        self,
        job_type: JobType | None = None,
        name: str | None = None,
        submit_start: str | None = None,
        submit_end: str | None = None,
        note: str | None = None,
        limit: int = 50,
        include_complete: bool = False,
        show_results: bool = False,
    ) -> list:
        """Your jobs in the queue, oldest first (with their queue positions).

        Args:
            include_complete: also list finished jobs.
            show_results: print the queue as a table.
            Other arguments filter as in :meth:`search_jobs`.
        """
        if not 1 <= int(limit) <= 100:
            raise ValidationError(f"limit: must be 1 to 100 (got {limit})", [("limit", "1..100")])
        params = self._filters(job_type, name, submit_start, submit_end, note, limit)
        params.append(("include_complete", "true" if include_complete else "false"))
        response = self._request(
            "GET", f"{self.base_url}/queue", params=params, what="get the queue status"
        )
        items = response.json().get("items", [])
        if show_results:
            active = sum(1 for j in items if j.get("status") in ACTIVE_STATUSES)
            finished = len(items) - active
            head = f"{active} job(s) queued or running"
            self._print(head + (f", {finished} finished" if finished else "") + ":\n")
            self._print(
                format_table(
                    ["Name", "Status", "Position", "Submitted", "ID"],
                    [
                        [
                            short(j.get("name")),
                            j.get("status"),
                            j.get("queue_position") if j.get("status") in ACTIVE_STATUSES else "",
                            format_time(j.get("time_submit")),
                            j.get("external_id"),
                        ]
                        for j in items
                    ],
                )
            )
        return items

    def show_queue_status(self, *args: Any, **kwargs: Any) -> None:
        """Print the queue as a table (arguments as :meth:`get_queue_status`)."""
        kwargs["show_results"] = True
        self.get_queue_status(*args, **kwargs)

    def get_job_limits(self, show_results: bool = False) -> dict:
        """Your limits: jobs per day (and how many remain), runs per job, pending jobs."""
        limits = self._request("GET", f"{self.base_url}/job_limits", what="get job limits").json()
        if show_results:
            columns = [
                ("Daily Limit", "daily_limit"),
                ("Daily Remaining", "daily_remaining"),
                ("Max Runs/Job", "max_runs_per_job"),
                ("Pending", "pending_jobs"),
                ("Max Pending", "max_pending_jobs"),
            ]
            self._print(
                "Job Limits:\n"
                + format_table([c for c, _ in columns], [[limits.get(k) for _, k in columns]])
            )
        return limits

    def show_job_limits(self) -> None:
        """Print your job limits as a table."""
        self.get_job_limits(show_results=True)

    def get_raw_images(self, job_id: str, run: int | None = None) -> list:
        """The raw absorption frames (atoms, background, dark) of a job, as wire dictionaries.

        Args:
            job_id: the job.
            run: only this run's frames (every run's if None); each frame names its ``run``.
        """
        response = self._request(
            "GET",
            f"{self.base_url}/jobs/{job_id}/raw_images",
            params={"run": run} if run is not None else None,
            what=f"get raw images of job {job_id}",
            job_id=str(job_id),
        )
        data = response.json()
        try:
            for item in data:
                RawImages.model_validate(item)
        except (PydanticValidationError, TypeError) as err:
            raise ServerError(
                f"The server sent invalid raw images for job {job_id}: {err}"
            ) from None
        return data

    # ---- files

    def write_job_to_file(
        self,
        job: OqtantJob,
        file_name: str | None = None,
        file_path: str | None = None,
    ) -> str:
        """Write a job (with its active run) to a file; return the path written.

        Args:
            job: the job to write.
            file_name: a custom base name (``_run_N_of_M`` is added for multi-run jobs).
            file_path: the full path to write (overrides ``file_name``).
        """
        if file_path:
            target = Path(file_path)
        elif file_name:
            count = job.input_count or len(job.inputs)
            stem = f"{file_name}_run_{job.run}_of_{count}" if count > 1 else file_name
            target = Path(stem if Path(stem).suffix else f"{stem}.txt")
        else:
            target = Path(jobfiles.default_job_file_name(job))
        jobfiles.write_job_file(job, target)
        self._print(f'Wrote file: "{target}"')
        return str(target)

    def load_job_from_file(self, file_path: str, refresh: bool = True) -> OqtantJob:
        """Read a job file; with ``refresh`` fetch the job's current state and rewrite the file."""
        job = jobfiles.read_job_file(file_path)
        if refresh:
            if job.external_id is None:
                raise JobFileError(
                    f"{file_path}: the job in this file was never submitted (no external_id), "
                    "so it cannot be refreshed; load it with refresh=False"
                )
            job = self.get_job(str(job.external_id), run=job.run)
            jobfiles.write_job_file(job, Path(file_path))
        return job

    # ---- version

    def check_version(self) -> bool:
        """Compare this client's version with the server's; warn and return False if older."""
        response = self._request(
            "GET", "/api/v1/version", what="get the server version", auth=False
        )
        info = response.json()
        server_version = str(info.get("version", "0"))
        if info.get("api", "v1") != "v1":
            warnings.warn(
                f"The server at {self.settings.url} speaks API {info.get('api')}, this client "
                "speaks v1; upgrade oqtant",
                stacklevel=2,
            )
            return False
        if _older(self.version, server_version):
            warnings.warn(
                f"Please upgrade oqtant to {server_version} (the server's version); "
                f"you are using {self.version}",
                stacklevel=2,
            )
            return False
        return True
