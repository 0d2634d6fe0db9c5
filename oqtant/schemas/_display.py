"""Display helpers that notebooks written for the reference client import from ``schemas.job``."""

from __future__ import annotations

from typing import Any

__all__ = ["SIG_ABS", "print_keys"]

SIG_ABS = 0.297
"""An absorption cross-section (um^2) notebooks for the reference client use to turn
optical density into atoms per pixel area; ours is ``constants.RESONANT_CROSS_SECTION_M2``."""


def print_keys(subject: Any, indent: int = 0, drill_lists: bool = False) -> None:
    """Print the keys of a nested dict as an indented list (``- key``), two spaces a level.

    With ``drill_lists``, the dicts inside lists are printed too. Anything but a
    dict prints nothing.
    """
    if not isinstance(subject, dict):
        return
    for key, value in subject.items():
        print(f"{' ' * indent}- {key}")
        children = [value] if isinstance(value, dict) else []
        if drill_lists and isinstance(value, list):
            children = [v for v in value if isinstance(v, dict)]
        for child in children:
            print_keys(child, indent=indent + 2, drill_lists=drill_lists)
