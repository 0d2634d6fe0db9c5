"""Where the runs of a study are made: the emulator in this process, the simulator, the service.

Each engine takes a list of :class:`Point` (one trial's parameters, its QuantumMatter
once per repeat) and fills in, for every repeat, the matter with its output or the
reason the run failed. The service engine keeps what it submitted in the trial's
user attributes *before* waiting (an idempotency key, then the job id and runs),
so that a study interrupted after a submit fetches that job when it resumes
instead of submitting it again.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oqtant.errors import JobTimeout, OqtantError, QuotaExceededError, ValidationError
from oqtant.matter.quantum_matter import QuantumMatter
from oqtant.schemas.job import Input, JobStatus, OqtantJob

__all__ = ["LocalEngine", "Point", "ServiceEngine", "SimulatorEngine", "run_seed"]

ATTR_KEY = "oqtant_idempotency_key"
ATTR_JOB = "oqtant_job_id"
ATTR_RUNS = "oqtant_job_runs"
ATTR_SEEDS = "oqtant_seeds"
_TERMINAL = {JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.INCOMPLETE, JobStatus.CANCELLED}


@dataclass
class Point:
    """One trial's runs: its matter once per repeat, then each run's outcome."""

    number: int
    trial_id: int
    params: dict[str, Any]
    matters: list[QuantumMatter]
    attrs: dict[str, Any] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)  # repeat -> why it failed

    def ok(self) -> list[QuantumMatter]:
        return [m for i, m in enumerate(self.matters) if i not in self.failures]


def run_seed(seed: int | None, trial_number: int, repeat: int) -> int:
    """The emulator seed of one run: fixed by the study's seed, the trial and the repeat."""
    entropy = [0 if seed is None else int(seed), trial_number, repeat]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


SetAttr = Callable[[Point, str, Any], None]


class LocalEngine:
    """Runs on a backend in this process (``run(input_values, seed) -> RunResult``)."""

    kind = "emulator"

    def __init__(self, backend: Any, seed: int | None):
        self.backend = backend
        self.seed = seed

    def run(self, points: list[Point], set_attr: SetAttr, done: Callable[[Point], None]) -> None:
        for point in points:
            seeds = [run_seed(self.seed, point.number, i) for i in range(len(point.matters))]
            set_attr(point, ATTR_SEEDS, seeds)
            for i, (matter, seed) in enumerate(zip(point.matters, seeds, strict=True)):
                try:
                    result = self.backend.run(matter.input, seed=seed)
                    matter.output = QuantumMatter.output_values_to_oqtant_output(
                        result.output.values
                    )
                except Exception as err:  # noqa: BLE001 - a failed run is recorded, not fatal
                    point.failures[i] = f"the run failed: {type(err).__name__}: {err}"
            done(point)


class SimulatorEngine:
    """Runs each matter on the local Gross-Pitaevskii simulator (``submit(sim=True)``)."""

    kind = "simulator"

    def run(self, points: list[Point], set_attr: SetAttr, done: Callable[[Point], None]) -> None:
        from oqtant.simulator import Simulator

        for point in points:
            for i, matter in enumerate(point.matters):
                try:
                    matter.sim = Simulator(matter.input)
                    matter.sim.run(progress=False)
                    matter.is_sim = True
                    matter.get_sim_result()
                except Exception as err:  # noqa: BLE001
                    point.failures[i] = f"the simulation failed: {type(err).__name__}: {err}"
            done(point)


