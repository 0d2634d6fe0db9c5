"""What the client prints (or does not): quiet connects, queue headings, login hints."""

from __future__ import annotations

import httpx
import pytest

from oqtant import errors
from oqtant.client import _session

from .test_client_protocol import make_client


def test_get_oqtant_client_prints_nothing(service, monkeypatch, capsys):
    service.add_user("quiet")
    made = service.client_for("quiet")
    monkeypatch.setattr(_session, "ClientSettings", lambda: service.settings)
    real = _session.OqtantClient
    monkeypatch.setattr(_session, "OqtantClient",
                        lambda **kw: real(**kw, transport=service.http))
    client = _session.get_oqtant_client(made.token)
    assert client.token == made.token and _session.current_client() is client
    assert capsys.readouterr().out == ""  # was: the job-limits table, unasked
    client.show_job_limits()  # asked for: printed
    assert "Daily Limit" in capsys.readouterr().out


def test_queue_heading_does_not_call_finished_jobs_queued(capsys):
    items = [{"name": "a", "status": "COMPLETE", "external_id": "1"},
             {"name": "b", "status": "COMPLETE", "external_id": "2"},
             {"name": "c", "status": "PENDING", "queue_position": 1, "external_id": "3"}]
    client = make_client(lambda r: httpx.Response(200, json={"items": items}))
    client.verbosity = 1
    client.show_queue_status(include_complete=True)
    out = capsys.readouterr().out
    assert "3 job(s) queued" not in out
    assert out.startswith("1 job(s) queued or running, 2 finished:")


@pytest.mark.parametrize("detail", ["the access token has expired: log in again", "bad token"])
def test_expired_token_message_says_log_in_again_once(detail):
    client = make_client(lambda r: httpx.Response(401, json={"detail": detail}))
    with pytest.raises(errors.AuthenticationError) as caught:
        client.get_job_limits()
    message = str(caught.value)
    assert message.lower().count("log in again") == 1, message
    assert "get_client()" in message and "oqtant login" in message
