"""The few numbers of a run's output that a list of runs shows (no database, no web).

Computed by the worker as a run finishes (so a worker imports this, not the
database layer) and, for outputs stored before, by a migration or on read
(:func:`needs_refresh`).

A time-of-flight output gives its atom numbers and temperature. An in-trap
output gives the peak of its image (``peak_od``), the atoms in it
(``integrated_atoms``: the sum of OD times the pixel area over the in-trap
probe's cross-section, :func:`oqtant.analysis.in_trap_atom_number`), and the OD on
the cloud's axis at the barrier (``barrier_od`` at ``barrier_x_um``: the position
of the run's first barrier at its end, or the centre, 0, when it has none).
"""

from __future__ import annotations

import json
from typing import Any

from oqtant.constants import IN_TRAP_PIXCAL_UM

__all__ = ["IN_TRAP_KEYS", "barrier_x_um", "needs_refresh", "output_summary", "summary_json"]

_SUMMARY_FIELDS = (
    "tof_atom_number",
    "thermal_atom_number",
    "condensed_atom_number",
    "temperature_nk",
    "total_mot_atom_number",
)

IN_TRAP_KEYS = ("peak_od", "integrated_atoms", "barrier_x_um", "barrier_od")
"""What the summary of an in-trap output holds (besides ``image``)."""


def _field(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def barrier_x_um(inputs: Any) -> float:
    """Where the run's first barrier stands at its end (um), or 0 (the centre) without one.

    ``inputs``: the run's input values (the wire model, its JSON dict or JSON text), or None.
    """
    if isinstance(inputs, str):
        inputs = json.loads(inputs)
    barriers = _field(inputs, "optical_barriers") if inputs is not None else None
    if not barriers:
        return 0.0
    positions = _field(barriers[0], "positions_um") or [0.0]
    return float(positions[-1])


def _in_trap_summary(it_plot: Any, inputs: Any) -> dict[str, Any]:
    # imported here: the analysis package brings scipy, which the database layer does not need
    import numpy as np

    from oqtant.analysis.in_trap import in_trap_atom_number, od_on_axis_at

    pixels = np.asarray(_field(it_plot, "pixels") or [], dtype=float)
    rows, columns = int(_field(it_plot, "rows") or 0), int(_field(it_plot, "columns") or 0)
    pixcal = float(_field(it_plot, "pixcal") or IN_TRAP_PIXCAL_UM)
    image = (
        pixels.reshape(rows, columns) if rows * columns == pixels.size else pixels.reshape(1, -1)
    )
    x_um = barrier_x_um(inputs)
    finite = pixels[np.isfinite(pixels)]
    return {
        "image": "IN_TRAP",
        "peak_od": round(float(finite.max()) if finite.size else 0.0, 3),
        "integrated_atoms": round(in_trap_atom_number(image, pixcal)),
        "barrier_x_um": round(x_um, 3),
        "barrier_od": round(od_on_axis_at(image, pixcal, x_um) if image.size else 0.0, 3),
    }


def summary_json(values: Any, inputs: Any = None) -> str:
    """The few numbers of a run's output that a list of runs shows, as JSON.

    ``values``: the output's values, as the wire model or its JSON dict.
    ``inputs``: the run's input values (model, dict or JSON text), for the
    barrier's position; without them the OD is read at the centre.
    """
    it_plot = _field(values, "it_plot")
    if it_plot:
        return json.dumps(_in_trap_summary(it_plot, inputs))
    return json.dumps(
        {"image": "TIME_OF_FLIGHT", **{k: _field(values, k) for k in _SUMMARY_FIELDS}}
    )


def output_summary(output_json: str | None, values_json: str | None = None) -> str | None:
    """``summary_json`` of a stored output (JSON text), or None when there is none.

    ``values_json``: the run's stored input, for the barrier's position.
    """
    if not output_json:
        return None
    try:
        values = json.loads(output_json).get("values") or {}
        inputs = json.loads(values_json) if values_json else None
    except (ValueError, AttributeError):
        return None
    return summary_json(values, inputs)


def needs_refresh(summary: dict | None) -> bool:
    """Whether a stored summary lacks numbers this version gives (an in-trap one from before)."""
    return (
        summary is not None
        and summary.get("image") == "IN_TRAP"
        and any(k not in summary for k in IN_TRAP_KEYS)
    )
