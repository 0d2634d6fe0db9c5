"""The result of a bimodal fit: parameters, covariance, atom numbers and temperature."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from oqtant.analysis.bimodal import FIT_PARAMETER_NAMES
from oqtant.analysis.bose import BOSE_ATOMS_FACTOR, g3, polylog2
from oqtant.constants import (
    K_B,
    MACHINE_TRAP_FREQUENCY_AXIAL_HZ,
    MACHINE_TRAP_FREQUENCY_RADIAL_HZ,
    RB87_MASS_KG,
    RESONANT_CROSS_SECTION_M2,
)
from oqtant.schemas.job import TofFit

__all__ = ["BimodalFit", "FitResult"]


@dataclass(frozen=True, eq=False, repr=False)
class BimodalFit:
    """Result of a bimodal fit of one optical-density image.

    Attributes:
        params: shape (9,), in the order of FIT_PARAMETER_NAMES; ODs, then widths,
            radii and centres in pixels from the image centre, then the offset OD.
        covariance: shape (9, 9), covariance of ``params`` (pseudo-inverse where a
            parameter is not determined, e.g. the radii of an absent condensate).
        model_image: the fitted model, shape of the image.
        residual: image minus model (NaN where the image had no measurement).
        r_squared: coefficient of determination of the fit.
        pixcal_um: microns per pixel of the image.
        time_of_flight_ms: free-expansion time before the image, if known.
        trap_frequencies_hz: (x, y) trap frequencies used to remove the in-trap size
            from the temperature, or None to neglect it.
        noise_od: estimated OD noise of one pixel.
        model: which model was fitted: "bimodal", "gaussian" or "tf".
        thermal_profile: shape of the thermal part, "bose" (g_2 at fugacity 1,
            fitted beside a condensate) or "gaussian"; ``params[0:3]`` are its peak
            OD and width parameters either way.
        subpixels: points per pixel side over which the condensate was integrated.
        resolution_px: rms of the point-spread function in the model (pixels).
        saturation_od: the camera's saturation OD in the model, or None.
        fugacity: of the "bose" thermal profile: 1 beside a condensate, below 1
            for a Bose gas just above T_c (fitted when the auto model finds it
            best); 1 and unused with the "gaussian" profile.
    """

    params: np.ndarray
    covariance: np.ndarray
    model_image: np.ndarray
    residual: np.ndarray
    r_squared: float
    pixcal_um: float = 1.0
    time_of_flight_ms: float | None = None
    trap_frequencies_hz: tuple[float, float] | None = (
        MACHINE_TRAP_FREQUENCY_AXIAL_HZ,
        MACHINE_TRAP_FREQUENCY_RADIAL_HZ,
    )
    noise_od: float = 0.0
    model: str = "bimodal"
    thermal_profile: str = "gaussian"
    subpixels: int = 1
    resolution_px: float = 0.0
    saturation_od: float | None = None
    fugacity: float = 1.0

    # ---- parameters

    @property
    def param_errors(self) -> np.ndarray:
        """One-standard-deviation uncertainties of ``params``."""
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))

    def summary(self) -> str:
        """The fit in a few lines: parameters with errors, atom numbers, temperature."""
        lines = [
            f"bimodal fit ({self.model} model, {self.thermal_profile} thermal profile), "
            f"R^2 = {self.r_squared:.4f}"
        ]
        for name, value, error in zip(
            FIT_PARAMETER_NAMES, self.params, self.param_errors, strict=True
        ):
            unit = "px" if name not in ("gaussian_od", "tf_od", "offset") else "OD"
            lines.append(f"  {name:>16} = {value:10.4g} +- {error:.2g} {unit}")
        lines.append(
            f"  atoms: {self.total_atom_number:.4g} ({self.thermal_atom_number:.4g} thermal, "
            f"{self.condensed_atom_number:.4g} condensed, fraction {self.condensed_fraction:.3f})"
        )
        temperature = self.temperature_nk
        lines.append(
            "  temperature: " + ("not measured" if temperature is None else f"{temperature:.1f} nK")
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.as_dict().items())
        return f"BimodalFit({self.model}: {values}; r_squared={self.r_squared:.4f})"

    def as_dict(self) -> dict[str, float]:
        """Parameters by name (pixels and OD)."""
        return {name: float(v) for name, v in zip(FIT_PARAMETER_NAMES, self.params, strict=True)}

    def to_tof_fit(self) -> TofFit:
        """The parameters as the wire's ``tof_fit``."""
        return TofFit(**self.as_dict())

    # ---- atom numbers

    @property
    def _atoms_per_od_pixel(self) -> float:
        return (self.pixcal_um * 1e-6) ** 2 / RESONANT_CROSS_SECTION_M2

    @property
    def thermal_atom_number(self) -> float:
        """Atoms in the thermal part: 2 pi A sigma_x sigma_y (pixels^2) / sigma_0.

        Times g_3(z) / g_2(z) for the "bose" profile of fugacity z (0.7308 at z = 1;
        the integral of g_2(z exp(-rho)) over the plane is 2 pi sigma_x sigma_y g_3(z)).
        """
        a_g, s_x, s_y = self.params[:3]
        factor = 1.0
        if self.thermal_profile == "bose":
            z = self.fugacity
            factor = BOSE_ATOMS_FACTOR if z >= 1.0 else g3(z) / float(polylog2(z))
        return float(2.0 * math.pi * factor * a_g * s_x * s_y * self._atoms_per_od_pixel)

    @property
    def condensed_atom_number(self) -> float:
        """Atoms in the Thomas-Fermi part: (2 pi / 5) A R_x R_y (pixels^2) / sigma_0."""
        a_tf, r_x, r_y = self.params[3:6]
        return float(2.0 * math.pi / 5.0 * a_tf * r_x * r_y * self._atoms_per_od_pixel)

    @property
    def total_atom_number(self) -> float:
        """Thermal plus condensed atoms of the fit."""
        return self.thermal_atom_number + self.condensed_atom_number

    @property
    def integrated_atom_number(self) -> float:
        """Atoms from the image itself: sum of (OD - fitted offset) over measured pixels."""
        data = self.model_image + self.residual
        return float(np.nansum(data - self.params[8]) * self._atoms_per_od_pixel)

    @property
    def condensed_fraction(self) -> float:
        """Condensed over total atoms of the fit (0 when the fit holds no atoms)."""
        total = self.total_atom_number
        return self.condensed_atom_number / total if total > 0 else 0.0

    # ---- temperature

    @property
    def has_thermal_cloud(self) -> bool:
        """Whether the Gaussian part is measurably present: its peak OD above 3 standard errors."""
        a_g = self.params[0]
        err = self.param_errors[0]
        return bool(a_g > 3.0 * err and self.params[1] > 0 and self.params[2] > 0)

    def _axis_temperature_nk(
        self, sigma_px: float, trap_frequency_hz: float | None, time_of_flight_ms: float
    ) -> float:
        t_s = time_of_flight_ms * 1e-3
        sigma_m = sigma_px * self.pixcal_um * 1e-6
        # a harmonically trapped thermal cloud expands as
        # sigma(t)^2 = (k_B T / m) (1 / omega^2 + t^2); without omega, sigma_0 is neglected
        spread = t_s**2
        if trap_frequency_hz:
            spread += 1.0 / (2.0 * math.pi * trap_frequency_hz) ** 2
        return RB87_MASS_KG * sigma_m**2 / (K_B * spread) * 1e9

    @property
    def temperature_xy_nk(self) -> tuple[float, float] | None:
        """Temperature (nK) from the thermal width parameter along x and along y, or None.

        None when the time of flight is unknown or there is no measurable thermal cloud.
        """
        tof_ms = self.time_of_flight_ms
        if tof_ms is None or not self.has_thermal_cloud:
            return None
        freqs = self.trap_frequencies_hz or (None, None)
        return (
            self._axis_temperature_nk(self.params[1], freqs[0], tof_ms),
            self._axis_temperature_nk(self.params[2], freqs[1], tof_ms),
        )

    @property
    def temperature_nk(self) -> float | None:
        """Temperature (nK): mean of the x and y estimates; None when not measurable.

        Uses sigma(t)^2 = sigma_0^2 + k_B T t^2 / m per axis, with sigma_0^2 =
        k_B T / (m omega^2) of the harmonic trap (``trap_frequencies_hz``), or
        sigma_0 = 0 when ``trap_frequencies_hz`` is None.
        """
        both = self.temperature_xy_nk
        return None if both is None else float(np.mean(both))

    @property
    def temperature_error_nk(self) -> float | None:
        """One-standard-deviation uncertainty (nK) of ``temperature_nk`` from the fit's covariance.

        T_i is proportional to sigma_i^2, so dT_i = 2 T_i dsigma_i / sigma_i; the
        covariance of the two widths is kept. None when there is no temperature.
        """
        both = self.temperature_xy_nk
        if both is None:
            return None
        grad = np.array([both[0] / self.params[1], both[1] / self.params[2]])  # d mean / d sigma
        cov = self.covariance[1:3, 1:3]
        return float(math.sqrt(max(float(grad @ cov @ grad), 0.0)))


FitResult = BimodalFit
"""The result of :func:`oqtant.analysis.fit_bimodal_2d` (the name of the solver-result shape)."""
