"""Series of runs side by side: a table of what differs and what came out, and plots of it.

``sweep_table(items)`` takes QuantumMatter or OqtantJob (a batch's matter, the
jobs of a scan, ...) and gives one row per run: its name, job, run and status,
the inputs that differ between the runs, and the results (atoms, temperature,
condensed fraction; for IN_TRAP runs the peak OD and the integrated atom
number). It is a pandas DataFrame when pandas is installed, else a
:class:`SweepTable` (a list of dicts that prints as a text table).

``plot_sweep(items, x=..., y=...)`` draws results against one swept input.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from oqtant.analysis.in_trap import in_trap_atom_number
from oqtant.constants import IN_TRAP_PIXCAL_UM
from oqtant.errors import ValidationError
from oqtant.schemas.job import ImageType, InputValues, OqtantJob

__all__ = ["RESULTS", "SweepTable", "field_value", "plot_sweep", "sweep_rows", "sweep_table"]

RESULTS: dict[str, str] = {
    "tof_atom_number": "atoms",
    "temperature_nk": "temperature (nK)",
    "condensed_fraction": "condensed fraction",
    "condensed_atom_number": "condensed atoms",
    "thermal_atom_number": "thermal atoms",
    "peak_od": "peak OD",
    "integrated_atoms": "integrated atoms",
}
"""The result columns (their names in the table) and their labels on plots."""

_TOF_RESULTS = ("tof_atom_number", "temperature_nk", "condensed_fraction")
_IN_TRAP_RESULTS = ("peak_od", "integrated_atoms")

# readable names for the inputs a sweep usually varies: name -> (field path it covers, value)
_NAMED_INPUTS: dict[str, tuple[str, Callable[[InputValues], Any]]] = {
    "final RF (kHz)": (
        "rf_evaporation.frequencies_mhz[-1]",
        lambda v: round(v.rf_evaporation.frequencies_mhz[-1] * 1000.0, 6),
    ),
    "lifetime (ms)": ("end_time_ms", lambda v: v.end_time_ms),
    "time of flight (ms)": ("time_of_flight_ms", lambda v: v.time_of_flight_ms),
    "image": ("image_type", lambda v: str(v.image_type)),
}


@dataclass
class _Run:
    """One run, whatever object it came from."""

    item: Any
    name: str
    job_id: str | None
    run: int
    status: str | None
    values: InputValues
    output: Any  # wire NonPlotOutput / PlotOutput (or their Oqtant* subclasses), or None
    failure_reason: str | None


def _as_run(item: Any) -> _Run:
    if isinstance(item, OqtantJob):
        index = min(item.active_run, len(item.inputs)) - 1
        inp = item.inputs[index]
        return _Run(
            item, item.name, str(item.external_id) if item.external_id else None,
            inp.run or index + 1, str(item.status), inp.values,
            inp.output.values if inp.output is not None else None,
            inp.error or item.failure_reason,
        )
    if hasattr(item, "input") and hasattr(item, "output"):  # a QuantumMatter
        status = item.status
        return _Run(
            item, item.name, item.job_id, item.run, str(status) if status else None,
            item.input, item.output, getattr(item, "failure_reason", None),
        )
    raise ValidationError(
        f"items: expected QuantumMatter or OqtantJob objects, got {type(item).__name__}",
        [("items", "QuantumMatter or OqtantJob")],
    )


# --------------------------------------------------------------------------- inputs

def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(sub, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, sub in enumerate(value):
            _flatten(sub, f"{path}[{i}]", out)
    else:
        out[path] = tuple(value) if isinstance(value, list) else value


def _flat_inputs(values: InputValues) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(values.model_dump(mode="json"), "", out)
    return out


def _varied_inputs(runs: list[_Run]) -> dict[str, list[Any]]:
    """The inputs that differ between the runs: readable names first, then field paths."""
    columns: dict[str, list[Any]] = {}
    for name, (_path, read) in _NAMED_INPUTS.items():
        values = [read(r.values) for r in runs]
        if len(set(map(repr, values))) > 1:
            columns[name] = values
    covered = {path for path, _ in _NAMED_INPUTS.values() if not path.endswith("[-1]")}
    last_covered = {path[:-4] for path, _ in _NAMED_INPUTS.values() if path.endswith("[-1]")}
    flats = [_flat_inputs(r.values) for r in runs]
    for path in sorted({p for f in flats for p in f}):
        values = [f.get(path) for f in flats]
        if path in covered or len(set(map(repr, values))) <= 1:
            continue
        if path in last_covered and not _differs_beyond_last(values):
            continue
        columns[path] = [list(v) if isinstance(v, tuple) else v for v in values]
    return columns


def _differs_beyond_last(values: list[Any]) -> bool:
    """For a list field whose last item has a readable column: does more than that differ?"""
    if not all(isinstance(v, tuple) and v for v in values):
        return True
    return len({v[:-1] for v in values}) > 1


def field_value(values: InputValues, path: str) -> Any:
    """The value at a field path of a run's input, e.g. ``rf_evaporation.frequencies_mhz[-1]``."""
    current: Any = values.model_dump(mode="json")
    for part in re.findall(r"[^.\[\]]+|\[-?\d+\]", path):
        try:
            key: Any = int(part[1:-1]) if part.startswith("[") else part
            current = current[key]
        except (KeyError, IndexError, TypeError):
            raise ValidationError(
                f"x: {path!r} is not a field of the runs' input (at {part!r})",
                [("x", "a column of sweep_table, a field path of the input, or a callable")],
            ) from None
    return current


