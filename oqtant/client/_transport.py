"""The client's transport: one request with timeouts, retries and typed errors.

Connection failures and 502/503/504 answers are retried with exponential
backoff and jitter; a request that may have reached the server is re-sent only
when that is harmless (a GET, or a submit with an ``Idempotency-Key``). Error
answers become :mod:`oqtant.errors` exceptions (see :mod:`oqtant.client`).
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

import httpx

from oqtant.client.login import ClientSettings, TokenCache
from oqtant.errors import (
    AuthenticationError,
    ConnectionError,
    JobNotFoundError,
    OqtantError,
    QuotaExceededError,
    ServerError,
    ValidationError,
)

__all__ = ["Transport"]

_RETRY_STATUSES = frozenset({502, 503, 504})
# the request never left: always safe to send again
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# the server may have acted on it: re-sent only for reads and idempotent submits
_MAYBE_SENT_ERRORS = (
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)


class Transport:
    """Requests to the server for a client (a mixin of OqtantClient, which sets the
    attributes below)."""

    settings: ClientSettings
    token: str
    version: str
    debug: bool
    _http: httpx.Client

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "X-Client-Version": self.version}
        if extra:
            headers.update(extra)
        return headers

    def _backoff(self, attempt: int) -> float:
        base = min(self.settings.max_backoff_s, self.settings.backoff_s * 2**attempt)
        return base * (0.5 + random.random() / 2)  # jitter: many clients do not retry in step

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        job_id: str | None = None,
    ) -> httpx.Response:
        """Send one request with retries on transient failures; raise typed errors.

        ``path`` is relative to the server URL (``/api/v1/...``) or absolute
        under ``self.base_url``. ``what`` says what was attempted, for messages.
        """
        url = path if path.startswith("http") else f"{self.settings.url}{path}"
        all_headers = self._headers(headers) if auth else {"X-Client-Version": self.version}
        # a request that may have reached the server is only re-sent when that is harmless
        resend_ok = method == "GET" or "Idempotency-Key" in all_headers
        attempts = self.settings.max_retries + 1
        last_error: Exception | None = None
        response: httpx.Response | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self._backoff(attempt - 1))
            response = None
            sent = time.perf_counter()
            try:
                # timeouts: set on our own httpx.Client; a given client keeps its own
                response = self._http.request(
                    method, url, params=params, json=json, headers=all_headers
                )
            except _NOT_SENT_ERRORS as err:
                last_error = err
                continue
            except _MAYBE_SENT_ERRORS as err:
                last_error = err
                if resend_ok:
                    continue
                break
            except httpx.HTTPError as err:
                raise ConnectionError(f"Failed to {what}: {err}") from err
            if self.debug:
                print(
                    f"[oqtant] {method} {url} -> {response.status_code} "
                    f"({(time.perf_counter() - sent) * 1e3:.0f} ms)",
                    file=sys.stderr,
                )
            if response.status_code in _RETRY_STATUSES and attempt < attempts - 1:
                continue
            break
        if response is None:
            raise ConnectionError(
                f"Failed to {what}: the oqtant server at {self.settings.url} could not be "
                f"reached ({attempt + 1} attempt(s); last error: {last_error!r})"
            ) from last_error
        if response.status_code == 401 and auth:
            self._forget_cached_token()
        if response.status_code >= 400:
            raise self._error_for(response, what=what, job_id=job_id)
        return response

    def _forget_cached_token(self) -> None:
        """A refused token is dropped from the cache, so the next login asks again."""
        cache = TokenCache(self.settings.token_cache_path)
        if cache.get(self.settings.url, now=0.0) == self.token:
            cache.forget(self.settings.url)

    @staticmethod
    def _error_for(response: httpx.Response, *, what: str, job_id: str | None) -> OqtantError:
        status = response.status_code
        detail: str = response.reason_phrase or f"HTTP {status}"
        errors: list[tuple[str, str]] = []
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            raw = body.get("detail")
            if isinstance(raw, str):
                detail = raw
            elif isinstance(raw, list):  # FastAPI's own request-validation format
                for item in raw:
                    if isinstance(item, dict):
                        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                        errors.append((loc or "(input)", str(item.get("msg", "invalid"))))
                detail = "; ".join(f"{f}: {r}" for f, r in errors) or detail
            for item in body.get("errors") or []:
                if isinstance(item, dict) and "field" in item:
                    errors.append((str(item["field"]), str(item.get("rule", ""))))
        message = f"Failed to {what}: {detail}"
        if status == 401:
            how = "get_client() or `oqtant login`"
            hint = f"({how})" if "log in again" in message.lower() else f"(log in again: {how})"
            return AuthenticationError(f"{message} {hint}", status_code=status)
        if status == 403:
            return AuthenticationError(message, status_code=status)
        if status == 404:
            if job_id is not None:
                return JobNotFoundError(f"No job {job_id} found for this user ({detail})")
            return JobNotFoundError(message)
        if status == 422:
            if errors and not any(f in message for f, _ in errors):
                message += "\n" + "\n".join(f"  {f}: {r}" for f, r in errors)
            return ValidationError(message, errors)
        if status == 429:
            return QuotaExceededError(message, status_code=status)
        return ServerError(message, status_code=status)
