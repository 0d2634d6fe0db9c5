"""Plots of a run's output: the fitted model, the TOF image, slices, the in-trap image, 3D."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from oqtant._plotting import finish_figure
from oqtant.analysis.bimodal import bimodal_od, image_space, parameter_vector, thermal_profile_of
from oqtant.constants import TOF_IMAGE_SHAPE
from oqtant.errors import FitError, JobError, ValidationError
from oqtant.schemas.job import OutputImageType

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from oqtant.analysis.result import BimodalFit
    from oqtant.schemas.job import NonPlotOutput

__all__ = ["AxisType", "OutputPlots"]

_MODEL_PARTS = {"bimodal": (True, True), "gaussian": (True, False), "tf": (False, True)}


class AxisType(str, Enum):  # noqa: UP042 - plain str values, as in the reference
    """Axis of a slice through an image: x along columns, y along rows."""

    x = "x"
    y = "y"


def _finish(fig, file_name):
    """Save when asked, then show, or return the figure under a backend without display."""
    return finish_figure(fig, file_name, dpi=100)


def _extent_um(shape: tuple[int, int], pixcal_um: float) -> tuple[float, float, float, float]:
    """imshow extent (left, right, bottom, top) of an image drawn with its first row on top.

    x grows to the right; y grows upward, as on the reference's plots: the first
    row, at the top, has the largest y. A plotted y is minus the row coordinate
    of :func:`image_space`.
    """
    x, y = image_space(shape)
    half = 0.5
    return (
        (x.min() - half) * pixcal_um,
        (x.max() + half) * pixcal_um,
        -(y.max() + half) * pixcal_um,
        -(y.min() - half) * pixcal_um,
    )


class OutputPlots:
    """The plots of an output (a mixin of :class:`oqtant.matter.output.OqtantOutput`, which
    gives the members declared below)."""

    if TYPE_CHECKING:

        @property
        def TOF(self) -> np.ndarray | None: ...  # noqa: N802 - name of the reference API

        @property
        def IT(self) -> np.ndarray | None: ...  # noqa: N802 - name of the reference API

        @property
        def _tof_values(self) -> NonPlotOutput | None: ...

        def _require_tof(self, what: str) -> np.ndarray: ...

        def get_image_pixcal(self, image: OutputImageType | str) -> float: ...

        def camera_saturation_od(self) -> float | None: ...

        def fit_bimodal(self, **kwargs: Any) -> BimodalFit: ...

    def plot_fit_results(
        self,
        fit_params: np.ndarray | None = None,
        model: str = "bimodal",
        file_name: str | None = None,
        plot_title: str | None = None,
        pix_cal: float = 1.0,
    ) -> Figure | None:
        """Image of a fitted model on the TOF image's grid.

        Args:
            fit_params: the 9 bimodal parameters (FIT_PARAMETER_NAMES order); None fits
                this output's TOF image (:meth:`fit_bimodal`) and draws that fit.
            model: "bimodal", "gaussian" (thermal part only) or "TF" (condensate only).
            file_name: save the figure there as PNG.
            plot_title: title; a default names the model.
            pix_cal: microns per pixel for the axes (1.0 gives pixels).
        """
        import matplotlib.pyplot as plt

        key = str(model).lower()
        if key not in _MODEL_PARTS:
            raise ValidationError(f"model: must be 'bimodal', 'gaussian' or 'TF', got {model!r}")
        if fit_params is None:
            try:
                fit_params = self.fit_bimodal().params
            except FitError as err:
                raise FitError(
                    f"plot_fit_results: this output's image cannot be fitted ({err}); "
                    "give fit_params"
                ) from err
        params = np.array(parameter_vector(fit_params, "fit_params"))
        profile = thermal_profile_of(params, None)  # the fit's rule, before parts are removed
        thermal, condensed = _MODEL_PARTS[key]
        if not thermal:
            params[0] = 0.0
        if not condensed:
            params[3] = 0.0
        image = self.TOF
        shape = image.shape if image is not None else TOF_IMAGE_SHAPE
        x, y = image_space(shape)
        # as the camera reads it (saturated like the stored fit, when it was)
        saturation = self.camera_saturation_od() if image is not None else None
        model_image = bimodal_od(x, y, params, profile, saturation_od=saturation)
        unit = "µm" if pix_cal != 1.0 else "pixels"
        fig, ax = plt.subplots(figsize=(6, 5))
        im = ax.imshow(model_image, cmap="viridis", extent=_extent_um(shape, pix_cal))
        fig.colorbar(im, ax=ax, label="optical density")
        ax.set_xlabel(f"x ({unit})")
        ax.set_ylabel(f"y ({unit})")
        ax.set_title(plot_title or f"time-of-flight fit: {model} model")
        return _finish(fig, file_name)

    def plot_tof(
        self,
        file_name: str | None = None,
        figsize: tuple[int, int] = (12, 12),
        grid_on: bool = False,
    ) -> Figure | None:
        """The time-of-flight OD image, axes in microns from the image centre."""
        import matplotlib.pyplot as plt

        image = self._require_tof("plot_tof")
        pixcal = self.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT)
        fig, ax = plt.subplots(figsize=figsize)
        im = ax.imshow(image, cmap="viridis", extent=_extent_um(image.shape, pixcal))
        fig.colorbar(im, ax=ax, shrink=0.8, label="optical density")
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
        title = f"time of flight: peak OD {image.max():.2f}"
        tof = self._tof_values
        if tof is not None:
            if tof.tof_atom_number > 0:
                title += f", {tof.tof_atom_number} atoms"
            if tof.temperature_nk > 0:
                title += f", {tof.temperature_nk} nK"
            elif tof.condensed_atom_number > 0:
                title += ", temperature not measurable"
        ax.set_title(title)
        ax.grid(grid_on)
        return _finish(fig, file_name)

    def plot_slice(
        self, file_name: str | None = None, axis: AxisType | str = "x", grid_on: bool = False
    ) -> Figure | None:
        """OD along a cut through the cloud centre, with the bimodal fit and its thermal part."""
        import matplotlib.pyplot as plt

        axis = getattr(axis, "value", axis)
        if axis not in ("x", "y"):
            raise ValidationError(f"axis: must be 'x' or 'y', got {axis!r}")
        image = self._require_tof("plot_slice")
        pixcal = self.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT)
        x, y = image_space(image.shape)
        try:
            fit = self.fit_bimodal(pixcal_um=pixcal)
        except FitError:
            fit = None
        row = image.shape[0] // 2
        col = image.shape[1] // 2
        if fit is not None:
            row = int(np.clip(round(fit.params[7] - y[0, 0]), 0, image.shape[0] - 1))
            col = int(np.clip(round(fit.params[6] - x[0, 0]), 0, image.shape[1] - 1))
        # the cut: the row through the centre (x), or its column (y)
        at: tuple[int] | tuple[slice, int] = (row,) if axis == "x" else (slice(None), col)
        # y grows upward, as on the image plots
        pos = x[row] if axis == "x" else -y[:, col]
        fig, ax = plt.subplots(figsize=(8, 5))
        ax.plot(pos * pixcal, image[at], ".", color="0.3", label="data")
        if fit is not None:
            thermal = fit.params.copy()
            thermal[3] = 0.0
            ax.plot(pos * pixcal, fit.model_image[at], "-", color="C3", label="bimodal fit")
            ax.plot(
                pos * pixcal,
                bimodal_od(
                    x,
                    y,
                    thermal,
                    fit.thermal_profile,
                    saturation_od=fit.saturation_od,
                    fugacity=fit.fugacity,
                )[at],
                "--",
                color="C0",
                label="thermal part",
            )
        ax.set_xlabel(f"{axis} (µm)")
        ax.set_ylabel("optical density")
        ax.set_title(f"time-of-flight cut along {axis} through the cloud centre")
        ax.legend()
        ax.grid(grid_on)
        return _finish(fig, file_name)

    def plot_it(
        self,
        file_name: str | None = None,
        figsize: tuple[int, int] = (12, 12),
        grid_on: bool = False,
    ) -> Figure | None:
        """The in-trap column density, axes in microns from the image centre."""
        import matplotlib.pyplot as plt

        image = self.IT
        if image is None:
            raise JobError("plot_it needs an IN_TRAP output; this one is TIME_OF_FLIGHT")
        pixcal = self.get_image_pixcal(OutputImageType.IN_TRAP)
        fig, ax = plt.subplots(
            figsize=(figsize[0], max(3, figsize[0] * image.shape[0] / image.shape[1] + 1))
        )
        im = ax.imshow(image, cmap="viridis", extent=_extent_um(image.shape, pixcal))
        fig.colorbar(im, ax=ax, shrink=0.8, label="optical density")
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
        ax.set_title("in-trap column density")
        ax.grid(grid_on)
        return _finish(fig, file_name)

    def plot_tof_3d(
        self,
        file_name: str | None = None,
        view_angle: int = -45,
        figsize: tuple[int, int] = (10, 10),
    ) -> Figure | None:
        """The time-of-flight OD image as a surface."""
        import matplotlib.pyplot as plt

        image = self._require_tof("plot_tof_3d")
        pixcal = self.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT)
        x, y = image_space(image.shape)
        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot(projection="3d")
        ax.plot_surface(
            x * pixcal, y * pixcal, image, cmap="viridis", linewidth=0, antialiased=False
        )
        ax.view_init(elev=30, azim=view_angle)
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
        ax.set_zlabel("optical density")
        ax.set_title("time of flight")
        return _finish(fig, file_name)
