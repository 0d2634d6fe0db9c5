"""What a run returned, as the user's object: its images, atom statistics and fit.

The numerics live in :mod:`oqtant.analysis` (the fit and its model), the wire
conversion in :mod:`oqtant.schemas.images`, the plots in
:mod:`oqtant.matter.output_plots`. Fit coordinates are pixels from the image
centre; see :mod:`oqtant.analysis.bimodal`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from pydantic import BaseModel

from oqtant.analysis.bimodal import image_space
from oqtant.analysis.fit import fit_bimodal_2d
from oqtant.analysis.result import BimodalFit
from oqtant.constants import IN_TRAP_PIXCAL_UM, MOT_PIXCAL_UM, TOF_IMAGE_SHAPE, TOF_PIXCAL_UM
from oqtant.errors import JobError, ValidationError
from oqtant.matter.output_plots import AxisType, OutputPlots
from oqtant.schemas import job as job_schema
from oqtant.schemas.images import image_array
from oqtant.schemas.job import Image, LineChart, OutputImageType, TofFit

__all__ = [
    "AxisType",
    "OqtantOutput",
    "OqtantPlotOutput",
    "OqtantNonPlotOutput",
    "in_trap_check",
    "output_from_values",
]

_DEFAULT_PIXCAL_UM = {
    OutputImageType.TIME_OF_FLIGHT: TOF_PIXCAL_UM,
    OutputImageType.TIME_OF_FLIGHT_FIT: TOF_PIXCAL_UM,
    OutputImageType.IN_TRAP: IN_TRAP_PIXCAL_UM,
    OutputImageType.MOT: MOT_PIXCAL_UM,
}


def in_trap_check(func):
    """Decorate an output method that needs a time-of-flight image.

    On an in-trap output the method is not run: a note is printed and None returned.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if getattr(args[0], "image_type", None) == OutputImageType.IN_TRAP:
            print(f"{func.__name__}: needs a time-of-flight image; this output is in-trap")
            return None
        return func(*args, **kwargs)

    return wrapper


_IMAGE_FIELDS = {
    OutputImageType.TIME_OF_FLIGHT: "tof_image",
    OutputImageType.IN_TRAP: "it_plot",
    OutputImageType.MOT: "mot_fluorescence_image",
    OutputImageType.TIME_OF_FLIGHT_FIT: "tof_fit_image",
}


