"""The database layer's shared parts: one transaction helper, one clock, one home per aggregate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oqtant.server.db import clock, crud
from oqtant.server.db.clock import ManualClock, use_clock
from oqtant.server.db.models import User
from oqtant.server.db.session import write_transaction


def test_write_transaction_commits_the_block_and_rolls_back_an_error(app, alice):
    factory = app.state.session_factory
    with factory() as s:
        user_id = crud.get_user_by_name(session=s, name=alice.name).id
    with factory() as s, write_transaction(s):
        s.get(User, user_id).daily_limit = 7
    with factory() as s, pytest.raises(RuntimeError), write_transaction(s):
        s.get(User, user_id).daily_limit = 99
        raise RuntimeError("half way")
    with factory() as s:
        assert s.get(User, user_id).daily_limit == 7
    with factory() as s, write_transaction(s):  # the write lock was given back
        s.get(User, user_id).daily_limit = 8


def test_every_timestamp_of_the_queue_comes_from_the_one_clock(app, client, alice):
    from tests.server.conftest import submit

    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with use_clock(ManualClock(start)) as manual:
        submit(client, alice)
        with app.state.session_factory() as s:
            claimed = crud.claim_next_run(session=s, owner="w", lease_seconds=10)
            manual.advance(3)
            crud.fail_run(session=s, owner="w", run_id=claimed.run_id, reason="test")
            run = crud.get_run(session=s, job_id=claimed.job_id, run=1)
    assert run.time_start == start and run.time_complete == start + timedelta(seconds=3)
    assert clock.now() < start  # the block's end gave the wall clock back (start is in 2030)
