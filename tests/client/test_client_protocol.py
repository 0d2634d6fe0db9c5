"""The client's side of the REST contract, against a scripted transport (no server).

Retries, idempotency keys, headers, error mapping and job building are checked
request by request with ``httpx.MockTransport``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings

import httpx
import pytest

from oqtant import errors
from oqtant.login import ClientSettings
from oqtant.oqtant_client import (
    OqtantClient,
    barrier_manipulator_job,
    ultracold_matter_job,
)
from oqtant.schemas.job import JobStatus, JobType, OqtantJob

USER_ID = "0b6c1f1e-6a55-4a51-9a43-1f0b7f3c2d11"


def make_token(sub: str = USER_ID, exp_s: float = 3600) -> str:
    """An unsigned-looking JWT: the client only reads its claims."""

    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    header = b64({"alg": "HS256", "typ": "JWT"})
    return f"{header}.{b64({'sub': sub, 'exp': time.time() + exp_s})}.c2ln"


def fast_settings(**kw) -> ClientSettings:
    base = dict(url="http://oqtant.test", backoff_s=0.0, max_backoff_s=0.0, poll_interval_s=0.01)
    base.update(kw)
    return ClientSettings(**base)


def make_client(handler, **settings) -> OqtantClient:
    client = OqtantClient(
        settings=fast_settings(**settings),
        token=make_token(),
        transport=httpx.MockTransport(handler),
    )
    client.verbosity = 0
    return client


def standard_job() -> OqtantJob:
    return OqtantJob(**ultracold_matter_job)


def test_external_user_id_is_the_token_subject():
    client = make_client(lambda r: httpx.Response(200))
    assert client.external_user_id == USER_ID
    assert client.base_url == f"http://oqtant.test/api/v1/users/{USER_ID}"


def test_malformed_token_is_an_authentication_error():
    with pytest.raises(errors.AuthenticationError, match="not a valid JWT"):
        OqtantClient(settings=fast_settings(), token="not-a-jwt")


def test_submit_sends_auth_version_and_one_idempotency_key_across_retries():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(seen) == 2:
            return httpx.Response(503, json={"detail": "database unavailable"})
        if len(seen) == 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(
            201, json={"job_id": str(uuid.uuid4()), "queue_position": 1, "est_time": 3}
        )

    client = make_client(handler)
    answer = client.submit_job(standard_job())
    assert answer["queue_position"] == 1
    assert len(seen) == 4
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(keys) == 1 and uuid.UUID(keys.pop())
    last = seen[-1]
    assert last.method == "POST"
    assert last.url.path == f"/api/v1/users/{USER_ID}/jobs"
    assert last.headers["Authorization"] == f"Bearer {client.token}"
    assert last.headers["X-Client-Version"] == client.version
    body = json.loads(last.content)
    assert body["name"] == ultracold_matter_job["name"]
    assert body["job_type"] == "BEC"
    assert body["input_count"] == 1
    assert body["inputs"][0]["values"]["rf_evaporation"]["frequencies_mhz"][-1] == 0.045


def test_two_submits_use_two_keys():
    keys = []

    def handler(request):
        keys.append(request.headers["Idempotency-Key"])
        answer = {"job_id": str(uuid.uuid4()), "queue_position": 1, "est_time": 1}
        return httpx.Response(201, json=answer)

    client = make_client(handler)
    client.submit_job(standard_job())
    client.submit_job(standard_job())
    assert len(set(keys)) == 2


def test_connection_error_after_retries_exhausted():
    calls = []

    def handler(request):
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    client = make_client(handler, max_retries=3)
    with pytest.raises(errors.ConnectionError, match="could not be reached"):
        client.get_job(str(uuid.uuid4()))
    assert len(calls) == 4


def test_cancel_is_not_resent_after_a_read_timeout():
    calls = []

    def handler(request):
        calls.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    client = make_client(handler)
    with pytest.raises(errors.ConnectionError):
        client.cancel_job(str(uuid.uuid4()))
    assert len(calls) == 1


def test_backoff_grows_exponentially_and_is_capped():
    client = make_client(lambda r: httpx.Response(200), backoff_s=0.1, max_backoff_s=0.5)
    delays = [[client._backoff(a) for _ in range(50)] for a in range(5)]
    assert 0.05 <= min(delays[0]) and max(delays[0]) <= 0.1
    assert 0.1 <= min(delays[1]) and max(delays[1]) <= 0.2
    assert max(delays[4]) <= 0.5 and min(delays[4]) >= 0.25


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (401, errors.AuthenticationError),
        (403, errors.AuthenticationError),
        (404, errors.JobNotFoundError),
        (422, errors.ValidationError),
        (429, errors.QuotaExceededError),
        (409, errors.ServerError),
        (500, errors.ServerError),
        (503, errors.ServerError),
    ],
)
def test_error_statuses_map_to_typed_errors(status, exc):
    body = {"detail": "daily_limit of 3 jobs reached", "errors": [
        {"field": "inputs.0.values.end_time_ms", "rule": "must be <= 200"}]}
    client = make_client(lambda r: httpx.Response(status, json=body), max_retries=1)
    with pytest.raises(exc) as info:
        client.get_job(str(uuid.uuid4()))
    if status == 422:
        assert ("inputs.0.values.end_time_ms", "must be <= 200") in info.value.errors
        assert "inputs.0.values.end_time_ms" in str(info.value)
    if status == 429:
        assert "daily_limit" in str(info.value)
    if status >= 500:
        assert info.value.status_code == status


def test_get_job_asks_for_the_run_and_parses_the_job():
    job_id = str(uuid.uuid4())

    def handler(request):
        assert request.url.params["run"] == "3"
        data = OqtantJob(**barrier_manipulator_job).model_dump(mode="json")
        data.update(external_id=job_id, status="RUNNING", input_count=5)
        data["inputs"][0]["run"] = 3
        return httpx.Response(200, json=data)

    job = make_client(handler).get_job(job_id, run=3)
    assert str(job.external_id) == job_id
    assert job.status == JobStatus.RUNNING
    assert job.run == 3 and job.input_count == 5
    assert job.job_type == JobType.BARRIER


def test_search_sends_only_given_filters_and_returns_items(capsys):
    def handler(request):
        params = request.url.params
        assert params["name"] == "sweep"
        assert params["job_type"] == "BARRIER"
        assert params["limit"] == "7"
        assert params.get_list("status") == ["PENDING", "RUNNING"]
        assert "notes" not in params and "submit_start" not in params
        return httpx.Response(200, json={"items": [
            {"external_id": "x1", "name": "a sweep", "job_type": "BARRIER", "status": "PENDING",
             "time_submit": "2026-01-02T03:04:05"}], "total": 1})

    client = make_client(handler)
    client.verbosity = 1
    items = client.search_jobs(job_type=JobType.BARRIER, name="sweep", limit=7,
                               show_results=True, status=[JobStatus.PENDING, JobStatus.RUNNING])
    assert [i["external_id"] for i in items] == ["x1"]
    out = capsys.readouterr().out
    assert "a sweep" in out and "02 Jan 2026" in out


def test_search_limit_out_of_range_is_refused_before_any_request():
    client = make_client(lambda r: pytest.fail("no request expected"))
    with pytest.raises(errors.ValidationError, match="limit"):
        client.search_jobs(limit=101)


def test_create_job_standard_and_custom():
    client = make_client(lambda r: httpx.Response(200))
    job = client.create_job("three BECs", JobType.BEC, runs=3)
    assert job.name == "three BECs" and len(job.inputs) == 3
    assert [i.run for i in job.inputs] == [1, 2, 3]
    assert job.inputs[2].values.rf_evaporation.frequencies_mhz[-1] == 0.045
    barrier = client.create_job("b", JobType.BARRIER)
    assert barrier.job_type == JobType.BARRIER
    heights = barrier.input.optical_barriers[0].heights_khz
    assert heights[:3] == [0.0, 5.0, 10.0]
    with pytest.raises(errors.ValidationError, match="job_type"):
        client.create_job("x", JobType.PAINT_1D)
    with pytest.raises(errors.ValidationError, match="runs"):
        client.create_job("x", JobType.BEC, runs=31)
    bad = json.loads(json.dumps(ultracold_matter_job))
    bad["inputs"][0]["values"]["end_time_ms"] = 250.0
    with pytest.raises(errors.ValidationError, match="end_time_ms"):
        client.create_job("bad", JobType.BEC, job=bad)
    # the module-level standard job was not changed by building from it
    assert ultracold_matter_job["name"] == "Example Ultracold Matter Generator Job"


def test_check_version_warns_when_the_server_is_newer():
    client = make_client(lambda r: httpx.Response(200, json={"version": "9.0.0", "api": "v1"}))
    with pytest.warns(UserWarning, match="upgrade"):
        assert client.check_version() is False
    same = make_client(lambda r: httpx.Response(200, json={"version": client.version, "api": "v1"}))
    assert same.check_version() is True


def test_version_request_carries_no_token():
    def handler(request):
        assert "Authorization" not in request.headers
        return httpx.Response(200, json={"version": "0.0.1", "api": "v1"})

    assert make_client(handler).check_version() is True


def test_track_jobs_follows_status_until_terminal():
    job_id = str(uuid.uuid4())
    statuses = iter(["PENDING", "RUNNING", "RUNNING", "COMPLETE"])

    def handler(request):
        data = OqtantJob(**ultracold_matter_job).model_dump(mode="json")
        data.update(external_id=job_id, status=next(statuses))
        return httpx.Response(200, json=data)

    client = make_client(handler)
    job = standard_job()
    job.external_id = job_id
    client.track_jobs([job])
    assert job.status == JobStatus.COMPLETE


def test_track_jobs_times_out():
    job_id = str(uuid.uuid4())

    def handler(request):
        data = OqtantJob(**ultracold_matter_job).model_dump(mode="json")
        data.update(external_id=job_id, status="PENDING")
        return httpx.Response(200, json=data)

    client = make_client(handler)
    job = standard_job()
    job.external_id = job_id
    with pytest.raises(errors.JobTimeout, match=job_id):
        client.track_jobs([job], timeout_s=0.05)


def test_run_jobs_refuses_too_many():
    client = make_client(lambda r: pytest.fail("no request expected"), run_list_limit=2)
    with pytest.raises(errors.ValidationError, match="at most 2"):
        client.run_jobs([standard_job()] * 3)


def test_debug_prints_each_request(capsys):
    client = make_client(lambda r: httpx.Response(200, json={"items": [], "total": 0}))
    client.debug = True
    client.search_jobs()
    err = capsys.readouterr().err
    assert f"GET http://oqtant.test/api/v1/users/{USER_ID}/jobs" in err and "-> 200" in err


def test_a_refused_token_leaves_the_cache(tmp_path):
    from oqtant.login import TokenCache

    settings = fast_settings(token_cache_file=tmp_path / "token.json")
    token = make_token()
    cache = TokenCache(settings.token_cache_path)
    cache.put(settings.url, token, expires_in_s=3600)
    cache.put("http://other", token, expires_in_s=3600)
    client = OqtantClient(settings=settings, token=token, transport=httpx.MockTransport(
        lambda r: httpx.Response(401, json={"detail": "token expired"})))
    with pytest.raises(errors.AuthenticationError, match="log in again"):
        client.get_job_limits()
    assert cache.get(settings.url) is None
    assert cache.get("http://other") == token


def test_the_client_does_not_import_the_server():
    import subprocess
    import sys

    code = (
        "import sys, oqtant.oqtant_client, oqtant.login\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('oqtant.server', 'fastapi', "
        "'sqlalchemy')))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "ours, server, older",
    [
        ("1.0rc1", "1.0", True),  # a release candidate comes before its release
        ("1.0", "1.0rc1", False),
        ("1.9", "1.10", True),  # numbers, not text
        ("1.10.0", "1.9.9", False),
        ("2.0.dev3", "2.0", True),
    ],
)
def test_check_version_orders_versions_as_pep_440_does(ours, server, older):
    client = make_client(lambda r: httpx.Response(200, json={"version": server, "api": "v1"}))
    client.version = ours
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert client.check_version() is (not older)
    assert bool(caught) is older
