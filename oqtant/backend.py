"""The plug-in point between the job service and whatever executes a run.

The service hands a backend one run's :class:`~oqtant.schemas.job.InputValues`
and a seed, and stores what comes back. The emulated apparatus
(:class:`oqtant.emulator.Apparatus`) is the default implementation; a lab plugs
in real hardware by writing a class with the same ``run`` method and naming it
in ``OQTANT_BACKEND`` (``package.module:ClassName``).
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from oqtant.schemas.job import InputValues, Output, RawImages

__all__ = ["RunResult", "Backend", "load_backend", "DEFAULT_BACKEND"]

DEFAULT_BACKEND = "oqtant.emulator:Apparatus"


class RunResult(BaseModel):
    """What one run produces: the wire output and the raw absorption frames."""

    model_config = ConfigDict(extra="forbid")

    output: Output
    raw_images: list[RawImages] = []


@runtime_checkable
class Backend(Protocol):
    """Executes one run. Must be picklable (it is sent to worker processes)."""

    def run(self, input_values: InputValues, seed: int = 0) -> RunResult:
        """Run one cycle of the apparatus and return its output and raw frames."""
        ...


def load_backend(spec: str = DEFAULT_BACKEND) -> Backend:
    """Instantiate a backend from ``"package.module:ClassName"``."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"backend must look like 'package.module:ClassName', got {spec!r}")
    cls = getattr(importlib.import_module(module_name), class_name)
    backend = cls()
    if not isinstance(backend, Backend):
        raise TypeError(f"{spec} has no run(input_values, seed) method")
    return backend
