"""What a notebook written for the reference client meets: login, submit, results, plots.

Against the in-process service (tests/client/conftest.py); the same flow against a
real ``oqtant serve`` process, as executed notebooks, is in tests/e2e/test_notebooks.py.
"""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from decimal import Decimal

import numpy as np
import pytest

from oqtant import errors, oqtant_client
from oqtant.client import _session
from oqtant.login import ClientSettings, Login
from oqtant.schemas.job import JobStatus, TofFit
from oqtant.schemas.output import (
    IN_TRAP_PIXCAL_UM,
    TOF_IMAGE_SHAPE,
    TOF_PIXCAL_UM,
    OqtantNonPlotOutput,
    OqtantPlotOutput,
    image_space,
    wire_image,
    wire_line_chart,
)
from oqtant.schemas.quantum_matter import QuantumMatterFactory


def _token(subject: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": subject}).encode()).decode()
    return "eyJhbGciOiJIUzI1NiJ9." + payload.rstrip("=") + ".c2lnbmF0dXJlLXNlY3JldA"


# --------------------------------------------------------------------------- login


def test_get_login_keeps_the_token_out_of_its_repr(monkeypatch):
    token = _token(str(uuid.uuid4()))
    monkeypatch.setattr("oqtant.client.login.get_user_token", lambda port, **kw: token)
    qmf = QuantumMatterFactory()
    login = qmf.get_login()
    assert isinstance(login, Login) and qmf.login is login
    assert login.access_token == token
    for shown in (repr(login), str(login), f"{login}"):
        assert token not in shown and token.split(".")[1] not in shown
        assert "token hidden" in shown and login.url in shown
    seen = []
    monkeypatch.setattr(_session, "get_oqtant_client", lambda t: seen.append(t) or "client")
    qmf.get_client()  # the notebook's next cell: the login's token, not a new login
    assert seen == [token] and qmf.client == "client"
    qmf.get_client(token=login)  # a login object is taken for its token too
    assert seen == [token, token]


# --------------------------------------------------------------------------- submit / results


@pytest.fixture
def ada(service):
    service.add_user("ada")
    return service.client_for("ada")


def test_client_submit_lets_the_matter_fetch_its_result(ada):
    matter = QuantumMatterFactory().create_quantum_matter(name="via the client", temperature=80)
    assert matter.client is None
    job_id = ada.submit(matter, track=True)
    assert matter.job_id == job_id and matter.client is ada and matter.run == 1
    matter.get_result()  # was: "no submitted job to fetch ... submit it first"
    assert matter.status == JobStatus.COMPLETE and matter.output.tof_atom_number > 0


def test_matter_without_client_submits_with_the_current_client(ada, monkeypatch):
    monkeypatch.setattr(_session, "_current", [ada])  # as get_client() leaves it
    matter = QuantumMatterFactory().create_quantum_matter(name="readme", temperature=80)
    assert matter.submit(track=True) is None  # as the reference's submit
    assert matter.client is ada and uuid.UUID(matter.job_id)
    matter.get_result()
    assert matter.status == JobStatus.COMPLETE
    qmf = QuantumMatterFactory()
    assert len(qmf.search_jobs(name="readme", show_results=False)) == 1


def test_get_client_makes_the_client_current(monkeypatch, tmp_path):
    monkeypatch.setattr("oqtant.client.login.get_user_token", lambda port, **kw: _token("u"))
    assert oqtant_client.current_client() is None
    settings = ClientSettings(url="http://127.0.0.1:9", token_cache_file=tmp_path / "t.json")
    client = oqtant_client.get_client(settings=settings)
    assert oqtant_client.current_client() is client
    matter = QuantumMatterFactory().create_quantum_matter(name="late client")
    matter.job_id = str(uuid.uuid4())
    assert matter._client() is client


@pytest.mark.parametrize("through", ["client", "factory"])
def test_every_matter_of_a_batch_knows_its_job_and_run(ada, through):
    qmf = QuantumMatterFactory(client=ada if through == "factory" else None)
    sweep = [qmf.create_quantum_matter(name=f"sweep {t}", temperature=t) for t in (40, 90, 150)]
    owner = qmf if through == "factory" else ada
    first = owner.submit_list_as_batch(sweep, track=True, name="sweep")
    assert all(first is not m for m in sweep) and first.name == "sweep" and first.run == 1
    assert sweep[0].name == "sweep 40"  # the list's matter keep their own names
    assert {m.job_id for m in sweep} == {first.job_id} and [m.run for m in sweep] == [1, 2, 3]
    for matter in sweep:
        assert matter.client is ada
        matter.get_result()
        assert matter.result.run == matter.run and matter.output is not None
    frequencies = [m.result.input.rf_evaporation.frequencies_mhz[-1] for m in sweep]
    assert frequencies == sorted(frequencies)  # each fetched its own run


def test_write_to_file_needs_a_submitted_job(ada, tmp_path, monkeypatch):
    folder = tmp_path / "notebook"
    folder.mkdir()
    monkeypatch.chdir(folder)
    matter = QuantumMatterFactory(client=ada).create_quantum_matter(name="to write")
    with pytest.raises(errors.JobWriteError, match="submit it"):
        matter.write_to_file()
    assert list(folder.iterdir()) == []
    ada.submit(matter, track=True)
    assert matter.write_to_file() is None  # fetches the result first, then writes it
    [written] = list(folder.iterdir())
    loaded = QuantumMatterFactory(client=ada).load_matter_from_file(written)
    assert loaded.job_id == matter.job_id and loaded.output is not None


def test_matter_times_are_decimals_as_the_references():
    matter = QuantumMatterFactory().create_quantum_matter(
        temperature=100, lifetime=10, time_of_flight=7.5
    )
    assert type(matter.lifetime) is Decimal and matter.lifetime == Decimal("10")
    assert type(matter.time_of_flight) is Decimal and matter.time_of_flight == Decimal("7.5")
    assert type(matter.temperature) is float
    matter.lifetime = 12.04  # still on the 0.1 ms grid of the experiment stage
    assert matter.lifetime == Decimal("12.0") and matter.input.end_time_ms == 12.0
    plain = QuantumMatterFactory().create_quantum_matter(temperature=100)
    assert type(plain.lifetime) is Decimal and type(plain.time_of_flight) is Decimal


# --------------------------------------------------------------------------- plots


@pytest.fixture
def agg(monkeypatch):
    import matplotlib

    previous = matplotlib.get_backend()
    matplotlib.use("Agg")
    yield
    matplotlib.use(previous)


def _tof_output() -> OqtantNonPlotOutput:
    x, y = image_space(TOF_IMAGE_SHAPE)
    image = np.exp(-((x - 10) ** 2 + (y + 20) ** 2) / 50.0)  # the cloud in the upper rows
    zeros = wire_image(np.zeros_like(image), TOF_PIXCAL_UM).model_dump()
    return OqtantNonPlotOutput.model_validate({
        "mot_fluorescence_image": wire_image(np.ones((4, 5)), 1.0).model_dump(),
        "tof_image": wire_image(image, TOF_PIXCAL_UM).model_dump(),
        "tof_fit_image": zeros,
        "tof_fit": dict.fromkeys(TofFit.model_fields, 0.0),
        "tof_x_slice": wire_line_chart([0, 1], [0, 0]).model_dump(),
        "tof_y_slice": wire_line_chart([0, 1], [0, 0]).model_dump(),
        "total_mot_atom_number": 0, "tof_atom_number": 0, "thermal_atom_number": 0,
        "condensed_atom_number": 0, "temperature_nk": 0,
    })


def test_image_plots_put_y_upward_and_return_the_figure_without_a_display(agg):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    out = _tof_output()
    fig = out.plot_tof()
    assert isinstance(fig, Figure) and plt.get_fignums() == []  # released, not leaked
    ax = fig.axes[0]
    bottom, top = ax.get_ylim()
    assert bottom < 0 < top  # y grows upward, as on the reference's plot
    [image] = ax.get_images()
    assert image.origin == "upper"
    row = int(np.argmax(image.get_array().max(axis=1)))
    assert row < TOF_IMAGE_SHAPE[0] // 2  # the cloud of the upper rows is drawn on top ...
    extent = image.get_extent()
    y_of_row = extent[3] - (row + 0.5) * (extent[3] - extent[2]) / TOF_IMAGE_SHAPE[0]
    assert y_of_row == pytest.approx(20 * TOF_PIXCAL_UM, abs=TOF_PIXCAL_UM)  # ... at y > 0
    x, y = image_space((148, 503))
    it = OqtantPlotOutput.model_validate(
        {"it_plot": wire_image(np.exp(-(x**2) / 900 - y**2 / 16), IN_TRAP_PIXCAL_UM).model_dump()}
    )
    fig = it.plot_it()
    bottom, top = fig.axes[0].get_ylim()
    assert bottom < 0 < top


def test_matter_plots_return_the_figure_without_a_display(agg, tmp_path):
    from matplotlib.figure import Figure

    qmf = QuantumMatterFactory()
    barrier = qmf.create_barrier(positions=[0, 0], heights=[0, 3], widths=[1, 1], times=[0, 6])
    matter = qmf.create_quantum_matter(name="shown", temperature=100, lifetime=10,
                                       image="IN_TRAP", barriers=[barrier])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-interactive, cannot be shown" warning
        for figure in (matter.show_potential(times=[0, 6]), matter.show_rf_dynamics(),
                       barrier.show_dynamics(), matter.show_laser_pulse_timing()):
            assert isinstance(figure, Figure)
    path = tmp_path / "potential.png"
    assert isinstance(matter.show_potential(file_name=str(path)), Figure)
    assert path.stat().st_size > 1000


def test_barrier_dynamics_has_a_panel_for_position_height_and_width(agg):
    qmf = QuantumMatterFactory()
    rising = qmf.create_barrier(positions=[0, 5], heights=[0, 3], widths=[1, 1], times=[0, 6])
    narrowing = qmf.create_barrier(positions=[-10, -10], heights=[2, 2], widths=[2, 1],
                                   times=[2, 8])
    matter = qmf.create_quantum_matter(name="two", temperature=100, lifetime=10,
                                       image="IN_TRAP", barriers=[rising, narrowing])
    fig = matter.show_barrier_dynamics()
    assert len(fig.axes) == 3  # three line panels, no colour map
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert [lab.split()[0] for lab in labels] == ["position", "height", "width"]
    assert fig.axes[-1].get_xlabel() == "time (ms)"
    assert fig.axes[-1].get_xlim() == pytest.approx((-1.0, 10.0))
    heights = fig.axes[1].get_lines()
    steps = [ln for ln in heights if len(ln.get_xdata()) > 2]
    assert len(steps) == 2  # one curve a barrier
    t, h = steps[0].get_xdata(), steps[0].get_ydata()
    assert t[0] == pytest.approx(0.0) and t[-1] == pytest.approx(6.0) and h[-1] == pytest.approx(3)


# --------------------------------------------------------------------------- progress bars


def test_text_progress_bar_without_ipywidgets(monkeypatch):
    import importlib.util

    import tqdm.auto
    import tqdm.std

    from oqtant import _progress

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "ipywidgets" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    _progress.bar_class.cache_clear()
    try:
        assert _progress.bar_class() is tqdm.std.tqdm
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
        _progress.bar_class.cache_clear()
        assert _progress.bar_class() is tqdm.auto.tqdm
    finally:
        _progress.bar_class.cache_clear()


def test_a_matter_reused_in_a_second_batch_follows_its_last_job(ada):
    qmf = QuantumMatterFactory(client=ada)
    shared = qmf.create_quantum_matter(name="shared", temperature=60)
    other = qmf.create_quantum_matter(name="other", temperature=120)
    batch_a = ada.submit_list_as_batch([shared, other], track=True, name="batch a")
    batch_b = ada.submit_list_as_batch([other, shared], track=True, name="batch b")
    assert batch_a.job_id != batch_b.job_id
    assert (shared.job_id, shared.run) == (batch_b.job_id, 2)
    assert (other.job_id, other.run) == (batch_b.job_id, 1)
    assert (batch_a.job_id, batch_a.run, batch_a.name) == (batch_a.job_id, 1, "batch a")
    assert shared.name == "shared" and other.name == "other"  # was: renamed "batch a"
    batch_a.get_result(run=2)
    assert batch_a.result.external_id is not None
    assert str(batch_a.result.external_id) == batch_a.job_id  # not moved to batch b
    shared.get_result()
    assert str(shared.result.external_id) == batch_b.job_id and shared.result.run == 2
