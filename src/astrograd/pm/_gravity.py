"""Particle-mesh gravity: CIC density, FFT Poisson solve, spectral or finite-difference gradient."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd.pm._config import PMConfig
from astrograd.pm._mesh import cic_paint, cic_readout, cic_window, rfft_wavevectors


def gradient_kernels(config: PMConfig) -> list[Array]:
    """i × the derivative kernel per axis on the rfft grid (Nyquist modes set to zero)."""
    ks = rfft_wavevectors(config.mesh_shape, config.cell_size, config.float_dtype)
    out = []
    for axis, (k, d, n) in enumerate(zip(ks, config.cell_size, config.mesh_shape, strict=True)):
        if config.gradient == "spectral":
            g = k
            if n % 2 == 0:
                g = jnp.where(jnp.abs(k) >= np.pi / d * (1 - 1e-6), 0.0, k)
        else:
            g = jnp.sin(k * d) / d
        out.append(1j * g)
    return out


def _inverse_laplacian(config: PMConfig) -> Array:
    ks = rfft_wavevectors(config.mesh_shape, config.cell_size, config.float_dtype)
    k2 = ks[0] ** 2 + ks[1] ** 2 + ks[2] ** 2
    inv = jnp.where(k2 > 0, -1.0 / jnp.where(k2 > 0, k2, 1.0), 0.0)
    if config.compensate_cic:
        inv = inv / cic_window(config.mesh_shape, config.cell_size, config.float_dtype) ** 2
    return inv


def density_contrast(positions: Float[Array, "n 3"], config: PMConfig) -> Float[Array, "nx ny nz"]:
    """δ = ρ/ρ̄ − 1 on the force mesh from CIC-painted particles (positions in Mpc/h)."""
    counts = cic_paint(positions, config.mesh_shape, config.cell_size)
    return counts * (np.prod(config.mesh_shape) / config.num_ptcl) - 1.0


def acceleration_mesh(delta: Float[Array, "nx ny nz"], config: PMConfig) -> Float[Array, "nx ny nz 3"]:
    """F = −∇φ with ∇²φ = δ on the mesh (units: Mpc/h; multiply by 3/2 Ω_m H0² / a for physics)."""
    phi_k = jnp.fft.rfftn(delta) * _inverse_laplacian(config)
    comps = [jnp.fft.irfftn(-g * phi_k, s=config.mesh_shape) for g in gradient_kernels(config)]
    return jnp.stack(comps, axis=-1)


def acceleration(positions: Float[Array, "n 3"], config: PMConfig) -> Float[Array, "n 3"]:
    """F = −∇∇⁻²δ read out at the particles (N, 3), from the particles' own density."""
    delta = density_contrast(positions, config)
    return cic_readout(acceleration_mesh(delta, config), positions, config.cell_size)
