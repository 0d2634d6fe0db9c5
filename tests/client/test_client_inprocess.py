"""OqtantClient against the real FastAPI app in-process (SQLite, fast backend)."""

from __future__ import annotations

import uuid

import pytest

from oqtant import errors
from oqtant.login import get_user_token
from oqtant.oqtant_client import OqtantClient
from oqtant.schemas.job import JobStatus, JobType

from .helpers import FormBrowser


def test_submit_track_and_fetch_every_run(service, tmp_path):
    service.add_user("ada")
    client = service.client_for("ada")
    job = client.create_job("three BECs", JobType.BEC, runs=3)
    job.inputs[1].values.rf_evaporation.frequencies_mhz[-1] = 0.5
    [job_id] = client.run_jobs([job], track_status=True)
    assert job.status == JobStatus.COMPLETE
    for run, final_mhz in ((1, 0.045), (2, 0.5), (3, 0.045)):
        fetched = client.get_job(job_id, run=run)
        assert fetched.status == JobStatus.COMPLETE
        assert fetched.run == run and fetched.input_count == 3
        assert fetched.input.rf_evaporation.frequencies_mhz[-1] == final_mhz
        # the fast backend's cloud loses atoms as the final frequency goes up
        expected_atoms = int(2e5 / (1.0 + final_mhz))
        assert fetched.inputs[0].output.values.tof_atom_number == expected_atoms
    with pytest.raises(errors.JobNotFoundError, match="run 4"):
        client.get_job(job_id, run=4)
    frames = client.get_raw_images(job_id, run=2)
    assert frames and all(f["run"] == 2 for f in frames)
    assert len(client.get_raw_images(job_id)) == 3 * len(frames)


def test_same_idempotency_key_gives_the_same_job(idle_service):
    idle_service.add_user("ada")
    client = idle_service.client_for("ada")
    job = client.create_job("once", JobType.BEC)
    key = str(uuid.uuid4())
    first = client.submit_job(job, idempotency_key=key)
    second = client.submit_job(job, idempotency_key=key)
    assert first["job_id"] == second["job_id"]
    assert len(client.search_jobs(name="once")) == 1
    third = client.submit_job(job)
    assert third["job_id"] != first["job_id"]


def test_search_queue_cancel_delete(idle_service):
    idle_service.add_user("ada")
    client = idle_service.client_for("ada")
    ids = client.run_jobs([
        client.create_job("alpha bec", JobType.BEC),
        client.create_job("beta barrier", JobType.BARRIER),
        client.create_job("alpha again", JobType.BEC),
    ])
    found = client.search_jobs(name="ALPHA")
    assert [j["external_id"] for j in found] == [ids[2], ids[0]]  # newest first
    assert [j["external_id"] for j in client.search_jobs(job_type=JobType.BARRIER)] == [ids[1]]
    queue = client.get_queue_status()
    assert [j["external_id"] for j in queue] == ids  # FIFO
    assert [j["queue_position"] for j in queue] == [1, 2, 3]
    client.cancel_job(ids[0])
    assert client.get_job(ids[0]).status == JobStatus.CANCELLED
    assert [j["external_id"] for j in client.get_queue_status()] == ids[1:]
    assert client.get_queue_status()[0]["queue_position"] == 1
    with pytest.raises(errors.ServerError) as info:
        client.cancel_job(ids[0])  # finished jobs cannot be cancelled
    assert info.value.status_code == 409
    client.delete_job(ids[1])
    with pytest.raises(errors.JobNotFoundError):
        client.get_job(ids[1])
    limits = client.get_job_limits()
    assert limits["pending_jobs"] == 1
    assert limits["daily_remaining"] == limits["daily_limit"] - 3


