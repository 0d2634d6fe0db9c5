"""Logging in to an oqtant server: client settings, PKCE browser login, token cache.

Two ways to get an access token:

* :func:`get_user_token` runs the OAuth2 authorization-code flow with PKCE
  against the server: it listens on ``localhost:port``, opens the browser at the
  server's login page, catches the redirect carrying the code, and exchanges the
  code (with the PKCE verifier) for a token.
* :func:`password_login` uses the password grant, for scripts and the demo.

Tokens are cached in ``platformdirs.user_config_dir("oqtant")/token.json``
(file mode 0600), keyed by server URL, and reused until they expire.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import http.server
import json
import os
import queue
import secrets
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from oqtant.constants import DEFAULT_URL
from oqtant.errors import AuthenticationError, ConnectionError, ValidationError

__all__ = [
    "ClientSettings",
    "TokenCache",
    "make_pkce_pair",
    "pkce_challenge",
    "authorization_url",
    "get_user_token",
    "check_server",
    "Login",
    "password_login",
    "decode_token_claims",
    "DEFAULT_URL",
    "account_name",
    "login_with",
    "main",
]

# a token this close to its expiry is not reused
_EXPIRY_MARGIN_S = 60.0


class ClientSettings(BaseSettings):
    """Settings of the client, read from ``OQTANT_*`` environment variables.

    ``OQTANT_URL`` is the server's address; the REST API lives under ``/api/v1``.
    """

    model_config = SettingsConfigDict(env_prefix="OQTANT_", extra="ignore")

    url: str = DEFAULT_URL
    client_id: str = "oqtant-python"
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=0.25, ge=0)
    max_backoff_s: float = Field(default=4.0, ge=0)
    poll_interval_s: float = Field(default=2.0, gt=0)
    run_list_limit: int = Field(default=30, ge=1)
    max_ind_var: int = 2
    token_cache_file: Path | None = None
    login_timeout_s: float = Field(default=300.0, gt=0)

    @field_validator("url")
    @classmethod
    def _strip_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https:// (got {v!r})")
        return v

    @property
    def base_url(self) -> str:
        """Root of the versioned REST API."""
        return f"{self.url}/api/v1"

    @property
    def token_cache_path(self) -> Path:
        """Where cached tokens are kept."""
        if self.token_cache_file is not None:
            return Path(self.token_cache_file)
        return Path(platformdirs.user_config_dir("oqtant")) / "token.json"


# --------------------------------------------------------------------------- tokens


def decode_token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, decoded WITHOUT checking the signature (the server does that)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError, UnicodeError) as err:
        raise AuthenticationError(
            "The access token is not a valid JWT; log in again to get a new one"
        ) from err
    if not isinstance(claims, dict):
        raise AuthenticationError("The access token's payload is not a JSON object")
    return claims


class TokenCache:
    """Access tokens on disk, one per server URL, readable only by their owner (mode 0600)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _read_all(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, url: str, *, now: float | None = None) -> str | None:
        """The cached token for ``url`` if it is still valid for at least a minute."""
        entry = self._read_all().get(url)
        if not isinstance(entry, dict) or not isinstance(entry.get("access_token"), str):
            return None
        now = time.time() if now is None else now
        expires_at = entry.get("expires_at")
        if not isinstance(expires_at, int | float) or expires_at - _EXPIRY_MARGIN_S <= now:
            return None
        return entry["access_token"]

    def put(self, url: str, token: str, expires_in_s: float | None = None) -> None:
        """Store ``token`` for ``url``; its expiry comes from ``expires_in_s`` or its ``exp``."""
        if expires_in_s is not None:
            expires_at = time.time() + float(expires_in_s)
        else:
            exp = decode_token_claims(token).get("exp")
            expires_at = float(exp) if isinstance(exp, int | float) else time.time()
        data = self._read_all()
        data[url] = {"access_token": token, "expires_at": expires_at}
        self._write_all(data)

    def forget(self, url: str) -> None:
        """Drop the token of ``url`` (e.g. after the server refused it)."""
        data = self._read_all()
        if data.pop(url, None) is not None:
            self._write_all(data)

    def _write_all(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        # created 0600 from the start: a token must never be readable by others
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


# --------------------------------------------------------------------------- PKCE


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier: base64url(sha256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_pkce_pair() -> tuple[str, str]:
    """A fresh PKCE (verifier, S256 challenge) pair (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)  # 86 characters, within the 43..128 allowed
    return verifier, pkce_challenge(verifier)


def authorization_url(
    settings: ClientSettings, *, redirect_uri: str, challenge: str, state: str
) -> str:
    """The server's login page for the authorization-code flow."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
        }
    )
    return f"{settings.url}/oauth/authorize?{query}"


