"""Job files: written atomically, read back identically, and bad files named clearly."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oqtant.errors import JobFileError
from oqtant.jobfiles import default_job_file_name, read_job_file, write_job_file
from oqtant.schemas.job import JobStatus, OqtantJob


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.fixture
def bec_job(ultracold_matter_job_dict) -> OqtantJob:
    return OqtantJob.model_validate(ultracold_matter_job_dict)


def test_written_job_reads_back_identical(bec_job, barrier_manipulator_job_dict, tmp_path):
    barrier_job = OqtantJob.model_validate(barrier_manipulator_job_dict)
    for job in (bec_job, barrier_job):
        path = write_job_file(job, tmp_path / "job.txt")
        assert path == tmp_path / "job.txt"
        again = read_job_file(path)
        assert again == job
        assert again.model_dump_json() == job.model_dump_json()


def test_file_layout_is_the_jobs_json(bec_job, tmp_path):
    path = write_job_file(bec_job, tmp_path / "job.json")
    text = path.read_text(encoding="utf-8")
    assert text == bec_job.model_dump_json()
    data = json.loads(text)
    assert data["name"] == "Example Ultracold Matter Generator Job"
    assert data["job_type"] == "BEC"
    assert data["inputs"][0]["values"]["rf_evaporation"]["frequencies_mhz"][-1] == 0.045


def test_real_job_files_load_and_survive_a_round_trip(real_job_paths, tmp_path):
    assert len(real_job_paths) == 8
    for source in real_job_paths:
        before = _digest(source)
        job = read_job_file(source)
        assert _digest(source) == before  # read only
        original = json.loads(gzip.open(source).read())
        assert job.name == original["name"]
        assert job.inputs[0].output is not None
        for plain in (tmp_path / "copy.txt", tmp_path / "copy.json.gz"):
            again = read_job_file(write_job_file(job, plain))
            assert again == job
            assert again.inputs[0].output == job.inputs[0].output


def test_gzip_is_written_when_asked(bec_job, tmp_path):
    path = write_job_file(bec_job, tmp_path / "job.json.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(path.read_bytes())) == json.loads(bec_job.model_dump_json())


def test_writing_replaces_atomically_and_leaves_no_temporary_file(bec_job, tmp_path):
    path = tmp_path / "job.txt"
    path.write_text("an older version")
    bec_job.status = JobStatus.COMPLETE
    write_job_file(bec_job, path)
    assert read_job_file(path).status == JobStatus.COMPLETE
    assert [p.name for p in tmp_path.iterdir()] == ["job.txt"]


def test_file_permissions_are_the_usual_ones(bec_job, tmp_path):
    new = write_job_file(bec_job, tmp_path / "new.txt")
    assert new.stat().st_mode & 0o777 == 0o666 & ~_current_umask()
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_job_file(bec_job, kept)
    assert kept.stat().st_mode & 0o777 == 0o640


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_byte_order_mark_is_tolerated(bec_job, tmp_path):
    path = tmp_path / "job.txt"
    path.write_bytes(b"\xef\xbb\xbf" + bec_job.model_dump_json().encode())
    assert read_job_file(path) == bec_job


def test_writing_into_a_missing_folder_fails_clearly(bec_job, tmp_path):
    with pytest.raises(JobFileError, match="does not exist"):
        write_job_file(bec_job, tmp_path / "nowhere" / "job.txt")
    with pytest.raises(JobFileError, match="is a folder"):
        write_job_file(bec_job, tmp_path)
    with pytest.raises(JobFileError, match="OqtantJob"):
        write_job_file({"name": "not a job"}, tmp_path / "job.txt")


def _truncated_gzip(job: OqtantJob) -> bytes:
    return gzip.compress(job.model_dump_json().encode())[:-30]


BAD_FILES = [
    ("empty", lambda job: b"", "is empty"),
    ("blank", lambda job: b"  \n ", "is empty"),
    ("truncated json", lambda job: job.model_dump_json().encode()[:-40], "truncated"),
    ("corrupt json", lambda job: b'{"name": "x", "inputs": [}', "invalid JSON at line 1"),
    ("truncated gzip", _truncated_gzip, "truncated or corrupt"),
    ("binary", lambda job: bytes(range(256)) * 4, "not UTF-8"),
    ("a list", lambda job: b"[1, 2, 3]", "not an oqtant job file"),
    ("foreign object", lambda job: b'{"kind": "recipe", "eggs": 3}', "not an oqtant job file"),
    (
        "breaks a rule",
        lambda job: (
            job.model_dump_json().replace('"end_time_ms":0.0', '"end_time_ms":500.0').encode()
        ),
        "inputs.0.values.end_time_ms",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_files_raise_job_file_error_naming_file_and_problem(bec_job, tmp_path, make, message):
    path = tmp_path / "bad_job.txt"
    path.write_bytes(make(bec_job))
    before = _digest(path)
    with pytest.raises(JobFileError) as info:
        read_job_file(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert _digest(path) == before  # a failed read never touches the file


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(JobFileError, match="no such job file"):
        read_job_file(tmp_path / "missing.txt")
    with pytest.raises(JobFileError, match="is a folder"):
        read_job_file(tmp_path)


def test_default_file_names(bec_job):
    assert default_job_file_name(bec_job) == "Example_Ultracold_Matter_Generator_Job.txt"
    job_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    bec_job.external_id = job_id
    assert default_job_file_name(bec_job) == f"{job_id}.txt"
    bec_job.input_count = 3
    bec_job.inputs[0].run = 2
    assert default_job_file_name(bec_job) == f"{job_id}_run_2_of_3.txt"
    odd = bec_job.model_copy(update={"external_id": None, "name": "../../etc/passwd?"})
    assert default_job_file_name(odd) == "etc_passwd_run_2_of_3.txt"
    assert "/" not in default_job_file_name(odd.model_copy(update={"name": "///"}))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_job_files_give_only_job_file_errors(ultracold_matter_job_dict, tmp_path, data):
    text = OqtantJob.model_validate(ultracold_matter_job_dict).model_dump_json().encode()
    raw = bytearray(gzip.compress(text) if data.draw(st.booleans()) else text)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["cut", "flip", "insert"]))
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if action == "cut":
            raw = raw[:at]
        elif action == "flip" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=5))
    path = tmp_path / "damaged.txt"
    path.write_bytes(bytes(raw))
    try:
        job = read_job_file(path)
    except JobFileError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(job, OqtantJob)  # a harmless change (e.g. inside the name)


def test_deeply_nested_json_is_a_job_file_error_and_the_file_is_untouched(tmp_path):
    import hashlib

    from oqtant.errors import JobFileError
    from oqtant.jobfiles import read_job_file

    path = tmp_path / "nested.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(JobFileError, match="nested too deeply"):
        read_job_file(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
