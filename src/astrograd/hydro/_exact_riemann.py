"""Exact solution of the Riemann problem for the 1D Euler equations of an ideal gas
(Toro 2009, ch. 4): Newton iteration for the star pressure, then sampling of the wave pattern.

Plain numpy: it is a reference for tests and benchmarks, not part of the differentiable solver.
"""

from __future__ import annotations

import numpy as np

from astrograd._errors import InputError, SimulationError, check_finite_array, check_positive
from astrograd.hydro._config import _real_array, check_gamma

__all__ = ["exact_riemann", "riemann_star_state"]


def _pressure_function(p, rho_k, p_k, c_k, gamma):
    """f_K(p) and its derivative (Toro eq. 4.6, 4.7, 4.37)."""
    if p > p_k:  # shock
        a_k = 2.0 / ((gamma + 1.0) * rho_k)
        b_k = (gamma - 1.0) / (gamma + 1.0) * p_k
        root = np.sqrt(a_k) / np.sqrt(p + b_k)  # not sqrt(a_k/(p + b_k)): the quotient can underflow
        f = (p - p_k) * root
        df = root * (1.0 - 0.5 * (p - p_k) / (b_k + p))
    else:  # rarefaction
        ratio = p / p_k
        # expm1 of the log: ratio**z − 1 with z = (γ−1)/(2γ) lost every digit as γ → 1 (p* 5 % off
        # at γ = 1 + 1e-15, 4e-5 at 1 + 1e-12), where f tends to c ln(ratio)
        f = 2.0 * c_k / (gamma - 1.0) * np.expm1((gamma - 1.0) / (2.0 * gamma) * np.log(ratio))
        df = 1.0 / (rho_k * c_k) * ratio ** (-(gamma + 1.0) / (2.0 * gamma))
    return f, df


def _check_gamma(gamma) -> float:
    """gamma as a float, with HydroParams' check (finite and > 1)."""
    gamma = check_positive("gamma", gamma)
    check_gamma("gamma", gamma)
    return gamma


def _check_state(name, state):
    values = _real_array(f"{name} state", state).astype(float).reshape(-1)
    if values.size != 3:
        raise InputError(f"{name} state has {values.size} values; it must be (density, velocity, pressure)")
    rho, u, p = (float(v) for v in values)
    check_positive(f"{name} density", rho)
    check_positive(f"{name} pressure", p)
    if not np.isfinite(u):
        raise InputError(f"{name} velocity = {u!r} is not allowed; it must be finite")
    return rho, u, p


def _scales(left, right) -> tuple[float, float, float]:
    """Reference density, pressure and velocity of two checked states: the geometric means of the
    densities and of the pressures, and sqrt(p_ref/ρ_ref). The Euler equations are invariant under
    ρ -> a ρ, p -> b p, u -> sqrt(b/a) u, x/t likewise; the solver works on the scaled states, whose
    values lie near 1 (a pressure or density near 1e±300 overflowed or underflowed inside the
    iteration and returned a wrong star state, or claimed vacuum)."""
    with np.errstate(all="ignore"):  # out of range: refused by riemann_star_state
        rho_ref = float(np.sqrt(left[0]) * np.sqrt(right[0]))
        p_ref = float(np.sqrt(left[2]) * np.sqrt(right[2]))
        u_ref = float(np.sqrt(p_ref) / np.sqrt(rho_ref))
    return rho_ref, p_ref, u_ref


def _scaled(state, rho_ref, p_ref, u_ref):
    return state[0] / rho_ref, state[1] / u_ref, state[2] / p_ref


def riemann_star_state(left, right, gamma: float, *, tol: float = 1e-14) -> tuple[float, float]:
    """Pressure and velocity of the star region, (p*, u*).

    left, right: (density, velocity, pressure) of the two states; gamma: adiabatic index.
    Raises SimulationError if the data generate vacuum (Toro eq. 4.40). Any units: the
    iteration works on states scaled by reference values (see :func:`_scales`).
    """
    gamma = _check_gamma(gamma)
    tol = check_positive("tol", tol)  # tol <= 0 or NaN ran 100 Newton steps and returned their result silently
    left = _check_state("left", left)
    right = _check_state("right", right)
    (p, u), (_, p_ref, u_ref) = _scaled_star_state(left, right, gamma, tol)
    return float(p * p_ref), float(u * u_ref)


