"""Bad input: malformed, oversized, absurd requests and job files are refused clearly.

Each bad request answers a 4xx with a readable ``detail`` (naming the field for
a rule broken), and nothing is stored. Job files that are corrupt, truncated or
not job files at all raise JobFileError and are left byte for byte as they were.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import warnings

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from oqtant.errors import JobFileError
from oqtant.errors import ValidationError as OqtantValidationError
from oqtant.client import jobfiles
from oqtant.jobfiles import MAX_JOB_FILE_BYTES, read_job_file, write_job_file
from oqtant.oqtant_client import OqtantClient
from oqtant.schemas.job import InputValues, OqtantJob
from oqtant.server.db.models import Job, Run, User
from oqtant.server.schemas import JobSubmit
from tests.conftest import ULTRACOLD_MATTER_JOB
from tests.server.conftest import job_dict

LIMIT_BYTES = 4 * 1024 * 1024
MIB = 1024 * 1024


def _with(path: str, value) -> dict:
    """The standard job with the dotted ``path`` (from inputs.0.values) set to ``value``."""
    job = job_dict()
    node = job["inputs"][0]["values"]
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(last) if last.isdigit() else last] = value
    return job


def _with_note(note: str) -> dict:
    job = job_dict()
    job["inputs"][0]["notes"] = note
    return job


def _raw(job: dict) -> bytes:
    return json.dumps(job, allow_nan=True).encode()  # NaN and Infinity as JavaScript writes them


JSON = "application/json"
# (name, body bytes or iterator, content type, expected status, words the answer must hold)
BAD_REQUESTS = [
    ("oversized", b'{"name": "' + b"x" * (LIMIT_BYTES + 10) + b'"}', JSON, 413, "limit"),
    ("deeply nested", b"[" * 50_000 + b"]" * 50_000, JSON, 400, "nested too deeply"),
    ("nested object", b'{"a":' * 20_000 + b"1" + b"}" * 20_000, JSON, 400, "nested"),
    ("not UTF-8", b'{"name": "\xff\xfe job", "inputs": []}', JSON, 400, "UTF-8"),
    ("not JSON", b"name=job&inputs=1", JSON, 422, "JSON decode error"),
    ("text/plain", json.dumps(job_dict()).encode(), "text/plain", 415, "application/json"),
    ("form", b"name=job", "application/x-www-form-urlencoded", 415, "application/json"),
    ("xml", b"<job/>", "application/xml", 415, "application/json"),
    ("no content type", json.dumps(job_dict()).encode(), "", 415, "application/json"),
    ("a list", b"[1, 2, 3]", JSON, 422, "(body)"),
    ("huge integer", b'{"name": ' + b"9" * 5000 + b"}", JSON, 400, "digits"),
    (
        "NaN",
        _raw(_with("rf_evaporation.frequencies_mhz.4", math.nan)),
        JSON,
        422,
        "rf_evaporation.frequencies_mhz.4",
    ),
    ("Infinity", _raw(_with("end_time_ms", math.inf)), JSON, 422, "finite"),
    ("-Infinity", _raw(_with("rf_evaporation.powers_mw.0", -math.inf)), JSON, 422, "powers_mw"),
    ("negative time", _raw(_with("end_time_ms", -5)), JSON, 422, "end_time_ms"),
    ("absurd time", _raw(_with("end_time_ms", 1e308)), JSON, 422, "end_time_ms"),
    (
        "negative frequency",
        _raw(_with("rf_evaporation.frequencies_mhz.0", -17)),
        JSON,
        422,
        "frequencies_mhz",
    ),
    (
        "huge list",
        _raw(_with("rf_evaporation.times_ms", list(range(-100_000, 0)))),
        JSON,
        422,
        "at most 20 items",
    ),
    (
        "too many runs",
        _raw({**job_dict(), "inputs": job_dict()["inputs"] * 2000}),
        JSON,
        422,
        "inputs",
    ),
    ("long name", _raw({**job_dict(), "name": "n" * 10_000}), JSON, 422, "name"),
    ("wrong type", _raw(_with("image_type", 42)), JSON, 422, "image_type"),
    # PostgreSQL cannot store NUL: refused as bad input, not a database error (503, retried)
    ("NUL in name", _raw({**job_dict(), "name": "a\x00b"}), JSON, 422, "name: must not contain"),
    ("NUL in notes", _raw(_with_note("run\x00one")), JSON, 422, "inputs.0.notes: must not"),
    ("sim as a number", _raw({**job_dict(), "sim": 1}), JSON, 422, "sim"),
    ("sim as a string", _raw({**job_dict(), "sim": "true"}), JSON, 422, "sim"),
]


@pytest.mark.parametrize(
    "body,content_type,code,words",
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_submit_is_refused_clearly_and_stores_nothing(
    client, app, alice, body, content_type, code, words
):
    headers = {**alice.headers, "content-type": content_type}
    r = client.post(f"{alice.base}/jobs", content=body, headers=headers)
    assert r.status_code == code, r.text[:300]
    assert words in r.json()["detail"] or words in json.dumps(r.json().get("errors"))
    with app.state.session_factory() as session:
        assert session.query(Job).count() == 0 and session.query(Run).count() == 0


def test_oversized_chunked_body_is_cut_off_with_413(client, app, alice):
    def chunks():
        yield b'{"name": "'
        for _ in range(LIMIT_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    headers = {**alice.headers, "content-type": JSON}
    r = client.post(f"{alice.base}/jobs", content=chunks(), headers=headers)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    with app.state.session_factory() as session:
        assert session.query(Job).count() == 0


@pytest.mark.parametrize(
    "limits",
    [
        {"daily_limit": -1},
        {"max_runs_per_job": 10**12},
        {"max_pending_jobs": "many"},
        {"daily_limit": math.inf},
        {"daily_limit": True},  # JSON Schema says integer: a boolean is not read as 1
        {"max_pending_jobs": "5"},
    ],
)
def test_absurd_limits_are_refused_and_nothing_changes(client, app, admin, alice, limits):
    r = client.put(
        "/api/v1/admin/users/alice/limits",
        content=json.dumps(limits, allow_nan=True),
        headers={**admin.headers, "content-type": JSON},
    )
    assert r.status_code == 422, r.text
    assert next(iter(limits)) in r.json()["detail"]
    with app.state.session_factory() as session:
        user = session.query(User).filter_by(name="alice").one()
        defaults = app.state.settings
        assert (user.daily_limit, user.max_runs_per_job, user.max_pending_jobs) == (
            defaults.default_daily_limit,
            defaults.default_max_runs_per_job,
            defaults.default_max_pending_jobs,
        )


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-3",
        "limit=1000000",
        "offset=-1",
        "offset=1e99",
        "status=EXPLODED",
        "submit_start=yesterday",
        "job_type=" + "x" * 5000,
        "name=" + "n" * 5000,
        f"offset={10**20}",  # was a 500 (SQLite) or 503 (PostgreSQL): the bound is 2**31 - 1
        f"offset={2**31}",
        "name=a%00b",
        "notes=%00",
        "submit_start=1700000000",  # a number is not an ISO date-time (pydantic read seconds)
        "submit_end=0.5",
    ],
)
def test_bad_search_parameters_are_422_naming_the_parameter(client, alice, query):
    r = client.get(f"{alice.base}/jobs?{query}", headers=alice.headers)
    assert r.status_code == 422, r.text
    assert query.split("=")[0] in json.dumps(r.json()["errors"])


def test_the_largest_offset_is_answered(client, alice):
    r = client.get(f"{alice.base}/jobs?offset={2**31 - 1}", headers=alice.headers)
    assert r.status_code == 200 and r.json()["items"] == []


@pytest.mark.parametrize("query", ["note=%00", "notes=a%00", "name=%00"])
def test_nul_in_a_queue_filter_is_422_naming_it(client, alice, query):
    r = client.get(f"{alice.base}/queue?{query}", headers=alice.headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == query.split("=")[0]
    assert "NUL" in r.json()["errors"][0]["rule"]


# --------------------------------------------------------------------------- schemas

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)


def _paths(node, prefix=()):
    """Every path to a value inside a JSON document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


