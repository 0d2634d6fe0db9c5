"""The service's one clock: every timestamp the database layer and the limiter take.

Leases, quotas, authorization codes, revocations and the login limiter read the
time through :func:`now`. Tests move time with :func:`use_clock` and a
:class:`ManualClock` instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "ManualClock", "now", "system_clock", "use_clock"]

#: a clock: a callable returning the current time, timezone-aware UTC
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, timezone-aware UTC."""
    return datetime.now(UTC)


_current: list[Clock] = [system_clock]


def now() -> datetime:
    """The current time of the service's clock, timezone-aware UTC."""
    return _current[0]()


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the service's clock (in this process) until the block ends."""
    previous = _current[0]
    _current[0] = clock
    try:
        yield clock
    finally:
        _current[0] = previous


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it."""

    def __init__(self, start: datetime | None = None):
        self.time = start or system_clock()

    def __call__(self) -> datetime:
        return self.time

    def advance(self, seconds: float) -> datetime:
        """Move the clock ``seconds`` on; returns the new time."""
        self.time += timedelta(seconds=seconds)
        return self.time
