"""The search space: what each parameter may be, checked with errors that name it.

A space is a dictionary ``{name: spec}``; a spec is

- ``(low, high)``: a real number between the bounds (an integer if both are ints),
- ``(low, high, "log")``: a real number on a log scale (both bounds > 0),
- ``(low, high, "int")`` or ``(low, high, "int", step)``: a whole number,
- a list of choices: ``["GAUSSIAN", "LORENTZIAN"]``,
- or an Optuna distribution (``optuna.distributions.FloatDistribution(...)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from oqtant.errors import ValidationError

__all__ = ["as_range", "describe_space", "parse_space", "space_centre"]

_SCALES = ("linear", "log", "int")


def _bad(name: str, rule: str, got: Any) -> ValidationError:
    return ValidationError(f"space[{name!r}]: {rule} (got {got!r})", [(f"space.{name}", rule)])


def as_range(dist: BaseDistribution) -> FloatDistribution | IntDistribution:
    """A distribution that is not a choice, as the range it is.

    Optuna types every distribution as ``BaseDistribution``; all of its distributions
    but ``CategoricalDistribution`` are float or int ranges (the deprecated ones subclass them).
    """
    return cast("FloatDistribution | IntDistribution", dist)


def _number(name: str, value: Any, which: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name, f"the {which} bound must be a number", value)
    if not math.isfinite(value):
        raise _bad(name, f"the {which} bound must be finite", value)
    return value


def _range(name: str, spec: tuple | list) -> BaseDistribution:
    if len(spec) not in (2, 3, 4):
        raise _bad(name, "a range is (low, high), (low, high, 'log') or (low, high, 'int'[, step])",
                   spec)
    low, high = _number(name, spec[0], "low"), _number(name, spec[1], "high")
    if not low < high:
        raise _bad(name, "the low bound must be below the high bound", spec)
    scale = spec[2] if len(spec) > 2 else ("int" if all(isinstance(v, int) for v in spec[:2])
                                            else "linear")
    if scale not in _SCALES:
        raise _bad(name, f"the scale must be one of {', '.join(_SCALES)}", scale)
    if len(spec) == 4 and scale != "int":
        raise _bad(name, "a step is only given for integers: (low, high, 'int', step)", spec)
    if scale == "log":
        if low <= 0:
            raise _bad(name, "a log range needs a low bound above 0", spec)
        return FloatDistribution(float(low), float(high), log=True)
    if scale == "int":
        step = spec[3] if len(spec) == 4 else 1
        if not (isinstance(low, int) and isinstance(high, int) and isinstance(step, int)) or any(
                isinstance(v, bool) for v in (low, high, step)):
            raise _bad(name, "an integer range needs whole-number bounds and step", spec)
        if step < 1 or (high - low) % step:
            raise _bad(name, "the step must be >= 1 and divide high - low", spec)
        return IntDistribution(low, high, step=step)
    return FloatDistribution(float(low), float(high))


def _choices(name: str, spec: list) -> BaseDistribution:
    if len(spec) < 1:
        raise _bad(name, "a list of choices needs at least one choice", spec)
    for choice in spec:
        if choice is not None and not isinstance(choice, bool | int | float | str):
            raise _bad(name, "choices must be None, booleans, numbers or strings", choice)
    if len(set(map(repr, spec))) != len(spec):
        raise _bad(name, "choices must be distinct", spec)
    return CategoricalDistribution(list(spec))


def parse_space(space: Any) -> dict[str, BaseDistribution]:
    """Optuna distributions of a space; raise ValidationError naming the first bad parameter."""
    if not isinstance(space, Mapping) or not space:
        raise ValidationError(
            "space: give a non-empty dictionary {parameter name: (low, high) | choices}",
            [("space", "a non-empty dictionary")],
        )
    parsed: dict[str, BaseDistribution] = {}
    for name, spec in space.items():
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"space: parameter names must be non-empty text (got {name!r})",
                                  [("space", "names are non-empty text")])
        if isinstance(spec, BaseDistribution):
            parsed[name] = spec
        elif isinstance(spec, tuple):
            parsed[name] = _range(name, spec)
        elif isinstance(spec, list):
            parsed[name] = _choices(name, spec)
        else:
            raise _bad(name, "give a tuple (low, high[, 'log' | 'int']) or a list of choices",
                       spec)
    return parsed


def describe_space(space: Mapping[str, BaseDistribution]) -> dict[str, str]:
    """A JSON-friendly description of a parsed space (kept with a study to check on resume)."""
    return {name: distribution_to_json(dist) for name, dist in space.items()}


def space_centre(space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """The middle of every range (geometric for log ranges) and each first choice."""
    centre: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            centre[name] = dist.choices[0]
        elif isinstance(dist, IntDistribution):
            steps = (dist.high - dist.low) // dist.step
            centre[name] = dist.low + (steps // 2) * dist.step
        else:
            numeric = as_range(dist)
            centre[name] = (math.sqrt(numeric.low * numeric.high) if numeric.log
                            else 0.5 * (numeric.low + numeric.high))
    return centre
