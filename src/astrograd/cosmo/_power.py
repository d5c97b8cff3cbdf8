"""Linear matter power spectrum P(k, a), normalised by σ8 or A_s, and σ(R)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from astrograd._errors import InputError, check_positive, is_concrete
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


def _log_shape(cosmo: Cosmology, k):
    """ln(k^{n_s} T(k)²) (k > 0 in h/Mpc), the unnormalised P(k, a=1) in logs: in float32 the
    shape itself underflows to 0 (T ~ 1e-23 where Ω_m h² = 1e-9 and t_cmb = 1000 K)."""
    t = jnp.abs(transfer(cosmo, k))
    log_t = jnp.where(t > 0, jnp.log(jnp.where(t > 0, t, 1.0)), -jnp.inf)  # T = 0: a zero gradient
    return cosmo.n_s * jnp.log(k) + 2.0 * log_t


def _sigma2_weights(radius, lnk):
    """k³ W(kR)² / (2π²) on the ln-k grid: σ²(R) = ∫ weights P(k) d ln k. Multiplied into the
    shape k^{n_s} T² before the amplitude, so that no factor overflows float32 on its own (k³ P
    at k = 1e3 h/Mpc did with n_s = 5, although k³ W² P is small there)."""
    k = jnp.exp(lnk)
    return k**3 * tophat_window(k * radius) ** 2 / (2.0 * jnp.pi**2)


def _normalisation(cosmo: Cosmology, table: GrowthTable):
    """(A, ln s) with P(k, a=1) = A · k^{n_s} T(k)² / s.

    For σ8: s is the largest k^{n_s} T² on the σ8 grid, so that the shape integrated for σ8 is of
    order one; in float32 it underflowed (t_cmb = 1000 K, Ω_m h² = 2.5e-6: k³ P ~ 1e-45), and
    A = σ8² / 0 made P(k) infinite and σ8 NaN. For A_s: s = 1."""
    if cosmo.sigma8 is not None:
        lnk = jnp.linspace(*_LNK, dtype=jnp.result_type(cosmo.omega_m))
        log_shape = _log_shape(cosmo, jnp.exp(lnk))
        log_scale = jax.lax.stop_gradient(jnp.max(log_shape))  # P does not depend on it
        s8_squared = jnp.trapezoid(_sigma2_weights(8.0, lnk) * jnp.exp(log_shape - log_scale), lnk)
        return cosmo.sigma8**2 / s8_squared, log_scale
    # δ(k, a) = (2/5) (k c/H0)² T(k) D1_early(a) R(k) / Ω_m in the matter era (D1_early → a):
    # P = 2π²/k³ (4/25) (k c/H0)⁴ T² D² A_s (k/k_pivot)^{n_s−1} / Ω_m².
    k_pivot = K_PIVOT_MPC / cosmo.h
    d1 = table.D1_early(1.0)
    amplitude = (
        2.0 * jnp.pi**2 * 4.0 / 25.0 * HUBBLE_DISTANCE_MPC_H**4 * cosmo.A_s * d1**2
        / cosmo.omega_m**2 * k_pivot ** (1.0 - cosmo.n_s)
    )
    return amplitude, jnp.zeros_like(amplitude)


def _check_overflow(cosmo: Cosmology, name: str, values, k=None) -> None:
    """For concrete ``values``: InputError naming the first that is not finite. Within the
    parameter bounds that is a genuine overflow of float32 (P > 3.4e38: A_s = 1e-4, n_s = -5 and
    h = 1e-3 give P ~ 1e46 at k = 1e-5 h/Mpc), which only float64 or other parameters avoid."""
    if not is_concrete(cosmo, values):
        return
    array = np.asarray(values)
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    where = "" if k is None else f" at k = {float(np.asarray(k)[bad].flat[0]):g} h/Mpc"
    norm = f"sigma8 = {float(cosmo.sigma8):g}" if cosmo.sigma8 is not None else f"A_s = {float(cosmo.A_s):g}"
    raise InputError(
        f"{name} = {float(array[bad].flat[0]):g}{where} for the cosmology with {norm}, n_s = {float(cosmo.n_s):g}, "
        f"h = {float(cosmo.h):g}: it overflows {array.dtype} (largest {float(np.finfo(array.dtype).max):.3g}); "
        "allowed are parameters whose power fits it (or float64: astrograd._precision.float64())"
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
    amplitude, log_scale = _normalisation(cosmo, table)
    power = amplitude * jnp.exp(_log_shape(cosmo, k) - log_scale) * table.D1(a) ** 2
    _check_overflow(cosmo, "P(k)", power, jnp.broadcast_to(k, power.shape))
    return power


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
    lnk = jnp.linspace(*_LNK, dtype=jnp.result_type(cosmo.omega_m))
    amplitude, log_scale = _normalisation(cosmo, table)
    shape = _sigma2_weights(radius, lnk) * jnp.exp(_log_shape(cosmo, jnp.exp(lnk)) - log_scale)
    sigma = jnp.sqrt(amplitude * table.D1(a) ** 2 * jnp.trapezoid(shape, lnk))
    _check_overflow(cosmo, f"sigma_r({float(radius):g} Mpc/h)" if is_concrete(radius) else "sigma_r", sigma)
    return sigma


def sigma8(cosmo: Cosmology, table: GrowthTable | None = None) -> Float[Array, ""]:
    """σ8 of the linear power spectrum at a = 1 (equals ``cosmo.sigma8`` when that normalises it)."""
    return sigma_r(cosmo, 8.0, 1.0, table)
