"""Turn rows into the JSON the API answers (OqtantJob for one job, summaries for lists)."""

from __future__ import annotations

import json

from oqtant.server.db.crud import QueueInfo
from oqtant.server.db.models import Job, Run

__all__ = ["job_detail", "job_summary"]


def _iso(value):
    return value.isoformat() if value is not None else None


def job_summary(job: Job, info: QueueInfo | None = None) -> dict:
    """One line of a listing: ids, name, status, times, queue position and wait."""
    info = info or QueueInfo(0, 0)
    return {
        "external_id": job.external_id,
        "name": job.name,
        "job_type": job.job_type,
        "status": job.status,
        "time_submit": _iso(job.time_submit),
        "time_start": _iso(job.time_start),
        "time_complete": _iso(job.time_complete),
        "input_count": job.input_count,
        "notes": job.notes,
        "queue_position": info.queue_position,
        "est_time": info.est_time,
        "sim": job.sim,
    }


def job_detail(job: Job, run: Run, failed_inputs: list[int]) -> dict:
    """The job as OqtantJob JSON whose ``inputs`` holds only ``run`` (with its output if done)."""
    output = json.loads(run.output_json) if run.output_json else None
    if output is not None:
        output.setdefault("input_id", run.run)
    return {
        "name": job.name,
        "origin": "OQTAPI",
        "status": job.status,
        "display": True,
        "time_submit": _iso(job.time_submit),
        "time_start": _iso(job.time_start),
        "time_complete": _iso(job.time_complete),
        "qpu_name": "SIMULATOR" if job.sim else "UNDEFINED",
        "input_count": job.input_count,
        "job_type": job.job_type,
        "external_id": job.external_id,
        "failed_inputs": failed_inputs,
        "sim": job.sim,
        "failure_reason": job.failure_reason,
        "inputs": [
            {
                "job_id": job.id,
                "run": run.run,
                "values": json.loads(run.values_json),
                "output": output,
                "notes": run.notes,
                "status": run.status,
                "error": run.error,
            }
        ],
    }