def _scaled_star_state(left, right, gamma: float, tol: float):
    """(p*, u*) of two checked states in the scaled units of :func:`_scales`, and those scales
    (ρ_ref, p_ref, u_ref); a one-line InputError if the solution in the input units lies
    beyond float64."""
    rho_ref, p_ref, u_ref = _scales(left, right)
    with np.errstate(all="ignore"):  # a value out of range is refused below
        p, u = _star_state(_scaled(left, rho_ref, p_ref, u_ref), _scaled(right, rho_ref, p_ref, u_ref), gamma, tol)
        p_out, u_out = p * p_ref, u * u_ref
    if not (np.isfinite(p_out) and np.isfinite(u_out) and p_out > 0 and 0 < u_ref < np.inf):
        raise InputError(
            f"left state {tuple(left)} and right state {tuple(right)} are not allowed: their Riemann solution "
            "(sound speeds, star pressure or velocity) is beyond the range of float64"
        )
    return (p, u), (rho_ref, p_ref, u_ref)


def _star_state(left, right, gamma: float, tol: float) -> tuple[float, float]:
    """(p*, u*) of two checked states of order unity (Newton iteration, Toro §4.3)."""
    rho_l, u_l, p_l = left
    rho_r, u_r, p_r = right
    c_l = np.sqrt(gamma * p_l / rho_l)
    c_r = np.sqrt(gamma * p_r / rho_r)
    if 2.0 / (gamma - 1.0) * (c_l + c_r) <= u_r - u_l:
        raise SimulationError("the Riemann data generate vacuum (pressure positivity condition violated)")
    # two-rarefaction guess (Toro eq. 4.46), robust for every case
    z = (gamma - 1.0) / (2.0 * gamma)
    p = ((c_l + c_r - 0.5 * (gamma - 1.0) * (u_r - u_l)) / (c_l / p_l**z + c_r / p_r**z)) ** (1.0 / z)
    floor = tol * min(p_l, p_r)  # relative: an absolute floor would clamp p* of low-pressure data (any units)
    p = max(p, floor)
    for _ in range(100):
        f_l, df_l = _pressure_function(p, rho_l, p_l, c_l, gamma)
        f_r, df_r = _pressure_function(p, rho_r, p_r, c_r, gamma)
        p_new = p - (f_l + f_r + u_r - u_l) / (df_l + df_r)
        p_new = max(p_new, floor)
        change = 2.0 * abs(p_new - p) / (p_new + p)
        p = p_new
        if change < tol:
            break
    f_l, _ = _pressure_function(p, rho_l, p_l, c_l, gamma)
    f_r, _ = _pressure_function(p, rho_r, p_r, c_r, gamma)
    u = 0.5 * (u_l + u_r) + 0.5 * (f_r - f_l)
    return float(p), float(u)


