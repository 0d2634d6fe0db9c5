"""The fixed limits of the apparatus that the wire schemas enforce.

One frozen object per subsystem, so that limits are named once and read
everywhere (schemas, projection, simulator, emulator, web forms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ProjectionSettings", "TimingSettings", "JobLimits", "pset", "tset", "jset"]


@dataclass(frozen=True)
class ProjectionSettings:
    """The light projection system along x (energies E/h in kHz, lengths in um)."""

    resolution_um: float = 2.2  # 1/e^2 diameter of one projected spot
    position_step_um: float = 1.0  # spacing of the projected spots
    min_position: float = -60.0
    max_position: float = 60.0
    num_projected_spots: int = 121
    update_period_ms: float = 0.1
    max_energy: float = 100.0  # kHz
    min_barrier_width: float = 0.5  # um
    max_barrier_width: float = 50.0  # um
    native_barrier_width: float = 0.5  # um
    min_barrier_times: int = 2
    max_barrier_times: int = 20
    max_barriers: int = 10
    min_snapshots: int = 2
    max_snapshots: int = 5
    min_landscape_points: int = 2
    max_landscape_points: int = 121
    terminator_position: float = 30.0  # um, centre of the terminator beam
    terminator_width: float = 20.7  # um, 1/e^2 width of the terminator beam
    projected_spots: np.ndarray = field(
        default_factory=lambda: np.linspace(-60.0, 60.0, 121), compare=False, repr=False
    )


@dataclass(frozen=True)
class TimingSettings:
    """Times of the cycle, in ms."""

    resolution_ms: float = 0.1
    min_evap_time_ms: int = -2000
    max_exp_time_ms: float = 200.0
    min_tof_ms: float = 2.0
    max_tof_ms: float = 20.0


@dataclass(frozen=True)
class JobLimits:
    """Limits on a job as a whole and on its RF ramp."""

    min_name_length: int = 1
    max_name_length: int = 50
    max_note_length: int = 500
    min_runs: int = 1
    max_runs: int = 30
    min_rf_points: int = 1
    max_rf_points: int = 20
    max_rf_frequency_mhz: float = 25.0
    max_rf_power_mw: float = 1000.0


pset = ProjectionSettings()
tset = TimingSettings()
jset = JobLimits()
