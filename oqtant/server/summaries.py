"""The few numbers of a run's output that a list of runs shows (no database, no web).

Computed by the worker as a run finishes (so a worker imports this, not the
database layer) and, for outputs stored before, by a migration.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["output_summary", "summary_json"]

_SUMMARY_FIELDS = (
    "tof_atom_number",
    "thermal_atom_number",
    "condensed_atom_number",
    "temperature_nk",
    "total_mot_atom_number",
)


def summary_json(values: Any) -> str:
    """The few numbers of a run's output that a list of runs shows, as JSON.

    ``values``: the output's values, as the wire model or its JSON dict. A
    time-of-flight output gives its atom numbers and temperature; an in-trap
    output the peak of its image.
    """

    def get(key: str) -> Any:
        return values.get(key) if isinstance(values, dict) else getattr(values, key, None)

    it_plot = get("it_plot")
    if it_plot:
        pixels = it_plot.get("pixels") if isinstance(it_plot, dict) else it_plot.pixels
        return json.dumps({"image": "IN_TRAP", "peak_od": round(float(max(pixels or [0.0])), 3)})
    return json.dumps({"image": "TIME_OF_FLIGHT", **{k: get(k) for k in _SUMMARY_FIELDS}})


def output_summary(output_json: str | None) -> str | None:
    """``summary_json`` of a stored output (JSON text), or None when there is none."""
    if not output_json:
        return None
    try:
        values = json.loads(output_json).get("values") or {}
    except (ValueError, AttributeError):
        return None
    return summary_json(values)
