"""Initial conditions: white noise, linear modes, 1LPT/2LPT displacements and momenta."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from astrograd._errors import check_finite_if_concrete, check_key
from astrograd.cosmo import Cosmology, E, GrowthTable, growth_table, linear_power
from astrograd.pm._config import PMConfig, check_shape, rfft_shape
from astrograd.pm._mesh import rfft_wavevectors


def white_noise(key: PRNGKeyArray, config: PMConfig) -> Float[Array, "px py pz"]:
    """Unit-variance Gaussian white noise on the particle grid, drawn for the global shape from an
    explicit key (the same numbers for any device count)."""
    check_key("key", key)
    return jax.random.normal(key, config.ptcl_grid, dtype=config.float_dtype)


def _ptcl_wavevectors(config: PMConfig, nyquist_zero: bool):
    ks = rfft_wavevectors(config.ptcl_grid, config.ptcl_spacing, config.float_dtype)
    if not nyquist_zero:
        return ks
    out = []
    for k, d, n in zip(ks, config.ptcl_spacing, config.ptcl_grid, strict=True):
        out.append(jnp.where(jnp.abs(k) >= np.pi / d * (1 - 1e-6), 0.0, k) if n % 2 == 0 else k)
    return out


def check_noise(noise, config: PMConfig) -> None:
    """InputError unless ``noise`` has the shape of the particle grid (static: under jit too)."""
    check_shape("noise", noise, config.ptcl_grid, f"the particle grid {config.ptcl_grid}")


def linear_modes(
    noise: Float[Array, "px py pz"], cosmo: Cosmology, config: PMConfig, table: GrowthTable | None = None
) -> Complex[Array, "px py pzr"]:
    """The linear density contrast at a = 1 in Fourier space (rfftn layout of the particle grid):
    δ_k = ω_k √(P(k) / V_cell), so that ⟨|δ_k|²⟩ = N² P(k) / V; the k = 0 mode is zero."""
    check_noise(noise, config)
    check_finite_if_concrete("noise", noise)
    ks = _ptcl_wavevectors(config, nyquist_zero=False)
    kmag = jnp.sqrt(ks[0] ** 2 + ks[1] ** 2 + ks[2] ** 2)
    kpos = jnp.where(kmag > 0, kmag, 1.0)
    cell_volume = float(np.prod(config.ptcl_spacing))
    amp = jnp.where(kmag > 0, jnp.sqrt(linear_power(cosmo, kpos, 1.0, table) / cell_volume), 0.0)
    return jnp.fft.rfftn(noise) * amp.astype(config.float_dtype)


def lpt_fields(modes: Complex[Array, "px py pzr"], config: PMConfig):
    """First- and second-order displacement fields at D1 = 1, each (N, 3) in Mpc/h.

    Ψ1 = −∇φ1 with ∇²φ1 = δ; Ψ2 = ∇φ2 with ∇²φ2 = Σ_{i<j} (φ1,ii φ1,jj − φ1,ij²), so that
    x = q + D1 Ψ1 + D2 Ψ2 with D2 ≈ −3/7 D1² (Ψ2 is zero for ``lpt_order = 1``).
    """
    shape = config.ptcl_grid
    check_shape("modes", modes, rfft_shape(shape),
                f"{rfft_shape(shape)}, the rfftn layout of the particle grid {shape} (from linear_modes)")
    ks = _ptcl_wavevectors(config, nyquist_zero=True)
    kfull = rfft_wavevectors(shape, config.ptcl_spacing, config.float_dtype)
    k2 = kfull[0] ** 2 + kfull[1] ** 2 + kfull[2] ** 2
    inv_lap = jnp.where(k2 > 0, -1.0 / jnp.where(k2 > 0, k2, 1.0), 0.0)
    phi1 = modes * inv_lap
    psi1 = jnp.stack([jnp.fft.irfftn(-1j * k * phi1, s=shape) for k in ks], axis=-1).reshape(-1, 3)
    if config.lpt_order == 1:
        return psi1, jnp.zeros_like(psi1)
    # second derivatives with the full wavevector (its Nyquist part is real and kept)
    d = {}
    for i in range(3):
        for j in range(i, 3):
            d[i, j] = jnp.fft.irfftn(-kfull[i] * kfull[j] * phi1, s=shape)
    source = d[0, 0] * d[1, 1] + d[0, 0] * d[2, 2] + d[1, 1] * d[2, 2] - d[0, 1] ** 2 - d[0, 2] ** 2 - d[1, 2] ** 2
    phi2 = jnp.fft.rfftn(source) * inv_lap
    psi2 = jnp.stack([jnp.fft.irfftn(1j * k * phi2, s=shape) for k in ks], axis=-1).reshape(-1, 3)
    return psi1, psi2


def lpt(
    modes: Complex[Array, "px py pzr"], cosmo: Cosmology, config: PMConfig, table: GrowthTable | None = None
) -> tuple[Float[Array, "n 3"], Float[Array, "n 3"]]:
    """Displacements (N, 3, Mpc/h) and momenta p = a² E(a) dx/d ln a (N, 3, Mpc/h) at a_start.

    The momentum is the canonical a² dx/dt in units of H0 (so dx/da = p / (a³ E)).
    """
    table = growth_table(cosmo) if table is None else table
    psi1, psi2 = lpt_fields(modes, config)
    a = config.a_start
    dtype = config.float_dtype
    d1, d2 = table.D1(a).astype(dtype), table.D2(a).astype(dtype)
    v1 = (a**2 * E(cosmo, a) * table.dD1_dlna(a)).astype(dtype)
    v2 = (a**2 * E(cosmo, a) * table.dD2_dlna(a)).astype(dtype)
    disp = d1 * psi1 + d2 * psi2
    mom = v1 * psi1 + v2 * psi2
    return disp, mom