class OqtantOutput(BaseModel, OutputPlots):
    """What one run returned, with its analysis and plots (base of both output kinds)."""

    # ---- what it is

    @property
    def image_type(self) -> OutputImageType:
        """IN_TRAP for a column-density output, otherwise TIME_OF_FLIGHT."""
        return (
            OutputImageType.IN_TRAP if hasattr(self, "it_plot") else OutputImageType.TIME_OF_FLIGHT
        )

    @property
    def _is_tof(self) -> bool:
        return self.image_type == OutputImageType.TIME_OF_FLIGHT

    @property
    def _tof_values(self) -> job_schema.NonPlotOutput | None:
        """This output's time-of-flight values (images, fit, atom numbers); None in trap."""
        return self if isinstance(self, job_schema.NonPlotOutput) else None

    @property
    def fields(self) -> None:
        """Print the output's fields (images as their shape)."""
        for name, value in self:
            if isinstance(value, Image):
                desc = (
                    f"image {value.rows} x {value.columns}, {len(value.pixels)} pixels, "
                    f"pixcal {value.pixcal} um"
                )
            elif isinstance(value, LineChart):
                desc = f"line chart of {len(value.points)} points"
            elif isinstance(value, BaseModel):
                desc = ", ".join(f"{k}={v:.4g}" for k, v in value.model_dump().items())
            else:
                desc = repr(value)
            print(f"{name}: {desc}")

    @property
    def atom_statistics(self) -> None:
        """Print temperature and atom numbers of a TIME_OF_FLIGHT output."""
        tof = self._tof_values
        if tof is None:
            print("Atom statistics exist only for TIME_OF_FLIGHT outputs.")
            return
        if tof.temperature_nk > 0:  # the reference's line
            print(f"Temperature (nK): {tof.temperature_nk}")
        else:
            print(f"Temperature: {self.temperature_text}")
        print(f"Total atoms: {tof.tof_atom_number}")
        print(f"Condensed atoms: {tof.condensed_atom_number}")
        print(f"Thermal atoms: {tof.thermal_atom_number}")
        print(f"MOT atoms: {tof.total_mot_atom_number}")

    # ---- atom statistics (TIME_OF_FLIGHT; None for IN_TRAP, which measures none)

    @property
    def temperature(self) -> int | None:
        """Temperature of the thermal cloud (nK)."""
        tof = self._tof_values
        return tof.temperature_nk if tof is not None else None

    @property
    def temperature_text(self) -> str:
        """The temperature to read: ``"85 nK"``, or why there is none (a nearly pure condensate
        leaves too few thermal atoms to measure one; the fit then reports 0 nK)."""
        tof = self._tof_values
        if tof is None:
            return "not measured in trap"
        if tof.temperature_nk > 0:
            return f"{tof.temperature_nk} nK"
        if tof.condensed_atom_number > 0:
            return (
                f"not measurable (a nearly pure condensate, condensed fraction "
                f"{self.condensed_fraction}: too few thermal atoms to fit a temperature)"
            )
        return "not measurable (no thermal cloud was fitted)"

    @property
    def mot_population(self) -> int | None:
        """Atoms captured in the MOT."""
        tof = self._tof_values
        return tof.total_mot_atom_number if tof is not None else None

    @property
    def thermal_population(self) -> int | None:
        """Atoms in the thermal cloud."""
        tof = self._tof_values
        return tof.thermal_atom_number if tof is not None else None

    @property
    def condensed_population(self) -> int | None:
        """Atoms in the condensate."""
        tof = self._tof_values
        return tof.condensed_atom_number if tof is not None else None

    @property
    def total_population(self) -> int | None:
        """Thermal plus condensed atoms."""
        tof = self._tof_values
        if tof is None:
            return None
        return tof.thermal_atom_number + tof.condensed_atom_number

    @property
    def condensed_fraction(self) -> float | None:
        """Condensed over total atoms, to 3 decimals; None without atoms or in trap."""
        tof = self._tof_values
        total = self.total_population
        if tof is None or not total:
            return None
        return round(tof.condensed_atom_number / total, 3)

    @property
    def get_bimodal_fit_parameters(self) -> TofFit | None:
        """The stored bimodal fit (pixels from the image centre, OD)."""
        tof = self._tof_values
        return tof.tof_fit if tof is not None else None

    # ---- images

    @property
    def TOF(self) -> np.ndarray | None:  # noqa: N802 - name of the reference API
        """The time-of-flight OD image, shape (rows, columns); None for IN_TRAP."""
        return self.get_image_data(OutputImageType.TIME_OF_FLIGHT) if self._is_tof else None

    @property
    def IT(self) -> np.ndarray | None:  # noqa: N802 - name of the reference API
        """The in-trap column-density image, shape (rows, columns); None for TIME_OF_FLIGHT."""
        return None if self._is_tof else self.get_image_data(OutputImageType.IN_TRAP)

    def _image_field(self, image) -> Image | None:
        kind = OutputImageType(getattr(image, "value", image))
        return getattr(self, _IMAGE_FIELDS[kind], None)

    def get_image_data(self, image: OutputImageType | str | None = None) -> np.ndarray | None:
        """One image as a 2D array; the run's own image when ``image`` is None.

        Returns None when the output holds no such image. When rows x columns
        does not match the number of pixels the shape is inferred (a square if
        possible) with a warning.
        """
        if image is None:
            image = self.image_type
        try:
            kind = OutputImageType(getattr(image, "value", image))
        except ValueError as exc:
            raise ValidationError(
                f"image: {image!r} is not one of {[t.value for t in OutputImageType]}"
            ) from exc
        wire = self._image_field(kind)
        if wire is None:
            return None
        return image_array(wire, _IMAGE_FIELDS[kind])

    def get_image_pixcal(self, image: OutputImageType | str) -> float:
        """Microns per pixel of one image (the camera's default when the file has none)."""
        kind = OutputImageType(getattr(image, "value", image))
        wire = self._image_field(kind)
        if wire is None:
            raise JobError(f"a {self.image_type.value} output has no {kind.value} image")
        return float(wire.pixcal) if wire.pixcal else _DEFAULT_PIXCAL_UM[kind]

    def get_slice(self, axis: AxisType | str = "x") -> list[float]:
        """OD along a cut through the image centre: the row (x) or the column (y).

        TIME_OF_FLIGHT outputs return their stored ``tof_x_slice``/``tof_y_slice``;
        IN_TRAP outputs the cut through the centre of ``it_plot``.
        """
        axis = getattr(axis, "value", axis)
        if axis not in ("x", "y"):
            raise ValidationError(f"axis: must be 'x' or 'y', got {axis!r}")
        tof = self._tof_values
        if tof is not None:
            chart = tof.tof_x_slice if axis == "x" else tof.tof_y_slice
            return [float(p["y"]) for p in chart.points]
        image = self.IT
        if image is None:
            raise JobError(f"a {self.image_type.value} output has no {axis} slice")
        return (
            image[image.shape[0] // 2] if axis == "x" else image[:, image.shape[1] // 2]
        ).tolist()

    @staticmethod
    def get_image_space(
        datafile: np.ndarray | None = None, centered: str = "y"
    ) -> tuple[list[np.ndarray], int, int]:
        """Pixel coordinates of an image.

        Args:
            datafile: the image (its shape is used); a 100 x 100 TOF image by default.
            centered: "y" measures from the image centre (the fit's frame); anything
                else from the first pixel.

        Returns:
            ``([X, Y], n_rows, n_columns)`` with X (along columns) and Y (along rows)
            of the image's shape.
        """
        shape = np.shape(np.zeros(TOF_IMAGE_SHAPE) if datafile is None else datafile)
        n_rows, n_cols = int(shape[0]), int(shape[1])
        if centered == "y":
            x, y = image_space((n_rows, n_cols))
        else:
            x, y = np.meshgrid(np.arange(n_cols, dtype=float), np.arange(n_rows, dtype=float))
        return [x, y], n_rows, n_cols

    # ---- fit

    def _require_tof(self, what: str) -> np.ndarray:
        """The time-of-flight image, for ``what`` that needs one."""
        image = self.TOF
        if image is None:
            raise JobError(f"{what} needs a TIME_OF_FLIGHT output; this one is IN_TRAP")
        return image

    def camera_saturation_od(self) -> float | None:
        """The most OD the camera could read, as the stored fit shows it; None if it did not.

        A camera that a share ``s`` of the probe reaches past the atoms reads
        ``-ln(s + (1 - s) exp(-OD))`` (:func:`saturate_od`). Where the stored fit's
        peak (``gaussian_od + tf_od``) stands well above the peak of the stored fit
        image, the fit was saturated that way, and ``s`` follows from the two peaks.
        """
        tof = self._tof_values
        if tof is None:
            return None
        true_peak = float(tof.tof_fit.gaussian_od) + float(tof.tof_fit.tf_od)
        model = np.asarray(tof.tof_fit_image.pixels, dtype=np.float64)  # its peak is all we need
        if model.size < 16 or not np.all(np.isfinite(model)):
            return None
        seen_peak = float(model.max()) - float(tof.tof_fit.offset)
        if not (true_peak > seen_peak + 0.5 and seen_peak > 0.1):
            return None
        light_seen, light_true = math.exp(-seen_peak), math.exp(-true_peak)
        stray = (light_seen - light_true) / (1.0 - light_true)
        return float(-math.log(stray)) if 0.0 < stray < 1.0 else None

    def fit_bimodal(self, **kwargs: Any) -> BimodalFit:
        """Bimodal fit of the TOF image (keyword arguments go to ``fit_bimodal_2d``).

        Unless given, ``saturation_od`` is the camera's as the stored fit shows it
        (:meth:`camera_saturation_od`), so that a refit sees the image as the
        machine's own analysis did.
        """
        image = self._require_tof("the bimodal fit")
        kwargs.setdefault("pixcal_um", self.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT))
        kwargs.setdefault("saturation_od", self.camera_saturation_od())
        return fit_bimodal_2d(image, **kwargs)

    def fit_bimodal_data2D(  # noqa: N802 - name of the reference API
        self,
        xi: list[float] | None = None,
        lb: list[float] | None = None,
        ub: list[float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.float64]:
        """Bimodal fit of the TOF image.

        Args:
            xi, lb, ub: initial guess, lower and upper bounds, 9 values each in the
                order of FIT_PARAMETER_NAMES (pixels from the image centre, OD).

        Returns:
            ``(params, covariance, residual_image, r_squared)``.

        Raises:
            FitError: no atoms in the image.
        """
        fit = self.fit_bimodal(initial=xi, lower=lb, upper=ub)
        return fit.params, fit.covariance, fit.residual, np.float64(fit.r_squared)

    # ---- plots


class OqtantPlotOutput(job_schema.PlotOutput, OqtantOutput):
    """Output of an IN_TRAP run: the column-density image ``it_plot``."""


class OqtantNonPlotOutput(job_schema.NonPlotOutput, OqtantOutput):
    """Output of a TIME_OF_FLIGHT run: images, the fit and the atom statistics."""


def output_from_values(
    values: job_schema.PlotOutput | job_schema.NonPlotOutput | dict,
) -> OqtantOutput:
    """The output object for a run's output values (a wire model or its dict)."""
    if isinstance(values, BaseModel):
        values = values.model_dump()
    if not isinstance(values, dict):
        raise ValidationError(f"values: expected output values, got {type(values).__name__}")
    cls = OqtantPlotOutput if "it_plot" in values else OqtantNonPlotOutput
    return cls.model_validate(values)
