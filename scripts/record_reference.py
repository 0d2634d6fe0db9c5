"""Record the behaviour of the reference client (``oqtant`` 3.3.4 on PyPI) as JSON fixtures.

The fixtures under ``tests/data/reference/`` let the parity tests
(``tests/schemas/test_reference_parity.py``) compare our package with the
reference without having the reference installed. This script records names,
signatures and outputs only; nothing of the reference's code or text.

How to re-record (the reference lives in its own venv, outside the repo):

    python3 -m venv /work/refvenv
    /work/refvenv/bin/pip install 'oqtant==3.3.4' 'pandas<2.3'
    cd /tmp && /work/refvenv/bin/python -I /path/to/repo/scripts/record_reference.py \
        --out /path/to/repo/tests/data/reference

``-I`` (isolated mode) and running outside the repo make sure the reference
``oqtant`` is imported, not ours. No network or login is needed: only the
factory's object builders are called, never ``get_login``/``get_client``.

Files written:
    surface.json     importable modules -> public names -> kind and signature
    factory.json     factory calls (spec) -> JSON of what they build (or the error)
    potentials.json  potentials and programs of built objects at positions/times
    helpers.json     outputs of the small helper functions on sample inputs

The call specs are data (``FACTORY_CASES``, ``POTENTIAL_CASES`` below) written into
the fixtures with their results; the tests build the same objects from the spec
with our factory. Add a case here and re-record to cover more.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import math
import pkgutil
import warnings
from pathlib import Path

__all__ = ["main", "build", "FACTORY_CASES", "POTENTIAL_CASES"]

# --------------------------------------------------------------------------- specs
# An object spec is {"call": <factory method>, "kwargs": {...}, "set": {...}}; a kwarg
# value may itself be a spec (or a list of specs), built first; "set" (optional) is
# assigned to the built object's attributes afterwards.


def S(call: str, **kwargs):
    return {"call": call, "kwargs": kwargs}


def W(model: str, **data):
    """A wire object (a class of ``bert_schemas.job`` / ``oqtant.schemas.job``) from ``data``."""
    return {"wire": model, "data": data}


WIRE_RF = W("RfEvaporation", times_ms=[-1600, -800, 0, 5], frequencies_mhz=[17, 4, 0.1, 0.2],
            powers_mw=[500, 400, 220, 100], interpolation="LINEAR")
WIRE_RF_NO_SHIELD = W("RfEvaporation", times_ms=[-1000, -500, 0], frequencies_mhz=[15, 3, 0.1],
                      powers_mw=[500, 400, 220], interpolation="LINEAR")
WIRE_BARRIER = W("Barrier", times_ms=[0, 2, 4], positions_um=[-5, 0, 5], heights_khz=[0, 10, 0],
                 widths_um=[1, 2, 1], interpolation="LINEAR", shape="GAUSSIAN")
WIRE_SNAPSHOT = W("Landscape", time_ms=1, positions_um=[-10, 0, 10], potentials_khz=[0, 5, 0],
                  spatial_interpolation="LINEAR")
WIRE_LANDSCAPE = W("OpticalLandscape", interpolation="LINEAR", landscapes=[
    {"time_ms": 0, "positions_um": [-10, 10], "potentials_khz": [1, 2],
     "spatial_interpolation": "LINEAR"},
    {"time_ms": 3, "positions_um": [-10, 10], "potentials_khz": [3, 4],
     "spatial_interpolation": "LINEAR"}])
WIRE_LASER = W("Laser", type="TERMINATOR", position_um=30, pulses=[
    {"times_ms": [1, 2], "intensities_mw_per_cm2": [1, 1], "detuning_mhz": 0,
     "interpolation": "OFF"}])


def _wire_input(**changes):
    values = {"end_time_ms": 20, "image_type": "IN_TRAP", "time_of_flight_ms": 9,
              "rf_evaporation": WIRE_RF["data"], "optical_barriers": [WIRE_BARRIER["data"]],
              "optical_landscape": WIRE_LANDSCAPE["data"], "lasers": [WIRE_LASER["data"]]}
    values.update(changes)
    return W("InputValues", **values)


SNAP_STEP = S("create_snapshot", time=0, positions=[-60, 0, 0, 60], potentials=[0, 0, 5, 5])
SNAP_A = S("create_snapshot", time=0, positions=[-20, 0, 20], potentials=[0, 10, 0])
SNAP_B = S("create_snapshot", time=5, positions=[-20, 0, 20], potentials=[5, 0, 5])
SNAP_C = S("create_snapshot", time=10, positions=[-30, 30], potentials=[20, 20],
           interpolation="OFF")
LAND_AB = S("create_landscape", snapshots=[SNAP_A, SNAP_B])
LAND_ABC = S("create_landscape", snapshots=[SNAP_A, SNAP_B, SNAP_C])
LAND_STEP = S("create_landscape", snapshots=[
    S("create_snapshot", time=0, positions=[-60, 0, 0, 60], potentials=[0, 0, 5, 5]),
    S("create_snapshot", time=2, positions=[-60, 0, 0, 60], potentials=[0, 0, 5, 5]),
])
BARRIER_MOVE = S("create_barrier", positions=[-10, 10], heights=[5, 5], widths=[2, 2],
                 times=[0, 5])
BARRIER_JUMP = S("create_barrier", positions=[0, 0, 20, 20], heights=[10, 10, 10, 10],
                 widths=[2, 2, 2, 2], times=[0, 2, 2.1, 6])
BARRIER_TWICE = S("create_barrier", positions=[0, 0, 20, 20], heights=[10, 10, 10, 10],
                  widths=[2, 2, 2, 2], times=[0, 2, 2, 6])  # a repeated time
BARRIER_SQUARE = S("create_barrier", positions=[5, 5], heights=[8, 8], widths=[4, 4],
                   times=[1, 4], shape="SQUARE")
RF_EVAP = S("create_rf_evap", times=[0, 400, 800, 1200], powers=[500, 450, 400, 300],
            frequencies=[20, 10, 4, 0.5])
RF_SHIELD = S("create_rf_shield", power=300, frequency=0.3, lifetime=10)
TERMINATOR = S("create_terminator", time_on=1, time_off=3)

FACTORY_CASES: list[dict] = [
    # ---- quantum matter
    S("create_quantum_matter"),
    S("create_quantum_matter", name="named", note="a note"),
    S("create_quantum_matter", temperature=0),
    S("create_quantum_matter", temperature=50),
    S("create_quantum_matter", temperature=100),
    S("create_quantum_matter", temperature=250.5),
    S("create_quantum_matter", temperature=500),
    S("create_quantum_matter", temperature=600),
    S("create_quantum_matter", lifetime=0),
    S("create_quantum_matter", lifetime=25),
    S("create_quantum_matter", lifetime=80.5),
    S("create_quantum_matter", lifetime=300),
    S("create_quantum_matter", image="IN_TRAP"),
    S("create_quantum_matter", image="MOT"),
    S("create_quantum_matter", image="TIME_OF_FLIGHT", time_of_flight=5),
    S("create_quantum_matter", time_of_flight=20),
    S("create_quantum_matter", time_of_flight=2),
    S("create_quantum_matter", rf_evap=RF_EVAP),
    S("create_quantum_matter", rf_evap=RF_EVAP, temperature=80),
    S("create_quantum_matter", rf_shield=RF_SHIELD),
    S("create_quantum_matter", rf_shield=RF_SHIELD, lifetime=30),
    S("create_quantum_matter", rf_evap=RF_EVAP, rf_shield=RF_SHIELD, temperature=40),
    S("create_quantum_matter", barriers=[BARRIER_MOVE]),
    S("create_quantum_matter", barriers=[BARRIER_MOVE, BARRIER_JUMP, BARRIER_SQUARE]),
    S("create_quantum_matter", barriers=[BARRIER_MOVE], lifetime=3),
    S("create_quantum_matter", landscape=LAND_AB),
    S("create_quantum_matter", landscape=LAND_ABC, lifetime=10),
    S("create_quantum_matter", landscape=LAND_ABC, lifetime=8),
    S("create_quantum_matter", landscape=LAND_STEP, lifetime=5),
    S("create_quantum_matter", lasers=[TERMINATOR]),
    S("create_quantum_matter", lasers=[TERMINATOR], lifetime=2),
    S("create_quantum_matter", name="everything", temperature=60, lifetime=12,
      image="IN_TRAP", time_of_flight=7, barriers=[BARRIER_MOVE], landscape=LAND_AB,
      lasers=[TERMINATOR], rf_shield=RF_SHIELD, note="all at once"),
    # ---- snapshots
    S("create_snapshot"),
    S("create_snapshot", time=2.5, positions=[-10, 0, 10], potentials=[0, 5, 0]),
    SNAP_STEP,
    S("create_snapshot", positions=[10, -10, 0], potentials=[1, 2, 3]),
    S("create_snapshot", positions=[-10, 10], potentials=[1, 2], interpolation="OFF"),
    S("create_snapshot", positions=[-10, 0, 10], potentials=[1, 4, 2], interpolation="CUBIC"),
    S("create_snapshot", positions=[-61, 10], potentials=[1, 2]),
    S("create_snapshot", positions=[-10, 10], potentials=[1, 101]),
    S("create_snapshot", positions=[-10, 10], potentials=[1]),
    # ---- landscapes
    S("create_landscape"),
    LAND_AB,
    LAND_ABC,
    LAND_STEP,
    S("create_landscape", snapshots=[SNAP_B, SNAP_A]),
    S("create_landscape", snapshots=[SNAP_A]),
    S("create_landscape", snapshots=[SNAP_A, SNAP_A]),
    # ---- barriers
    S("create_barrier"),
    BARRIER_MOVE,
    BARRIER_JUMP,
    BARRIER_TWICE,
    BARRIER_SQUARE,
    S("create_barrier", positions=[0, 0, 0], heights=[0, 10, 0], widths=[1, 1, 1],
      times=[0, 1, 2], interpolation="OFF"),
    S("create_barrier", positions=[0, 10], heights=[5, 5], widths=[1, 1], times=[0, 2],
      shape="LORENTZIAN"),
    S("create_barrier", positions=[0, 10], heights=[5, 5], widths=[1, 1], times=[0, 2],
      interpolation="CUBIC"),
    S("create_barrier", positions=[0], heights=[5], widths=[1], times=[0]),
    S("create_barrier", positions=[0, 1], heights=[5, 5], widths=[1, 1], times=[3, 1]),
    S("create_barrier", positions=[0, 1], heights=[5, 500], widths=[1, 1], times=[0, 1]),
    # ---- terminator / lasers
    TERMINATOR,
    S("create_terminator", time_on=0, time_off=10),
    S("create_terminator", time_on=2.5, time_off=2.6),
    S("create_terminator", time_on=5, time_off=1),
    # ---- RF
    S("create_rf_evap"),
    RF_EVAP,
    S("create_rf_evap", times=[-1000, -500, 0], powers=[500, 400, 300],
      frequencies=[20, 5, 0.5]),
    S("create_rf_evap", times=[0, 500, 500, 1000], powers=[500, 400, 300, 200],
      frequencies=[20, 10, 5, 0.5]),
    S("create_rf_evap", times=[0, 500], powers=[500, 400], frequencies=[20, 0.5],
      interpolation="OFF"),
    S("create_rf_sequence"),
    S("create_rf_sequence", times=[-1000, 0, 5], powers=[500, 300, 200],
      frequencies=[20, 1, 0.5]),
    S("create_rf_sequence", times=[0, 100], powers=[1, 2], frequencies=[3, 4],
      interpolation="STEP"),
    S("create_rf_shield"),
    RF_SHIELD,
    S("create_rf_shield", power=0, frequency=0, lifetime=1),
    S("create_rf_shield", power=100, frequency=2.5, lifetime=7.5),
    S("create_rf_shield", power=100, frequency=30, lifetime=10),
    # ---- from wire objects
    S("create_rf_sequence_from_input", input=WIRE_RF),
    S("create_rf_evap_from_input", input=WIRE_RF),
    S("create_rf_shield_from_input", input=WIRE_RF),
    S("create_rf_shield_from_input", input=WIRE_RF_NO_SHIELD),
    S("create_barrier_from_input", input=WIRE_BARRIER),
    S("create_snapshot_from_input", input=WIRE_SNAPSHOT),
    S("create_landscape_from_input", input=WIRE_LANDSCAPE),
    S("create_terminator_from_input", input=WIRE_LASER),
    S("create_quantum_matter_from_input", name="from wire", input=_wire_input(), note="n"),
    S("create_quantum_matter_from_input", name="plain",
      input=_wire_input(rf_evaporation=WIRE_RF_NO_SHIELD["data"], optical_barriers=None,
                        optical_landscape=None, lasers=None, image_type="TIME_OF_FLIGHT")),
    # ---- changed after they are made, as a notebook may
    {**S("create_quantum_matter", lifetime=20), "set": {"time_of_flight": 3, "note": "later"}},
    {**S("create_quantum_matter"), "set": {"temperature": 150}},
    {**S("create_quantum_matter", lifetime=30),
     "set": {"barriers": [BARRIER_MOVE], "rf_shield": RF_SHIELD}},
    {**S("create_quantum_matter"), "set": {"lifetime": 2, "barriers": [BARRIER_MOVE]}},
]

POSITIONS = [-61, -60, -45.5, -30, -20.25, -10, -5, -2, -1.1, -1, -0.5, 0, 0.5, 1, 1.1, 2,
             5, 9.5, 10, 10.5, 20, 30, 45, 59.5, 60, 61]
TIMES = [-1, 0, 0.05, 0.1, 1, 1.95, 2, 2.05, 2.5, 3, 4.9, 5, 6, 7.5, 10, 11]
QM_STEP = S("create_quantum_matter", landscape=LAND_STEP, lifetime=5)
QM_ALL = S("create_quantum_matter", lifetime=12, barriers=[BARRIER_MOVE, BARRIER_JUMP],
           landscape=LAND_ABC, lasers=[TERMINATOR])


def _pot(obj, method, **kwargs):
    return {"object": obj, "method": method, "kwargs": kwargs}


def _potential_cases() -> list[dict]:
    cases = []
    snaps = [SNAP_STEP, SNAP_A, SNAP_C,
             S("create_snapshot", positions=[-10, 0, 5, 10], potentials=[1, 4, 3, 2],
               interpolation="CUBIC"),
             S("create_snapshot", positions=[-10, 0, 0, 10], potentials=[1, 1, 6, 6],
               interpolation="OFF")]
    for snap in snaps:
        cases.append(_pot(snap, "get_ideal_potential", positions=POSITIONS))
        cases.append(_pot(snap, "get_potential", positions=POSITIONS))
    for land in (LAND_AB, LAND_ABC, LAND_STEP):
        for t in TIMES:
            cases.append(_pot(land, "get_ideal_potential", time=t, positions=POSITIONS))
        for t in (0, 1, 2.5, 5, 7.5, 10):
            cases.append(_pot(land, "get_potential", time=t, positions=POSITIONS))
    for barrier in (BARRIER_MOVE, BARRIER_JUMP, BARRIER_SQUARE):
        for t in TIMES:
            cases.append(_pot(barrier, "get_ideal_potential", time=t, positions=POSITIONS))
        for t in (0, 1, 2, 2.05, 3, 5):
            cases.append(_pot(barrier, "get_potential", time=t, positions=POSITIONS))
        for method in ("get_positions", "get_heights", "get_widths"):
            cases.append(_pot(barrier, method, times=TIMES))
    for qm in (QM_STEP, QM_ALL):
        for t in (0, 1, 2, 2.5, 5, 10):
            cases.append(_pot(qm, "get_ideal_optical_potential", time=t, positions=POSITIONS))
            cases.append(_pot(qm, "get_potential", time=t, positions=POSITIONS))
            cases.append(_pot(qm, "get_potential", time=t, positions=POSITIONS,
                              include_magnetic=False))
        cases.append(_pot(qm, "get_magnetic_potential", positions=POSITIONS))
    # every interpolation kind, in space (snapshots), in time (barriers, landscapes), at
    # and between the points
    kinds = ["LINEAR", "SMOOTH", "OFF", "ZERO", "SLINEAR", "QUADRATIC", "CUBIC", "NEAREST",
             "PREVIOUS", "NEXT"]
    at_points = [-25, -20, -15, -10, -7.5, -5, -2.5, 0, 2.5, 5, 7.5, 10, 12, 15, 17.5, 20, 25]
    for kind in kinds:
        snap = S("create_snapshot", positions=[-20, -10, 0, 10, 20], potentials=[2, 8, 3, 9, 4],
                 interpolation=kind)
        cases.append(_pot(snap, "get_ideal_potential", positions=at_points))
        cases.append(_pot(snap, "get_potential", positions=POSITIONS))
        barrier = S("create_barrier", positions=[-10, 0, 5, 10, 20], heights=[2, 8, 3, 9, 4],
                    widths=[1, 3, 2, 4, 1], times=[0, 1, 2, 3, 4], interpolation=kind)
        for method in ("get_positions", "get_heights", "get_widths"):
            cases.append(_pot(barrier, method, times=[0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]))
        cases.append(_pot(barrier, "get_ideal_potential", time=2.5, positions=POSITIONS))
        land = S("create_landscape", snapshots=[
            S("create_snapshot", time=t, positions=[-20, 0, 20], potentials=[v, 2 * v, v])
            for t, v in ((0, 1), (1, 5), (2, 2), (3, 7), (4, 3))])
        land["set"] = {"interpolation": kind}  # new() takes no interpolation: set it after
        for t in (0, 0.5, 1, 1.5, 2.5, 3.5, 4):
            cases.append(_pot(land, "get_ideal_potential", time=t, positions=[-10, 0, 10]))
    for interpolation in ("LINEAR", "OFF", "PREVIOUS"):
        rf = S("create_rf_sequence", times=[-1000, -500, 0, 5], powers=[500, 300, 200, 100],
               frequencies=[20, 4, 1, 0.5], interpolation=interpolation)
        cases.append(_pot(rf, "get_frequencies", times=[-1000, -750, -500, -250, 0, 2, 5]))
    laser = S("create_terminator", time_on=1, time_off=3)
    cases.append(_pot(laser, "get_intensity_waveform", tstart_ms=0, tend_ms=5,
                      sample_rate_hz=2000))
    rf_times = [-1300, -1100, -1000, -800, -500, -300, -100, 0, 1, 5, 10, 20]
    for rf in (RF_EVAP, S("create_rf_sequence", times=[-1000, 0, 5], powers=[500, 300, 200],
                          frequencies=[20, 1, 0.5]),
               S("create_rf_evap", times=[0, 500, 500, 1000], powers=[500, 400, 300, 200],
                 frequencies=[20, 10, 5, 0.5])):
        cases.append(_pot(rf, "get_frequencies", times=rf_times))
        cases.append(_pot(rf, "get_powers", times=rf_times))
    cases.append(_pot(RF_SHIELD, "frequencies", times=[0, 1, 5, 10, 11]))
    cases.append(_pot(RF_SHIELD, "powers", times=[0, 1, 5, 10, 11]))
    for t in (0, 0.5, 1, 2, 3, 3.5):
        cases.append(_pot(TERMINATOR, "is_on", time_ms=t))
    return cases


POTENTIAL_CASES = _potential_cases()

# --------------------------------------------------------------------------- building


def build(spec, factory, wire=None):
    """Build the object a spec describes with ``factory`` (ours or the reference's).

    ``wire`` is the module of the wire classes (``bert_schemas.job`` for the reference).
    """
    if wire is None:
        from bert_schemas import job as wire
    if isinstance(spec, list):
        return [build(s, factory, wire) for s in spec]
    if isinstance(spec, dict) and "wire" in spec:
        return getattr(wire, spec["wire"])(**spec["data"])
    if isinstance(spec, dict) and "call" in spec:
        kwargs = {k: build(v, factory, wire) for k, v in spec["kwargs"].items()}
        built = getattr(factory, spec["call"])(**kwargs)
        for name, value in spec.get("set", {}).items():  # then assigned, as a notebook may
            setattr(built, name, build(value, factory, wire))
        return built
    return spec


def to_json(obj):
    """JSON of a built object: the wire input of a matter, the model dump of a part."""
    if hasattr(obj, "input") and hasattr(obj, "temperature"):  # a QuantumMatter
        return {
            "input": obj.input.model_dump(mode="json"),
            "fields": {
                k: _plain(getattr(obj, k))
                for k in ("name", "temperature", "lifetime", "image", "time_of_flight", "note")
            },
        }
    return obj.model_dump(mode="json")


def _plain(value):
    value = getattr(value, "value", value)
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return float(value)  # Decimal


def _numbers(values):
    if isinstance(values, (bool,)):
        return values
    try:
        return [float(v) for v in values]
    except TypeError:
        return float(values)


def _fresh_defaults():
    """Undo what a call left in the reference's module defaults.

    The reference writes a ``temperature`` into the last frequency of its shared
    default ramp (in place), so every later matter would carry the temperature
    of an earlier one; each case is recorded from the pristine defaults instead.
    """
    from oqtant.schemas import quantum_matter

    pristine = list(quantum_matter.DEFAULT_RF_EVAP.frequencies_mhz)

    def restore():
        quantum_matter.DEFAULT_RF_EVAP.frequencies_mhz[:] = pristine

    return restore


def _record_factory(factory_cls) -> list[dict]:
    out = []
    restore = _fresh_defaults()
    for spec in FACTORY_CASES:
        restore()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = {"json": to_json(build(spec, factory_cls()))}
            except Exception as err:
                result = {"error": type(err).__name__}
        out.append({"spec": spec, **result})
    return out


def _record_potentials(factory_cls) -> list[dict]:
    out = []
    restore = _fresh_defaults()
    for case in POTENTIAL_CASES:
        restore()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                obj = build(case["object"], factory_cls())
                result = {"result": _numbers(getattr(obj, case["method"])(**case["kwargs"]))}
            except Exception as err:
                result = {"error": type(err).__name__}
        out.append({**case, **result})
    return out


# --------------------------------------------------------------------------- surfaces

OWN_PACKAGES = ("oqtant", "bert_schemas")


def _own(obj) -> bool:
    return str(getattr(obj, "__module__", "") or "").split(".")[0] in OWN_PACKAGES


def _signature(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [
        {
            "name": p.name,
            "kind": p.kind.name,
            "default": None if p.default is inspect.Parameter.empty else repr(p.default),
            "has_default": p.default is not inspect.Parameter.empty,
        }
        for p in sig.parameters.values()
    ]


def _validator_names(cls) -> set[str]:
    decorators = getattr(cls, "__pydantic_decorators__", None)
    names: set[str] = set()
    for kind in ("validators", "field_validators", "root_validators", "field_serializers",
                 "model_serializers", "model_validators"):
        names |= set(getattr(decorators, kind, {}) or {})
    return names


def _members(cls) -> dict:
    members = {}
    validators = _validator_names(cls)
    for klass in reversed(cls.__mro__):
        if not _own(klass):
            continue
        for name, raw in vars(klass).items():
            if name.startswith(("_", "model_")) or name in validators:
                continue  # private names, pydantic hooks and validators
            if isinstance(raw, property):
                members[name] = {"kind": "property"}
            elif isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
                func = getattr(cls, name)
                members[name] = {"kind": type(raw).__name__ if not inspect.isfunction(raw)
                                 else "method", "signature": _signature(func)}
    return members


def _module_surface(mod) -> dict:
    names = {}
    for name in sorted(dir(mod)):
        if name.startswith("_"):
            continue
        obj = getattr(mod, name)
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) and _own(obj):
            bases = [b.__name__ for b in obj.__mro__[1:] if _own(b) or b in (Exception, str)]
            entry = {"kind": "class", "defined_in": obj.__module__, "bases": bases,
                     "signature": _signature(obj), "members": _members(obj)}
            if issubclass(obj, Exception):
                entry["exception"] = True
        elif inspect.isfunction(obj) and _own(obj):
            entry = {"kind": "function", "defined_in": obj.__module__,
                     "signature": _signature(obj)}
        elif name.isupper() and not callable(obj) and name != "TYPE_CHECKING":
            entry = {"kind": "constant"}
        else:
            continue  # third-party and standard-library names imported there
        names[name] = entry
    return names


def _record_surface(package) -> dict:
    surface = {}
    for info in sorted(pkgutil.walk_packages(package.__path__, package.__name__ + "."),
                       key=lambda i: i.name):
        if ".tests" in info.name:
            continue
        try:
            mod = importlib.import_module(info.name)
        except Exception as err:
            surface[info.name] = {"import_error": type(err).__name__}
            continue
        surface[info.name] = _module_surface(mod)
    return surface


# --------------------------------------------------------------------------- helpers


def _record_helpers() -> dict:
    import numpy as np

    from oqtant.schemas import job, output, quantum_matter, rf

    x, y = np.meshgrid(np.linspace(-5, 5, 7), np.linspace(-4, 4, 5))
    mesh = (x, y)
    rounds = [[v, s, output.round_sig(v, s)] for v in (1234.5678, 0.00123456, -98.76, 1.0,
                                                        5.55, 0.095, 123456789.0)
              for s in (1, 2, 3, 5)]
    nested = {"a": 1, "b": {"c": 2, "d": {"e": 3}}, "f": [{"g": 1}, {"h": {"i": 2}}, 3]}
    printed = {}
    for drill in (False, True):
        for indent in (0, 3):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                job.print_keys(nested, indent=indent, drill_lists=drill)
            printed[f"indent={indent},drill_lists={drill}"] = buf.getvalue()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        job.print_keys([1, 2], indent=0)
    printed["not a dict"] = buf.getvalue()

    class _Fake:
        def __init__(self, image_type):
            self.image_type = image_type

    @output.in_trap_check
    def _probe(obj, value=1):
        return value * 2

    checks = {}
    for image in ("IN_TRAP", "TIME_OF_FLIGHT", "MOT"):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            result = _probe(_Fake(output.OutputImageType(image)), value=21)
        checks[image] = {"result": result, "stdout": buf.getvalue()}
    login = quantum_matter.OqtantLogin()
    from oqtant.fixtures import jobs

    return {
        "standard_jobs": {"ultracold_matter_job": jobs.ultracold_matter_job,
                          "barrier_manipulator_job": jobs.barrier_manipulator_job},
        "TF_dist_2D": {"args": [3.0, 0.5, -0.5, 4.0, 3.0, 0.1],
                       "result": list(output.TF_dist_2D(mesh, 3.0, 0.5, -0.5, 4.0, 3.0, 0.1))},
        "Gaussian_dist_2D": {"args": [2.0, 0.5, -0.5, 2.0, 1.5, 0.05],
                             "result": list(output.Gaussian_dist_2D(mesh, 2.0, 0.5, -0.5,
                                                                    2.0, 1.5, 0.05))},
        "bimodal_dist_2D": {"args": [1.0, 3.0, 2.5, 2.0, 2.0, 1.5, 0.3, -0.2, 0.01],
                            "result": list(output.bimodal_dist_2D(mesh, 1.0, 3.0, 2.5, 2.0,
                                                                  2.0, 1.5, 0.3, -0.2, 0.01))},
        "mesh": {"x": x.tolist(), "y": y.tolist()},
        "round_sig": rounds,
        "print_keys": {"subject": nested, "printed": printed},
        "in_trap_check": checks,
        "OutputImageType": {m.name: m.value for m in output.OutputImageType},
        "OqtantLogin": {"fields": list(vars(login)), "access_token": login.access_token},
        "ConversionError": {"is_exception": issubclass(rf.ConversionError, Exception),
                            "same_in_quantum_matter":
                                quantum_matter.ConversionError is rf.ConversionError},
        "constants": {
            "TEMPERATURE_TO_EVAP_FREQUENCY": quantum_matter.TEMPERATURE_TO_EVAP_FREQUENCY,
            "DEFAULT_NAME": quantum_matter.DEFAULT_NAME,
            "DEFAULT_LIFETIME": float(quantum_matter.DEFAULT_LIFETIME),
            "DEFAULT_TOF": float(quantum_matter.DEFAULT_TOF),
            "DEFAULT_IMAGE": quantum_matter.DEFAULT_IMAGE.value,
            "DEFAULT_RF_EVAP": quantum_matter.DEFAULT_RF_EVAP.model_dump(mode="json"),
            "SIG_ABS": job.SIG_ABS,
        },
    }


# --------------------------------------------------------------------------- main


def _write(path: Path, data) -> None:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return repr(v)
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    path.write_text(json.dumps(clean(data), indent=1, sort_keys=False) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="tests/data/reference")
    args = parser.parse_args(argv)
    import oqtant
    from oqtant.schemas.quantum_matter import QuantumMatterFactory

    if not Path(oqtant.__file__).resolve().parts[-3:-1] == ("site-packages", "oqtant"):
        raise SystemExit(f"not the installed reference: {oqtant.__file__}; run with -I outside "
                         "the repo")
    from importlib.metadata import version

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"oqtant": version("oqtant"), "bert-schemas": version("bert-schemas")}
    _write(args.out / "surface.json", {"meta": meta, "modules": _record_surface(oqtant)})
    _write(args.out / "factory.json", {"meta": meta,
                                       "cases": _record_factory(QuantumMatterFactory)})
    _write(args.out / "potentials.json", {"meta": meta,
                                          "cases": _record_potentials(QuantumMatterFactory)})
    _fresh_defaults()()
    _write(args.out / "helpers.json", {"meta": meta, **_record_helpers()})
    print(f"recorded the reference {meta} into {args.out}")


if __name__ == "__main__":
    main()