JOB_PATHS = [p for p in _paths(ULTRACOLD_MATTER_JOB) if p]


def _validate_everywhere(data) -> None:
    """Each model either accepts ``data`` or raises a validation error, nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-order programs are sorted with a warning
        for model in (OqtantJob, JobSubmit):
            try:
                model.model_validate(data)
            except (PydanticValidationError, OqtantValidationError):
                pass
        values = data.get("inputs") if isinstance(data, dict) else None
        if isinstance(values, list) and values and isinstance(values[0], dict):
            try:
                InputValues.model_validate(values[0].get("values"))
            except (PydanticValidationError, OqtantValidationError):
                pass


@settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(data=json_values)
def test_schemas_survive_arbitrary_json(data):
    _validate_everywhere(data)
    _validate_everywhere({"name": "job", "inputs": [{"values": data}]})


@settings(
    max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(path=st.sampled_from(JOB_PATHS), value=json_values)
def test_schemas_survive_one_field_replaced_by_anything(path, value):
    job = copy.deepcopy(ULTRACOLD_MATTER_JOB)
    node = job
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _validate_everywhere(job)


# --------------------------------------------------------------------------- job files


def _digest(path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _bad_files(tmp_path) -> dict:
    good = write_job_file(OqtantJob.model_validate(ULTRACOLD_MATTER_JOB), tmp_path / "good.json")
    text = good.read_bytes()
    packed = gzip.compress(text)
    broken = json.loads(text)
    broken["inputs"][0]["values"]["end_time_ms"] = -11.0
    files = {
        "truncated": text[: len(text) // 2],
        "truncated gzip": packed[: len(packed) // 2],
        "corrupt bytes": bytes(range(256)) * 8,
        "corrupt gzip": packed[:10] + b"\x00" * 50 + packed[60:],
        "empty": b"",
        "utf-16": text.decode().encode("utf-16"),
        "a JSON list": b"[1, 2, 3]",
        "another program's JSON": b'{"name": "left-pad", "version": "1.3.0"}',
        "a PNG": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        "job breaking the rules": json.dumps(broken).encode(),
        # Python refuses to convert an integer of more than 4300 digits (a plain ValueError)
        "a 5000-digit integer": text[:-1] + b', "x": ' + b"9" * 5000 + b"}",
        # 260 kB that expand past the limit (gzip members of 1 MiB of spaces each)
        "gzip bomb": gzip.compress(b" " * MIB, mtime=0) * (MAX_JOB_FILE_BYTES // MIB + 1),
    }
    out = {}
    for name, content in files.items():
        path = tmp_path / (name.replace(" ", "_").replace("'", "") + ".json")
        path.write_bytes(content)
        out[name] = path
    return out


def test_bad_job_files_raise_job_file_error_and_stay_untouched(tmp_path):
    def no_network(request):
        raise AssertionError(f"no request expected, got {request.url}")

    token = jwt.encode({"sub": "someone", "exp": 4102444800}, "k" * 32, algorithm="HS256")
    client = OqtantClient(token=token, transport=httpx.MockTransport(no_network))
    for name, path in _bad_files(tmp_path).items():
        before = _digest(path)
        for load in (read_job_file, client.load_job_from_file):
            with pytest.raises(JobFileError) as info:
                load(path)
                pytest.fail(f"{name}: loaded without an error")
            assert path.name in str(info.value), (name, str(info.value))
        assert _digest(path) == before, f"{name}: the file was changed"
    assert len(list(tmp_path.iterdir())) == 13  # nothing written next to them


def test_job_file_errors_name_the_problem(tmp_path):
    files = _bad_files(tmp_path)
    for name, words in (("a 5000-digit integer", "digits"), ("gzip bomb", "256 MiB")):
        with pytest.raises(JobFileError, match=words):
            read_job_file(files[name])


def test_a_small_gzip_file_expanding_past_the_limit_is_refused(tmp_path, monkeypatch):
    """One gzip member expanding 1000-fold is cut off at the limit, not inflated whole."""
    monkeypatch.setattr(jobfiles, "MAX_JOB_FILE_BYTES", MIB)
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b'{"name": "' + b"x" * (8 * MIB) + b'"}', mtime=0))
    assert bomb.stat().st_size < 20_000
    with pytest.raises(JobFileError, match="expands to more than the limit of 1 MiB"):
        read_job_file(bomb)
    plain = tmp_path / "big.json"
    plain.write_bytes(b'{"name": "' + b"x" * (2 * MIB) + b'"}')
    with pytest.raises(JobFileError, match="holds more than the limit of 1 MiB"):
        read_job_file(plain)


def test_job_files_within_the_limit_still_load(tmp_path):
    job = OqtantJob.model_validate(ULTRACOLD_MATTER_JOB)
    packed = write_job_file(job, tmp_path / "job.json.gz")
    assert read_job_file(packed).name == job.name
    # several gzip members (as concatenated gzip streams are) read as one file
    two = tmp_path / "two.json.gz"
    text = job.model_dump_json().encode()
    two.write_bytes(gzip.compress(text[:100]) + gzip.compress(text[100:]))
    assert read_job_file(two).model_dump() == job.model_dump()
