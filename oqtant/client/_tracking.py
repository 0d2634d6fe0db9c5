"""Following jobs run by run: how many runs are queued, running, complete or failed.

A job's runs are fetched one at a time (``GET /jobs/{id}?run=N`` tells the run's
status), from the first run not yet finished; a finished job's runs are counted
from its ``failed_inputs`` without fetching them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from oqtant.schemas.job import TERMINAL_STATUSES, JobStatus, OqtantJob

__all__ = ["RUN_STATES", "JobTally", "format_counts", "run_state", "summary_lines"]

RUN_STATES = ("queued", "running", "complete", "failed", "cancelled")
"""The states a run is counted in, in the order they are shown."""

_STATE = {
    JobStatus.PENDING: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.COMPLETE: "complete",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
    JobStatus.INCOMPLETE: "failed",
}


def run_state(status: JobStatus | str | None) -> str:
    """The state a run with this status is counted in (unknown: queued)."""
    try:
        return _STATE[JobStatus(status)]
    except ValueError:
        return "queued"


@dataclass
class JobTally:
    """The runs of one job by state, and the job as last fetched."""

    job_id: str
    runs: int
    job: OqtantJob | None = None
    finished: dict[int, str] = field(default_factory=dict)  # run -> state, once terminal
    current: str = "queued"  # the state of the first unfinished run

    @property
    def done(self) -> bool:
        return self.job is not None and self.job.status in TERMINAL_STATUSES

    def counts(self) -> Counter:
        """How many of this job's runs are in each state."""
        counts = Counter(self.finished.values())
        unfinished = self.runs - len(self.finished)
        if unfinished > 0:
            counts[self.current] += 1
            counts["queued"] += unfinished - 1
        return counts

    def refresh(self, fetch: Callable[[str, int], OqtantJob]) -> OqtantJob:
        """Fetch the first unfinished run (and the ones after it that have finished); return
        the job as fetched last.

        Once every run is counted finished while the job is not (a service may finish a
        job after its last run), the last run is fetched again: the job's status is what
        is awaited then.
        """
        run = min(len(self.finished) + 1, max(self.runs, 1))
        while True:
            job = fetch(self.job_id, run)
            self.job = job
            self.runs = job.input_count or self.runs
            if job.status in TERMINAL_STATUSES:
                self._finish(job)
                return job
            status = job.inputs[0].status if job.inputs else None
            state = run_state(status)
            if state in ("queued", "running"):
                self.current = state
                return job
            self.finished[run] = state
            run += 1
            if run > self.runs:
                return job

    def _finish(self, job: OqtantJob) -> None:
        failed = set(job.failed_inputs)
        rest = "cancelled" if job.status == JobStatus.CANCELLED else "complete"
        for run in range(1, self.runs + 1):
            if run in failed:
                self.finished[run] = "failed"
            else:
                self.finished.setdefault(run, rest)


def format_counts(counts: Counter) -> str:
    """``"3 complete, 1 running, 1 queued"``: the states with runs in them, in order."""
    return ", ".join(f"{counts[s]} {s}" for s in RUN_STATES if counts.get(s))


def summary_lines(tallies: list[JobTally]) -> list[str]:
    """What happened, said per state: one headline, then a line per job that did not complete."""
    jobs = Counter(str(t.job.status) for t in tallies if t.job is not None)
    runs: Counter = Counter()
    for tally in tallies:
        runs.update(tally.counts())
    if set(jobs) == {str(JobStatus.COMPLETE)}:
        head = f"All {len(tallies)} job(s) complete ({format_counts(runs)} run(s))"
    else:
        states = ", ".join(f"{n} {s}" for s, n in sorted(jobs.items()))
        head = f"{len(tallies)} job(s) finished: {states} (runs: {format_counts(runs)})"
    lines = [head]
    for tally in tallies:
        job = tally.job
        if job is None or job.status == JobStatus.COMPLETE:
            continue
        reason = f": {job.failure_reason}" if job.failure_reason else ""
        lines.append(f"- Job {job.name} ({tally.job_id}): {job.status}{reason}")
    return lines
