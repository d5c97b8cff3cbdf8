"""Closed-form and similarity references: Sedov–Taylor blast radius, Weaver et al. (1977) wind
bubble (outer radius and the full adiabatic structure)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from astrograd._errors import InputError, check_positive, is_concrete
from astrograd.hydro._config import _real_array

__all__ = [
    "SEDOV_XI0",
    "WeaverBubble",
    "free_wind_density",
    "sedov_shock_radius",
    "weaver_bubble",
    "weaver_coefficient",
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
    check_positive("blast energy", energy)
    check_positive("ambient density", density)
    check_positive("time", t)
    gamma = _gamma(gamma, "allowed: 1.4, 5/3")
    for key, xi0 in SEDOV_XI0.items():
        if abs(gamma - key) < 1e-9:
            return xi0 * (energy * t**2 / density) ** 0.2
    raise InputError(f"gamma = {gamma:.6g} has no tabulated Sedov constant; allowed: 1.4, 5/3")


def _gamma(gamma, allowed: str) -> float:
    """``gamma`` as a float, else a one-line InputError (a string, None, an array)."""
    try:
        return float(_real_array("gamma", gamma).reshape(()))
    except ValueError:  # not a number (InputError is a ValueError), or several values
        raise InputError(f"gamma = {gamma!r} is not allowed; it must be one number ({allowed})") from None


def wind_luminosity(mass_loss_rate, terminal_velocity):
    """Mechanical luminosity L = Ṁ v∞² / 2 (numbers or arrays >= 0; unchecked when traced)."""
    if is_concrete(mass_loss_rate, terminal_velocity):  # a negative Ṁ gave a negative L silently
        for name, value in (("mass-loss rate", mass_loss_rate), ("terminal velocity", terminal_velocity)):
            a = _real_array(name, value)
            with np.errstate(invalid="ignore"):
                bad = ~(np.isfinite(a) & (a >= 0))
            if np.any(bad):
                shown = a if a.ndim == 0 else a.reshape(-1)[int(np.flatnonzero(bad)[0])]
                raise InputError(f"{name} = {float(shown):.6g} is not allowed; it must be a finite number >= 0")
    return 0.5 * mass_loss_rate * terminal_velocity**2


def weaver_radius(luminosity, density, t, coefficient: float = WEAVER_ADIABATIC):
    """Outer-shock radius of a wind-blown bubble, R₂ = coefficient · (L t³/ρ)^(1/5).

    The default 0.88 is the adiabatic stage of Weaver et al. (1977); use (125/(154π))^(1/5)
    ≈ 0.763 for their later stage with a thin, cooled shell.
    """
    check_positive("wind luminosity", luminosity)
    check_positive("ambient density", density)
    check_positive("time", t)
    check_positive("coefficient", coefficient)
    return coefficient * (luminosity * t**3 / density) ** 0.2


def weaver_shell_velocity(luminosity, density, t, coefficient: float = WEAVER_ADIABATIC):
    """dR₂/dt = (3/5) R₂/t."""
    return 0.6 * weaver_radius(luminosity, density, t, coefficient) / t


def free_wind_density(r, mass_loss_rate, terminal_velocity):
    """Density of the free-streaming wind, ρ = Ṁ / (4π r² v∞), shape of r (> 0)."""
    check_positive("mass-loss rate", mass_loss_rate, allow_zero=True)
    check_positive("terminal velocity", terminal_velocity)
    r = _radii(r, positive=True)
    return mass_loss_rate / (4.0 * np.pi * r**2 * terminal_velocity)


def _radii(r, positive: bool) -> np.ndarray:
    """``r`` as a float array of finite radii (> 0, or >= 0), else a one-line InputError."""
    a = _real_array("r", r).astype(float)
    bad = ~np.isfinite(a) | ((a <= 0) if positive else (a < 0))
    if bad.any():
        value = a[np.unravel_index(int(np.flatnonzero(bad)[0]), a.shape)] if a.ndim else a
        allowed = "> 0" if positive else ">= 0"
        raise InputError(f"radius r = {float(value):.6g} is not allowed; it must be finite and {allowed}")
    return a


# --- the adiabatic wind bubble as a similarity solution (Castor, McCray & Weaver 1975; Weaver et
# al. 1977 §II): outer shock R₂ = α (L t³/ρ₀)^(1/5), so the shock speed is U₂ = λ R₂/t, λ = 3/5.
# In the swept-up shell (contact r_c < r < R₂) u = U₂ f(ξ), ρ = ρ₀ g(ξ), p = ρ₀ U₂² h(ξ), ξ = r/R₂,
# integrated inward from the strong-shock jump at ξ = 1 until the gas moves with the contact
# (f = ξ). Inside the contact the shocked wind is isobaric at p(ξ_c); its thermal energy and the
# shell's energy add up to L t, which fixes α (0.8837 for γ = 5/3; Weaver's 0.88).
_LAMBDA = 0.6


def _shell_derivatives(xi, f, g, h, gamma):
    """(f', g', h') of the similarity ODEs: continuity, momentum, adiabatic (entropy) equation."""
    lam = _LAMBDA
    a = f - xi
    c2 = gamma * h / g
    fp = (-f * (lam - 1.0) / lam + h / (g * a) * (2.0 * (lam - 1.0) / lam + 2.0 * gamma * f / xi)) / (a - c2 / a)
    gp = (-2.0 * g * f / xi - g * fp) / a
    hp = h / a * (-2.0 * (lam - 1.0) / lam - gamma * (2.0 * f / xi + fp))
    return np.array([fp, gp, hp])


@functools.lru_cache(maxsize=8)
def _weaver_similarity(gamma: float, step: float = 1e-4):
    """Shell profile (ξ, f, g, h) from ξ = 1 inward to the contact (RK4, fixed step), and α."""
    y = np.array([2.0 / (gamma + 1.0), (gamma + 1.0) / (gamma - 1.0), 2.0 / (gamma + 1.0)])
    xi, rows = 1.0, [(1.0, *y)]
    while True:
        k1 = _shell_derivatives(xi, *y, gamma)
        k2 = _shell_derivatives(xi - step / 2, *(y - step / 2 * k1), gamma)
        k3 = _shell_derivatives(xi - step / 2, *(y - step / 2 * k2), gamma)
        k4 = _shell_derivatives(xi - step, *(y - step * k3), gamma)
        y_new = y - step / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        # the contact is the singular point f = ξ (where g -> 0 and the temperature diverges)
        if not np.all(np.isfinite(y_new)) or y_new[1] <= 0.0 or y_new[0] >= xi - step:
            break
        y, xi = y_new, xi - step
        rows.append((xi, *y))
    xi_, f, g, h = np.array(rows[::-1]).T
    energy = (0.5 * g * f**2 + h / (gamma - 1.0)) * xi_**2  # per unit ξ, in units of ρ₀ U₂² R₂³
    shell = np.sum(np.diff(xi_) * 0.5 * (energy[1:] + energy[:-1]))  # trapezoid rule
    bubble = xi_[0] ** 3 * h[0] / (3.0 * (gamma - 1.0))
    alpha = (4.0 * np.pi * _LAMBDA**2 * (shell + bubble)) ** -0.2
    return xi_, f, g, h, float(alpha)


def weaver_coefficient(gamma: float = 5.0 / 3.0) -> float:
    """α in R₂ = α (L t³/ρ₀)^(1/5) from the adiabatic similarity solution (0.8837 for γ = 5/3,
    the value Weaver et al. 1977 quote as 0.88)."""
    gamma = _gamma(gamma, "1 < gamma <= 3")
    if not 1.0 < gamma <= 3.0:
        raise InputError(f"gamma = {gamma:.6g} is not allowed; the wind-bubble solution needs 1 < gamma <= 3")
    return _weaver_similarity(gamma)[4]


class WeaverBubble(NamedTuple):
    """Structure of the adiabatic wind bubble at one time (same units as the inputs).

    rho, u, p: profiles at the requested radii. Regions, inside out: free wind (r < r_reverse:
    ρ = Ṁ/(4πr²v∞), u = v∞, p = 0), shocked wind (isobaric at ``p_bubble``; velocity
    u = k r/t + (3/5 − k) r_c³/(t r²) with k = 4/(15γ), i.e. (4/25) r/t + (11/25) r_c³/(t r²) for γ = 5/3;
    its density depends on the wind's history and is returned as NaN), swept-up shell
    (similarity profile), ambient gas at rest (r > r_shock).
    """

    rho: np.ndarray
    u: np.ndarray
    p: np.ndarray
    r_reverse: float
    r_contact: float
    r_shock: float
    p_bubble: float


def weaver_bubble(r, mass_loss_rate, terminal_velocity, density, t, gamma: float = 5.0 / 3.0,
                  ambient_pressure: float = 0.0) -> WeaverBubble:
    """Density, velocity and pressure of the adiabatic (energy-conserving) wind bubble at radii r.

    The similarity solution assumes a strong outer shock (ambient pressure ≪ shell pressure);
    ``ambient_pressure`` only fills p outside the shock. Reverse shock where the post-shock
    pressure of the wind, (2/(γ+1)) ρ_w v∞², equals the bubble pressure. Any consistent units.
    """
    check_positive("mass-loss rate", mass_loss_rate)
    check_positive("terminal velocity", terminal_velocity)
    check_positive("ambient density", density)
    check_positive("time", t)
    check_positive("ambient pressure", ambient_pressure, allow_zero=True)
    weaver_coefficient(gamma)  # validates γ
    gamma = float(gamma)
    xi, f, g, h, alpha = _weaver_similarity(gamma)
    lum = wind_luminosity(mass_loss_rate, terminal_velocity)
    r_shock = alpha * (lum * t**3 / density) ** 0.2
    u_shock = _LAMBDA * r_shock / t
    r_contact = xi[0] * r_shock
    p_bubble = density * u_shock**2 * h[0]
    r_reverse = np.sqrt(2.0 / (gamma + 1.0) * mass_loss_rate * terminal_velocity / (4.0 * np.pi * p_bubble))
    r = _radii(r, positive=False)  # the arguments first, then whether the solution exists
    if r_reverse >= r_contact:  # no shocked wind: the free wind would be drawn over the shell
        raise InputError(
            f"the wind's reverse shock (r = {r_reverse:.4g}) lies outside the contact (r = {r_contact:.4g}) at "
            f"t = {float(t):.4g}: the adiabatic bubble needs a wind much faster than its shell (v_inf = "
            f"{float(terminal_velocity):.4g}, shell speed {u_shock:.4g}) or a later time "
            "(r_reverse/r_contact ∝ t^(-1/5))"
        )
    s = r / r_shock
    k = 4.0 / (15.0 * gamma)  # ∇·u = −(1/γp) ∂p/∂t = (4/5)/(γ t) in the isobaric bubble: u = k r/t + C/r²
    with np.errstate(divide="ignore", invalid="ignore"):
        free = mass_loss_rate / (4.0 * np.pi * r**2 * terminal_velocity)
        u_bubble = k * r / t + (_LAMBDA - k) * r_contact**3 / (t * r**2)
    regions = [r < r_reverse, (r >= r_reverse) & (r < r_contact), (r >= r_contact) & (r <= r_shock)]
    rho = np.select(regions, [free, np.nan, density * np.interp(s, xi, g)], density)
    vel = np.select(regions, [terminal_velocity, u_bubble, u_shock * np.interp(s, xi, f)], 0.0)
    pres = np.select(regions, [0.0, p_bubble, density * u_shock**2 * np.interp(s, xi, h)], ambient_pressure)
    return WeaverBubble(rho, vel, pres, float(r_reverse), float(r_contact), float(r_shock), float(p_bubble))
