"""Plain-text display of the client: tables of jobs and limits, short names, times."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from oqtant.schemas.job import OqtantJob

__all__ = ["format_table", "format_time", "short"]


def format_table(headers: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A plain-text table with a header rule, for printing search results and limits."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line]
    for n, row in enumerate(cells):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |")
        if n == 0:
            out.append(line.replace("-", "="))
    out.append(line)
    return "\n".join(out)


def short(name: str | None, width: int = 40) -> str:
    name = name or ""
    return name if len(name) <= width else name[: width - 3] + "..."


def format_time(value: Any) -> str:
    if not value:
        return ""
    try:
        return OqtantJob.format_datetime(value)
    except (TypeError, ValueError):
        return str(value)
