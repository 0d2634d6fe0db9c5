"""The worker draws a run's figures after running it; a figure that fails never fails the run;
a worker starts without importing matplotlib."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oqtant.server import figures
from oqtant.server.queue import execute_run
from tests.conftest import BARRIER_MANIPULATOR_JOB

FAST = "tests.server.fast_backend:FastBackend"
PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def _barrier_values() -> str:
    return json.dumps(BARRIER_MANIPULATOR_JOB["inputs"][0]["values"])


def test_the_worker_draws_the_figures_of_an_in_trap_run_after_running_it():
    output_json, _, _, summary, drawn = execute_run(
        FAST, _barrier_values(), 3, figures=True, name="walls"
    )
    assert json.loads(summary)["image"] == "IN_TRAP"
    assert set(drawn) == {"thumb", "it", "rf", "potential", "barriers"}
    assert all(png.startswith(PNG) for png in drawn.values())
    # the same figure the console draws from the stored output
    values = json.dumps(json.loads(output_json)["values"])
    assert drawn["it"] == figures.render_output_png(values, "it")


def test_a_figure_that_fails_is_left_out_and_logged_and_the_run_stands(monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("no colours today")

    monkeypatch.setattr(figures, "render_thumb_png", broken)
    monkeypatch.setattr(figures, "render_input_png", broken)
    with caplog.at_level(logging.ERROR, logger="oqtant.server.figures"):
        output_json, _, _, _, drawn = execute_run(FAST, _barrier_values(), 3, figures=True)
    assert set(drawn) == {"it"} and json.loads(output_json)["values"]["it_plot"]["rows"] == 2
    logged = [r.getMessage() for r in caplog.records if r.exc_info]
    assert sorted(m.split()[4] for m in logged) == ["barriers", "potential", "rf", "thumb"]


def test_even_a_drawing_module_that_cannot_load_leaves_the_run_whole(monkeypatch):
    monkeypatch.setitem(sys.modules, "oqtant.server.figures", None)  # import fails
    output_json, _, _, summary, drawn = execute_run(FAST, _barrier_values(), 3, figures=True)
    assert drawn == {} and json.loads(summary)["image"] == "IN_TRAP" and output_json


def test_a_worker_starts_without_matplotlib():
    code = (
        "import sys, oqtant.server.queue.execute, oqtant.server.queue.pool;"
        "print(sorted(m for m in ('matplotlib', 'fastapi', 'sqlalchemy') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_runs_on_a_dask_cluster_bring_their_figures_to_the_database(tmp_path):
    from distributed import LocalCluster
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from oqtant.server import create_app
    from oqtant.server.db.models import RunFigure
    from oqtant.server.queue.dask_executor import DaskExecutor
    from tests.server.conftest import add_account, job_dict, make_settings, submit

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address, timeout_s=10)
        settings = make_settings(tmp_path, figures_at_completion=True)
        app = create_app(settings, executor=executor, start_dispatcher=False)
        try:
            alice = add_account(app, "alice")
            with TestClient(app) as client:
                submit(client, alice, job_dict("barrier"))
            app.state.dispatcher.run_until_idle(timeout=120)
            with app.state.session_factory() as s:
                kinds = set(s.execute(select(RunFigure.kind)).scalars())
        finally:
            executor.shutdown()
            app.state.engine.dispose()
    assert kinds == {"thumb", "it", "rf", "potential", "barriers"}