def exact_riemann(left, right, gamma: float, x, t: float, x0: float = 0.5):
    """Sample the exact solution at positions ``x`` and time ``t`` > 0 (Toro §4.5).

    left, right: (density, velocity, pressure); x: positions, shape (n,); x0: initial
    discontinuity. Returns (rho, u, p), each of shape (n,), in the units of the inputs.
    """
    t = check_positive("t", t)
    gamma = _check_gamma(gamma)
    left = _check_state("left", left)
    right = _check_state("right", right)
    # solved once, in scaled units (see _scales; a star state beyond float64 is refused), sampled in
    # them and converted back
    (p_s, u_s), (rho_ref, p_ref, u_ref) = _scaled_star_state(left, right, gamma, 1e-14)
    rho_l, u_l, p_l = _scaled(left, rho_ref, p_ref, u_ref)
    rho_r, u_r, p_r = _scaled(right, rho_ref, p_ref, u_ref)
    c_l = np.sqrt(gamma * p_l / rho_l)
    c_r = np.sqrt(gamma * p_r / rho_r)
    g1 = (gamma - 1.0) / (gamma + 1.0)
    g2 = (gamma - 1.0) / (2.0 * gamma)
    x0 = _real_array("x0", x0)
    if x0.ndim != 0 or not np.isfinite(x0):  # the number, not "array(nan)"
        shown = f"{float(x0):g}" if x0.ndim == 0 else f"an array of shape {x0.shape}"
        raise InputError(f"x0 = {shown} is not allowed; it must be a finite number")
    x0 = float(x0)
    positions = _real_array("x", x).astype(float)
    if positions.ndim != 1:
        raise InputError(f"x has shape {positions.shape}; it must be 1D (positions)")
    check_finite_array("x", positions)
    with np.errstate(over="ignore"):  # an infinite x/t is far outside the waves: the unperturbed state
        s = (positions - x0) / u_ref / t
    rho = np.empty_like(s)
    vel = np.empty_like(s)
    prs = np.empty_like(s)
    for i, si in enumerate(s):
        if si <= u_s:  # left of the contact
            if p_s > p_l:  # left shock
                rho_s = rho_l * (p_s / p_l + g1) / (g1 * p_s / p_l + 1.0)
                speed = u_l - c_l * np.sqrt((gamma + 1.0) / (2.0 * gamma) * p_s / p_l + g2)
                state = (rho_l, u_l, p_l) if si <= speed else (rho_s, u_s, p_s)
            else:  # left rarefaction
                rho_s = rho_l * (p_s / p_l) ** (1.0 / gamma)
                c_s = c_l * (p_s / p_l) ** g2
                head, tail = u_l - c_l, u_s - c_s
                if si <= head:
                    state = (rho_l, u_l, p_l)
                elif si >= tail:
                    state = (rho_s, u_s, p_s)
                else:  # base = 2/(γ+1) + g1 (u_l − s)/c_l = 1 + g1 ((u_l − s)/c_l − 1), as log1p (γ → 1)
                    log_base = np.log1p(g1 * ((u_l - si) / c_l - 1.0))
                    state = (
                        rho_l * np.exp(2.0 / (gamma - 1.0) * log_base),
                        2.0 / (gamma + 1.0) * (c_l + 0.5 * (gamma - 1.0) * u_l + si),
                        p_l * np.exp(log_base / g2),
                    )
        else:  # right of the contact
            if p_s > p_r:  # right shock
                rho_s = rho_r * (p_s / p_r + g1) / (g1 * p_s / p_r + 1.0)
                speed = u_r + c_r * np.sqrt((gamma + 1.0) / (2.0 * gamma) * p_s / p_r + g2)
                state = (rho_r, u_r, p_r) if si >= speed else (rho_s, u_s, p_s)
            else:  # right rarefaction
                rho_s = rho_r * (p_s / p_r) ** (1.0 / gamma)
                c_s = c_r * (p_s / p_r) ** g2
                head, tail = u_r + c_r, u_s + c_s
                if si >= head:
                    state = (rho_r, u_r, p_r)
                elif si <= tail:
                    state = (rho_s, u_s, p_s)
                else:  # base = 2/(γ+1) − g1 (u_r − s)/c_r = 1 − g1 ((u_r − s)/c_r + 1)
                    log_base = np.log1p(-g1 * ((u_r - si) / c_r + 1.0))
                    state = (
                        rho_r * np.exp(2.0 / (gamma - 1.0) * log_base),
                        2.0 / (gamma + 1.0) * (-c_r + 0.5 * (gamma - 1.0) * u_r + si),
                        p_r * np.exp(log_base / g2),
                    )
        rho[i], vel[i], prs[i] = state
    return rho * rho_ref, vel * u_ref, prs * p_ref
