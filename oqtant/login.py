"""The login's former import path (a re-export of :mod:`oqtant.client.login`)."""

from oqtant.client.login import (
    DEFAULT_URL,
    ClientSettings,
    Login,
    TokenCache,
    account_name,
    authorization_url,
    decode_token_claims,
    get_user_token,
    login_with,
    main,
    make_pkce_pair,
    password_login,
    pkce_challenge,
)
from oqtant.errors import (
    AuthenticationError,
    ConnectionError,
    ValidationError,
)

__all__ = [
    "ClientSettings",
    "TokenCache",
    "make_pkce_pair",
    "pkce_challenge",
    "authorization_url",
    "get_user_token",
    "Login",
    "password_login",
    "decode_token_claims",
    "DEFAULT_URL",
    "account_name",
    "login_with",
    "main",
]

if __name__ == "__main__":  # `python -m oqtant.login`, as before
    raise SystemExit(main())
