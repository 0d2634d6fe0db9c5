"""Every client method against a real ``oqtant serve`` process over HTTP.

The server runs as a subprocess on a free loopback port. With
``$OQTANT_TEST_DATABASE_URL`` set (e.g. a PostgreSQL URL) each server gets a
fresh database on that database server; otherwise a SQLite file in a temporary
folder. User names are unique per run as well. Runs execute on the fast test backend,
except in the one test that uses the default emulated apparatus.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from oqtant import errors
from oqtant.demo import EmbeddedServer
from oqtant.login import ClientSettings, TokenCache, password_login
from oqtant.oqtant_client import (
    OqtantClient,
    barrier_manipulator_job,
    get_client,
    get_oqtant_client,
    ultracold_matter_job,
)
from oqtant.schemas.job import JobStatus, JobType, OqtantJob

from ..client.helpers import FormBrowser

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]
FAST_BACKEND = "tests.server.fast_backend:FastBackend"
# fast like FAST_BACKEND, but a run whose last RF frequency is FAULT_SLOW_MHZ takes 2 s
SERVER_BACKEND = "tests.reliability.backends:FaultyBackend"
PASSWORD = "e2e-password-" + "x" * 8


@contextlib.contextmanager
def private_database():
    """A database of our own: None (a SQLite file) or a fresh database on the test server.

    Every server on one database shares its queue, so each server of these tests
    gets its own database on ``$OQTANT_TEST_DATABASE_URL`` (dropped afterwards).
    """
    base = os.environ.get("OQTANT_TEST_DATABASE_URL")
    if not base or base.startswith("sqlite"):
        yield None
        return
    import sqlalchemy as sa

    url = sa.engine.make_url(base)
    name = f"oqtant_e2e_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e_server")
    with private_database() as database_url:
        srv = EmbeddedServer(
            folder, database_url=database_url, workers=2, backend=SERVER_BACKEND,
            extra_env={"PYTHONPATH": str(REPO), "OQTANT_POLL_SECONDS": "0.05",
                       "OQTANT_TEST_RUN_SECONDS": "2",
                       "OQTANT_SECRET_KEY": "e2e-secret-key-of-at-least-32-bytes!"},
        )
        with srv:
            yield srv


def new_user(server: EmbeddedServer, *limits: str) -> str:
    name = f"user-{uuid.uuid4().hex[:10]}"
    server.cli("user", "add", name, "--password-stdin", input=PASSWORD + "\n")
    if limits:
        server.cli("user", "limits", name, *limits)
    return name


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    """The client's environment: the server's URL, a private token cache, a fresh folder."""
    monkeypatch.setenv("OQTANT_URL", server.url)
    monkeypatch.setenv("OQTANT_TOKEN_CACHE_FILE", str(tmp_path / "token.json"))
    monkeypatch.setenv("OQTANT_POLL_INTERVAL_S", "0.1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def login(server: EmbeddedServer, name: str) -> str:
    return password_login(name, PASSWORD, settings=ClientSettings(url=server.url))


def test_every_client_method(server, env, capsys):
    name = new_user(server)
    client = get_oqtant_client(login(server, name))  # checks the version, prints nothing
    assert "Daily Limit" not in capsys.readouterr().out
    client.verbosity = 0
    assert uuid.UUID(client.external_user_id)
    assert client.check_version() is True

    # create_job / generate_oqtant_job
    bec = client.create_job("e2e bec", JobType.BEC, runs=2)
    assert len(bec.inputs) == 2 and bec.job_type == JobType.BEC
    barrier = client.generate_oqtant_job(barrier_manipulator_job)
    assert barrier.job_type == JobType.BARRIER
    barrier.name = "e2e barrier"
    with pytest.raises(errors.ValidationError, match="time_of_flight_ms"):
        bad = json.loads(json.dumps(ultracold_matter_job))
        bad["inputs"][0]["values"]["time_of_flight_ms"] = 50.0
        client.generate_oqtant_job(bad)

    # submit_job (write) / run_jobs (track, write) / track_jobs
    answer = client.submit_job(bec, write=True)
    bec_id = str(answer["job_id"])
    assert answer["queue_position"] >= 1 and answer["est_time"] >= 0
    assert OqtantJob.model_validate_json((env / f"{bec_id}.txt").read_text()).status == "PENDING"
    [barrier_id] = client.run_jobs([barrier], track_status=True, write=True)
    assert barrier.status == JobStatus.COMPLETE
    assert (env / f"{barrier_id}.txt").exists()
    pending = client.get_job(bec_id)
    client.track_jobs([pending])
    assert pending.status == JobStatus.COMPLETE

    # get_job with runs / raw images
    run2 = client.get_job(bec_id, run=2)
    assert run2.run == 2 and run2.input_count == 2
    assert run2.inputs[0].output.values.tof_atom_number > 0
    frames = client.get_raw_images(bec_id)
    assert {f["run"] for f in frames} == {1, 2}
    assert all(f["absolute"]["rows"] > 0 for f in frames)

    # search_jobs / get_queue_status / show_queue_status / limits
    found = client.search_jobs(name="E2E", show_results=False)
    assert {j["external_id"] for j in found} == {bec_id, barrier_id}
    assert [j["external_id"] for j in client.search_jobs(job_type=JobType.BARRIER)] == [barrier_id]
    assert client.get_queue_status() == []  # both finished
    assert len(client.get_queue_status(include_complete=True)) == 2
    client.verbosity = 1
    client.show_queue_status(include_complete=True)
    client.show_job_limits()
    client.search_jobs(show_results=True)
    out = capsys.readouterr().out
    assert "e2e bec" in out and "Daily Limit" in out
    client.verbosity = 0
    limits = client.get_job_limits()
    assert limits["daily_remaining"] == limits["daily_limit"] - 2

    # write_job_to_file / load_job_from_file (with and without refresh)
    path = client.write_job_to_file(run2, file_name="bec_copy")
    assert Path(path).name == "bec_copy_run_2_of_2.txt"
    loaded = client.load_job_from_file(path, refresh=False)
    assert loaded.run == 2 and str(loaded.external_id) == bec_id
    refreshed = client.load_job_from_file(path)
    assert refreshed.status == JobStatus.COMPLETE and refreshed.run == 2

    # cancel_job / delete_job on a job of 30 slow runs (2 s each): cancelled long before its end
    from tests.reliability.backends import FAULT_SLOW_MHZ

    slow = client.create_job("e2e to cancel", JobType.BEC, runs=30)
    for run_input in slow.inputs:
        run_input.values.rf_evaporation.frequencies_mhz[-1] = FAULT_SLOW_MHZ
    [slow_id] = client.run_jobs([slow])
    client.cancel_job(slow_id)
    client.track_jobs([client.get_job(slow_id)], timeout_s=60)
    assert client.get_job(slow_id).status == JobStatus.CANCELLED
    client.delete_job(slow_id)
    with pytest.raises(errors.JobNotFoundError):
        client.get_job(slow_id)


def test_quantum_matter_through_the_client(server, env):
    from oqtant.schemas.quantum_matter import QuantumMatterFactory

    client = OqtantClient(token=login(server, new_user(server)))
    client.verbosity = 0
    qmf = QuantumMatterFactory(client=client)
    matter = qmf.create_quantum_matter(name="e2e matter", temperature=80)
    job = client.convert_matter_to_job(matter)
    assert isinstance(job, OqtantJob) and job.job_type == JobType.BEC
    job_id = client.submit(matter, track=True)
    assert matter.job_id == job_id
    matter.get_result()
    assert matter.output is not None and matter.result.status == JobStatus.COMPLETE

    sweep = [qmf.create_quantum_matter(name=f"e2e sweep {t}", temperature=t) for t in (50, 150)]
    first = client.submit_list_as_batch(sweep, track=True, name="e2e batch")
    batch = client.get_job(first.job_id, run=2)
    assert batch.name == "e2e batch" and batch.input_count == 2
    freqs = [client.get_job(first.job_id, run=r).input.rf_evaporation.frequencies_mhz[-1]
             for r in (1, 2)]
    assert freqs[0] < freqs[1]  # the hotter target keeps the knife higher
    with pytest.raises(errors.ValidationError, match="sim"):
        client.submit_list_as_batch(sweep, sim=True)
    mixed = [sweep[0], qmf.create_quantum_matter(name="in trap", temperature=50, image="IN_TRAP")]
    with pytest.raises(errors.ValidationError, match="same job type"):
        client.submit_list_as_batch(mixed)


def test_simulation_runs_locally(server, env):
    from oqtant.schemas.quantum_matter import QuantumMatterFactory

    client = OqtantClient(token=login(server, new_user(server)))
    client.verbosity = 0
    matter = QuantumMatterFactory(client=client).create_quantum_matter(
        name="e2e sim", temperature=50
    )
    before = client.get_job_limits()["daily_remaining"]
    sim = client.submit_sim(matter)
    assert client.get_sim_result(sim, "TIME_OF_FLIGHT") is sim
    assert sim.output is not None
    assert client.submit(matter, sim=True) is None  # the simulator path queues nothing
    assert client.get_job_limits()["daily_remaining"] == before
    assert client.search_jobs() == []


def test_owner_scoping(server, env):
    ada = OqtantClient(token=login(server, new_user(server)))
    bob = OqtantClient(token=login(server, new_user(server)))
    ada.verbosity = bob.verbosity = 0
    [job_id] = ada.run_jobs([ada.create_job("ada's private job", JobType.BEC)])
    for action in (bob.get_job, bob.cancel_job, bob.delete_job, bob.get_raw_images):
        with pytest.raises(errors.JobNotFoundError):
            action(job_id)
    assert bob.search_jobs() == [] and bob.get_queue_status(include_complete=True) == []
    bob.base_url = ada.base_url  # bob's token on ada's path
    with pytest.raises(errors.JobNotFoundError):
        bob.get_job(job_id)
    assert str(ada.get_job(job_id).external_id) == job_id


def test_quota_and_auth_errors(server, env):
    name = new_user(server, "--max-runs-per-job", "2", "--daily-limit", "1")
    client = OqtantClient(token=login(server, name))
    client.verbosity = 0
    with pytest.raises(errors.QuotaExceededError):
        client.submit_job(client.create_job("too many runs", JobType.BEC, runs=3))
    client.submit_job(client.create_job("the only one today", JobType.BEC))
    with pytest.raises(errors.QuotaExceededError):
        client.submit_job(client.create_job("over the daily limit", JobType.BEC))
    with pytest.raises(errors.AuthenticationError):
        password_login(name, "not the password", settings=ClientSettings(url=server.url))
    forged = OqtantClient(token=client.token[:-6] + "AAAAAA")
    with pytest.raises(errors.AuthenticationError):
        forged.get_job_limits()


def test_unreachable_server_is_a_connection_error(env):
    settings = ClientSettings(url="http://127.0.0.1:9", max_retries=2, backoff_s=0.01)
    client = OqtantClient(settings=settings, token=_dummy_token())
    with pytest.raises(errors.ConnectionError, match="could not be reached"):
        client.search_jobs()


def _dummy_token() -> str:
    import base64

    payload = base64.urlsafe_b64encode(json.dumps({"sub": str(uuid.uuid4())}).encode())
    return "eyJhbGciOiJIUzI1NiJ9." + payload.decode().rstrip("=") + ".c2ln"


def test_browser_login_over_http(server, env):
    name = new_user(server)
    with httpx.Client(timeout=10) as browser_http:
        browser = FormBrowser(browser_http, name, PASSWORD)
        client = get_client(port=0, open_browser=browser, timeout_s=20)
    client.verbosity = 0
    assert browser.redirect.startswith("http://localhost:")
    assert client.get_job_limits()["pending_jobs"] == 0
    cache = TokenCache(env / "token.json")
    assert cache.get(server.url) == client.token
    assert oct((env / "token.json").stat().st_mode & 0o777) == "0o600"
    # the next session needs no browser
    again = get_client(port=0, open_browser=lambda url: pytest.fail("no login expected"))
    assert again.token == client.token


def test_quickstart_example_runs_unchanged(server, env):
    name = new_user(server)
    TokenCache(env / "token.json").put(server.url, login(server, name), expires_in_s=3600)
    run_env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "quickstart.py")],
        cwd=env, env=run_env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for png in ("quickstart_tof.png", "quickstart_slice.png", "quickstart_in_trap.png"):
        assert (env / png).stat().st_size > 1000
    assert "run 3: asked 200 nK" in done.stdout
    assert "reloaded: quickstart: BEC" in done.stdout


@pytest.mark.slow
def test_standard_job_on_the_emulated_apparatus(tmp_path, monkeypatch):
    from oqtant.backend import DEFAULT_BACKEND, load_backend

    load_backend(DEFAULT_BACKEND)  # fails loudly here if the default backend is incomplete
    folder = tmp_path / "emulator_server"
    with private_database() as database_url, EmbeddedServer(
        folder, database_url=database_url, workers=1, extra_env={"PYTHONPATH": str(REPO)}
    ) as srv:
        name = f"user-{uuid.uuid4().hex[:10]}"
        srv.cli("user", "add", name, "--password-stdin", input=PASSWORD + "\n")
        client = OqtantClient(settings=ClientSettings(url=srv.url, poll_interval_s=0.5),
                              token=password_login(name, PASSWORD,
                                                   settings=ClientSettings(url=srv.url)))
        client.verbosity = 0
        job = client.generate_oqtant_job(ultracold_matter_job)
        [job_id] = client.run_jobs([job])
        client.track_jobs([client.get_job(job_id)], timeout_s=240)
        done = client.get_job(job_id)
        assert done.status == JobStatus.COMPLETE, done.failed_inputs
        values = done.inputs[0].output.values
        # a ramp ending 45 kHz above the trap bottom leaves a condensate on a larger thermal
        # cloud, as on the real machine (a few to a third condensed at 17-34 kHz, 130-410 nK)
        assert values.thermal_atom_number > values.condensed_atom_number > 1000
        assert 100 < values.temperature_nk < 700
        assert values.total_mot_atom_number > values.tof_atom_number


def test_login_command_caches_a_token(server, env):
    name = new_user(server)
    done = subprocess.run(
        [sys.executable, "-m", "oqtant.login", "--username", name, "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert done.returncode == 0, done.stderr
    token = TokenCache(env / "token.json").get(server.url)
    assert token is not None and "token cached" in done.stdout
    client = get_oqtant_client(token)
    assert client.get_job_limits()["pending_jobs"] == 0
    wrong = subprocess.run(
        [sys.executable, "-m", "oqtant.login", "--username", name, "--password-stdin"],
        input="wrong\n", capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert wrong.returncode == 1 and "refused" in wrong.stderr
