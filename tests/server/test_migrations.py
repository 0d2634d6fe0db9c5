"""Schema migrations keep what is stored: the run summaries are filled in for old runs."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import create_engine, inspect, text

from oqtant.schemas.job import InputValues
from oqtant.server.db import crud, make_engine, make_session_factory, upgrade_database
from oqtant.server.db.migrate import alembic_config, head_revision
from oqtant.server.schemas import JobSubmit
from tests.conftest import ULTRACOLD_MATTER_JOB
from tests.server.fast_backend import FastBackend

FAST_SPEC = "tests.server.fast_backend:FastBackend"


def _columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()


def test_upgrading_an_old_database_fills_in_the_summaries_of_its_runs(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    job = JobSubmit.model_validate(
        {**ULTRACOLD_MATTER_JOB, "inputs": ULTRACOLD_MATTER_JOB["inputs"] * 2}
    )
    with sessions() as s:
        user = crud.create_user(
            session=s,
            name="old",
            password="pw-pw-pw-pw",
            daily_limit=10,
            max_runs_per_job=5,
            max_pending_jobs=5,
        )
        crud.submit_job(session=s, user_id=user.id, job=job)
        claimed = crud.claim_next_run(session=s, owner="w1", lease_seconds=60)
        values = InputValues.model_validate_json(claimed.values_json)
        output_json = FastBackend().run(values, claimed.seed).output.model_dump_json()
        assert crud.complete_run(
            session=s,
            owner="w1",
            run_id=claimed.run_id,
            output_json=output_json,
            raw_images_json="[]",
            duration_s=0.1,
        )
    engine.dispose()
    # back to the first schema (no summaries), as a database of an older release
    command.downgrade(alembic_config(url), "0001")
    assert "summary_json" not in _columns(url)
    upgrade_database(url)
    assert "summary_json" in _columns(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == (
            head_revision()
        )
        rows = conn.execute(text("select run, status, summary_json from runs order by run")).all()
    engine.dispose()
    (first, done, summary), (second, waiting, nothing) = rows
    assert (first, done, second, waiting, nothing) == (1, "COMPLETE", 2, "PENDING", None)
    summary = json.loads(summary)
    expected = json.loads(output_json)["values"]
    assert summary["image"] == "TIME_OF_FLIGHT"
    for key in ("tof_atom_number", "condensed_atom_number", "temperature_nk"):
        assert summary[key] == expected[key]


def test_the_summary_of_an_in_trap_output_is_its_peak():
    from oqtant.server.summaries import IN_TRAP_KEYS

    output = {"values": {"it_plot": {"pixels": [0.0, 1.25, 0.5], "rows": 1, "columns": 3}}}
    summary = json.loads(crud.output_summary(json.dumps(output)))
    assert (summary["image"], summary["peak_od"]) == ("IN_TRAP", 1.25)
    assert set(summary) == {"image", *IN_TRAP_KEYS}  # their values: tests/web/test_sweeps.py
    assert crud.output_summary(None) is None and crud.output_summary("not json") is None


def test_a_run_brings_its_summary_from_the_worker_as_a_stored_output_gives_it():
    from oqtant.server.queue import execute_run

    values = json.dumps(ULTRACOLD_MATTER_JOB["inputs"][0]["values"])
    output_json, _, _, summary = execute_run(FAST_SPEC, values, 7)
    assert summary == crud.output_summary(output_json)
    assert (
        json.loads(summary)["tof_atom_number"]
        == json.loads(output_json)["values"]["tof_atom_number"]
    )


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"select count(*) from {table}")).scalar()
    finally:
        engine.dispose()


def test_simulator_limits_migrate_up_and_down_keeping_every_account_and_job(tmp_path):
    url = f"sqlite:///{tmp_path / 'limits.db'}"
    upgrade_database(url, "0002")  # a database of the release before the simulator limits
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into users (id, external_id, name, password_hash, is_admin, daily_limit,"
                " max_runs_per_job, max_pending_jobs, created_at) values"
                " (1, 'u-1', 'old', 'x', 0, 10, 5, 5, '2026-11-30 10:00:00')"
            )
        )
        conn.execute(
            text(
                "insert into jobs (id, external_id, user_id, name, job_type, status, sim,"
                " input_count, time_submit, cancel_requested, deleted) values"
                " (1, 'j-1', 1, 'job', 'BEC', 'PENDING', 1, 1, '2026-11-30 10:00:00', 0, 0)"
            )
        )
        conn.execute(
            text(
                "insert into runs (id, job_id, run, status, values_json, seed, attempts)"
                " values (1, 1, 1, 'PENDING', '{}', 7, 0)"
            )
        )
    engine.dispose()

    upgrade_database(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == (
            head_revision()
        )
        row = conn.execute(
            text("select sim_daily_limit, sim_max_pending_jobs, last_claim_at from users")
        ).one()
    engine.dispose()
    assert tuple(row) == (100, 5, None)  # the existing account gets the default limits
    assert (_count(url, "jobs"), _count(url, "runs")) == (1, 1)

    # the new columns work through the code: the old user's sim job counts against them
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        user = crud.get_user_by_name(session=s, name="old")
        crud.set_user_limits(session=s, user_id=user.id, sim_max_pending_jobs=1)
        assert crud.job_limits(session=s, user=user)["sim_pending_jobs"] == 1
        assert crud.claim_next_run(session=s, owner="w", lease_seconds=60).run == 1
    engine.dispose()

    # down to 0002: the columns go, every account, job and run stays (no cascade)
    command.downgrade(alembic_config(url), "0002")
    engine = create_engine(url)
    try:
        users = {c["name"] for c in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()
    assert not users & {"sim_daily_limit", "sim_max_pending_jobs", "last_claim_at"}
    assert (_count(url, "users"), _count(url, "jobs"), _count(url, "runs")) == (1, 1, 1)
    upgrade_database(url)  # and up again
    assert _count(url, "runs") == 1


def test_login_attempts_and_revocation_migrate_down_and_up_keeping_accounts_and_jobs(tmp_path):
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        user = crud.create_user(
            session=s,
            name="kept",
            password="pw-pw-pw-pw",
            daily_limit=10,
            max_runs_per_job=5,
            max_pending_jobs=5,
        )
        crud.submit_job(
            session=s, user_id=user.id, job=JobSubmit.model_validate(ULTRACOLD_MATTER_JOB)
        )
        crud.set_user_disabled(session=s, user_id=user.id, disabled=True)
    engine.dispose()
    command.downgrade(alembic_config(url), "0002")
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    user_columns = {c["name"] for c in inspect(engine).get_columns("users")}
    engine.dispose()
    assert "login_attempts" not in tables and "revoked_tokens" not in tables
    assert "disabled" not in user_columns and "token_generation" not in user_columns
    upgrade_database(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("select name, disabled, token_generation from users")).all()
        jobs = conn.execute(text("select count(*) from jobs")).scalar()
        runs = conn.execute(text("select count(*) from runs")).scalar()
    assert {"login_attempts", "revoked_tokens"} <= set(inspect(engine).get_table_names())
    engine.dispose()
    assert rows == [("kept", 0, 0)]  # the account (enabled again: the flag is new) and its job
    assert (jobs, runs) == (1, 1)


def test_run_figures_migrate_up_and_down_keeping_every_job_and_run(tmp_path):
    url = f"sqlite:///{tmp_path / 'figures.db'}"
    upgrade_database(url, "0004")  # a database of the release before stored figures
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        user = crud.create_user(
            session=s,
            name="old",
            password="pw-pw-pw-pw",
            daily_limit=10,
            max_runs_per_job=5,
            max_pending_jobs=5,
        )
        job = JobSubmit.model_validate(ULTRACOLD_MATTER_JOB)
        crud.submit_job(session=s, user_id=user.id, job=job)
    engine.dispose()
    engine = create_engine(url)
    assert "run_figures" not in inspect(engine).get_table_names()
    engine.dispose()

    upgrade_database(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        # the old run has no figures until one is stored; then it reads back as stored
        job_id = s.execute(text("select id from jobs")).scalar()
        assert crud.run_figure(session=s, job_id=job_id, run=1, kind="rf") is None
        png = b"\x89PNG\r\n\x1a\n-rf"
        assert crud.store_figures(session=s, job_id=job_id, run=1, figures={"rf": png}) == 1
        assert crud.run_figure(session=s, job_id=job_id, run=1, kind="rf") == png
        assert crud.store_figures(session=s, job_id=job_id, run=9, figures={"rf": png}) == 0
    engine.dispose()
    assert _count(url, "run_figures") == 1

    # down to 0004: the table goes with its figures, every account, job and run stays
    command.downgrade(alembic_config(url), "0004")
    engine = create_engine(url)
    assert "run_figures" not in inspect(engine).get_table_names()
    engine.dispose()
    assert (_count(url, "users"), _count(url, "jobs"), _count(url, "runs")) == (1, 1, 1)
    upgrade_database(url)  # and up again, empty
    assert (_count(url, "runs"), _count(url, "run_figures")) == (1, 0)