_DONE_PAGE = (
    "<!doctype html><html><head><title>oqtant login</title></head><body>"
    "<h2>{title}</h2><p>{text}</p></body></html>"
)


class _RedirectHandler(http.server.BaseHTTPRequestHandler):
    """Catches the one redirect of the login: ``/callback?code=...&state=...``."""

    server: _RedirectServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        params = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        if "code" not in params and "error" not in params:
            self.send_response(404)
            self.end_headers()
            return
        ok = "code" in params and params.get("state") == self.server.expected_state
        title, text = (
            ("Logged in to oqtant", "You can close this tab and return to Python.")
            if ok
            else ("Login failed", "Return to Python for details.")
        )
        body = _DONE_PAGE.format(title=title, text=text).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.results.put(params)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep the user's console clean


class _RedirectServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, expected_state: str):
        super().__init__(("127.0.0.1", port), _RedirectHandler)
        self.expected_state = expected_state
        self.results: queue.Queue[dict[str, str]] = queue.Queue()


def check_server(
    settings: ClientSettings,
    transport: httpx.BaseTransport | httpx.Client | None = None,
    *,
    timeout_s: float = 3.0,
) -> None:
    """Make sure the server answers ``GET /healthz`` within seconds, before a login waits on it.

    Raises:
        ConnectionError: the server cannot be reached (names the URL and how to start it).
    """
    url = f"{settings.url}/healthz"
    timeout = httpx.Timeout(min(timeout_s, settings.connect_timeout_s))
    try:
        if isinstance(transport, httpx.Client):
            transport.get(url, timeout=timeout)
        else:
            with httpx.Client(transport=transport, timeout=timeout) as http:
                http.get(url)
    except httpx.TransportError as err:
        raise ConnectionError(
            f"The oqtant server at {settings.url} is unreachable ({err or type(err).__name__}). "
            "Start it with `oqtant serve` (or `make demo`), or point OQTANT_URL at a running "
            "server, then log in again."
        ) from err


def _exchange(
    settings: ClientSettings,
    form: dict[str, str],
    transport: httpx.BaseTransport | httpx.Client | None = None,
) -> dict[str, Any]:
    """POST ``form`` to ``/oauth/token`` and return the token answer."""
    timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
    try:
        if isinstance(transport, httpx.Client):
            response = transport.post(f"{settings.url}/oauth/token", data=form)
        else:
            with httpx.Client(transport=transport, timeout=timeout) as http:
                response = http.post(f"{settings.url}/oauth/token", data=form)
    except httpx.TransportError as err:
        raise ConnectionError(
            f"Could not reach the oqtant server at {settings.url}: {err}"
        ) from err
    if response.status_code != 200:
        try:
            body = response.json()
            reason = body.get("error_description") or body.get("detail") or body.get("error")
        except ValueError:
            reason = response.text[:200]
        raise AuthenticationError(
            f"Login refused by {settings.url}: {reason}", status_code=response.status_code
        )
    answer = response.json()
    if not isinstance(answer.get("access_token"), str):
        raise AuthenticationError(f"The server at {settings.url} sent no access_token")
    return answer


def password_login(
    username: str,
    password: str,
    *,
    settings: ClientSettings | None = None,
    use_cache: bool = False,
    transport: httpx.BaseTransport | httpx.Client | None = None,
) -> str:
    """Get an access token with the password grant (for scripts; no browser needed)."""
    settings = settings or ClientSettings()
    answer = _exchange(
        settings,
        {"grant_type": "password", "username": username, "password": password},
        transport,
    )
    token = answer["access_token"]
    if use_cache:
        TokenCache(settings.token_cache_path).put(settings.url, token, answer.get("expires_in"))
    return token


class Login:
    """A completed login: the access token and the server it is for.

    Its repr (what a notebook shows as a cell's value) and str name the server and
    the user, never the token, so that a saved notebook does not carry it. Read the
    token itself from ``access_token``.
    """

    __slots__ = ("access_token", "settings")

    def __init__(self, access_token: str, settings: ClientSettings) -> None:
        self.access_token = access_token
        self.settings = settings

    @property
    def url(self) -> str:
        """The server this login is for."""
        return self.settings.url

    @property
    def user(self) -> str:
        """The user's external id (the token's subject); "" if the token has none."""
        try:
            claims = decode_token_claims(self.access_token)
        except AuthenticationError:
            return ""
        return str(claims.get("sub") or "")

    def __repr__(self) -> str:
        who = f" as {self.user}" if self.user else ""
        return f"<oqtant login to {self.url}{who} (token hidden)>"

    __str__ = __repr__


