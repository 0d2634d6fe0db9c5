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
    assert _add(monkeypatch, "carol", "s3cret-password", "--admin") == 0
    out = capsys.readouterr().out
    assert "added admin carol" in out and "s3cret" not in out
    assert _add(monkeypatch, "carol", "other-password") == 1
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


# --------------------------------------------------------------------------- one-line refusals


def _closed_port() -> int:
    return _free_port()  # nothing listens on a port just let go


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


BAD_URLS = [
    ("nosuch://x", "unknown database kind 'nosuch'"),
    ("mysql://u:hidden-pw@localhost/db", "needs the Python driver MySQLdb"),
    ("postgresql+psycopg://u:hidden-pw@127.0.0.1:{port}/db", "server is running"),
    ("sqlite:////nonexistent-dir/sub/x.db", "directory exists"),
    ("not a url", "is not a URL"),
]
URL_COMMANDS = [
    ["db", "upgrade"],
    ["user", "add", "zoe", "--password-stdin"],
    ["user", "list"],
    ["user", "token", "zoe"],
    ["serve", "--port", "{port}"],
    ["worker"],
]


@pytest.mark.parametrize(("url", "says"), BAD_URLS)
@pytest.mark.parametrize("command", URL_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_bad_database_url_is_one_line(data_dir, monkeypatch, capsys, url, says, command):
    import io

    port = str(_closed_port())
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    argv = [part.replace("{port}", port) for part in command]
    assert main([*argv, "--database-url", url.replace("{port}", port)]) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith(
        f"oqtant {' '.join(argv[:2]) if argv[0] in ('db', 'user') else argv[0]}:"
    )
    assert says in line and "hidden-pw" not in line
    assert "oqtant serving" not in captured.out


def test_serve_with_a_bad_database_url_prints_no_traceback(tmp_path):
    env = {**os.environ, "OQTANT_DATA_DIR": str(tmp_path), "PYTHONPATH": os.getcwd()}
    env.pop("OQTANT_DATABASE_URL", None)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "oqtant.cli",
            "serve",
            "--port",
            str(_free_port()),
            "--database-url",
            "nosuch://x",
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "unknown database kind" in _one_line(out.stderr)
    assert out.stdout == ""


@pytest.mark.postgres
@pytest.mark.slow
def test_an_outdated_schema_says_run_db_upgrade(data_dir, postgres_server, capsys):
    url = postgres_server.create_database()
    for argv in (["user", "list"], ["serve", "--port", str(_free_port())], ["worker"]):
        assert main([*argv, "--database-url", url]) == 2
        assert "run `oqtant db upgrade`" in _one_line(capsys.readouterr().err)
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert main(["user", "list", "--database-url", url]) == 0


def test_serve_refuses_a_port_in_use(data_dir, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert f"port {port} on 127.0.0.1 is already in use" in _one_line(captured.err)
    assert "--port" in captured.err
    assert "oqtant serving" not in captured.out


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["serve", "--backend", "nosuch.module:Thing"], {}, "no module named 'nosuch'"),
        (["worker", "--backend", "nosuch.module:Thing"], {}, "no module named 'nosuch'"),
        (["serve"], {"OQTANT_BACKEND": "oqtant.backend:Thing"}, "no attribute 'Thing'"),
        (["serve", "--backend", "oqtant.emulator"], {}, "package.module:ClassName"),
        (["serve"], {"OQTANT_SIM_BACKEND": "oqtant.settings:Settings"}, "OQTANT_SIM_BACKEND"),
    ],
)
def test_a_backend_that_does_not_load_is_refused(data_dir, monkeypatch, capsys, argv, env, says):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main([*argv, "--port", str(_free_port())] if argv[0] == "serve" else argv) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith(f"oqtant {argv[0]}: cannot load the backend") and says in line
    assert "oqtant serving" not in captured.out


@pytest.mark.parametrize("ttl", ["0", "-5", "525601", "soon"])
def test_token_lifetime_must_be_positive_and_at_most_a_year(ttl, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["user", "token", "carol", "--ttl-minutes", ttl])
    assert stop.value.code == 2
    assert "--ttl-minutes" in capsys.readouterr().err


