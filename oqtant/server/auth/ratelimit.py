"""The login limiter: failed logins per account and per address, kept in the database.

Each login first *reserves* an attempt on both of its keys (``user:NAME`` and
``ip:ADDRESS``) in one write transaction, and only then is the password
checked. A key that has to wait refuses the attempt before anything is
reserved, so a burst of concurrent guesses gets at most the budget checked.
A correct password gives its reservation back: the account's count is
cleared, the address's count goes down by the one attempt.

A key's rule (:class:`Rule`): ``free`` failures are allowed at once; after
them each further attempt waits ``base * 2**(failures - free)`` seconds after
the last failure, at most ``max`` seconds; a key whose last failure is
``forget`` seconds old starts again from zero. The address rule waits the
whole window at once (a guessing address is stopped), the account rule
starts at one second and doubles up to ``login_max_delay_seconds`` (an account
is slowed, never locked: its owner gets in that long after the last guess).

The counts live in the ``login_attempts`` table (their queries and transactions:
:mod:`oqtant.server.db.logins`; here is the policy), so a restart keeps them and
several API processes sharing a database share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from oqtant.server.db import crud
from oqtant.server.db.clock import Clock
from oqtant.server.db.clock import now as service_time
from oqtant.settings import Settings

__all__ = ["LoginLimiter", "Rule"]

_MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class Rule:
    """How failures of one kind of key slow it down (see the module's docstring)."""

    free: int
    base_seconds: float
    max_seconds: float
    forget_seconds: float

    def counted(self, failures: int, last: datetime | None, now: datetime) -> int:
        """The failures that still count at ``now`` (none once the last is old enough)."""
        if last is None or (now - last).total_seconds() >= self.forget_seconds:
            return 0
        return failures

    def wait(self, failures: int, last: datetime | None, now: datetime) -> float:
        """Seconds until the key may try again (0: now)."""
        failures = self.counted(failures, last, now)
        if last is None or failures < self.free:
            return 0.0
        doublings = min(failures - self.free, _MAX_DOUBLINGS)
        delay = min(self.base_seconds * 2**doublings, self.max_seconds)
        return max(delay - (now - last).total_seconds(), 0.0)


class LoginLimiter:
    """Reserves login attempts of (account, address) pairs in the database."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        account: Rule,
        address: Rule,
        clock: Clock = service_time,
    ):
        self.session_factory = session_factory
        self.account = account
        self.address = address
        self.clock = clock

    @classmethod
    def from_settings(cls, session_factory: sessionmaker[Session], settings: Settings):
        window = settings.login_window_seconds
        most = settings.login_max_delay_seconds
        return cls(
            session_factory,
            account=Rule(settings.login_max_failures, 1.0, most, max(window, most)),
            address=Rule(settings.login_max_failures, window, window, window),
        )

    def _rules(self, account_key: str, address_key: str) -> dict[str, Rule]:
        return {account_key: self.account, address_key: self.address}

    def reserve(self, account_key: str, address_key: str) -> int:
        """Count one attempt on both keys and answer 0, or answer the seconds to wait (> 0).

        Nothing is counted when the answer is a wait.
        """
        now = self.clock()
        # a key whose last failure is older than any rule remembers is forgotten
        horizon = max(self.account.forget_seconds, self.address.forget_seconds)
        with self.session_factory() as session:
            wait = crud.reserve_login_attempt(
                session=session,
                rules=self._rules(account_key, address_key),
                now=now,
                forget_before=now - timedelta(seconds=horizon),
            )
        return max(math.ceil(wait), 1) if wait > 0 else 0

    def succeeded(self, account_key: str, address_key: str) -> None:
        """Give back a reservation whose password was right: the account starts afresh."""
        with self.session_factory() as session:
            crud.give_back_login_attempt(
                session=session, account_key=account_key, address_key=address_key
            )

    def failures(self, key: str) -> int:
        """The failures counted on ``key`` now (for tests and the curious)."""
        rule = self.account if key.startswith("user:") else self.address
        with self.session_factory() as session:
            row = crud.login_attempts(session=session, key=key)
            return rule.counted(row.failures, row.last_failure_at, self.clock()) if row else 0
