"""The plot methods of a Simulator (drawn by :mod:`oqtant.simulator.plots`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from oqtant.errors import SimulationError

if TYPE_CHECKING:  # pragma: no cover
    from oqtant.simulator.simulator import Simulator

__all__ = ["SimulatorPlots"]


def _as_list(times_ms) -> list[float]:
    return [float(t) for t in np.atleast_1d(np.asarray(times_ms, dtype=float))]


class SimulatorPlots:
    """Plots and animations of a finished simulation (a mixin of Simulator)."""

    def _simulator(self) -> Simulator:
        from oqtant.simulator.simulator import Simulator

        if not isinstance(self, Simulator):
            raise SimulationError("plots are drawn for a Simulator only")
        return self

    def show_density(self, times_ms, *, file_name: str | None = None):
        """Density n(x, r) (atoms/um^3) at each of ``times_ms``, mirrored about the axis."""
        from oqtant.simulator import plots

        return plots.show_density(self._simulator(), _as_list(times_ms), file_name=file_name)

    def show_density_cylindrical(self, times_ms, *, file_name: str | None = None):
        """Alias of :meth:`show_density`."""
        return self.show_density(times_ms, file_name=file_name)

    def show_phase(self, times_ms, *, file_name: str | None = None):
        """Phase of the wave function in (x, r) at each of ``times_ms``."""
        from oqtant.simulator import plots

        return plots.show_phase(self._simulator(), _as_list(times_ms), file_name=file_name)

    def show_column_densities(self, times_ms, *, file_name: str | None = None):
        """Column density images (atoms/um^2) with axial profiles at each of ``times_ms``."""
        from oqtant.simulator import plots

        return plots.show_column_densities(
            self._simulator(), _as_list(times_ms), file_name=file_name
        )

    def show_current(self, times_ms, *, file_name: str | None = None):
        """Axial atom current (atoms/ms) at each of ``times_ms``."""
        from oqtant.simulator import plots

        return plots.show_current(self._simulator(), _as_list(times_ms), file_name=file_name)

    def show_potential(self, times_ms, *, file_name: str | None = None):
        """Axial potential (trap + light, kHz) with the axial density, at each of ``times_ms``."""
        from oqtant.simulator import plots

        return plots.show_potential(self._simulator(), _as_list(times_ms), file_name=file_name)

    def show_final_result(self, *, file_name: str | None = None):
        """The output image (IN_TRAP column density or TOF optical density)."""
        from oqtant.simulator import plots

        return plots.show_final_result(self._simulator(), file_name=file_name)

    def animate_density(
        self, *, file_name: str | None = None, frame_interval: int = 1, fps: int = 10
    ):
        """Animation of the axial density and potential; saved to ``file_name`` (.gif or .mp4)."""
        from oqtant.simulator import plots

        return plots.animate(
            self._simulator(),
            "density",
            file_name=file_name,
            frame_interval=frame_interval,
            fps=fps,
        )

    def animate_phase(
        self, *, file_name: str | None = None, frame_interval: int = 1, fps: int = 10
    ):
        """Animation of the phase in (x, r); saved to ``file_name`` (.gif or .mp4)."""
        from oqtant.simulator import plots

        return plots.animate(
            self._simulator(), "phase", file_name=file_name, frame_interval=frame_interval, fps=fps
        )

    def animate_column_density(
        self, *, file_name: str | None = None, frame_interval: int = 1, fps: int = 10
    ):
        """Animation of the column density image; saved to ``file_name`` (.gif or .mp4)."""
        from oqtant.simulator import plots

        return plots.animate(
            self._simulator(), "column", file_name=file_name, frame_interval=frame_interval, fps=fps
        )

    def animate_current(
        self, *, file_name: str | None = None, frame_interval: int = 1, fps: int = 10
    ):
        """Animation of the axial current (in the trap); saved to ``file_name`` (.gif or .mp4)."""
        from oqtant.simulator import plots

        return plots.animate(
            self._simulator(),
            "current",
            file_name=file_name,
            frame_interval=frame_interval,
            fps=fps,
        )