def test_token_lifetime_is_the_one_asked_for(data_dir, monkeypatch, capsys):
    assert _add(monkeypatch, "carol", "a long password") == 0
    assert main(["user", "token", "carol", "--ttl-minutes", "60"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    claims = jwt.decode(token, (data_dir / "secret_key").read_text(), algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 3600


def test_a_short_password_is_refused(data_dir, monkeypatch, capsys):
    assert _add(monkeypatch, "carol", "x") == 2
    line = _one_line(capsys.readouterr().err)
    assert line == (
        "oqtant user add: the password must be at least 8 characters long "
        "(got 1; OQTANT_MIN_PASSWORD_LENGTH sets the minimum)"
    )
    assert main(["user", "list"]) == 0
    assert "carol" not in capsys.readouterr().out  # nothing was created
    monkeypatch.setenv("OQTANT_MIN_PASSWORD_LENGTH", "4")
    assert _add(monkeypatch, "carol", "abcd") == 0


def test_a_taken_name_is_reported_before_the_password_is_asked(data_dir, monkeypatch, capsys):
    assert _add(monkeypatch, "carol", "a long password") == 0
    capsys.readouterr()

    def no_prompt(*_args):
        raise AssertionError("the password was asked for")

    monkeypatch.setattr("getpass.getpass", no_prompt)
    assert main(["user", "add", "carol"]) == 1
    assert _one_line(capsys.readouterr().err) == (
        "oqtant user add: a user named 'carol' already exists"
    )


def _app(data_dir):
    from oqtant.server import create_app
    from oqtant.settings import Settings

    return create_app(Settings(data_dir=data_dir), start_dispatcher=False)


def test_user_password_sets_a_new_one_and_revokes_tokens(data_dir, monkeypatch, capsys):
    import io

    from fastapi.testclient import TestClient

    assert _add(monkeypatch, "carol", "the old password") == 0
    assert main(["user", "token", "carol"]) == 0
    old_token = capsys.readouterr().out.strip().splitlines()[-1]
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["user", "password", "carol", "--password-stdin"]) == 2
    assert "at least 8 characters" in _one_line(capsys.readouterr().err)
    monkeypatch.setattr(sys, "stdin", io.StringIO("the new password\n"))
    assert main(["user", "password", "carol", "--password-stdin"]) == 0
    assert "new password set for carol" in capsys.readouterr().out
    assert main(["user", "password", "nobody", "--password-stdin"]) == 1
    assert "no user named 'nobody'" in capsys.readouterr().err

    app = _app(data_dir)
    try:
        with TestClient(app) as client:
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"})
            assert me.status_code == 401
            for password, status in (("the old password", 400), ("the new password", 200)):
                grant = {"grant_type": "password", "username": "carol", "password": password}
                assert client.post("/oauth/token", data=grant).status_code == status
    finally:
        app.state.engine.dispose()


def test_user_list_shows_every_account(data_dir, monkeypatch, capsys):
    assert main(["user", "list"]) == 0
    assert "no users yet" in capsys.readouterr().out
    assert _add(monkeypatch, "alice", "a long password", "--admin") == 0
    assert _add(monkeypatch, "bob", "a long password") == 0
    assert main(["user", "disable", "bob"]) == 0
    capsys.readouterr()
    assert main(["user", "list"]) == 0
    header, *rows = capsys.readouterr().out.strip().splitlines()
    assert header.split() == [
        "name",
        "admin",
        "disabled",
        "created",
        "(UTC)",
        "jobs",
        "today",
        "sim",
        "jobs",
        "today",
    ]
    cells = [row.split() for row in rows]
    assert [c[:3] for c in cells] == [["alice", "yes", "no"], ["bob", "no", "yes"]]
    assert all(c[-2:] == ["0/100", "0/100"] for c in cells)


def _walk(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from ((f"{name} {where}", a) for where, a in _walk(child))
        elif not isinstance(action, argparse._HelpAction):
            yield action.dest, action


def test_every_argument_has_help():
    missing = [where for where, action in _walk(build_parser()) if not action.help]
    assert missing == []


def test_me_names_the_token_s_account(data_dir, monkeypatch, capsys):
    from fastapi.testclient import TestClient

    assert _add(monkeypatch, "carol", "a long password", "--admin") == 0
    assert main(["user", "token", "carol"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    app = _app(data_dir)
    try:
        with TestClient(app) as client:
            answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
            assert answer.json()["name"] == "carol" and answer.json()["is_admin"] is True
            assert client.get("/api/v1/me").status_code == 401
    finally:
        app.state.engine.dispose()


def test_login_names_the_user(data_dir, monkeypatch, capsys):
    import io

    from fastapi.testclient import TestClient

    assert _add(monkeypatch, "carol", "a long password") == 0
    capsys.readouterr()
    monkeypatch.setenv("OQTANT_TOKEN_CACHE_FILE", str(data_dir / "tokens.json"))
    app = _app(data_dir)
    try:
        with TestClient(app, base_url="http://oqtant.test") as client:
            import oqtant.client.login

            real_login = oqtant.client.login.password_login
            monkeypatch.setattr(
                "oqtant.client.login.password_login",
                lambda *args, **kwargs: real_login(*args, transport=client, **kwargs),
            )
            monkeypatch.setattr("httpx.get", lambda url, **kwargs: client.get(url, **kwargs))
            monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
            argv = [
                "login",
                "--url",
                "http://oqtant.test",
                "--username",
                "carol",
                "--password-stdin",
            ]
            assert main(argv) == 0
    finally:
        app.state.engine.dispose()
    out = capsys.readouterr().out
    assert out.startswith("Logged in to http://oqtant.test as carol; token cached in ")


def test_logout_forgets_the_server_s_token(tmp_path, monkeypatch, capsys):
    from oqtant.login import TokenCache

    cache_file = tmp_path / "tokens.json"
    monkeypatch.setenv("OQTANT_TOKEN_CACHE_FILE", str(cache_file))
    cache = TokenCache(cache_file)
    cache.put("http://one.test", "token-one", 3600)
    cache.put("http://two.test", "token-two", 3600)
    assert main(["logout", "--url", "http://one.test"]) == 0
    assert "logged out of http://one.test" in capsys.readouterr().out
    assert cache.get("http://one.test") is None
    assert cache.get("http://two.test") == "token-two"
    assert main(["logout", "--url", "ftp://x"]) == 2
    assert "url" in _one_line(capsys.readouterr().err)


def test_a_bad_setting_is_one_line(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("OQTANT_PORT", "99999")
    assert main(["serve"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        "oqtant serve: port (OQTANT_PORT): Input should be less than or equal to 65535"
    )
