"""The demo (the main job of ``make demo``) end to end, on the fast test backend."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from oqtant import demo
from oqtant.schemas.job import JobStatus, OqtantJob

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]


def test_demo_designs_runs_and_writes_everything(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OQTANT_BACKEND", "tests.server.fast_backend:FastBackend")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv("OQTANT_DATABASE_URL", raising=False)
    out = tmp_path / "demo_output"
    before = signal.getsignal(signal.SIGTERM)
    assert demo.main(["--output", str(out), "--workers", "1"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before  # the demo's handler is gone again
    printed = capsys.readouterr().out
    for png in ("design_rf_ramp.png", "design_barrier_potential.png", "result_bec_tof.png",
                "result_barrier_in_trap.png", "result_barrier_sweep.png"):
        assert (out / png).stat().st_size > 5000, png
    assert "identical to the standard job" in printed
    assert "condensed fraction" in printed
    sweep = [OqtantJob.model_validate_json((out / "jobs" / f"barrier_sweep_run_{r}_of_5.json")
                                           .read_text()) for r in range(1, 6)]
    assert [j.run for j in sweep] == [1, 2, 3, 4, 5]
    assert len({str(j.external_id) for j in sweep}) == 1  # one job, five runs
    heights = [j.input.optical_barriers[0].heights_khz[-1] for j in sweep]
    assert heights == demo.SWEEP_HEIGHTS_KHZ
    assert all(j.status == JobStatus.COMPLETE for j in sweep)
    bec = json.loads((out / "jobs" / "ultracold_matter.json").read_text())
    assert bec["inputs"][0]["output"]["values"]["tof_atom_number"] > 0
    # the server kept its data in the output folder and is stopped
    assert (out / "server" / "oqtant.db").exists()
    assert "Stopping the server" in printed
    # and it runs again in the same folder (a fresh database each time)
    assert demo.main(["--output", str(out), "--workers", "1"]) == 0
    assert "Done in" in capsys.readouterr().out


def test_free_port_is_bindable():
    import socket

    port = demo.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 1024 <= port <= 65535
