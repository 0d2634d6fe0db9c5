"""Argument checks of the simulator: each names the argument and the rule it breaks."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from oqtant.errors import SimulationError

__all__ = [
    "check_callable",
    "check_finite_array",
    "check_positive",
    "check_range",
    "check_shape",
]


def check_positive(value: float, argname: str) -> float:
    """Return ``value`` as a float if it is finite and > 0, else raise SimulationError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SimulationError(f"{argname} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise SimulationError(f"{argname} must be a finite number > 0, got {value!r}")
    return number


def check_range(value: float, low: float, high: float, argname: str) -> float:
    """Return ``value`` as a float if low <= value <= high, else raise SimulationError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SimulationError(f"{argname} must be a number, got {value!r}") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise SimulationError(f"{argname} must be between {low:g} and {high:g}, got {value!r}")
    return number


def check_finite_array(array, argname: str) -> np.ndarray:
    """Return ``array`` as an ndarray if every entry is finite, else raise SimulationError."""
    out = np.asarray(array)
    if not np.all(np.isfinite(out)):
        raise SimulationError(f"{argname} contains NaN or infinite values")
    return out


def check_shape(array: np.ndarray, shape: tuple[int, ...], argname: str) -> np.ndarray:
    """Raise SimulationError unless ``array`` has exactly ``shape``."""
    if tuple(np.shape(array)) != tuple(shape):
        raise SimulationError(
            f"{argname} must have shape {tuple(shape)}, got {tuple(np.shape(array))}"
        )
    return array


def check_callable(func: Callable | None, argname: str) -> Callable | None:
    """Raise SimulationError unless ``func`` is None or callable."""
    if func is not None and not callable(func):
        raise SimulationError(f"{argname} must be a callable or None, got {type(func).__name__}")
    return func
