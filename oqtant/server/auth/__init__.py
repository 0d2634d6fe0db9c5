"""Authentication: password hashes, access tokens, PKCE, login rate limits."""

__all__: list[str] = []
