"""Readouts of the Python display: temperatures one can measure, micrometres, RF digits."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from oqtant.matter.rf import format_frequency
from oqtant.schemas.quantum_matter import QuantumMatterFactory

FACTORY = QuantumMatterFactory()


@pytest.fixture
def tof_output(service):
    service.add_user("ro")
    client = service.client_for("ro")
    matter = FACTORY.create_quantum_matter(name="readout", temperature=80)
    client.submit(matter, track=True)
    matter.get_result()
    return matter.output


def test_plot_fit_results_with_only_a_file_name_draws_the_outputs_own_fit(tof_output, tmp_path):
    target = tmp_path / "fit.png"
    fig = tof_output.plot_fit_results(file_name=str(target))  # was: TypeError (fit_params)
    assert target.stat().st_size > 1000
    assert fig is None or "fit" in fig.axes[0].get_title()
    plt.close("all")


def test_a_nearly_pure_condensate_has_no_measurable_temperature(tof_output, capsys):
    pure = tof_output.model_copy(update={"temperature_nk": 0, "condensed_atom_number": 9000,
                                         "thermal_atom_number": 50})
    pure.atom_statistics  # noqa: B018 - a property that prints, as in the reference
    out = capsys.readouterr().out
    assert "0 nK" not in out and "Temperature (nK): 0" not in out
    assert "not measurable" in out and "condensate" in out
    assert tof_output.temperature_text == f"{tof_output.temperature_nk} nK"


def test_plot_labels_say_micrometres(tof_output):
    fig = tof_output.plot_tof()
    fig = fig or plt.gcf()
    assert fig.axes[0].get_xlabel() == "x (µm)" and fig.axes[0].get_ylabel() == "y (µm)"
    plt.close("all")


@pytest.mark.parametrize(("mhz", "text"), [
    (0.0104183, "10.42 kHz"), (0.62, "620 kHz"), (21.12, "21.12 MHz"), (1.0, "1 MHz"),
])
def test_rf_frequencies_read_with_four_significant_digits(mhz, text):
    assert format_frequency(mhz) == text


def test_rf_dynamics_names_the_final_point_in_khz():
    matter = FACTORY.create_quantum_matter(name="rf", temperature=31.1)
    assert matter.input.rf_evaporation.frequencies_mhz[-1] == pytest.approx(0.0104183, rel=1e-4)
    fig = matter.show_rf_dynamics() or plt.gcf()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "final 10.42 kHz" in texts, texts
    plt.close("all")
