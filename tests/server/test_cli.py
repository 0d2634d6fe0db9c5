"""The ``oqtant`` command: users, limits, tokens, db upgrade, and ``serve`` as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import jwt
import pytest

from oqtant.cli import build_parser, main
from oqtant.server.db.migrate import head_revision


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OQTANT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("OQTANT_DATABASE_URL", raising=False)
    monkeypatch.delenv("OQTANT_SECRET_KEY", raising=False)
    return tmp_path


def _add(monkeypatch, name, password, *extra):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["user", "add", name, "--password-stdin", *extra])


def test_user_add_token_and_limits(data_dir, monkeypatch, capsys):
    assert _add(monkeypatch, "carol", "s3cret", "--admin") == 0
    out = capsys.readouterr().out
    assert "added admin carol" in out and "s3cret" not in out
    assert _add(monkeypatch, "carol", "other") == 1
    assert "already exists" in capsys.readouterr().err

    assert main(["user", "token", "carol"]) == 0
    token = capsys.readouterr().out.strip()
    secret = (data_dir / "secret_key").read_text()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] in out

    assert main(["user", "limits", "carol", "--daily-limit", "7", "--max-pending-jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "daily_limit: 7" in out and "max_pending_jobs: 2" in out
    assert main(["user", "limits", "carol", "--sim-daily-limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "sim_daily_limit: 0" in out and "daily_limit: 7" in out  # the others stay
    assert "sim_max_pending_jobs: 5" in out  # the default of a new account
    assert main(["user", "token", "nobody"]) == 1


def test_limits_are_checked_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["user", "limits", "x", "--max-runs-per-job", "31"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["user", "limits", "x", "--sim-max-pending-jobs", "-1"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--workers", "-1"])


def test_db_upgrade_creates_the_schema(data_dir, capsys):
    from sqlalchemy import create_engine, inspect, text

    assert main(["db", "upgrade"]) == 0
    engine = create_engine(f"sqlite:///{data_dir / 'oqtant.db'}")
    with engine.connect() as conn:
        assert (
            conn.execute(text("select version_num from alembic_version")).scalar()
            == head_revision()
        )
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
    assert {"users", "jobs", "runs", "idempotency_keys", "oauth_codes"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_an_outdated_schema_is_refused(tmp_path):
    from oqtant.server.db import check_schema_current, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(RuntimeError, match="oqtant db upgrade"):
        check_schema_current(engine)
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.server
def test_serve_as_a_real_process(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "OQTANT_DATA_DIR": str(tmp_path),
        "OQTANT_BACKEND": "tests.server.fast_backend:FastBackend",
        "OQTANT_EXECUTOR": "thread",
        "PYTHONPATH": os.getcwd(),
    }
    env.pop("OQTANT_DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oqtant.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert r.json() == {"status": "ok", "database": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/version").json()["api"] == "v1"
        # loopback only by default
        assert any(s.laddr.ip == "127.0.0.1" for s in _listening(proc.pid, port))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    # uvicorn shuts down cleanly, then re-raises SIGTERM: -15, not -9 (killed)
    assert proc.returncode in (0, -15)
    assert (tmp_path / "oqtant.db").exists()


def _listening(pid, port):
    """Listening sockets on ``port`` (read from /proc, no extra dependency)."""
    from collections import namedtuple

    Addr = namedtuple("Addr", "ip port")
    Sock = namedtuple("Sock", "laddr")
    found = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            hexip, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                ip = ".".join(str(int(hexip[i : i + 2], 16)) for i in (6, 4, 2, 0))
                found.append(Sock(Addr(ip, port)))
    return found


def test_serve_refuses_a_public_address_without_expose(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("OQTANT_HOST", "0.0.0.0")
    assert main(["serve", "--port", str(_free_port())]) == 2
    assert "--expose" in capsys.readouterr().err
