"""The reference's cloud profiles (a thin re-export of :mod:`oqtant.analysis.distributions`)."""

from oqtant.analysis.distributions import Gaussian_dist_2D, TF_dist_2D, bimodal_dist_2D, round_sig
from oqtant.matter.output import in_trap_check

__all__ = ["TF_dist_2D", "Gaussian_dist_2D", "bimodal_dist_2D", "round_sig", "in_trap_check"]
