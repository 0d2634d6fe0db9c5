"""Fast test backends implementing ``oqtant.backend.Backend``.

``FastBackend`` returns a valid wire output computed from the input in
milliseconds: a Gaussian cloud whose width grows with the final RF frequency
(a hotter, larger cloud for a higher knife) and whose atom number falls with it;
IN_TRAP runs give a column-density image whose length is set by
``end_time_ms``. The other backends fail in the ways a real one can.
"""

from __future__ import annotations

import math
import threading

from oqtant.backend import RunResult
from oqtant.schemas.job import (
    Image,
    ImageType,
    InputValues,
    LineChart,
    NonPlotOutput,
    Output,
    PlotOutput,
    RawImages,
    TofFit,
)

__all__ = [
    "CALLS",
    "FailingBackend",
    "FastBackend",
    "GarbageBackend",
    "GatedBackend",
    "cloud_sigma_px",
]

SIZE = 16
CALLS: list[tuple[float, int]] = []  # (final RF frequency, seed) of each run, in call order
_CALLS_LOCK = threading.Lock()


def cloud_sigma_px(final_frequency_mhz: float) -> float:
    """Width (pixels) of the synthetic cloud for a final RF frequency."""
    return 1.0 + 4.0 * final_frequency_mhz


def _gaussian_image(sigma_px: float, peak_od: float, pixcal: float) -> Image:
    c = (SIZE - 1) / 2
    pixels = [
        peak_od * math.exp(-((i - c) ** 2 + (j - c) ** 2) / (2 * sigma_px**2))
        for i in range(SIZE)
        for j in range(SIZE)
    ]
    return Image(pixels=pixels, rows=SIZE, columns=SIZE, pixcal=pixcal)


class FastBackend:
    """A millisecond stand-in for the apparatus; deterministic in (input, seed)."""

    def run(self, input_values: InputValues, seed: int = 0) -> RunResult:
        final_mhz = input_values.rf_evaporation.frequencies_mhz[
            input_values.rf_evaporation.times_ms.index(
                max(t for t in input_values.rf_evaporation.times_ms if t <= 0)
            )
        ]
        with _CALLS_LOCK:
            CALLS.append((final_mhz, seed))
        sigma = cloud_sigma_px(final_mhz)
        atoms = int(2e5 / (1.0 + final_mhz))
        if input_values.image_type == ImageType.IN_TRAP:
            length = max(2, int(input_values.end_time_ms) + 2)
            image = Image(pixels=[1.0] * (2 * length), rows=2, columns=length, pixcal=0.344)
            output = Output(values=PlotOutput(it_plot=image))
        else:
            od = _gaussian_image(sigma, 1.5, 4.4)
            chart = LineChart(points=[{"x": float(i), "y": od.pixels[i]} for i in range(SIZE)])
            output = Output(
                values=NonPlotOutput(
                    mot_fluorescence_image=_gaussian_image(4.0, 1.0, 4.4),
                    tof_image=od,
                    tof_fit_image=od,
                    tof_fit=TofFit(
                        gaussian_od=1.5,
                        gaussian_sigma_x=sigma,
                        gaussian_sigma_y=sigma,
                        tf_od=0.0,
                        tf_x=1.0,
                        tf_y=1.0,
                        x_0=(SIZE - 1) / 2,
                        y_0=(SIZE - 1) / 2,
                        offset=0.0,
                    ),
                    tof_x_slice=chart,
                    tof_y_slice=chart,
                    total_mot_atom_number=10 * atoms,
                    tof_atom_number=atoms,
                    thermal_atom_number=atoms,
                    condensed_atom_number=0,
                    temperature_nk=int(100 * final_mhz),
                )
            )
        background = Image(pixels=[1000.0] * 4, rows=2, columns=2, pixcal=4.4)
        absolute = Image(pixels=[1000.0 * math.exp(-1.5)] * 4, rows=2, columns=2, pixcal=4.4)
        dark = Image(pixels=[0.0] * 4, rows=2, columns=2, pixcal=4.4)
        raw = RawImages(absolute=absolute, background=background, dark=dark)
        return RunResult(output=output, raw_images=[raw])


class FailingBackend:
    """Raises on every run whose final RF frequency is above 1 MHz; works otherwise."""

    def run(self, input_values: InputValues, seed: int = 0) -> RunResult:
        if input_values.rf_evaporation.frequencies_mhz[-1] > 1.0:
            raise RuntimeError("the RF amplifier tripped")
        return FastBackend().run(input_values, seed)


class GarbageBackend:
    """Returns something that is not a run result."""

    def run(self, input_values: InputValues, seed: int = 0):
        return {"output": "not an output"}


class GatedBackend(FastBackend):
    """Like FastBackend, but each run waits until ``release`` is set (thread executors only)."""

    started = threading.Event()
    release = threading.Event()

    def run(self, input_values: InputValues, seed: int = 0) -> RunResult:
        type(self).started.set()
        if not type(self).release.wait(timeout=20):
            raise TimeoutError("the test never released the run")
        return super().run(input_values, seed)
