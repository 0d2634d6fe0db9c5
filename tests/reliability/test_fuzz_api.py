"""Property-based fuzzing of the HTTP API from its own OpenAPI description (schemathesis).

Every operation is called with generated (valid and invalid) parameters and
bodies, authenticated with a real token of a real user whose ``{uid}`` fills the
path, and every answer goes through ALL of schemathesis's checks
(``case.call_and_validate``): no 5xx; every status, content type, header and body
as the description declares it; schema-valid input accepted and invalid input
refused; a 405's ``Allow`` complete; auth enforced where declared.

Two operations have rules the JSON Schema language cannot say, so a schema-valid
request may still be refused there, as the description states:

* submitting a job: the cross-field rules of a run (lists of the same length,
  times before ``end_time_ms``, ...) answer 422 naming the field;
* ``/oauth/token``: a well-formed grant with an unknown code or a wrong password
  answers RFC 6749's 400 ``invalid_grant``.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from oqtant.server import create_app
from oqtant.server.db.models import Job
from tests.server.conftest import add_account, make_settings

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 25

# The token comes from the configuration (not added to each call), so schemathesis knows what
# authenticates and leaves it alone when it makes a request invalid. Every check stays on;
# only what "schema-valid yet refused" may answer is widened where the rules go beyond JSON
# Schema (see the module docstring).
CONFIG = """
[auth.openapi.HTTPBearer]
bearer = "{token}"

[[operations]]
include-name = "POST /api/v1/users/{{uid}}/jobs"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "401", "403", "404", "409", "422", "429",
]

[[operations]]
include-name = "POST /oauth/token"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "429"]
"""


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("fuzz")), start_dispatcher=False)
    app.state.fuzz_account = add_account(app, "fuzzer", admin=True)
    yield app
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    config = SchemathesisConfig.from_str(CONFIG.format(token=fuzz_app.state.fuzz_account.token))
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=config)


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
        response = case.call_and_validate()  # every check
        if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
            assert "detail" in response.json(), (case.method, case.formatted_path)

    try:
        check()
    except Unsatisfiable:
        return False
    return True


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_passes_every_check(fuzz_app, api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10  # the whole API is described
    fuzzed = [
        op.path for op in operations if _check_operation(op, mode, fuzz_app.state.fuzz_account)
    ]
    # an operation without parameters or body has no invalid form; every other one is fuzzed
    assert len(fuzzed) >= len(operations) - 3, fuzzed


def test_fuzzing_stored_only_valid_jobs(fuzz_app, api_schema):
    """Whatever the fuzzer got accepted is a well-formed job (nothing half-stored)."""
    with fuzz_app.state.session_factory() as session:
        for job in session.query(Job).all():
            assert job.input_count == len(job.runs) >= 1
            assert "\x00" not in job.name + (job.notes or "")
