"""Bad spaces and arguments are refused with errors naming the parameter, before any run."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from oqtant.errors import ValidationError
from oqtant.optimize import optimize, parse_space

from .helpers import CountingBackend, evap_design, tof_atoms


def test_ranges_logs_ints_and_choices():
    space = parse_space({"a": (0.0, 1.0), "b": (1e-3, 1.0, "log"), "n": (1, 5), "m": (0, 10, "int", 2),
                         "shape": ["GAUSSIAN", "SQUARE"]})
    assert space["a"] == FloatDistribution(0.0, 1.0)
    assert space["b"] == FloatDistribution(1e-3, 1.0, log=True)
    assert space["n"] == IntDistribution(1, 5)
    assert space["m"] == IntDistribution(0, 10, step=2)
    assert space["shape"] == CategoricalDistribution(["GAUSSIAN", "SQUARE"])


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ((5.0, 1.0), "low bound must be below the high bound"),
        ((1.0, 1.0), "low bound must be below"),
        ((0.0, 1.0, "log"), "log range needs a low bound above 0"),
        ((0.0, 1.0, "cubic"), "scale must be one of"),
        (("0", 1.0), "low bound must be a number"),
        ((0.0, float("inf")), "high bound must be finite"),
        ((0, 10, "int", 3), "step must be >= 1 and divide"),
        ((0.5, 10, "int"), "whole-number bounds"),
        ((1.0,), "a range is (low, high)"),
        ([], "at least one choice"),
        (["a", "a"], "choices must be distinct"),
        ([{"x": 1}], "choices must be None, booleans, numbers or strings"),
        ({1, 2}, "give a tuple"),
        (3.0, "give a tuple"),
    ],
)
def test_bad_spec_names_the_parameter_and_rule(spec, rule):
    with pytest.raises(ValidationError) as caught:
        parse_space({"final_mhz": spec})
    assert "space['final_mhz']" in str(caught.value)
    assert rule in str(caught.value)
    assert caught.value.errors[0][0] == "space.final_mhz"


@pytest.mark.parametrize("space", [None, {}, [("a", (0, 1))]])
def test_space_must_be_a_non_empty_dict(space):
    with pytest.raises(ValidationError, match="space: give a non-empty dictionary"):
        parse_space(space)


def test_a_bad_space_runs_nothing():
    backend = CountingBackend()
    with pytest.raises(ValidationError, match="space\\['final_mw'\\]"):
        optimize(evap_design, tof_atoms, {"final_mhz": (0.02, 0.2), "final_mw": (500.0, 100.0)},
                 runs=4, backend=backend, progress=False)
    assert backend.calls == []


def test_a_design_invalid_at_the_centre_runs_nothing():
    """A design breaking the apparatus's limits (RF above 25 MHz) is refused before any run."""
    backend = CountingBackend()
    with pytest.raises(ValidationError, match="(?s)design: at the centre.*frequencies_mhz"):
        optimize(evap_design, tof_atoms, {"final_mhz": (26.0, 40.0)}, runs=4, backend=backend,
                 progress=False)
    assert backend.calls == []


def test_a_design_must_return_quantum_matter():
    with pytest.raises(ValidationError, match="design: must return a QuantumMatter"):
        optimize(lambda p: {"final": p}, tof_atoms, {"x": (0.0, 1.0)}, runs=2, progress=False,
                 backend=CountingBackend())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": 0}, "runs: must be a whole number >= 1"),
        ({"batch_size": 0}, "batch_size: must be a whole number >= 1"),
        ({"repeats": 3, "runs": 2}, "runs: a budget of 2 run"),
        ({"sampler": "annealing"}, "sampler: must be one of gp, tpe"),
        ({"direction": "up"}, "direction: 'maximize' or 'minimize'"),
        ({"sim": True, "client": object()}, "sim: the simulator runs in this process"),
        ({"direction": ["maximize", "minimize"], "sampler": "gp"}, "sampler: 'gp' optimises one"),
        ({"study_name": ""}, "study_name: must be non-empty text"),
    ],
)
def test_bad_arguments(kwargs, message):
    backend = CountingBackend()
    with pytest.raises(ValidationError, match=message.replace("(", "\\(")):
        optimize(evap_design, tof_atoms, {"final_mhz": (0.02, 0.2)}, progress=False,
                 backend=backend, **kwargs)
    assert backend.calls == []