# --------------------------------------------------------------------------- results

def _pixels(image: Any) -> tuple[list[float], float]:
    return list(image.pixels), float(image.pixcal or IN_TRAP_PIXCAL_UM)


def _results(run: _Run) -> dict[str, Any]:
    out = run.output
    if out is None:
        return {}
    if hasattr(out, "it_plot"):
        pixels, pixcal_um = _pixels(out.it_plot)
        return {
            "peak_od": round(max(pixels), 4) if pixels else None,
            "integrated_atoms": round(in_trap_atom_number(pixels, pixcal_um)),
        }
    total = out.thermal_atom_number + out.condensed_atom_number
    fraction = round(out.condensed_atom_number / total, 3) if total else None
    # a cloud with (almost) no thermal part has no temperature one can fit: None, not "0 nK"
    temperature = out.temperature_nk if out.temperature_nk > 0 else None
    return {
        "tof_atom_number": out.tof_atom_number,
        "temperature_nk": temperature,
        "condensed_fraction": fraction,
        "condensed_atom_number": out.condensed_atom_number,
        "thermal_atom_number": out.thermal_atom_number,
    }


def _result_columns(runs: list[_Run]) -> tuple[str, ...]:
    in_trap = any(r.values.image_type == ImageType.IN_TRAP for r in runs)
    tof = any(r.values.image_type != ImageType.IN_TRAP for r in runs)
    return (_TOF_RESULTS if tof else ()) + (_IN_TRAP_RESULTS if in_trap else ())


# --------------------------------------------------------------------------- the table

def _format_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format_cell(v) for v in value) + "]"
    return str(value)


