"""Closed-form references: Sedov–Taylor blast radius, Weaver et al. (1977) wind bubble."""

from __future__ import annotations

import numpy as np

from astrograd._errors import InputError, check_positive

__all__ = [
    "SEDOV_XI0",
    "free_wind_density",
    "sedov_shock_radius",
    "weaver_radius",
    "weaver_shell_velocity",
    "wind_luminosity",
]

#: Similarity constant ξ₀ of the spherical point blast in a uniform medium, R = ξ₀ (E t²/ρ)^(1/5),
#: keyed by γ (Sedov 1959; Kamm & Timmes 2007, LA-UR-07-2849: α = 0.851 for γ = 1.4,
#: α = 0.4936 for γ = 5/3, ξ₀ = α^(-1/5)).
SEDOV_XI0 = {1.4: 1.0328, 5.0 / 3.0: 1.1517}

#: Weaver et al. (1977) eq. (4): outer-shock radius of the adiabatic (energy-conserving) bubble,
#: R₂ = 0.88 (L t³/ρ)^(1/5).
WEAVER_ADIABATIC = 0.88


def sedov_shock_radius(energy, density, t, gamma: float = 5.0 / 3.0):
    """Shock radius R = ξ₀ (E t²/ρ)^(1/5) of a spherical point explosion (any consistent units).

    energy: blast energy E; density: ambient ρ; t: time since the explosion. gamma: 1.4 or 5/3.
    """
    for key, xi0 in SEDOV_XI0.items():
        if abs(float(gamma) - key) < 1e-9:
            return xi0 * (energy * t**2 / density) ** 0.2
    raise InputError(f"gamma = {float(gamma):.6g} has no tabulated Sedov constant; allowed: 1.4, 5/3")


def wind_luminosity(mass_loss_rate, terminal_velocity):
    """Mechanical luminosity L = Ṁ v∞² / 2."""
    return 0.5 * mass_loss_rate * terminal_velocity**2


def weaver_radius(luminosity, density, t, coefficient: float = WEAVER_ADIABATIC):
    """Outer-shock radius of a wind-blown bubble, R₂ = coefficient · (L t³/ρ)^(1/5).

    The default 0.88 is the adiabatic stage of Weaver et al. (1977); use (125/(154π))^(1/5)
    ≈ 0.763 for their later stage with a thin, cooled shell.
    """
    check_positive("wind luminosity", luminosity)
    check_positive("ambient density", density)
    check_positive("time", t)
    return coefficient * (luminosity * t**3 / density) ** 0.2


def weaver_shell_velocity(luminosity, density, t, coefficient: float = WEAVER_ADIABATIC):
    """dR₂/dt = (3/5) R₂/t."""
    return 0.6 * weaver_radius(luminosity, density, t, coefficient) / t


def free_wind_density(r, mass_loss_rate, terminal_velocity):
    """Density of the free-streaming wind, ρ = Ṁ / (4π r² v∞), shape of r."""
    r = np.asarray(r, dtype=float)
    return mass_loss_rate / (4.0 * np.pi * r**2 * terminal_velocity)
