"""A small in-memory limiter of failed logins (per user name and per client address)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

__all__ = ["LoginLimiter"]


class LoginLimiter:
    """Refuses a key after ``max_failures`` failed attempts within ``window_seconds``."""

    KEPT_ON_SUCCESS = ("ip:",)

    def __init__(self, max_failures: int, window_seconds: float):
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] > self.window_seconds:
            times.popleft()
        return times

    def blocked(self, *keys: str) -> bool:
        """True when any key has too many recent failures."""
        now = time.monotonic()
        with self._lock:
            return any(len(self._prune(k, now)) >= self.max_failures for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._prune(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of the account keys; an address's (``ip:...``) stay counted.

        Otherwise a login to one's own account would reset the count of an address
        guessing the passwords of many other accounts.
        """
        with self._lock:
            for key in keys:
                if not key.startswith(self.KEPT_ON_SUCCESS):
                    self._failures.pop(key, None)
