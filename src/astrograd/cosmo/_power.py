"""Linear matter power spectrum P(k, a), normalised by σ8 or A_s, and σ(R)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from astrograd._errors import InputError, check_positive
from astrograd.cosmo._cosmology import HUBBLE_DISTANCE_MPC_H, Cosmology, check_each
from astrograd.cosmo._growth import GrowthTable, check_scale_factors, growth_table
from astrograd.cosmo._transfer import transfer

#: Pivot scale of A_s, 1/Mpc.
K_PIVOT_MPC = 0.05
_LNK = (jnp.log(1e-5), jnp.log(1e3), 4096)


def tophat_window(x: ArrayLike) -> Float[Array, "..."]:
    """Fourier transform of a unit top-hat sphere, 3 (sin x − x cos x) / x³ (series at small x)."""
    x = jnp.asarray(x)
    small = x < 0.1
    xs = jnp.where(small, 1.0, x)
    exact = 3.0 * (jnp.sin(xs) - xs * jnp.cos(xs)) / xs**3
    x2 = x * x
    series = 1.0 - x2 / 10.0 + x2 * x2 / 280.0 - x2 * x2 * x2 / 15120.0
    return jnp.where(small, series, exact)


def _primordial_power(cosmo: Cosmology, k):
    """Unnormalised P(k, a=1) = k^{n_s} T(k)² D1_early(1)² (k in h/Mpc)."""
    return k**cosmo.n_s * transfer(cosmo, k) ** 2


def _sigma_unnormalised(cosmo: Cosmology, radius, pk_fn):
    lnk = jnp.linspace(*_LNK, dtype=jnp.result_type(cosmo.omega_m))
    k = jnp.exp(lnk)
    integrand = k**3 * pk_fn(k) * tophat_window(k * radius) ** 2 / (2.0 * jnp.pi**2)
    return jnp.sqrt(jnp.trapezoid(integrand, lnk))


def _amplitude(cosmo: Cosmology, table: GrowthTable):
    """The factor A with P(k, a=1) = A k^{n_s} T(k)²."""
    if cosmo.sigma8 is not None:
        s8 = _sigma_unnormalised(cosmo, 8.0, lambda k: _primordial_power(cosmo, k))
        return (cosmo.sigma8 / s8) ** 2
    # δ(k, a) = (2/5) (k c/H0)² T(k) D1_early(a) R(k) / Ω_m in the matter era (D1_early → a):
    # P = 2π²/k³ (4/25) (k c/H0)⁴ T² D² A_s (k/k_pivot)^{n_s−1} / Ω_m².
    k_pivot = K_PIVOT_MPC / cosmo.h
    d1 = table.D1_early(1.0)
    return (
        2.0 * jnp.pi**2 * 4.0 / 25.0 * HUBBLE_DISTANCE_MPC_H**4 * cosmo.A_s * d1**2
        / cosmo.omega_m**2 * k_pivot ** (1.0 - cosmo.n_s)
    )


def linear_power(
    cosmo: Cosmology, k: ArrayLike, a: ArrayLike = 1.0, table: GrowthTable | None = None
) -> Float[Array, "..."]:
    """Linear matter power spectrum P(k, a) in (Mpc/h)³; k in h/Mpc (any shape, > 0).

    ``a`` broadcasts against ``k``. ``table``: a precomputed ``growth_table(cosmo)`` to reuse.
    """
    try:
        np.broadcast_shapes(np.shape(k), np.shape(a))
    except ValueError:
        raise InputError(f"k of shape {np.shape(k)} and a of shape {np.shape(a)} do not broadcast") from None
    check_each(k, lambda x: (x > 0) & jnp.isfinite(x), lambda v: check_positive("k", v))
    check_scale_factors(a)
    table = growth_table(cosmo) if table is None else table
    k = jnp.asarray(k)
    return _amplitude(cosmo, table) * _primordial_power(cosmo, k) * table.D1(a) ** 2


def sigma_r(
    cosmo: Cosmology, radius: ArrayLike, a: ArrayLike = 1.0, table: GrowthTable | None = None
) -> Float[Array, ""]:
    """rms linear density contrast in top-hat spheres of ``radius`` Mpc/h at scale factor ``a``."""
    if np.ndim(radius) != 0:
        raise InputError(f"radius has shape {np.shape(radius)}; give one radius (jax.vmap for several)")
    if np.ndim(a) != 0:
        raise InputError(f"a has shape {np.shape(a)}; give one scale factor (jax.vmap for several)")
    check_each(radius, lambda x: (x > 0) & jnp.isfinite(x), lambda v: check_positive("radius", v))
    check_scale_factors(a)
    table = growth_table(cosmo) if table is None else table
    return _sigma_unnormalised(cosmo, radius, lambda k: linear_power(cosmo, k, a, table))


def sigma8(cosmo: Cosmology, table: GrowthTable | None = None) -> Float[Array, ""]:
    """σ8 of the linear power spectrum at a = 1 (equals ``cosmo.sigma8`` when that normalises it)."""
    return sigma_r(cosmo, 8.0, 1.0, table)
