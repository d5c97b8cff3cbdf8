"""Eisenstein & Hu (1998, ApJ 496, 605) matter transfer functions, with and without BAO wiggles."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from astrograd._errors import check_positive
from astrograd.cosmo._cosmology import Cosmology, check_each


def _check_k(k) -> None:
    """Raise InputError naming the first negative or non-finite wavenumber of a concrete ``k``
    (T(k) would be NaN there); k = 0 is allowed (T = 1)."""
    check_each(k, lambda x: (x >= 0) & jnp.isfinite(x), lambda v: check_positive("k", v, allow_zero=True))


def _t0_tilde(q, alpha_c, beta_c):
    """EH98 eq. 19–20."""
    log_term = jnp.log(jnp.e + 1.8 * beta_c * q)
    c = 14.2 / alpha_c + 386.0 / (1.0 + 69.9 * q**1.08)
    return log_term / (log_term + c * q**2)


def transfer_eisenstein_hu(cosmo: Cosmology, k: ArrayLike) -> Float[Array, "..."]:
    """EH98 transfer function with baryon acoustic oscillations (their eqs. 2–24).

    k: wavenumbers in h/Mpc (any shape, >= 0). Returns T(k) (dimensionless, → 1 as k → 0).
    """
    _check_k(k)
    h = cosmo.h
    k_mpc = jnp.asarray(k) * h
    theta = cosmo.t_cmb / 2.7
    om_h2 = cosmo.omega_m * h**2
    ob_h2 = cosmo.omega_b * h**2
    f_b = cosmo.omega_b / cosmo.omega_m
    f_c = cosmo.omega_c / cosmo.omega_m

    z_eq = 2.50e4 * om_h2 * theta**-4
    k_eq = 7.46e-2 * om_h2 * theta**-2
    b1 = 0.313 * om_h2**-0.419 * (1.0 + 0.607 * om_h2**0.674)
    b2 = 0.238 * om_h2**0.223
    z_d = 1291.0 * om_h2**0.251 / (1.0 + 0.659 * om_h2**0.828) * (1.0 + b1 * ob_h2**b2)
    r_d = 31.5 * ob_h2 * theta**-4 * (1.0e3 / z_d)
    r_eq = 31.5 * ob_h2 * theta**-4 * (1.0e3 / z_eq)
    s = (
        2.0 / (3.0 * k_eq) * jnp.sqrt(6.0 / r_eq)
        * jnp.log((jnp.sqrt(1.0 + r_d) + jnp.sqrt(r_d + r_eq)) / (1.0 + jnp.sqrt(r_eq)))
    )
    k_silk = 1.6 * ob_h2**0.52 * om_h2**0.73 * (1.0 + (10.4 * om_h2) ** -0.95)
    q = k_mpc / (13.41 * k_eq)

    a1 = (46.9 * om_h2) ** 0.670 * (1.0 + (32.1 * om_h2) ** -0.532)
    a2 = (12.0 * om_h2) ** 0.424 * (1.0 + (45.0 * om_h2) ** -0.582)
    alpha_c = a1 ** (-f_b) * a2 ** (-(f_b**3))
    bb1 = 0.944 / (1.0 + (458.0 * om_h2) ** -0.708)
    bb2 = (0.395 * om_h2) ** -0.0266
    beta_c = 1.0 / (1.0 + bb1 * (f_c**bb2 - 1.0))

    ks = k_mpc * s
    f = 1.0 / (1.0 + (ks / 5.4) ** 4)
    t_c = f * _t0_tilde(q, 1.0, beta_c) + (1.0 - f) * _t0_tilde(q, alpha_c, beta_c)

    y = (1.0 + z_eq) / (1.0 + z_d)
    sq = jnp.sqrt(1.0 + y)
    g = y * (-6.0 * sq + (2.0 + 3.0 * y) * jnp.log((sq + 1.0) / (sq - 1.0)))
    alpha_b = 2.07 * k_eq * s * (1.0 + r_d) ** -0.75 * g
    beta_node = 8.41 * om_h2**0.435
    beta_b = 0.5 + f_b + (3.0 - 2.0 * f_b) * jnp.sqrt((17.2 * om_h2) ** 2 + 1.0)
    s_tilde = s / (1.0 + (beta_node / ks) ** 3) ** (1.0 / 3.0)
    t_b = (
        _t0_tilde(q, 1.0, 1.0) / (1.0 + (ks / 5.2) ** 2)
        + alpha_b / (1.0 + (beta_b / ks) ** 3) * jnp.exp(-((k_mpc / k_silk) ** 1.4))
    ) * jnp.sinc(k_mpc * s_tilde / jnp.pi)
    return f_b * t_b + f_c * t_c


def transfer_eisenstein_hu_nowiggle(cosmo: Cosmology, k: ArrayLike) -> Float[Array, "..."]:
    """EH98 zero-baryon-shape transfer function without oscillations (their eqs. 26–31).

    k: wavenumbers in h/Mpc (any shape, >= 0). Returns T(k).
    """
    _check_k(k)
    h = cosmo.h
    k = jnp.asarray(k)
    theta = cosmo.t_cmb / 2.7
    om_h2 = cosmo.omega_m * h**2
    ob_h2 = cosmo.omega_b * h**2
    f_b = cosmo.omega_b / cosmo.omega_m
    s = 44.5 * jnp.log(9.83 / om_h2) / jnp.sqrt(1.0 + 10.0 * ob_h2**0.75)
    alpha_gamma = 1.0 - 0.328 * jnp.log(431.0 * om_h2) * f_b + 0.38 * jnp.log(22.3 * om_h2) * f_b**2
    gamma_eff = cosmo.omega_m * h * (alpha_gamma + (1.0 - alpha_gamma) / (1.0 + (0.43 * k * h * s) ** 4))
    q = k * theta**2 / gamma_eff
    l0 = jnp.log(2.0 * jnp.e + 1.8 * q)
    c0 = 14.2 + 731.0 / (1.0 + 62.5 * q)
    return l0 / (l0 + c0 * q**2)


def transfer(cosmo: Cosmology, k: ArrayLike) -> Float[Array, "..."]:
    """The transfer function selected by ``cosmo.transfer`` at k (h/Mpc)."""
    if cosmo.transfer == "eisenstein_hu":
        return transfer_eisenstein_hu(cosmo, k)
    return transfer_eisenstein_hu_nowiggle(cosmo, k)