def get_user_token(
    port: int = 8080,
    *,
    settings: ClientSettings | None = None,
    open_browser: Callable[[str], Any] | None = None,
    use_cache: bool = True,
    timeout_s: float | None = None,
    transport: httpx.BaseTransport | httpx.Client | None = None,
) -> str:
    """Log in through the browser (authorization code + PKCE) and return an access token.

    Args:
        port: local port that catches the login redirect; 0 picks a free one.
        settings: client settings (server URL, token cache); read from the environment if None.
        open_browser: called with the login URL; ``webbrowser.open`` if None. Tests pass a
            function that fills in the login form over HTTP instead.
        use_cache: reuse a cached unexpired token for this server, and cache the new one.
        timeout_s: how long to wait for the login to complete (settings.login_timeout_s if None).
        transport: httpx transport (or client) for the code exchange, to reach an in-process server.

    Returns:
        The access token (a JWT whose subject is the user's external id).
    """
    settings = settings or ClientSettings()
    cache = TokenCache(settings.token_cache_path)
    if use_cache:
        cached = cache.get(settings.url)
        if cached is not None:
            return cached
    if not (port == 0 or 1024 <= port <= 65535):
        raise ValidationError(
            f"port: must be 0 (any free port) or between 1024 and 65535 (got {port})",
            [("port", "0 or 1024..65535")],
        )
    check_server(settings, transport)
    verifier, challenge = make_pkce_pair()
    state = secrets.token_urlsafe(24)
    try:
        server = _RedirectServer(port, state)
    except OSError as err:
        raise ConnectionError(
            f"Could not listen on localhost:{port} for the login redirect ({err}); "
            "try another port, e.g. get_client(port=8081)"
        ) from err
    actual_port = server.server_address[1]
    redirect_uri = f"http://localhost:{actual_port}/callback"
    url = authorization_url(settings, redirect_uri=redirect_uri, challenge=challenge, state=state)
    thread = threading.Thread(target=server.serve_forever, name="oqtant-login", daemon=True)
    thread.start()
    try:
        print(f"Log in to oqtant at:\n  {url}\n(opening your browser; if it does not open, "
              "paste the address into one on this machine)")
        (open_browser or webbrowser.open)(url)
        try:
            params = server.results.get(timeout=timeout_s or settings.login_timeout_s)
        except queue.Empty:
            raise AuthenticationError(
                "Login timed out: no redirect came back from the login page"
            ) from None
    finally:
        server.shutdown()
        server.server_close()
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise AuthenticationError(f"Login failed: {reason}")
    if params.get("state") != state:
        raise AuthenticationError(
            "Login failed: the redirect's state does not match (possible CSRF)"
        )
    answer = _exchange(
        settings,
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "client_id": settings.client_id,
        },
        transport,
    )
    token = answer["access_token"]
    if use_cache:
        cache.put(settings.url, token, answer.get("expires_in"))
    return token


def main(argv: list[str] | None = None) -> int:
    """``oqtant login``: log in (browser, or ``--username`` with a password) and cache the token."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="oqtant login",
        description="Log in to an oqtant server and cache the access token for later sessions.",
    )
    parser.add_argument("--url", help=f"server address (default $OQTANT_URL or {DEFAULT_URL})")
    parser.add_argument("--port", type=int, default=8080,
                        help="local port for the browser login's redirect (default 8080)")
    parser.add_argument("--username", help="log in with this account's password, no browser")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input")
    parser.add_argument("--no-browser", action="store_true",
                        help="only print the login address (for machines without a browser)")
    args = parser.parse_args(argv)
    settings = ClientSettings(**({"url": args.url} if args.url else {}))
    return login_with(settings, port=args.port, username=args.username,
                      password_stdin=args.password_stdin, no_browser=args.no_browser)


def account_name(settings: ClientSettings, token: str) -> str:
    """The name of the token's account, as the server says (``GET /api/v1/me``).

    A server that cannot say (an older one, or unreachable just now) leaves the
    token's subject, the account's id.
    """
    try:
        answer = httpx.get(
            f"{settings.base_url}/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.connect_timeout_s,
        )
        if answer.status_code == 200:
            return str(answer.json()["name"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        pass
    return f"id {decode_token_claims(token).get('sub')}"


def login_with(
    settings: ClientSettings,
    *,
    port: int = 8080,
    username: str | None = None,
    password_stdin: bool = False,
    no_browser: bool = False,
) -> int:
    """``oqtant login``: log in (password or browser), cache the token, name the account."""
    try:
        if username:
            if password_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
            else:
                password = getpass.getpass(f"Password for {username}: ")
            token = password_login(username, password, settings=settings, use_cache=True)
        else:
            opener = (lambda url: None) if no_browser else None
            token = get_user_token(port, settings=settings, open_browser=opener)
    except (AuthenticationError, ConnectionError, ValidationError) as err:
        print(f"oqtant login: {err}", file=sys.stderr)
        return 1
    print(
        f"Logged in to {settings.url} as {account_name(settings, token)}; "
        f"token cached in {settings.token_cache_path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
