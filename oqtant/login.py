"""The login's former import path (a re-export of :mod:`oqtant.client.login`)."""

from oqtant.client import login as _home
from oqtant.client.login import (
    DEFAULT_URL,
    ClientSettings,
    Login,
    TokenCache,
    account_name,
    authorization_url,
    check_server,
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

__all__ = list(_home.__all__)

if __name__ == "__main__":  # `python -m oqtant.login`, as before
    raise SystemExit(main())