class ServiceEngine:
    """Runs on the service: each batch as few jobs of several runs as the per-job limit allows.

    Args:
        client: a logged-in OqtantClient.
        study_name: names the jobs and the idempotency keys.
        quota_timeout_s: how long to wait for room in the queue (429) before giving up.
        job_timeout_s: how long to wait for a submitted job to finish (None: forever).
    """

    kind = "service"

    def __init__(self, client: Any, study_name: str, *, quota_timeout_s: float = 3600.0,
                 job_timeout_s: float | None = None, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.study_name = study_name
        self.quota_timeout_s = quota_timeout_s
        self.job_timeout_s = job_timeout_s
        self.sleep = sleep
        limits = client.get_job_limits()
        self.max_runs_per_job = int(limits.get("max_runs_per_job") or 30)

    def check_repeats(self, repeats: int) -> None:
        if repeats > self.max_runs_per_job:
            raise ValidationError(
                f"repeats: {repeats} repeats do not fit in one job (your limit is "
                f"{self.max_runs_per_job} runs per job)",
                [("repeats", f"at most {self.max_runs_per_job}")],
            )

    def run(self, points: list[Point], set_attr: SetAttr, done: Callable[[Point], None]) -> None:
        jobs = [(self._submit(group, set_attr), group) for group in self._groups(points)]
        for job_id, group in jobs:
            self._wait(job_id)
            for point in group:
                self._fetch(job_id, point)
                done(point)

    # ---- submitting

    def _groups(self, points: list[Point]) -> list[list[Point]]:
        """Points as jobs: those already submitted (or keyed) as they were, new ones chunked."""
        by_job: dict[str, list[Point]] = {}
        by_key: dict[str, list[Point]] = {}
        fresh: list[Point] = []
        for point in sorted(points, key=lambda p: p.number):
            if point.attrs.get(ATTR_JOB):
                by_job.setdefault(str(point.attrs[ATTR_JOB]), []).append(point)
            elif point.attrs.get(ATTR_KEY):
                by_key.setdefault(str(point.attrs[ATTR_KEY]), []).append(point)
            else:
                fresh.append(point)
        per_job = max(1, self.max_runs_per_job // max(1, len(points[0].matters))) if points else 1
        chunks = [fresh[i:i + per_job] for i in range(0, len(fresh), per_job)]
        return [*by_job.values(), *by_key.values(), *chunks]

    def _submit(self, group: list[Point], set_attr: SetAttr) -> str:
        known = {p.attrs.get(ATTR_JOB) for p in group} - {None}
        if len(known) == 1 and all(p.attrs.get(ATTR_JOB) for p in group):
            return str(known.pop())  # submitted before an interruption: fetch, never resubmit
        key = next((p.attrs[ATTR_KEY] for p in group if p.attrs.get(ATTR_KEY)), None)
        if key is None or any(p.attrs.get(ATTR_KEY) != key for p in group):
            key = f"oqtant-optimize-{uuid.uuid4()}"  # a header value: short and ASCII
        inputs: list[Input] = []
        runs: dict[int, list[int]] = {}
        for point in group:
            runs[point.number] = []
            for matter in point.matters:
                inputs.append(Input(values=matter.input, notes=f"trial {point.number}"))
                runs[point.number].append(len(inputs))
        for point in group:  # kept before sending: a retried submit with this key is the same job
            set_attr(point, ATTR_KEY, key)
        job = OqtantJob(name=_job_name(self.study_name, group), inputs=inputs)
        answer = self._submit_with_quota(job, key)
        job_id = str(answer["job_id"])
        for point in group:
            set_attr(point, ATTR_JOB, job_id)
            set_attr(point, ATTR_RUNS, runs[point.number])
        return job_id

    def _submit_with_quota(self, job: OqtantJob, key: str) -> dict:
        started = time.monotonic()
        wait = max(0.05, float(self.client.settings.poll_interval_s))
        while True:
            try:
                return self.client.submit_job(job, idempotency_key=key)
            except QuotaExceededError as err:
                if self._out_for_today():
                    raise QuotaExceededError(
                        f"{err} (no jobs left today; the study is kept: run optimize() again "
                        "with the same storage when your daily limit is renewed)",
                        status_code=getattr(err, "status_code", 429),
                    ) from err
                waited = time.monotonic() - started
                if waited + wait > self.quota_timeout_s:
                    raise QuotaExceededError(
                        f"{err} (waited {waited:.0f} s for room in the queue; the study is "
                        "kept: run optimize() again with the same storage to go on)",
                        status_code=getattr(err, "status_code", 429),
                    ) from err
                self.sleep(wait * (0.75 + random.random() / 2))
                wait = min(2 * wait, 60.0)

    def _out_for_today(self) -> bool:
        """Whether the daily limit is what refused the job (waiting would not help)."""
        try:
            remaining = self.client.get_job_limits().get("daily_remaining")
        except OqtantError:
            return False
        return remaining is not None and int(remaining) <= 0

    # ---- waiting and fetching

    def _wait(self, job_id: str) -> None:
        started = time.monotonic()
        while True:
            job = self.client.get_job(job_id)
            if job.status in _TERMINAL:
                return
            if self.job_timeout_s is not None and time.monotonic() - started > self.job_timeout_s:
                raise JobTimeout(
                    f"job {job_id} still {job.status} after {self.job_timeout_s:.0f} s; the "
                    "study is kept: run optimize() again with the same storage to fetch it"
                )
            self.sleep(float(self.client.settings.poll_interval_s))

    def _fetch(self, job_id: str, point: Point) -> None:
        runs = point.attrs.get(ATTR_RUNS) or []
        for i, matter in enumerate(point.matters):
            if i >= len(runs):
                point.failures[i] = f"job {job_id} holds no run for this repeat"
                continue
            try:
                job = self.client.get_job(job_id, run=int(runs[i]))
            except OqtantError as err:
                point.failures[i] = f"run {runs[i]} of job {job_id} could not be fetched: {err}"
                continue
            output = job.inputs[0].output
            matter.client, matter.job_id, matter.run, matter.result = (
                self.client, job_id, int(runs[i]), job)
            if output is None:
                point.failures[i] = f"run {runs[i]} of job {job_id} failed ({job.status})"
                continue
            matter.output = QuantumMatter.output_values_to_oqtant_output(output.values)


def _job_name(study_name: str, group: list[Point]) -> str:
    first, last = group[0].number, group[-1].number
    trials = f"trial {first}" if first == last else f"trials {first}-{last}"
    return f"{study_name[: 50 - len(trials) - 3]}: {trials}"
