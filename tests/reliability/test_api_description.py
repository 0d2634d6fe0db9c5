"""The OpenAPI description tells the truth: every error a route answers is declared, with
the body and headers it really has (the fast checks; the fuzzer checks the rest)."""

from __future__ import annotations

import json

import jsonschema_rs  # schemathesis's validator
import pytest

from tests.server.conftest import job_dict

JSON = "application/json"
NO_JOB = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def spec(client) -> dict:
    return client.get("/openapi.json").json()


def _declared(spec: dict, path: str, method: str, code: int) -> dict:
    responses = spec["paths"][path][method.lower()]["responses"]
    assert str(code) in responses, f"{method} {path} does not declare {code}: {sorted(responses)}"
    return responses[str(code)]


def _assert_body_as_declared(spec: dict, path: str, method: str, response) -> None:
    declared = _declared(spec, path, method, response.status_code)
    schema = declared["content"][JSON]["schema"]
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": spec["components"]})
    validator.validate(response.json())


def test_every_operation_declares_its_errors(spec):
    user_routes = [p for p in spec["paths"] if p.startswith(("/api/v1/users", "/api/v1/admin"))]
    assert len(user_routes) >= 6
    for path in user_routes:
        for method, operation in spec["paths"][path].items():
            codes = set(operation["responses"])
            assert {"401", "422", "503"} <= codes, (method, path, codes)
            if method in ("post", "put"):
                assert {"400", "413", "415"} <= codes, (method, path, codes)
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # the framework's, unused


def test_error_answers_match_their_declared_schema(client, spec, alice):
    jobs = "/api/v1/users/{uid}/jobs"
    bad = job_dict()
    bad["inputs"][0]["values"]["end_time_ms"] = -5
    cases = [
        (jobs, "POST", client.post(f"{alice.base}/jobs", json=bad, headers=alice.headers)),
        (jobs, "POST", client.post(f"{alice.base}/jobs", json=job_dict())),  # 401
        (
            jobs,
            "POST",
            client.post(
                f"{alice.base}/jobs",
                content=b"[" * 50_000,
                headers={**alice.headers, "content-type": JSON},
            ),
        ),
        (
            jobs,
            "POST",
            client.post(
                f"{alice.base}/jobs",
                content=b"name=x",
                headers={**alice.headers, "content-type": "text/plain"},
            ),
        ),
        (jobs, "GET", client.get(f"{alice.base}/jobs?offset={10**20}", headers=alice.headers)),
        (
            jobs + "/{job_id}",
            "GET",
            client.get(f"{alice.base}/jobs/{NO_JOB}", headers=alice.headers),
        ),
    ]
    codes = []
    for path, method, response in cases:
        codes.append(response.status_code)
        _assert_body_as_declared(spec, path, method, response)
    assert codes == [422, 401, 400, 415, 422, 404]


def test_401_declares_its_www_authenticate_header(client, spec, alice):
    r = client.get(f"{alice.base}/jobs")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "WWW-Authenticate" in _declared(spec, "/api/v1/users/{uid}/jobs", "GET", 401)["headers"]


@pytest.mark.parametrize(
    "method,path,allowed",
    [
        ("PATCH", "/jobs", "GET, POST"),
        ("POST", f"/jobs/{NO_JOB}", "DELETE, GET"),
    ],
)
def test_405_allows_every_method_of_the_path(client, alice, method, path, allowed):
    r = client.request(method, alice.base + path, headers=alice.headers)
    assert r.status_code == 405
    assert r.headers["allow"] == allowed


def test_sim_is_a_strict_boolean(client, spec, alice):
    """``sim`` is declared boolean: numbers and strings are refused, not read as true."""
    submit = spec["paths"]["/api/v1/users/{uid}/jobs"]["post"]["requestBody"]["content"][JSON]
    ref = submit["schema"]["$ref"].rsplit("/", 1)[-1]
    assert spec["components"]["schemas"][ref]["properties"]["sim"]["type"] == "boolean"
    for value in (1, 0, "true", "yes"):
        job = {**job_dict(), "sim": value}
        r = client.post(f"{alice.base}/jobs", json=job, headers=alice.headers)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sim", value
    ok = client.post(f"{alice.base}/jobs", json={**job_dict(), "sim": True}, headers=alice.headers)
    assert ok.status_code == 201


def test_nul_is_declared_and_refused_in_names_and_notes(spec):
    """The description says what the server refuses: no NUL in names, notes and filters."""
    schemas = spec["components"]["schemas"]
    pattern = "^[^\\x00]*$"
    assert schemas["JobSubmit"]["properties"]["name"]["pattern"] == pattern
    notes = schemas["Input"]["properties"]["notes"]["anyOf"][0]
    assert notes["pattern"] == pattern
    search = {p["name"]: p for p in spec["paths"]["/api/v1/users/{uid}/jobs"]["get"]["parameters"]}
    assert search["name"]["schema"]["anyOf"][0]["pattern"] == pattern
    assert search["offset"]["schema"]["maximum"] == 2**31 - 1
    json.dumps(spec)  # the description itself is plain JSON