class SweepTable(list):
    """The rows of :func:`sweep_table` (dicts, one per run) that print as a text table."""

    def columns(self) -> list[str]:
        names: list[str] = []
        for row in self:
            names.extend(k for k in row if k not in names)
        return names

    def __repr__(self) -> str:
        names = self.columns()
        cells = [names] + [[_format_cell(row.get(n)) for n in names] for row in self]
        widths = [max(len(r[i]) for r in cells) for i in range(len(names))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __str__ = __repr__


def sweep_rows(items: Iterable[Any]) -> list[dict[str, Any]]:
    """One dict per run: name, job_id, run, status, the inputs that differ, the results."""
    runs = [_as_run(item) for item in items]
    if not runs:
        raise ValidationError("items: give at least one QuantumMatter or OqtantJob",
                              [("items", "one or more")])
    varied = _varied_inputs(runs)
    results = _result_columns(runs)
    rows = []
    for i, run in enumerate(runs):
        row: dict[str, Any] = {
            "name": run.name, "job_id": run.job_id, "run": run.run, "status": run.status,
        }
        row.update({name: values[i] for name, values in varied.items()})
        found = _results(run)
        row.update({name: found.get(name) for name in results})
        if run.failure_reason:
            row["failure_reason"] = run.failure_reason
        rows.append(row)
    return rows


def sweep_table(items: Iterable[Any]) -> Any:
    """A table of runs: the inputs that differ between them, and their results.

    Args:
        items: QuantumMatter (e.g. the list given to ``submit_list_as_batch``, after
            ``get_result``) or OqtantJob objects (each one run, as ``get_job`` gives it).

    Returns:
        A ``pandas.DataFrame`` when pandas is installed, else a :class:`SweepTable`
        (a list of dicts, one per run, that prints as a table). Results a run does
        not have (it failed, or a temperature of a nearly pure condensate, which
        cannot be measured) are None.
    """
    rows = sweep_rows(items)
    if importlib.util.find_spec("pandas") is not None:
        import pandas

        return pandas.DataFrame(rows)
    return SweepTable(rows)


# --------------------------------------------------------------------------- the plot

def _x_values(runs: list[_Run], rows: list[dict], x: Any) -> tuple[list[Any], str]:
    if callable(x):
        return [x(r.item) for r in runs], getattr(x, "__name__", "x")
    if x is None:
        varied = [k for k in rows[0] if k not in ("name", "job_id", "run", "status",
                                                  "failure_reason", *RESULTS)]
        if len(varied) != 1:
            raise ValidationError(
                f"x: say which input the runs sweep (they differ in {varied or 'nothing'})",
                [("x", "a column of sweep_table, a field path of the input, or a callable")],
            )
        x = varied[0]
    if x in rows[0]:
        return [row[x] for row in rows], str(x)
    if x in _NAMED_INPUTS:
        return [_NAMED_INPUTS[x][1](r.values) for r in runs], str(x)
    return [field_value(r.values, x) for r in runs], str(x)


def _y_values(runs: list[_Run], rows: list[dict], y: Any) -> tuple[list[Any], str]:
    if callable(y):
        return [y(r.item) for r in runs], getattr(y, "__name__", "y")
    if y not in RESULTS:
        raise ValidationError(
            f"y: {y!r} is not a result; choose from {sorted(RESULTS)} or give a callable",
            [("y", "a result name or a callable")],
        )
    return [_results(r).get(y) for r in runs], RESULTS[y]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def plot_sweep(
    items: Iterable[Any],
    x: str | Callable[[Any], float] | None = None,
    y: str | Callable[[Any], float] | Sequence[str | Callable[[Any], float]] | None = None,
    file_name: str | None = None,
    title: str | None = None,
):
    """Draw results against a swept input: one panel per result, the runs in order of ``x``.

    Args:
        items: QuantumMatter or OqtantJob objects (as for :func:`sweep_table`).
        x: the swept input: a column of :func:`sweep_table` (``"final RF (kHz)"``,
            ``"lifetime (ms)"``, ...), a field path of the input
            (``"rf_evaporation.frequencies_mhz[-1]"``), or a callable of an item;
            None: the one input that differs.
        y: a result name (``"tof_atom_number"``, ``"temperature_nk"``,
            ``"condensed_fraction"``, ``"peak_od"``, ``"integrated_atoms"``), a
            callable of an item, or several of them; None: atoms, temperature and
            condensed fraction (peak OD and integrated atoms for IN_TRAP runs).
        file_name: also save the figure there (PNG, PDF, ... by its extension).
        title: the figure's title.

    Returns:
        The matplotlib Figure (released by pyplot: a notebook shows it once, as the
        cell's value; ``fig.savefig`` works on it later). Runs without a value
        (failed, or no measurable temperature) are left out of their panel.
    """
    import matplotlib.pyplot as plt

    items = list(items)
    runs = [_as_run(item) for item in items]
    rows = sweep_rows(items)
    x_values, x_label = _x_values(runs, rows, x)
    if y is None:
        y = _result_columns(runs)
    ys = [y] if isinstance(y, str) or callable(y) else list(y)
    panels = [_y_values(runs, rows, one_y) for one_y in ys]  # bad input: no figure made
    fig, axes = plt.subplots(len(ys), 1, figsize=(6, 2.4 * len(ys) + 0.6), sharex=True,
                             squeeze=False)
    for ax, (y_values, y_label) in zip(axes[:, 0], panels, strict=True):
        points = sorted(
            (xv, yv) for xv, yv in zip(map(_number, x_values), map(_number, y_values),
                                       strict=True)
            if xv is not None and yv is not None
        )
        if points:
            ax.plot(*zip(*points, strict=True), "o-")
        missing = len(runs) - len(points)
        if missing:
            ax.set_title(f"{missing} run(s) without a value", loc="right", fontsize=8,
                         color="0.4")
        ax.set_ylabel(y_label)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(x_label)
    fig.suptitle(title or f"{runs[0].name}: {len(runs)} run(s)")
    fig.tight_layout()
    if file_name:
        try:
            fig.savefig(file_name, dpi=100)
        except OSError as exc:
            plt.close(fig)
            raise ValidationError(
                f"file_name: cannot save the plot to {file_name} ({exc})",
                [("file_name", "must be a writable path")],
            ) from exc
    plt.close(fig)  # pyplot lets go of it (a notebook shows the returned figure once)
    return fig
