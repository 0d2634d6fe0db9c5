"""Small pure functions of authentication: password hashes, access tokens, PKCE, CSRF."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import jwt
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "PASSWORD_HASH_COSTS",
    "InvalidToken",
    "TokenClaims",
    "check_csrf_token",
    "create_access_token",
    "decode_access_token",
    "decode_token",
    "hash_code",
    "hash_password",
    "is_loopback_redirect",
    "new_csrf_token",
    "pkce_challenge",
    "verify_password",
    "verify_pkce",
]

JWT_ALGORITHM = "HS256"
#: argon2 parameters by name (``OQTANT_PASSWORD_HASH_COST``): ``default`` is argon2-cffi's
#: recommended profile; ``test`` the cheapest, for test suites only (it protects nothing)
PASSWORD_HASH_COSTS = {"default": profiles.RFC_9106_LOW_MEMORY, "test": profiles.CHEAPEST}
_COST_VARIABLE = "OQTANT_PASSWORD_HASH_COST"


@functools.cache
def _hasher(cost: str) -> PasswordHasher:
    if cost not in PASSWORD_HASH_COSTS:
        raise ValueError(
            f"{_COST_VARIABLE} must be one of {', '.join(PASSWORD_HASH_COSTS)}, not {cost!r}"
        )
    return PasswordHasher.from_parameters(PASSWORD_HASH_COSTS[cost])


def _cost() -> str:
    """The cost the environment names (read on each call, so a test setup can set it)."""
    return os.environ.get(_COST_VARIABLE) or "default"


@functools.cache
def _dummy_hash(cost: str) -> str:
    # verifying against this keeps the time of "no such user" equal to "wrong password";
    # computed on first use, not when the module is imported
    return _hasher(cost).hash("not a real password")


class InvalidToken(Exception):
    """The token is missing, malformed, wrongly signed or expired."""


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher(_cost()).hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches ``password_hash`` (None: compare with a dummy, False)."""
    cost = _cost()
    try:
        return (
            _hasher(cost).verify(password_hash or _dummy_hash(cost), password)
            and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    """What a valid access token says: whose it is, its generation, its id and expiry.

    ``generation`` is the user's token generation when it was issued (revoking a
    user's tokens moves the user's on); ``token_id`` is set on console sessions,
    so that logging out can refuse that one token.
    """

    subject: str
    generation: int = 0
    token_id: str | None = None
    expires_at: datetime | None = None


def create_access_token(
    subject: str,
    *,
    secret_key: str,
    ttl_minutes: float,
    now: datetime | None = None,
    generation: int = 0,
    token_id: str | None = None,
) -> str:
    """A signed HS256 JWT for ``subject`` (the user's external id) expiring after ``ttl_minutes``.

    ``generation`` is the user's token generation; ``token_id`` (the ``jti``)
    names the token, for a console session that logging out ends.
    """
    issued = now or datetime.now(UTC)
    payload: dict = {
        "sub": subject,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=ttl_minutes)).timestamp()),
        "gen": generation,
    }
    if token_id is not None:
        payload["jti"] = token_id
    return jwt.encode(payload, secret_key, algorithm=JWT_ALGORITHM)


def decode_token(token: str, *, secret_key: str) -> TokenClaims:
    """The claims of a valid token; raises InvalidToken otherwise (expired, tampered, ...)."""
    try:
        payload = jwt.decode(
            token, secret_key, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired: log in again") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("the access token is invalid") from exc
    subject = payload.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("the access token has no subject")
    generation = payload.get("gen", 0)  # tokens issued before generations existed: 0
    token_id = payload.get("jti")
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise InvalidToken("the access token is invalid")
    if token_id is not None and (not isinstance(token_id, str) or not 0 < len(token_id) <= 64):
        raise InvalidToken("the access token is invalid")
    expires = datetime.fromtimestamp(payload["exp"], UTC)
    return TokenClaims(subject, generation, token_id, expires)


def decode_access_token(token: str, *, secret_key: str) -> str:
    """The subject of a valid token; raises InvalidToken otherwise (expired, tampered, ...)."""
    return decode_token(token, secret_key=secret_key).subject


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE ``verifier``: base64url(sha256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify_pkce(verifier: str, challenge: str) -> bool:
    """True when ``verifier`` (43..128 characters) hashes to ``challenge``."""
    if not 43 <= len(verifier) <= 128:
        return False
    try:
        return hmac.compare_digest(pkce_challenge(verifier), challenge)
    except UnicodeEncodeError:
        return False


def is_loopback_redirect(uri: str) -> bool:
    """True for ``http://localhost[:port]/...``, ``http://127.0.0.1...`` or ``http://[::1]...``."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in {"localhost", "127.0.0.1", "::1"}
        and not parts.username
        and not parts.password
        and not parts.fragment
    )


def new_csrf_token(secret_key: str) -> str:
    """A random token with its HMAC, so the server can check it came from here."""
    nonce = secrets.token_urlsafe(24)
    mac = hmac.new(secret_key.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()
    return f"{nonce}.{mac}"


def check_csrf_token(form_token: str | None, cookie_token: str | None, secret_key: str) -> bool:
    """True when the form's token equals the cookie's and carries a valid HMAC."""
    if not form_token or not cookie_token or not hmac.compare_digest(form_token, cookie_token):
        return False
    nonce, _, mac = form_token.partition(".")
    expected = hmac.new(secret_key.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, expected)


def hash_code(code: str) -> str:
    """SHA-256 hex of an authorization code (codes are stored only as hashes)."""
    return hashlib.sha256(code.encode()).hexdigest()
