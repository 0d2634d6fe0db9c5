"""A simulation's wire output: a fit that finds no atoms leaves zeros; any other failure shows."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from oqtant.errors import FitError
from oqtant.simulator import _wire


def _finished_tof_run(od):
    return SimpleNamespace(
        is_time_of_flight=True,
        tof_image=lambda: od,
        values=SimpleNamespace(time_of_flight_ms=12.0),
        atom_number_final=1234.4,
    )


def test_an_image_without_atoms_keeps_a_zero_fit_and_the_image():
    od = np.zeros((100, 100))
    out = _wire.simulation_output(_finished_tof_run(od)).values
    assert all(v == 0.0 for v in out.tof_fit.model_dump().values())
    assert out.tof_fit_image.pixels == out.tof_image.pixels
    assert out.tof_atom_number == out.condensed_atom_number == 1234


def test_a_failure_of_the_fit_other_than_no_atoms_is_not_hidden(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the fit")

    monkeypatch.setattr(_wire, "fit_bimodal_2d", broken)
    with pytest.raises(RuntimeError, match="a bug in the fit"):
        _wire.simulation_output(_finished_tof_run(np.ones((100, 100))))

    def no_atoms(*args, **kwargs):
        raise FitError("no atoms in the image")

    monkeypatch.setattr(_wire, "fit_bimodal_2d", no_atoms)
    out = _wire.simulation_output(_finished_tof_run(np.ones((100, 100)))).values
    assert out.tof_fit.tf_od == 0.0
