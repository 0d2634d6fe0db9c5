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
from oqtant.schemas.job import InputValues
from oqtant.server.queue.execute import draw_figure, execute_run
from tests.conftest import BARRIER_MANIPULATOR_JOB

FAST = "tests.server.fast_backend:FastBackend"
PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def _barrier_values() -> str:
    return json.dumps(BARRIER_MANIPULATOR_JOB["inputs"][0]["values"])


def _completed_barrier_run() -> tuple[str, str, str]:
    """The input values, output values (JSON) and summary of an in-trap run just executed."""
    output_json, _, _, summary = execute_run(FAST, _barrier_values(), 3)
    return _barrier_values(), json.dumps(json.loads(output_json)["values"]), summary


def test_a_worker_draws_each_figure_of_a_completed_run_as_the_console_would():
    values, output_values, summary = _completed_barrier_run()
    assert json.loads(summary)["image"] == "IN_TRAP"
    kinds = figures.figure_kinds(InputValues.model_validate_json(values), json.loads(output_values))
    assert kinds == ["thumb", "it", "rf", "potential", "barriers"]
    drawn = {k: draw_figure("walls", values, output_values, k) for k in kinds}
    assert all(png is not None and png.startswith(PNG) for png in drawn.values())
    # the same figure the console draws from the stored output
    assert drawn["it"] == figures.render_output_png(output_values, "it")


def test_a_figure_that_fails_is_none_and_logged(monkeypatch, caplog):
    values, output_values, _ = _completed_barrier_run()

    def broken(*_args, **_kwargs):
        raise RuntimeError("no colours today")

    monkeypatch.setattr(figures, "render_input_png", broken)
    with caplog.at_level(logging.ERROR, logger="oqtant.server.execute"):
        assert draw_figure("walls", values, output_values, "rf") is None
        assert draw_figure("walls", values, output_values, "it").startswith(PNG)
    logged = [r.getMessage() for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and "rf figure" in logged[0]


def test_even_a_drawing_module_that_cannot_load_gives_none(monkeypatch):
    values, output_values, _ = _completed_barrier_run()
    monkeypatch.setitem(sys.modules, "oqtant.server.figures", None)  # import fails
    assert draw_figure("walls", values, output_values, "it") is None


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
