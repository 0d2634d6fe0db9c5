"""The wire output of a simulation: the images, the machine's fit, the slices."""

from __future__ import annotations

import numpy as np

from oqtant.analysis import fit_bimodal_2d
from oqtant.constants import IN_TRAP_PIXCAL_UM, TOF_PIXCAL_UM
from oqtant.errors import FitError
from oqtant.schemas.images import slice_chart, wire_image
from oqtant.schemas.job import NonPlotOutput, Output, PlotOutput, TofFit

__all__ = ["simulation_output"]


def _fit(od: np.ndarray, time_of_flight_ms: float) -> tuple[TofFit, np.ndarray]:
    """The machine's fit of a TOF image: (wire fit, fit image).

    An image the fit finds no atoms in keeps a zero fit, and the image itself as fit image.
    """
    try:
        result = fit_bimodal_2d(od, TOF_PIXCAL_UM, time_of_flight_ms=time_of_flight_ms)
    except FitError:
        return TofFit(**{k: 0.0 for k in TofFit.model_fields}), od
    fit = TofFit(**{k: float(v) for k, v in result.as_dict().items() if k in TofFit.model_fields})
    return fit, np.asarray(result.model_image, dtype=float)


def simulation_output(sim) -> Output:
    """A finished simulation's output in the apparatus' wire format (IN_TRAP or TIME_OF_FLIGHT)."""
    if not sim.is_time_of_flight:
        od = sim.in_trap_image()
        return Output(values=PlotOutput(it_plot=wire_image(od, IN_TRAP_PIXCAL_UM)))
    od = sim.tof_image()
    fit, fit_image = _fit(od, float(sim.values.time_of_flight_ms))
    cy, cx = np.unravel_index(int(np.argmax(od)), od.shape)
    atoms = round(sim.atom_number_final)
    return Output(
        values=NonPlotOutput(
            mot_fluorescence_image=wire_image(np.zeros((2, 2)), 1.0),
            tof_image=wire_image(od, TOF_PIXCAL_UM),
            tof_fit_image=wire_image(fit_image, TOF_PIXCAL_UM),
            tof_fit=fit,
            tof_x_slice=slice_chart(od[cy, :]),
            tof_y_slice=slice_chart(od[:, cx]),
            total_mot_atom_number=0,
            tof_atom_number=atoms,
            thermal_atom_number=0,
            condensed_atom_number=atoms,
            temperature_nk=0,
        )
    )
