"""Physical constants and the fixed facts of the apparatus (SI units unless named),
and the service's default address.

Energies given by the projection system are E/h in kHz; lengths in microns and
times in milliseconds wherever a name says so.
"""

from __future__ import annotations

import math

__all__ = [
    "DEFAULT_URL",
    "HBAR",
    "H_PLANCK",
    "K_B",
    "AMU",
    "RB87_MASS_KG",
    "RB87_SCATTERING_LENGTH_M",
    "TRAP_FREQUENCY_AXIAL_HZ",
    "TRAP_FREQUENCY_RADIAL_HZ",
    "OMEGA_BAR",
    "MACHINE_TRAP_FREQUENCY_AXIAL_HZ",
    "MACHINE_TRAP_FREQUENCY_RADIAL_HZ",
    "MACHINE_OMEGA_BAR",
    "TERMINATOR_LOSS_RATE_PER_MS",
    "IMAGING_WAVELENGTH_M",
    "RESONANT_CROSS_SECTION_M2",
    "NATURAL_LINEWIDTH_MHZ",
    "IN_TRAP_PROBE_DETUNING_MHZ",
    "IN_TRAP_CROSS_SECTION_M2",
    "detuned_cross_section_m2",
    "KHZ_TO_J",
    "TOF_IMAGE_SHAPE",
    "TOF_PIXCAL_UM",
    "IN_TRAP_IMAGE_SHAPE",
    "IN_TRAP_PIXCAL_UM",
    "SIMULATOR_IN_TRAP_IMAGE_SHAPE",
    "MOT_PIXCAL_UM",
]

HBAR = 1.054571817e-34  # J s
H_PLANCK = 6.62607015e-34  # J s
K_B = 1.380649e-23  # J / K
AMU = 1.66053906660e-27  # kg

RB87_MASS_KG = 86.909180527 * AMU
RB87_SCATTERING_LENGTH_M = 98.0 * 5.29177210903e-11  # 98 a0, about 5.19 nm

TRAP_FREQUENCY_AXIAL_HZ = 50.0  # along x, the axis of the projected light
TRAP_FREQUENCY_RADIAL_HZ = 400.0
OMEGA_BAR = 2 * math.pi * (TRAP_FREQUENCY_AXIAL_HZ * TRAP_FREQUENCY_RADIAL_HZ**2) ** (1 / 3)
"""Geometric mean of the angular trap frequencies (rad/s)."""

# The science trap of the machine, as its images measure it (calibrated on the
# reference machine's hardware runs, docs/emulator.md): the radial confinement
# is stiffer than the nominal 400 Hz. Its clouds (about 6e4 atoms at 420 nK, 4
# to 9 % condensed, by the users' fit) need Tc near 430 nK, which a 50 / 400 Hz
# trap (about 260 nK) cannot give. The emulated apparatus and the users' fit of its images read
# these; the Gross-Pitaevskii simulator keeps the nominal 50 / 400 Hz trap of the
# reference's simulator.
MACHINE_TRAP_FREQUENCY_AXIAL_HZ = TRAP_FREQUENCY_AXIAL_HZ
MACHINE_TRAP_FREQUENCY_RADIAL_HZ = 600.0
MACHINE_OMEGA_BAR = (
    2 * math.pi * (MACHINE_TRAP_FREQUENCY_AXIAL_HZ * MACHINE_TRAP_FREQUENCY_RADIAL_HZ**2) ** (1 / 3)
)
"""Geometric mean of the machine's angular trap frequencies (rad/s)."""

TERMINATOR_LOSS_RATE_PER_MS = 100.0
"""Loss rate (1/ms) of atoms in the terminator beam at full intensity: e^-10 left after 0.1 ms."""

IMAGING_WAVELENGTH_M = 780.241e-9
RESONANT_CROSS_SECTION_M2 = 3.0 * IMAGING_WAVELENGTH_M**2 / (2.0 * math.pi)
NATURAL_LINEWIDTH_MHZ = 6.0666  # Rb-87 D2 line, Gamma / 2 pi

# In-trap images are taken with a probe detuned from resonance, so that the dense
# cloud in the trap does not go black: every IN_TRAP image (the machine's and the
# simulator's) is the column density times this cross-section, 1/36.5 of the
# resonant one, as the service's in-trap images are.
IN_TRAP_PROBE_DETUNING_MHZ = 0.5 * NATURAL_LINEWIDTH_MHZ * math.sqrt(35.5)  # 18.07 MHz


def detuned_cross_section_m2(detuning_mhz: float) -> float:
    """Resonant cross-section of a probe ``detuning_mhz`` off resonance (a Lorentzian)."""
    return RESONANT_CROSS_SECTION_M2 / (1.0 + (2.0 * detuning_mhz / NATURAL_LINEWIDTH_MHZ) ** 2)


IN_TRAP_CROSS_SECTION_M2 = detuned_cross_section_m2(IN_TRAP_PROBE_DETUNING_MHZ)

KHZ_TO_J = H_PLANCK * 1e3  # an energy E/h of 1 kHz, in joules

# The cameras, as the machine's job files show them: (rows, columns) and microns
# per pixel. The in-trap camera reads 148 x 503 pixels; the reference's simulator
# draws its in-trap images on a 148 x 512 grid of the same pixels, and ours does too.
TOF_IMAGE_SHAPE = (100, 100)
TOF_PIXCAL_UM = 4.4
IN_TRAP_IMAGE_SHAPE = (148, 503)
IN_TRAP_PIXCAL_UM = 0.344
SIMULATOR_IN_TRAP_IMAGE_SHAPE = (148, 512)
MOT_PIXCAL_UM = 1.0

#: the address of a local ``oqtant serve`` (the client's default; ``$OQTANT_URL`` overrides it)
DEFAULT_URL = "http://127.0.0.1:8000"
