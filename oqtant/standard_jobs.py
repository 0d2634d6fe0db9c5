"""The two standard jobs of the service, as job dicts (the reference client's templates).

Used by the client (``oqtant.oqtant_client`` re-exports them), the server's
console and the tests. Plain data: it imports only the wire format's constants.
"""

from __future__ import annotations

from typing import Any

from oqtant.schemas.job import STANDARD_RF_TIMES_MS

__all__ = ["STANDARD_RF_POWERS_MW", "barrier_manipulator_job", "ultracold_matter_job"]

STANDARD_RF_POWERS_MW = (500.0, 500.0, 475.0, 360.0, 220.0)
"""The powers (mW) of the standard RF ramp at ``STANDARD_RF_TIMES_MS``."""

#: The standard ultracold-matter job: an RF ramp ending 45 kHz above the trap
#: bottom (a nearly pure BEC), imaged after 8 ms time of flight.
ultracold_matter_job: dict[str, Any] = {
    "name": "Example Ultracold Matter Generator Job",
    "job_type": "BEC",
    "inputs": [
        {
            "values": {
                "time_of_flight_ms": 8.0,
                "image_type": "TIME_OF_FLIGHT",
                "end_time_ms": 0.0,
                "rf_evaporation": {
                    "times_ms": list(STANDARD_RF_TIMES_MS),
                    "frequencies_mhz": [17.0, 8.0, 4.0, 1.2, 0.045],
                    "powers_mw": list(STANDARD_RF_POWERS_MW),
                    "interpolation": "LINEAR",
                },
                "optical_barriers": None,
                "optical_landscape": None,
                "lasers": None,
            }
        }
    ],
}

#: The standard barrier-manipulator job: the same ramp ending at 0.1 MHz, then
#: one Gaussian barrier at the trap centre whose height rises by 5 kHz every
#: 2 ms, from 0 to 50 kHz; the density is imaged in the trap at 20 ms.
barrier_manipulator_job: dict[str, Any] = {
    "name": "Example Barrier Manipulator Job",
    "job_type": "BARRIER",
    "inputs": [
        {
            "values": {
                "time_of_flight_ms": 7.0,
                "image_type": "IN_TRAP",
                "end_time_ms": 20.0,
                "rf_evaporation": {
                    "times_ms": list(STANDARD_RF_TIMES_MS),
                    "frequencies_mhz": [17.0, 8.0, 4.0, 1.2, 0.1],
                    "powers_mw": list(STANDARD_RF_POWERS_MW),
                    "interpolation": "LINEAR",
                },
                "optical_barriers": [
                    {
                        "times_ms": [float(t) for t in range(0, 21, 2)],
                        "positions_um": [0.0] * 11,
                        "heights_khz": [float(h) for h in range(0, 51, 5)],
                        "widths_um": [1.0] * 11,
                        "interpolation": "LINEAR",
                        "shape": "GAUSSIAN",
                    }
                ],
                "optical_landscape": None,
                "lasers": None,
            }
        }
    ],
}
