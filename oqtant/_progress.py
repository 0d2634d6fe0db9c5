"""Progress bars: a notebook widget where ipywidgets is installed, else a text bar.

``tqdm.auto`` picks the widget bar in any Jupyter kernel and warns ("IProgress
not found") when ipywidgets is missing; here the text bar is used quietly then.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

__all__ = ["tqdm", "bar_class"]


@cache
def bar_class() -> type:
    """The tqdm class to use: ``tqdm.auto`` with ipywidgets installed, else ``tqdm.std``."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm as auto_bar

        return auto_bar
    from tqdm.std import tqdm as text_bar

    return text_bar


def tqdm(*args: Any, **kwargs: Any) -> Any:
    """A progress bar of :func:`bar_class` (same arguments as ``tqdm.tqdm``)."""
    return bar_class()(*args, **kwargs)
