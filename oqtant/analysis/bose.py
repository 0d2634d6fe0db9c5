"""Bose functions of the ideal Bose gas, the one home of them in the package.

``g_n(z) = sum_k z^k / k^n`` for a fugacity ``0 <= z <= 1``. The dilogarithm
``g_2`` is scipy's Spence function, ``g_2(z) = spence(1 - z)``; the profile of an
expanded cloud needs ``g_2(exp(-rho))`` at ``rho >= 0``, computed without
forming ``1 - z`` where ``z`` is tiny.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import spence

from oqtant.errors import ValidationError

__all__ = [
    "ZETA2",
    "ZETA3",
    "BOSE_ATOMS_FACTOR",
    "g1_exp",
    "g2_exp",
    "g3",
    "polylog2",
]

ZETA2 = math.pi**2 / 6.0
"""g_2(1) = zeta(2)."""
ZETA3 = 1.2020569031595942853997
"""g_3(1) = zeta(3)."""
BOSE_ATOMS_FACTOR = ZETA3 / ZETA2
"""Integral of g_2(exp(-rho)) / g_2(1) over the plane, in units of that of exp(-rho)."""

_SERIES_TERMS = 26  # sum_k w^k / k^2 for w = exp(-rho) <= exp(-1): tail below 1e-13


def g2_exp(rho) -> np.ndarray:
    """g_2(exp(-rho)) for rho >= 0 (array), to about 1e-13.

    Near rho = 0 (the fugacity-1 core) ``spence(1 - exp(-rho))`` with
    ``1 - exp(-rho) = -expm1(-rho)``; further out the power series in
    ``w = exp(-rho) <= 1/e``, exact where ``1 - w`` would round to 1.
    """
    rho = np.asarray(rho, dtype=float)
    out = np.empty_like(rho)
    near = rho < 1.0
    out[near] = spence(-np.expm1(-rho[near]))
    w = np.exp(-rho[~near])
    acc = np.zeros_like(w)
    for k in range(_SERIES_TERMS, 0, -1):  # Horner: w (1 + w (1/4 + w (1/9 + ...)))
        acc = w * (1.0 / k**2 + acc)
    out[~near] = acc
    return out


def g1_exp(rho) -> np.ndarray:
    """g_1(exp(-rho)) = -ln(1 - exp(-rho)) = -d g_2(exp(-rho)) / d rho (large at rho -> 0)."""
    return -np.log(-np.expm1(-np.maximum(rho, 1e-300)))


def g3(z: float) -> float:
    """g_3(z) = sum_k z^k / k^3 for 0 <= z <= 1 (g_3(1) = zeta(3)), to about 1e-12."""
    if z >= 1.0:
        return ZETA3
    k = np.arange(1, 20001, dtype=float)
    return float(np.sum(z**k / k**3))


def polylog2(z) -> np.ndarray | float:
    """The Bose function g_2(z) = sum_k z^k / k^2 (dilogarithm) for 0 <= z <= 1.

    Vectorised; accurate to about 1e-13 (g_2(1) = pi^2 / 6).

    Raises:
        ValidationError: a value of ``z`` outside [0, 1].
    """
    arr = np.asarray(z, dtype=float)
    if np.any(~(arr >= 0.0) | (arr > 1.0)):
        raise ValidationError("z: the Bose function g_2 is evaluated for 0 <= z <= 1")
    with np.errstate(divide="ignore"):
        rho = -np.log(arr)
    out = np.where(arr > 0.0, g2_exp(np.where(arr > 0.0, rho, 50.0)), 0.0)
    return float(out) if out.ndim == 0 else out
