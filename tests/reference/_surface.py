"""Compare our public surface with the recorded reference surface (tests/data/reference)."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from pathlib import Path

__all__ = ["load", "surface_problems", "signature_problems", "signature_of"]

DATA = Path(__file__).resolve().parents[1] / "data" / "reference"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def signature_of(obj):
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


_DECIMAL = re.compile(r"Decimal\('([^']*)'\)")
_ENUM = re.compile(r"<[A-Za-z_][\w.]*: ('[^']*')>")


def _norm_default(text):
    """A default's repr as a value: Decimal('1') is 1.0, an enum member is its value."""
    if text is None:
        return None
    text = _ENUM.sub(r"\1", _DECIMAL.sub(lambda m: repr(float(m.group(1))), text))
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value


def signature_problems(where: str, ref: list | None, ours: list | None) -> list[str]:
    """Ours accepts every call the reference accepts, the same way.

    Same parameter names in the same order with the same kinds and defaults
    (a default of ours where the reference has none, or a positional-or-keyword
    parameter where the reference's is keyword-only, is fine: every call of the
    reference still works); extra parameters of ours only at the end and only
    with defaults (or *args/**kwargs).
    """
    if ref is None:
        return []
    if ours is None:
        return [f"{where}: no signature"]
    problems = []
    ref_names = [p["name"] for p in ref]
    our_names = [p["name"] for p in ours]
    if our_names[: len(ref_names)] != ref_names:
        return [f"{where}: parameters {our_names} != reference {ref_names}"]
    for r, o in zip(ref, ours):
        # a keyword-only parameter of the reference may be positional-or-keyword in ours
        kw_ok = r["kind"] == "KEYWORD_ONLY" and o["kind"] == "POSITIONAL_OR_KEYWORD"
        if r["kind"] != o["kind"] and not kw_ok:
            problems.append(f"{where}({r['name']}): kind {o['kind']} != {r['kind']}")
        if r["has_default"] and not o["has_default"]:
            problems.append(f"{where}({r['name']}): no default (reference: {r['default']})")
        elif r["has_default"] and _norm_default(r["default"]) != _norm_default(o["default"]):
            problems.append(f"{where}({r['name']}): default {o['default']} != {r['default']}")
    for extra in ours[len(ref):]:
        if not extra["has_default"] and extra["kind"] not in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            problems.append(f"{where}: extra parameter {extra['name']} has no default")
    return problems


def _member_problems(where: str, cls, ref_members: dict) -> list[str]:
    problems = []
    for name, ref in ref_members.items():
        raw = inspect.getattr_static(cls, name, None)
        if raw is None:
            problems.append(f"{where}.{name}: missing")
            continue
        if ref["kind"] == "property":
            if not isinstance(raw, property) and not hasattr(raw, "__get__"):
                problems.append(f"{where}.{name}: not a property")
            continue
        func = getattr(cls, name)
        if not callable(func):
            problems.append(f"{where}.{name}: not callable")
            continue
        problems += signature_problems(f"{where}.{name}", ref["signature"], signature_of(func))
    return problems


def surface_problems(module_name: str, ref_names: dict) -> list[str]:
    """What a user of the reference module misses or finds different in ours."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        return [f"{module_name}: cannot import ({err})"]
    problems = []
    for name, ref in ref_names.items():
        where = f"{module_name}.{name}"
        if not hasattr(module, name):
            problems.append(f"{where}: missing")
            continue
        obj = getattr(module, name)
        if ref["kind"] == "class":
            if not inspect.isclass(obj):
                problems.append(f"{where}: not a class")
                continue
            if ref.get("exception") and not issubclass(obj, Exception):
                problems.append(f"{where}: not an exception")
            problems += signature_problems(where, ref["signature"], signature_of(obj))
            problems += _member_problems(where, obj, ref["members"])
        elif ref["kind"] == "function":
            if not callable(obj):
                problems.append(f"{where}: not callable")
                continue
            problems += signature_problems(where, ref["signature"], signature_of(obj))
    return problems
