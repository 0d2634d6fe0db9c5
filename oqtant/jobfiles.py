"""The job files' former import path (a re-export of :mod:`oqtant.client.jobfiles`)."""

from oqtant.client.jobfiles import (
    MAX_JOB_FILE_BYTES,
    default_job_file_name,
    read_job_file,
    write_job_file,
)
from oqtant.errors import (
    JobFileError,
    JobWriteError,
    format_pydantic_error,
)
from oqtant.schemas.job import (
    OqtantJob,
)

__all__ = [
    "write_job_file",
    "read_job_file",
    "default_job_file_name",
]
