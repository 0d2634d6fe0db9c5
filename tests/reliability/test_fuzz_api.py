"""Property-based fuzzing of the HTTP API from its own OpenAPI description (schemathesis).

Every operation is called with generated (valid and invalid) parameters and
bodies, authenticated with a real token of a real user whose ``{uid}`` fills the
path: the server never answers 5xx, and every rejection is a 4xx with a JSON
``detail``.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from oqtant.server import create_app
from oqtant.server.db.models import Job
from tests.server.conftest import add_account, make_settings

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("fuzz")), start_dispatcher=False)
    app.state.fuzz_account = add_account(app, "fuzzer", admin=True)
    yield app
    app.state.engine.dispose()


def _check_operation(operation, mode: GenerationMode, account) -> bool:
    """Fuzz one operation; False when ``mode`` cannot produce a case (nothing to get wrong)."""
    fixed = {"uid": account.external_id} if "{uid}" in operation.path else None
    strategy = operation.as_strategy(mode, path_parameters=fixed)

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=strategy)
    def check(case):
        response = case.call(headers=account.headers)
        where = f"{case.method} {case.formatted_path} {mode.value}"
        assert response.status_code < 500, (where, response.text[:500])
        if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
            body = response.json()
            assert "detail" in body or "error" in body, (where, body)

    try:
        check()
    except Unsatisfiable:
        return False
    return True


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_5xx(fuzz_app, mode):
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the whole API is described
    fuzzed = [
        op.path for op in operations if _check_operation(op, mode, fuzz_app.state.fuzz_account)
    ]
    # an operation without parameters or body has no invalid form; every other one is fuzzed
    assert len(fuzzed) >= len(operations) - 3, fuzzed


def test_fuzzing_stored_only_valid_jobs(fuzz_app):
    """Whatever the fuzzer got accepted is a well-formed job (nothing half-stored)."""
    with fuzz_app.state.session_factory() as session:
        for job in session.query(Job).all():
            assert job.input_count == len(job.runs) >= 1
