"""The reference's import path of the outputs and the bimodal fit (a thin re-export).

The fit lives in :mod:`oqtant.analysis`, the output objects and their plots in
:mod:`oqtant.matter.output`, the wire conversion in :mod:`oqtant.schemas.images`.
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
from oqtant.analysis.bose import polylog2
from oqtant.analysis.distributions import Gaussian_dist_2D, TF_dist_2D, bimodal_dist_2D, round_sig
from oqtant.analysis.fit import FIT_MODELS, fit_bimodal_2d
from oqtant.analysis.result import BimodalFit
from oqtant.constants import (
    IN_TRAP_IMAGE_SHAPE,
    IN_TRAP_PIXCAL_UM,
    MOT_PIXCAL_UM,
    TOF_IMAGE_SHAPE,
    TOF_PIXCAL_UM,
)
from oqtant.matter.output import (
    AxisType,
    OqtantNonPlotOutput,
    OqtantOutput,
    OqtantPlotOutput,
    in_trap_check,
    output_from_values,
)
from oqtant.schemas.images import wire_image, wire_line_chart
from oqtant.schemas.job import OutputImageType, print_keys
from oqtant.util.exceptions import JobPlotFitError, JobPlotFitMismatchError, JobReadError

__all__ = [
    "AxisType",
    "OutputImageType",
    "FIT_PARAMETER_NAMES",
    "TOF_IMAGE_SHAPE",
    "TOF_PIXCAL_UM",
    "IN_TRAP_IMAGE_SHAPE",
    "IN_TRAP_PIXCAL_UM",
    "MOT_PIXCAL_UM",
    "BimodalFit",
    "bimodal_od",
    "saturate_od",
    "thermal_cloud_od",
    "bose_cloud_od",
    "polylog2",
    "THERMAL_PROFILES",
    "thomas_fermi_od",
    "fit_bimodal_2d",
    "FIT_MODELS",
    "image_space",
    "wire_image",
    "wire_line_chart",
    "OqtantOutput",
    "OqtantPlotOutput",
    "OqtantNonPlotOutput",
    "output_from_values",
    "TF_dist_2D",
    "Gaussian_dist_2D",
    "bimodal_dist_2D",
    "round_sig",
    "in_trap_check",
    "print_keys",
    "JobPlotFitError",
    "JobPlotFitMismatchError",
    "JobReadError",
]
