"""Numbers of an in-trap image: its atoms, the positions of its pixels, its OD at a position.

An in-trap image is the column density times the detuned probe's cross-section
(:data:`oqtant.constants.IN_TRAP_CROSS_SECTION_M2`), with
:data:`oqtant.constants.IN_TRAP_PIXCAL_UM` microns per pixel unless the image says
otherwise; each pixel holds ``OD * pixcal^2 / sigma`` atoms.
"""

from __future__ import annotations

import numpy as np

from oqtant.analysis.bimodal import image_space
from oqtant.constants import IN_TRAP_CROSS_SECTION_M2, IN_TRAP_PIXCAL_UM

__all__ = ["axis_positions_um", "in_trap_atom_number", "od_on_axis_at"]


def in_trap_atom_number(
    od,
    pixcal_um: float = IN_TRAP_PIXCAL_UM,
    cross_section_m2: float = IN_TRAP_CROSS_SECTION_M2,
) -> float:
    """Atoms in an in-trap image: the sum of its OD times the pixel area over the cross-section.

    Pixels without a measurement (NaN) count as none.
    """
    area_m2 = (float(pixcal_um) * 1e-6) ** 2
    return float(np.nansum(np.asarray(od, dtype=float)) * area_m2 / cross_section_m2)


def axis_positions_um(od, pixcal_um: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres (um) of the columns (x) and of the rows (y) of an image, 0 at its centre.

    The convention of the fit and of the cameras: pixel ``k`` of ``n`` sits at
    ``k - round(n / 2)`` pixels (:func:`oqtant.analysis.image_space`).
    """
    x, y = image_space(np.shape(od))
    return x[0] * float(pixcal_um), y[:, 0] * float(pixcal_um)


def od_on_axis_at(od, pixcal_um: float, x_um: float, half_rows: int = 2) -> float:
    """The OD on the cloud's axis at position ``x_um``.

    The mean over the ``2 * half_rows + 1`` rows around the row that holds the most
    atoms and over the 3 columns nearest ``x_um`` (the image's edge column when
    ``x_um`` lies outside it).
    """
    image = np.asarray(od, dtype=float)
    if image.ndim != 2 or image.size == 0:
        return 0.0
    x, _ = axis_positions_um(image, pixcal_um)
    column = int(np.argmin(np.abs(x - float(x_um))))
    axis = int(np.nanargmax(np.nansum(image, axis=1))) if np.isfinite(image).any() else 0
    rows = slice(max(axis - half_rows, 0), axis + half_rows + 1)
    columns = slice(max(column - 1, 0), column + 2)
    window = image[rows, columns]
    return float(np.nanmean(window)) if np.isfinite(window).any() else 0.0
