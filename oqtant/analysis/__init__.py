"""Analysis of images: Bose functions, the bimodal model and its fit, image statistics.

numpy and scipy only; nothing here knows of jobs, clients or servers. The fit is
one function with its options and its result as objects::

    fit = fit_bimodal_2d(od_image, pixcal_um, options=FitOptions(model="bimodal"))
    fit.temperature_nk, fit.condensed_fraction
"""

from oqtant.analysis.bimodal import (
    FIT_PARAMETER_NAMES,
    THERMAL_PROFILES,
    bimodal_od,
    bose_cloud_od,
    image_space,
    saturate_od,
    thermal_cloud_od,
    thomas_fermi_od,
)
from oqtant.analysis.bose import g3, polylog2
from oqtant.analysis.fit import FIT_MODELS, FitOptions, fit_bimodal_2d
from oqtant.analysis.in_trap import axis_positions_um, in_trap_atom_number, od_on_axis_at
from oqtant.analysis.result import BimodalFit, FitResult

__all__ = [
    "FIT_MODELS",
    "FIT_PARAMETER_NAMES",
    "THERMAL_PROFILES",
    "BimodalFit",
    "FitOptions",
    "FitResult",
    "axis_positions_um",
    "bimodal_od",
    "bose_cloud_od",
    "fit_bimodal_2d",
    "g3",
    "image_space",
    "in_trap_atom_number",
    "od_on_axis_at",
    "polylog2",
    "saturate_od",
    "thermal_cloud_od",
    "thomas_fermi_od",
]
