"""Property-based fuzzing of the HTTP API from its own OpenAPI description (schemathesis).

schemathesis runs as its command line does (``st run --checks all``), in process
against the app: every phase (examples, coverage, fuzzing, stateful), valid and
invalid cases, authenticated with a real token of a real admin, and every check
on every answer: no 5xx; every status, content type, header and body as the
description declares it; schema-valid input accepted and invalid input refused;
a 405's ``Allow`` complete; authentication enforced where declared.

Two operations have rules the JSON Schema language cannot say, so a schema-valid
request may still be refused there, as the description states:

* submitting a job: the cross-field rules of a run (lists of the same length,
  times before ``end_time_ms``, ...) answer 422 naming the field;
* ``/oauth/token``: a well-formed grant with an unknown code or a wrong password
  answers RFC 6749's 400 ``invalid_grant``.

Bounded by the number of cases: 25 per operation and phase (about a minute on
an idle machine). schemathesis's ``max-time`` is not a bound but a duration: with
it, fuzzing goes on until the time is up.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, StopReason, events

from oqtant.server import create_app
from oqtant.server.db.models import Job, Run
from tests.server.conftest import add_account, make_settings

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 25

# The token comes from the configuration, so schemathesis knows what authenticates (and
# leaves it alone when it makes a request invalid). Every check stays on; only what
# "schema-valid yet refused" may answer is widened where the rules go beyond JSON Schema.
CONFIG = """
seed = 1

[generation]
mode = "all"
max-examples = {examples}
deterministic = true
database = "none"

[parameters]
"path.uid" = "{uid}"

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


def _describe(recorder, case_id: str, check) -> str:
    """One failure: the check, the request and what was answered."""
    text = str(check.failure_info.failure) if check.failure_info else check.name
    case = recorder.cases.get(case_id)
    interaction = recorder.interactions.get(case_id)
    if case is not None:
        c = case.value
        text += f"\n  {c.method} {c.formatted_path} query={c.query} body={str(c.body)[:300]}"
    if interaction is not None and interaction.response is not None:
        r = interaction.response
        text += f"\n  -> {r.status_code} {r.content[:300]!r}"
    return text


@pytest.fixture(scope="module")
def fuzz_run(fuzz_app):
    """Run schemathesis once; its failures, errors, the phases each operation ran in."""
    account = fuzz_app.state.fuzz_account
    config = SchemathesisConfig.from_str(
        CONFIG.format(
            examples=EXAMPLES_PER_OPERATION,
            uid=account.external_id,
            token=account.token,
        )
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=config)
    failures: list[str] = []
    errors: list[str] = []
    tested: dict[str, set[str]] = defaultdict(set)
    stop = None
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.status in (Status.SUCCESS, Status.FAILURE) and event.label:
                tested[event.label].add(str(event.phase))
            for case_id, checks in event.recorder.checks.items():
                failures += [
                    _describe(event.recorder, case_id, c)
                    for c in checks
                    if c.status == Status.FAILURE
                ]
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            errors.append(repr(getattr(event, "value", None) or event.exception))
        elif isinstance(event, events.EngineFinished):
            stop = event.stop_reason
            failures += [str(f) for f in event.failures]
    operations = [result.ok().label for result in schema.get_all_operations()]
    return {
        "failures": failures,
        "errors": errors,
        "tested": tested,
        "ops": operations,
        "stop": stop,
    }


def test_every_answer_passes_every_check(fuzz_run):
    assert fuzz_run["errors"] == []
    assert not fuzz_run["failures"], "\n\n".join(dict.fromkeys(fuzz_run["failures"]))
    assert fuzz_run["stop"] == StopReason.COMPLETED


def test_every_operation_was_fuzzed(fuzz_run):
    assert len(fuzz_run["ops"]) >= 12  # the whole API is described
    for label in fuzz_run["ops"]:
        assert {"coverage", "fuzzing"} <= fuzz_run["tested"][label], label


def test_fuzzing_stored_only_valid_jobs(fuzz_app, fuzz_run):
    """Whatever the fuzzer got accepted is a well-formed job (nothing half-stored)."""
    with fuzz_app.state.session_factory() as session:
        jobs = session.query(Job).all()
        for job in jobs:
            runs = session.query(Run).filter_by(job_id=job.id).count()
            assert job.input_count == runs >= 1, job.external_id
            assert "\x00" not in job.name + (job.notes or "")
