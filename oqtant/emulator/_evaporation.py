"""Forced RF evaporation as a kinetic model of atom number and temperature.

The cloud in the harmonic magnetic trap is described by a Boltzmann
distribution truncated at the knife depth ``U`` (Luiten, Reynolds and Walraven,
PRA 53, 381 (1996)), with ``eta = U / (k_B T)``. Four processes change the
atom number ``N`` and the energy ``E = N k_B T c(eta)``:

- evaporation: elastic collisions promote atoms above the knife, which leave
  carrying ``U + k_B T``; rate ``n0 sigma v_bar exp(-eta) X_ev(eta)`` times the
  knife efficiency set by the RF power;
- spilling: lowering the knife removes the atoms it passes over (a step of the
  RF program truncates the distribution at once);
- background-gas collisions (lifetime ``background_lifetime_s``), which remove
  atoms of average energy;
- three-body recombination in the densest part of the cloud, which removes
  atoms of less than average energy and so heats.

The knife depth of the |F=1, m_F=-1> state is ``U = h (f_rf - f_bottom)``; the
frequencies of a ramp are measured from the trap bottom, so ``f_bottom`` is 0 by
default. Nothing here knows the answer in advance: the final temperature is
whatever the collision rates allow the knife to reach.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import gammainc

from oqtant.constants import (
    H_PLANCK,
    HBAR,
    K_B,
    MACHINE_OMEGA_BAR,
    OMEGA_BAR,
    RB87_MASS_KG,
    RB87_SCATTERING_LENGTH_M,
)
from oqtant.schemas.interpolation import interpolate_1d
from oqtant.schemas.job import RfEvaporation

__all__ = [
    "EvaporationModel",
    "EvaporationResult",
    "evaporate",
    "knife_depth_k",
    "phase_space_density",
]

_OMEGA_BAR = MACHINE_OMEGA_BAR  # the science trap
# the trap while the knife works: 2.25 times the mean frequency of a 50 / 400 Hz trap
_EVAPORATION_OMEGA_BAR = 2.25 * OMEGA_BAR
_SIGMA_EL = 8 * math.pi * RB87_SCATTERING_LENGTH_M**2  # identical bosons
_ETA_MAX = 40.0  # beyond this the knife does nothing measurable
_ETA_MIN = 0.05  # a knife at the trap bottom: everything above it is spilled already
_KNIFE_OFF_ETA = 60.0


@dataclass(frozen=True)
class EvaporationModel:
    """Parameters of the evaporation kinetics (SI units unless named)."""

    trap_bottom_mhz: float = 0.0  # f_bottom: the frequencies of a ramp are measured from it
    rf_saturation_power_mw: float = 60.0  # knife efficiency 1 - exp(-P / P_sat)
    background_lifetime_s: float = 5.0
    three_body_loss_m6_per_s: float = 4.3e-41  # L3 of a thermal Rb-87 |1,-1> gas
    # The trap is stiffer (all frequencies times this factor) while the knife
    # evaporates (t <= 0) and is relaxed adiabatically to the science trap at
    # t = 0, which keeps the phase-space density and divides T by the factor.
    # The evaporation trap has 2.25 times the mean frequency of a 50 / 400 Hz
    # trap; the calibrated science trap (50 / 600 Hz) is 1.31 times stiffer than
    # that nominal trap, so the relaxation divides T by 1.72.
    evaporation_compression: float = _EVAPORATION_OMEGA_BAR / _OMEGA_BAR
    # Heating in the science trap (t > 0): technical noise of the trap and the
    # light of the experiment stage (spontaneous scattering of the projected
    # light, its pointing noise) add energy at a constant rate per atom.
    stage_heating_nk_per_ms: float = 0.0
    max_step_ms: float = 20.0


@dataclass(frozen=True)
class EvaporationResult:
    """Atom number and temperature along the ramp (arrays of one length)."""

    times_ms: np.ndarray
    atom_number: np.ndarray
    temperature_k: np.ndarray
    knife_depth_k: np.ndarray  # U / k_B (inf where the knife is off)
    trap_compression: np.ndarray  # trap frequencies / science-trap frequencies

    @property
    def eta(self) -> np.ndarray:
        """Truncation parameter U / (k_B T)."""
        return self.knife_depth_k / self.temperature_k

    @property
    def phase_space_density(self) -> np.ndarray:
        """Peak phase-space density of the (classical) cloud, N (hbar omega_bar / k_B T)^3."""
        return phase_space_density(self.atom_number, self.temperature_k / self.trap_compression)

    def at(self, time_ms: float) -> tuple[float, float]:
        """(N, T in K) at a time on the integration grid (the last sample at that time)."""
        i = len(self.times_ms) - 1 - int(np.argmin(np.abs(self.times_ms[::-1] - time_ms)))
        return float(self.atom_number[i]), float(self.temperature_k[i])


def phase_space_density(atom_number, temperature_k):
    """Peak phase-space density of a classical gas in the harmonic trap."""
    return np.asarray(atom_number) * (HBAR * _OMEGA_BAR / (K_B * np.asarray(temperature_k))) ** 3


def knife_depth_k(frequency_mhz, power_mw, model: EvaporationModel = EvaporationModel()):
    """U / k_B of the RF knife for |F=1, m_F=-1>; inf where the RF power is 0."""
    f = np.asarray(frequency_mhz, dtype=float)
    u = H_PLANCK * np.maximum(f - model.trap_bottom_mhz, 0.0) * 1e6 / K_B
    return np.where(np.asarray(power_mw) > 0, u, np.inf)


def _gamma3(eta):
    return 2.0 * gammainc(3.0, eta)


def _gamma4(eta):
    return 6.0 * gammainc(4.0, eta)


def _energy_factor(eta: float) -> tuple[float, float]:
    """c(eta) = E / (N k_B T) of the truncated cloud, and dc/deta."""
    g3, g4 = _gamma3(eta), _gamma4(eta)
    c = g4 / g3
    dc = eta**2 * math.exp(-eta) * (eta * g3 - g4) / g3**2
    return c, dc


def _rates(
    n: float, t_k: float, eta: float, efficiency: float, omega_bar: float, model: EvaporationModel
):
    """Per-atom loss rates (evaporation, background, three-body) in 1/s."""
    p3 = gammainc(3.0, eta)
    n0 = n * omega_bar**3 * (RB87_MASS_KG / (2 * math.pi * K_B * t_k)) ** 1.5 / p3
    v_bar = math.sqrt(8 * K_B * t_k / (math.pi * RB87_MASS_KG))
    x_ev = eta - 4.0 * gammainc(4.0, eta) / p3
    gamma_ev = efficiency * n0 * _SIGMA_EL * v_bar * math.exp(-eta) * max(x_ev, 0.0)
    gamma_bg = 1.0 / model.background_lifetime_s
    gamma_3 = model.three_body_loss_m6_per_s * n0**2 / 3**1.5
    return gamma_ev, gamma_bg, gamma_3


class _Program:
    """The RF program read through ``interpolate_1d``: knife depth and efficiency vs time."""

    def __init__(self, rf: RfEvaporation, model: EvaporationModel):
        self.times = np.asarray(rf.times_ms, dtype=float)
        self.freqs = np.asarray(rf.frequencies_mhz, dtype=float)
        self.powers = np.asarray(rf.powers_mw, dtype=float)
        self.kind = rf.interpolation.value
        self.model = model

    def segment(self, lo: float, hi: float) -> tuple[float, float, float, float]:
        """(f_lo, f_hi, p_lo, p_hi) inside the segment [lo, hi] between program points."""
        t = np.array([lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)])
        f = interpolate_1d(self.times, self.freqs, t, self.kind)
        p = interpolate_1d(self.times, self.powers, t, self.kind)
        p = np.where(t > self.times[-1], 0.0, p)
        return float(f[0]), float(f[1]), float(p[0]), float(p[1])

    def __call__(self, t_ms):
        """(U / k_B in K, knife efficiency) at times ``t_ms``; RF off after its last point."""
        t_ms = np.asarray(t_ms, dtype=float)
        f = interpolate_1d(self.times, self.freqs, t_ms, self.kind)
        p = interpolate_1d(self.times, self.powers, t_ms, self.kind)
        p = np.where(t_ms > self.times[-1], 0.0, p)
        eff = 1.0 - np.exp(-p / self.model.rf_saturation_power_mw)
        return knife_depth_k(f, p, self.model), eff


def _truncate(n: float, t_k: float, u_old: float, u_new: float) -> float:
    """Atoms left when the knife drops at once from u_old to u_new (same T)."""
    if not np.isfinite(u_new) or u_new >= u_old:
        return n
    eta_old = min(u_old / t_k, _KNIFE_OFF_ETA) if np.isfinite(u_old) else _KNIFE_OFF_ETA
    eta_new = u_new / t_k
    return n * gammainc(3.0, max(eta_new, 0.0)) / gammainc(3.0, eta_old)


def evaporate(
    rf: RfEvaporation,
    *,
    initial_atom_number: float,
    initial_temperature_k: float,
    end_time_ms: float = 0.0,
    model: EvaporationModel = EvaporationModel(),
) -> EvaporationResult:
    """Integrate N(t), T(t) over the RF program from its first point to ``end_time_ms``.

    Times > 0 (the experiment stage) see the RF shield if the program has points
    there, and no knife after the program's last point.
    """
    program = _Program(rf, model)
    start = float(program.times[0])
    stop = max(float(end_time_ms), start)
    # integrate piecewise between program points so that steps act at once
    edges = np.unique(np.concatenate([program.times, [stop, 0.0]]))
    edges = edges[(edges >= start) & (edges <= stop)]

    u0, _ = program(start)
    n = float(initial_atom_number)
    t_k = float(initial_temperature_k)
    n = _truncate(n, t_k, math.inf, float(u0))

    def rhs(time_ms, y, lo, hi, f_lo, f_hi, p_lo, p_hi):
        n_, t_ = math.exp(y[0]), math.exp(y[1])
        # every RF interpolation (LINEAR, OFF, PREVIOUS) is linear or constant
        # between two program points, so the segment's end values define it
        w = (time_ms - lo) / (hi - lo)
        f = f_lo + w * (f_hi - f_lo)
        power = p_lo + w * (p_hi - p_lo)
        knife_on = power > 0.0
        eff = 1.0 - math.exp(-power / model.rf_saturation_power_mw) if knife_on else 0.0
        u = H_PLANCK * max(f - model.trap_bottom_mhz, 0.0) * 1e6 / K_B
        du_dt = H_PLANCK * (f_hi - f_lo) * 1e6 / K_B / ((hi - lo) * 1e-3)
        eta = min(max(u / t_, _ETA_MIN), _ETA_MAX) if knife_on else _KNIFE_OFF_ETA
        omega_bar = _OMEGA_BAR * (model.evaporation_compression if time_ms < 0 else 1.0)
        g_ev, g_bg, g_3 = _rates(n_, t_, eta, eff, omega_bar, model)
        c, dc = _energy_factor(eta)
        kt = K_B * t_
        u_j = eta * kt
        lowering = knife_on and u > 0 and du_dt < 0 and eta < _ETA_MAX
        # atoms the descending knife passes over leave at once (truncated distribution)
        n_spill = n_ * eff * eta**3 * math.exp(-eta) / _gamma3(eta) * du_dt / u if lowering else 0.0
        dn = -n_ * (g_ev + g_bg + g_3) + n_spill
        de = (
            -n_ * g_ev * (u_j + kt)
            - n_ * g_bg * c * kt
            - n_ * g_3 * (2.0 / 3.0) * c * kt
            + u_j * n_spill
        )
        # change of the truncated distribution's shape as the knife comes down
        shape = n_ * dc * K_B * du_dt * eff if lowering else 0.0
        heat_capacity = max(c - eta * dc, 0.05)
        dt_dt = (de - kt * c * dn - shape) / (n_ * K_B * heat_capacity)
        if time_ms > 0:
            # energy 3 k_B x rate per atom: dT/dt = rate for an untruncated cloud
            dt_dt += 3.0 * model.stage_heating_nk_per_ms * 1e-9 * 1e3 / heat_capacity
        return [dn / n_ * 1e-3, dt_dt / t_ * 1e-3]  # per ms

    times, ns, ts, us = [start], [n], [t_k], [float(u0)]
    comp = [model.evaporation_compression if start < 0 else 1.0]
    for lo, hi in itertools.pairwise(edges):
        if n < 1.0:  # the knife has emptied the trap
            n = 0.0
            times.append(hi)
            ns.append(0.0)
            ts.append(t_k)
            us.append(float(program(hi)[0]))
            comp.append(model.evaporation_compression if hi <= 0.0 else 1.0)
            continue
        sol = solve_ivp(
            rhs,
            (lo, hi),
            [math.log(n), math.log(t_k)],
            method="LSODA",
            args=(lo, hi, *program.segment(lo, hi)),
            rtol=1e-6,
            atol=1e-9,
            max_step=model.max_step_ms,
            dense_output=False,
        )
        if not sol.success:  # pragma: no cover - LSODA is robust on these rates
            raise RuntimeError(f"evaporation integration failed: {sol.message}")
        seg_n, seg_t = np.exp(sol.y[0]), np.exp(sol.y[1])
        seg_u, _ = program(np.clip(sol.t, lo, hi - 1e-9))
        times.extend(sol.t[1:])
        ns.extend(seg_n[1:])
        ts.extend(seg_t[1:])
        us.extend(np.asarray(seg_u)[1:])
        n, t_k = float(seg_n[-1]), float(seg_t[-1])
        comp.extend([model.evaporation_compression if hi <= 0.0 else 1.0] * (len(sol.t) - 1))
        # a step of the program at ``hi`` (OFF/PREVIOUS) truncates the cloud at once
        u_hi = float(program(hi)[0])
        if np.isfinite(us[-1]) and u_hi < us[-1]:
            n = _truncate(n, t_k, us[-1], u_hi)
            times.append(hi)
            ns.append(n)
            ts.append(t_k)
            us.append(u_hi)
            comp.append(comp[-1])
        if hi == 0.0 and start < 0.0:
            # adiabatic relaxation to the science trap at the end of the ramp
            t_k /= model.evaporation_compression
            times.append(0.0)
            ns.append(n)
            ts.append(t_k)
            us.append(us[-1])
            comp.append(1.0)
    return EvaporationResult(
        times_ms=np.asarray(times),
        atom_number=np.asarray(ns),
        temperature_k=np.asarray(ts),
        knife_depth_k=np.asarray(us, dtype=float),
        trap_compression=np.asarray(comp),
    )
