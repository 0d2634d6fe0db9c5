"""sweep_table and plot_sweep over a batch run on the in-process service."""

from __future__ import annotations

import sys
import types

import matplotlib.image
import pytest

import oqtant
from oqtant import errors
from oqtant.matter import sweeps
from oqtant.schemas.quantum_matter import QuantumMatterFactory

FACTORY = QuantumMatterFactory()
TEMPERATURES = (20, 60, 100)


@pytest.fixture
def scan(service):
    service.add_user("ada")
    client = service.client_for("ada")
    matters = [FACTORY.create_quantum_matter(name="scan", temperature=t) for t in TEMPERATURES]
    client.submit_list_as_batch(matters, track=True)
    for matter in matters:
        matter.get_result()
    return client, matters


def test_sweep_table_of_matter_shows_the_swept_input_and_results(scan, monkeypatch):
    monkeypatch.setattr(sweeps.importlib.util, "find_spec", lambda name: None)  # no pandas
    _, matters = scan
    table = oqtant.sweep_table(matters)
    assert isinstance(table, sweeps.SweepTable) and len(table) == 3
    assert [row["run"] for row in table] == [1, 2, 3]
    finals = [m.input.rf_evaporation.frequencies_mhz[-1] * 1000 for m in matters]
    assert [row["final RF (kHz)"] for row in table] == pytest.approx(finals)
    # only what differs: the RF ramp's other points, the lifetime, ... are the same
    assert "lifetime (ms)" not in table[0] and "rf_evaporation.frequencies_mhz" not in table[0]
    for row, matter in zip(table, matters, strict=True):
        assert row["tof_atom_number"] == matter.output.tof_atom_number > 0
        assert "condensed_fraction" in row and "temperature_nk" in row
    text = repr(table)
    assert text.splitlines()[0].split()[:4] == ["name", "job_id", "run", "status"]
    assert "final RF (kHz)" in text and str(matters[1].output.tof_atom_number) in text


def test_sweep_table_of_jobs_equals_that_of_their_matter(scan, monkeypatch):
    monkeypatch.setattr(sweeps.importlib.util, "find_spec", lambda name: None)
    client, matters = scan
    jobs = [client.get_job(matters[0].job_id, run=r) for r in (1, 2, 3)]
    assert list(oqtant.sweep_table(jobs)) == list(oqtant.sweep_table(matters))


def test_sweep_table_is_a_dataframe_when_pandas_is_installed(scan, monkeypatch):
    made = []
    fake = types.SimpleNamespace(DataFrame=lambda rows: made.append(rows) or "frame")
    monkeypatch.setitem(sys.modules, "pandas", fake)
    monkeypatch.setattr(sweeps.importlib.util, "find_spec", lambda name: object())
    assert oqtant.sweep_table(scan[1]) == "frame"
    assert len(made[0]) == 3 and "final RF (kHz)" in made[0][0]


def test_plot_sweep_draws_results_against_the_swept_input(scan, tmp_path):
    _, matters = scan
    target = tmp_path / "sweep.png"
    fig = oqtant.plot_sweep(matters, x="final RF (kHz)",
                            y=("tof_atom_number", "temperature_nk"), file_name=str(target))
    assert matplotlib.image.imread(target).shape[0] > 100
    atoms_ax = fig.axes[0]
    xs, ys = atoms_ax.lines[0].get_data()
    assert list(xs) == sorted(xs) and len(xs) == 3
    assert list(ys) == [m.output.tof_atom_number for m in matters]
    assert atoms_ax.get_ylabel() == "atoms" and fig.axes[1].get_xlabel() == "final RF (kHz)"


def test_plot_sweep_takes_a_field_path_or_a_callable_and_finds_x_itself(scan):
    _, matters = scan
    by_path = oqtant.plot_sweep(matters, x="rf_evaporation.frequencies_mhz[-1]",
                                y="tof_atom_number")
    by_call = oqtant.plot_sweep(matters, x=lambda m: m.input.rf_evaporation.frequencies_mhz[-1],
                                y=lambda m: m.output.tof_atom_number)
    found = oqtant.plot_sweep(matters, y="tof_atom_number")  # the one input that differs
    a, b = by_path.axes[0].lines[0].get_data(), by_call.axes[0].lines[0].get_data()
    assert list(a[0]) == list(b[0]) and list(a[1]) == list(b[1])
    assert found.axes[0].get_xlabel() == "final RF (kHz)"
    with pytest.raises(errors.ValidationError, match="y: 'atoms' is not a result"):
        oqtant.plot_sweep(matters, x="final RF (kHz)", y="atoms")
    with pytest.raises(errors.ValidationError, match="x: 'rf_evap.nope'"):
        oqtant.plot_sweep(matters, x="rf_evap.nope")


def test_in_trap_runs_give_peak_od_and_integrated_atoms(service, monkeypatch):
    monkeypatch.setattr(sweeps.importlib.util, "find_spec", lambda name: None)
    service.add_user("bo")
    client = service.client_for("bo")
    matters = [FACTORY.create_quantum_matter(name="trap", image="IN_TRAP", lifetime=t)
               for t in (10, 40)]
    client.submit_list_as_batch(matters, track=True)
    for matter in matters:
        matter.get_result()
    table = oqtant.sweep_table(matters)
    assert [row["lifetime (ms)"] for row in table] == [10, 40]
    for row, matter in zip(table, matters, strict=True):
        image = matter.output.it_plot
        assert row["peak_od"] == pytest.approx(max(image.pixels), rel=1e-3)
        assert row["integrated_atoms"] > 0 and "tof_atom_number" not in row


def test_plot_sweep_leaves_no_figure_open(scan):
    import matplotlib.pyplot as plt

    _, matters = scan
    plt.close("all")
    with pytest.raises(errors.ValidationError):
        oqtant.plot_sweep(matters, x="final RF (kHz)", y="nope")
    fig = oqtant.plot_sweep(matters, x="final RF (kHz)")
    assert plt.get_fignums() == [] and len(fig.axes) == 3
