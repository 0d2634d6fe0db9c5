"""Job files: a job, with its results, saved as JSON and loaded back unchanged.

The layout is the reference client's: the job's JSON (``OqtantJob.model_dump_json``)
in one text file, so files written by either client load in the other. Reading
also accepts gzip-compressed files (``.json.gz``), recognised by their content.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import tempfile
import zlib
from pathlib import Path

from pydantic import ValidationError as PydanticValidationError

from oqtant.errors import JobFileError, JobWriteError, format_pydantic_error
from oqtant.schemas.job import OqtantJob

__all__ = ["MAX_JOB_FILE_BYTES", "write_job_file", "read_job_file", "default_job_file_name"]

#: the most a job file may hold (decompressed, for gzip files): 256 MiB. The biggest real
#: job files are a few MB a run, so even 30 runs with their images stay far below it; a
#: file (or a small gzip file) that would expand past it is refused, not read into memory.
MAX_JOB_FILE_BYTES = 256 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _umask() -> int:
    """The process umask, read without changing it (Linux), else the common 0o022."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def default_job_file_name(job: OqtantJob) -> str:
    """The file name a job is saved under by default.

    ``<external_id>.txt`` as the reference client names it, or the job's name
    made safe for file systems (letters, digits, ``.``, ``_``, ``-``) when the job
    has no id yet. A job holding one run of a multi-run job gets the reference's
    ``_run_<run>_of_<count>`` suffix.
    """
    if job.external_id is not None:
        base = str(job.external_id)
    else:
        base = _UNSAFE.sub("_", job.name).strip("._-") or "job"
    count = job.input_count or len(job.inputs)
    if len(job.inputs) == 1 and count > 1:
        run = job.inputs[0].run or 1
        return f"{base}_run_{run}_of_{count}.txt"
    return f"{base}.txt"


def write_job_file(job: OqtantJob, file_path: str | os.PathLike) -> Path:
    """Write a job (inputs and outputs) as JSON; a path ending in ``.gz`` is gzip-compressed.

    The file is written to a temporary file in the same folder and renamed
    into place, so a crash never leaves a half-written job file.

    Returns:
        The path written.

    Raises:
        JobWriteError: the folder does not exist or cannot be written.
    """
    if not isinstance(job, OqtantJob):
        raise JobWriteError(f"job: expected an OqtantJob, got {type(job).__name__}")
    path = Path(file_path)
    if path.is_dir():
        raise JobWriteError(
            f"{path}: is a folder; give a file path (e.g. {path / default_job_file_name(job)})"
        )
    folder = path.parent
    if not folder.is_dir():
        raise JobWriteError(f"{path}: cannot write the job file, folder {folder} does not exist")
    payload = job.model_dump_json().encode("utf-8")
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    # a replaced file keeps its permissions; a new one gets the usual ones (not mkstemp's 0600)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise JobWriteError(f"{path}: cannot write the job file ({exc.strerror or exc})") from exc
    return path


def _too_big(path: Path, what: str) -> JobFileError:
    limit_mib = MAX_JOB_FILE_BYTES // (1024 * 1024)
    return JobFileError(f"{path}: not a job file ({what} more than the limit of {limit_mib} MiB)")


def _gunzip_capped(path: Path, packed: bytes) -> bytes:
    """Decompress gzip ``packed`` (possibly several members), refusing more than the limit."""
    out = bytearray()
    data = packed
    try:
        while data:
            inflater = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
            chunk = inflater.decompress(data, MAX_JOB_FILE_BYTES + 1 - len(out))
            out += chunk
            if len(out) > MAX_JOB_FILE_BYTES or inflater.unconsumed_tail:
                raise _too_big(path, "it expands to")
            if not inflater.eof:
                raise EOFError("the compressed data ends before its end marker")
            data = inflater.unused_data.lstrip(b"\x00")  # members may be padded with zeros
    except (EOFError, zlib.error) as exc:
        raise JobFileError(
            f"{path}: the compressed job file is truncated or corrupt ({exc})"
        ) from exc
    return bytes(out)


def _read_capped(path: Path) -> bytes:
    """The file's bytes (decompressed if gzip), at most :data:`MAX_JOB_FILE_BYTES`."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_JOB_FILE_BYTES + 1)
    except OSError as exc:
        raise JobFileError(f"{path}: cannot read the job file ({exc.strerror or exc})") from exc
    if len(raw) > MAX_JOB_FILE_BYTES:
        raise _too_big(path, "it holds")
    if raw[:2] == _GZIP_MAGIC:
        return _gunzip_capped(path, raw)
    return raw


def read_job_file(file_path: str | os.PathLike) -> OqtantJob:
    """Load a job file (JSON, or gzip-compressed JSON) written by oqtant or the reference client.

    The file is only read, never changed.

    Raises:
        JobFileError: the file is missing, unreadable, truncated or corrupt, larger than
            :data:`MAX_JOB_FILE_BYTES` (decompressed), or is not a job file; the message
            names the file and the problem.
    """
    path = Path(file_path)
    if not path.exists():
        raise JobFileError(f"{path}: no such job file")
    if path.is_dir():
        raise JobFileError(f"{path}: is a folder, not a job file")
    raw = _read_capped(path)
    if not raw.strip():
        raise JobFileError(f"{path}: the job file is empty")
    try:
        text = raw.decode("utf-8-sig")  # tolerate the byte-order mark some editors add
    except UnicodeDecodeError as exc:
        raise JobFileError(
            f"{path}: not a job file (not UTF-8 text: {exc.reason} at byte {exc.start})"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        # truncated: the parser stops at the end, or in an unfinished word or string there
        rest = text.rstrip()[exc.pos :]
        cut = len(rest) < 12 and not any(c in rest for c in "{}[],:")
        if cut or exc.msg.startswith("Unterminated string"):
            problem = f"the JSON ends too early ({where}); the file looks truncated"
        else:
            problem = f"invalid JSON at {where}: {exc.msg}"
        raise JobFileError(f"{path}: {problem}") from exc
    except RecursionError as exc:
        raise JobFileError(f"{path}: not a job file (JSON nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise JobFileError(
            f"{path}: not a job file (a value in the JSON is unreadable: {exc})"
        ) from exc
    if not isinstance(data, dict) or "inputs" not in data or "name" not in data:
        kind = (
            type(data).__name__
            if not isinstance(data, dict)
            else "an object without 'name' and 'inputs'"
        )
        raise JobFileError(f"{path}: not an oqtant job file (the JSON holds {kind})")
    try:
        return OqtantJob.model_validate(data)
    except PydanticValidationError as exc:
        error = format_pydantic_error(exc, title=f"{path}: the job in this file breaks the rules")
        raise JobFileError(str(error)) from exc
