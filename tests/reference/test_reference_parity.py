"""Parity with the reference client (oqtant 3.3.4): names, factory JSON, potentials.

The fixtures in tests/data/reference were recorded from the reference with
scripts/record_reference.py (see its docstring to re-record); these tests run
without the reference installed. Deliberate differences are listed here with
their reason and in docs/client.md ("Parity with the reference client").
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from oqtant.schemas import job as job_schema
from oqtant.schemas.quantum_matter import QuantumMatterFactory
from tests.reference._surface import load, surface_problems

SURFACE = load("surface.json")["modules"]
FACTORY = load("factory.json")["cases"]
POTENTIALS = load("potentials.json")["cases"]

# Reference modules whose names we mirror at the same import path.
IN_SCOPE = {
    "oqtant.oqtant_client",
    "oqtant.schemas",
    "oqtant.schemas.job",
    "oqtant.schemas.optical",
    "oqtant.schemas.output",
    "oqtant.schemas.quantum_matter",
    "oqtant.schemas.rf",
    "oqtant.util",
    "oqtant.util.exceptions",
}
# Reference modules we deliberately do not mirror, and why (docs/client.md says the same).
OUT_OF_SCOPE = {
    "oqtant.fixtures": "sample jobs of the reference service; we ship our own examples",
    "oqtant.fixtures.jobs": "sample jobs of the reference service; we ship our own examples",
    "oqtant.settings": "our settings configure our own server, not the reference's Auth0",
    "oqtant.start_notebook": "a Jupyter launcher; not part of the client API",
    "oqtant.util.auth": "the reference's Auth0 browser login; ours is oqtant.login",
    "oqtant.util.server": "the reference's login callback server; ours is oqtant.login",
    "oqtant.simulator": "our simulator is another solver with its own API (docs/simulator.md)",
    "oqtant.simulator.qm_potential": "internal to the reference's simulator",
    "oqtant.simulator.simulator": "our simulator is another solver with its own API",
    "oqtant.simulator.three_dim": "internal to the reference's simulator",
    "oqtant.simulator.wave_function": "internal to the reference's simulator",
}


# Signature differences we keep on purpose (docs/client.md says why).
KNOWN_DIFFERENCES = {
    "Barrier(times_ms)": "our wire Barrier's defaults are a valid 2-point program",
    "Barrier(positions_um)": "our wire Barrier's defaults are a valid 2-point program",
    "Barrier(heights_khz)": "our wire Barrier's defaults are a valid 2-point program",
    "Barrier(widths_um)": "our wire Barrier's defaults are a valid 2-point program",
    "RfShield(times_ms)": "the reference's default is not a valid shield (times <= 0)",
    "get_image_space(datafile)": "None stands for the reference's all-zero default image",
    "ProjectionSettings": "our projection settings name their units (resolution_um, ...)",
    "ProjectionSettings.projected_spots": "ours is a field of ProjectionSettings",
    "ProjectedSettings": "the same class as ProjectionSettings",
    "ProjectedSettings.projected_spots": "ours is a field of ProjectionSettings",
}


def _unexpected(problems: list[str]) -> list[str]:
    """The problems not in KNOWN_DIFFERENCES (matched on what a problem is about)."""
    def known(problem: str) -> bool:
        where = problem.split(": ")[0]
        return any(where == k or where.endswith("." + k) for k in KNOWN_DIFFERENCES)

    return [p for p in problems if not known(p)]


def test_every_recorded_module_is_classified():
    assert set(SURFACE) == IN_SCOPE | set(OUT_OF_SCOPE)


def _names_in_scope(names: dict) -> dict:
    """Names of a module, less those defined in a module we do not mirror."""
    return {
        name: ref
        for name, ref in names.items()
        if ref.get("defined_in") not in OUT_OF_SCOPE
    }


@pytest.mark.parametrize("module", sorted(IN_SCOPE))
def test_module_surface_matches_the_reference(module):
    problems = _unexpected(surface_problems(module, _names_in_scope(SURFACE[module])))
    assert problems == [], "\n".join(problems)


def test_the_surface_check_finds_a_missing_name_and_a_changed_default():
    ref = {
        "nothing_here": {"kind": "function", "signature": []},
        "QuantumMatterFactory": SURFACE["oqtant.schemas.quantum_matter"]["QuantumMatterFactory"],
    }
    altered = dict(ref["QuantumMatterFactory"])
    members = dict(altered["members"])
    sig = [dict(p) for p in members["create_barrier"]["signature"]]
    next(p for p in sig if p["name"] == "positions")["default"] = "[1.0, 2.0]"
    members["create_barrier"] = {**members["create_barrier"], "signature": sig}
    ref["QuantumMatterFactory"] = {**altered, "members": members}
    problems = surface_problems("oqtant.schemas.quantum_matter", ref)
    assert any("nothing_here: missing" in p for p in problems)
    assert any("create_barrier(positions): default" in p for p in problems)


# --------------------------------------------------------------------------- factory


def build(spec, factory):
    """The object a recorded spec describes, built with our factory (see the recorder)."""
    if isinstance(spec, list):
        return [build(s, factory) for s in spec]
    if isinstance(spec, dict) and "wire" in spec:
        return getattr(job_schema, spec["wire"])(**spec["data"])
    if isinstance(spec, dict) and "call" in spec:
        kwargs = {k: build(v, factory) for k, v in spec["kwargs"].items()}
        built = getattr(factory, spec["call"])(**kwargs)
        for name, value in spec.get("set", {}).items():
            setattr(built, name, build(value, factory))
        return built
    return spec


def _plain(value):
    value = getattr(value, "value", value)
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return float(value)


def to_json(obj):
    if hasattr(obj, "input") and hasattr(obj, "temperature"):
        return {
            "input": obj.input.model_dump(mode="json"),
            "fields": {
                k: _plain(getattr(obj, k))
                for k in ("name", "temperature", "lifetime", "image", "time_of_flight", "note")
            },
        }
    return obj.model_dump(mode="json")


def canon(value):
    """JSON values as the service reads them: numbers as floats.

    The reference writes a shield's time as a string ("12") in the RF times:
    the number it stands for is what counts (see docs/client.md).
    """
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canon(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _ids(cases) -> list[str]:
    out = []
    for i, case in enumerate(cases):
        spec = case.get("spec", case.get("object"))
        out.append(f"{i}-{spec['call']}-{case.get('method', '')}".rstrip("-"))
    return out


@pytest.mark.parametrize("case", FACTORY, ids=_ids(FACTORY))
def test_factory_call_builds_the_reference_json(case):
    factory = QuantumMatterFactory()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "error" in case:
            with pytest.raises(Exception):
                to_json(build(case["spec"], factory))
            return
        ours = to_json(build(case["spec"], factory))
    assert canon(ours) == canon(case["json"])


# --------------------------------------------------------------------------- potentials

def _kind(case) -> str:
    spec = case["object"]
    return str(spec.get("set", {}).get("interpolation")
               or spec["kwargs"].get("interpolation", "LINEAR"))


# Where the reference's reader fails and ours evaluates (docs/client.md):
# - a snapshot with a position given twice and OFF interpolation: ours is the step;
# - a SMOOTH barrier (the reference has no SMOOTH in time);
# - a landscape read in time with a kind that needs more than two points, or with
#   OFF, ZERO or SLINEAR exactly at a snapshot's time: ours reads all the snapshots.
OURS_EVALUATES = {
    ("create_snapshot", "OFF"),
    ("create_barrier", "SMOOTH"),
    *(("create_landscape", k) for k in ("SMOOTH", "OFF", "ZERO", "SLINEAR", "QUADRATIC",
                                        "CUBIC")),
}
def _evaluate(case):
    obj = build(case["object"], QuantumMatterFactory())
    return getattr(obj, case["method"])(**case["kwargs"])


@pytest.mark.parametrize("case", POTENTIALS, ids=_ids(POTENTIALS))
def test_potential_matches_the_reference(case):
    key = (case["object"]["call"], _kind(case))
    if "error" in case:
        if key in OURS_EVALUATES:
            assert np.all(np.isfinite(_evaluate(case)))
        else:
            with pytest.raises(Exception):
                _evaluate(case)
        return
    obj = build(case["object"], QuantumMatterFactory())
    ours = getattr(obj, case["method"])(**case["kwargs"])
    ref = case["result"]
    if isinstance(ref, bool):
        assert bool(ours) is ref
        return
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(ref, dtype=float),
                               rtol=0, atol=1e-6)


def test_recorded_potentials_cover_steps():
    """The fixtures hold the step snapshot, read by the reference as a step at 0."""
    step = [c for c in POTENTIALS if c["method"] == "get_ideal_potential"
            and c["object"]["kwargs"].get("positions") == [-60, 0, 0, 60]
            and c["object"]["kwargs"].get("interpolation", "LINEAR") == "LINEAR"]
    assert step
    positions = step[0]["kwargs"]["positions"]
    values = dict(zip(positions, step[0]["result"]))
    assert values[-1] == 0 and values[0.5] == 5 and not math.isnan(values[0])