def test_another_user_cannot_see_cancel_or_delete(idle_service):
    idle_service.add_user("ada")
    idle_service.add_user("bob")
    ada, bob = idle_service.client_for("ada"), idle_service.client_for("bob")
    [job_id] = ada.run_jobs([ada.create_job("private", JobType.BEC)])
    for action in (bob.get_job, bob.cancel_job, bob.delete_job, bob.get_raw_images):
        with pytest.raises(errors.JobNotFoundError):
            action(job_id)
    assert bob.search_jobs() == [] and bob.get_queue_status() == []
    assert ada.get_job(job_id).status == JobStatus.PENDING
    # a token used on another user's path is refused as not found, too
    forged = OqtantClient(settings=idle_service.settings, token=bob.token,
                          transport=idle_service.http)
    forged.base_url = ada.base_url
    with pytest.raises(errors.JobNotFoundError):
        forged.get_job(job_id)


def test_quota_errors_are_typed(idle_service):
    idle_service.add_user("ada", daily_limit=100, max_runs_per_job=2, max_pending_jobs=1)
    client = idle_service.client_for("ada")
    with pytest.raises(errors.QuotaExceededError, match="2"):
        client.submit_job(client.create_job("too long", JobType.BEC, runs=3))
    client.submit_job(client.create_job("fits", JobType.BEC, runs=2))
    with pytest.raises(errors.QuotaExceededError):
        client.submit_job(client.create_job("one too many", JobType.BEC))


def test_bad_token_is_an_authentication_error(idle_service):
    idle_service.add_user("ada")
    client = idle_service.client_for("ada")
    broken = OqtantClient(settings=idle_service.settings, token=client.token[:-4] + "AAAA",
                          transport=idle_service.http)
    with pytest.raises(errors.AuthenticationError):
        broken.search_jobs()


def test_version_and_files(service, tmp_path):
    service.add_user("ada")
    client = service.client_for("ada")
    assert client.check_version() is True
    job = client.create_job("to file", JobType.BARRIER)
    [job_id] = client.run_jobs([job], track_status=True)
    done = client.get_job(job_id)
    path = client.write_job_to_file(done, file_path=str(tmp_path / "job.txt"))
    loaded = client.load_job_from_file(path, refresh=False)
    assert str(loaded.external_id) == job_id
    assert loaded.inputs[0].output.values.it_plot == done.inputs[0].output.values.it_plot
    refreshed = client.load_job_from_file(path)
    assert refreshed.status == JobStatus.COMPLETE


def test_browser_login_against_the_app(idle_service, tmp_path):
    idle_service.add_user("ada", password="correct horse")
    wrong = FormBrowser(idle_service.http, "ada", "wrong horse")
    with pytest.raises(errors.AuthenticationError, match="timed out"):
        get_user_token(0, settings=idle_service.settings, open_browser=wrong,
                       transport=idle_service.http, timeout_s=1)
    assert wrong.pages[-1].status_code == 401 and wrong.redirect is None

    browser = FormBrowser(idle_service.http, "ada", "correct horse")
    token = get_user_token(0, settings=idle_service.settings, open_browser=browser,
                           transport=idle_service.http, timeout_s=10)
    assert browser.redirect.startswith("http://localhost:")
    client = OqtantClient(settings=idle_service.settings, token=token, transport=idle_service.http)
    client.verbosity = 0
    assert client.get_job_limits()["pending_jobs"] == 0
    # cached: no second login
    assert get_user_token(0, settings=idle_service.settings,
                          open_browser=lambda url: pytest.fail("no login expected")) == token


def test_the_notebook_login_also_logs_the_browser_in_to_the_console(idle_service):
    idle_service.add_user("ada", password="correct horse")
    idle_service.http.cookies.clear()
    browser = FormBrowser(idle_service.http, "ada", "correct horse")
    get_user_token(0, settings=idle_service.settings, open_browser=browser,
                   transport=idle_service.http, use_cache=False, timeout_s=10)
    answer = browser.pages[-1]
    assert answer.status_code == 302 and "oqtant_session=" in answer.headers["set-cookie"]
    # the same browser opens the console: it is logged in, not sent to /login
    home = idle_service.http.get("/", follow_redirects=False)
    assert home.headers["location"].endswith("/jobs"), home.headers.get("location")
