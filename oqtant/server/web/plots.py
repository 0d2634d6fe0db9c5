"""The console's figures: drawn by :mod:`oqtant.server.figures`, kept in an in-memory LRU.

A run's figures are drawn by its worker as it completes and stored with the run
(``run_figures``); the figure route serves those first. Figures that are not
stored (older runs, a figure that failed to draw in the worker) are drawn here on
demand and kept in the LRU below (bytes) as well as stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cachetools import LRUCache

from oqtant.server.figures import (
    INPUT_KINDS,
    OUTPUT_KINDS,
    THUMB_KIND,
    input_kinds_for,
    output_kinds_for,
    potential_times_ms,
    render_input_png,
    render_output_png,
    render_thumb_png,
)

__all__ = [
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "THUMB_KIND",
    "cached_png",
    "input_kinds_for",
    "output_kinds_for",
    "peek_png",
    "potential_times_ms",
    "render_input_png",
    "render_output_png",
    "render_thumb_png",
]

CACHE_SIZE = 512

_cache: LRUCache[tuple, bytes] = LRUCache(maxsize=CACHE_SIZE)
_cache_lock = threading.Lock()  # cachetools' caches are not thread-safe


def peek_png(key: tuple) -> bytes | None:
    """The cached PNG under ``key``, or None."""
    with _cache_lock:
        return _cache.get(key)


def cached_png(key: tuple, draw: Callable[[], bytes]) -> bytes:
    """The PNG under ``key``, drawn by ``draw()`` the first time (LRU of CACHE_SIZE figures)."""
    png = peek_png(key)
    if png is not None:
        return png
    png = draw()  # outside the lock: drawing takes long, and has its own lock
    with _cache_lock:
        _cache[key] = png
    return png
