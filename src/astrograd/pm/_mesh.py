"""Cloud-in-cell paint and read-out on periodic meshes, and Fourier-space wavevectors."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import InputError

_CORNERS = np.array(list(itertools.product((0, 1), repeat=3)), dtype=np.int32)  # (8, 3)


def as_float(name: str, array):
    """``array`` as a JAX float array (integers and bools converted to the default float: integer
    positions made an integer mesh and an integer cell size, so 1.5 became 1 and painted weights
    were truncated); InputError unless it holds real numbers."""
    array = jnp.asarray(array)
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name} has dtype {array.dtype}; it must hold real numbers")
    return array if array.dtype.kind == "f" else array.astype(jnp.result_type(float))


def _cic_stencil(positions, mesh_shape, cell_size):
    """Flat indices (N, 8) and weights (N, 8) of the 8 cells each particle touches (periodic)."""
    shape = jnp.asarray(mesh_shape, dtype=jnp.int32)
    x = positions / jnp.asarray(cell_size, dtype=positions.dtype)
    i0 = jnp.floor(x)
    frac = x - i0
    i0 = i0.astype(jnp.int32)
    corners = jnp.asarray(_CORNERS)
    idx = jnp.mod(i0[:, None, :] + corners[None], shape)  # (N, 8, 3)
    w = jnp.prod(jnp.where(corners[None] == 1, frac[:, None, :], 1.0 - frac[:, None, :]), axis=-1)
    flat = (idx[..., 0] * mesh_shape[1] + idx[..., 1]) * mesh_shape[2] + idx[..., 2]
    return flat, w


def cic_paint(
    positions: Float[Array, "n 3"],
    mesh_shape: tuple[int, int, int],
    cell_size,
    weights: Float[Array, " n"] | None = None,
) -> Float[Array, "nx ny nz"]:
    """Deposit particles (positions in Mpc/h, any real values: wrapped periodically) on a mesh of
    ``mesh_shape`` cells of ``cell_size`` Mpc/h with cloud-in-cell weights. Each particle carries
    ``weights`` (default 1), so the mesh sums to the total weight exactly."""
    positions = as_float("positions", positions)
    flat, w = _cic_stencil(positions, mesh_shape, cell_size)
    if weights is not None:
        w = w * weights[:, None]
    mesh = jnp.zeros(int(np.prod(mesh_shape)), dtype=positions.dtype)
    mesh = mesh.at[flat.reshape(-1)].add(w.reshape(-1))
    return mesh.reshape(mesh_shape)


def cic_readout(
    mesh: Float[Array, "nx ny nz ..."], positions: Float[Array, "n 3"], cell_size
) -> Float[Array, "n ..."]:
    """Interpolate a mesh (optionally with trailing components) to particle positions (CIC);
    the transpose of :func:`cic_paint`."""
    positions = as_float("positions", positions)
    mesh_shape = mesh.shape[:3]
    flat, w = _cic_stencil(positions, mesh_shape, cell_size)
    values = mesh.reshape(int(np.prod(mesh_shape)), *mesh.shape[3:])[flat]  # (N, 8, *c)
    w = w.reshape(w.shape + (1,) * (values.ndim - 2))
    return jnp.sum(values * w, axis=1)


def cic_paint_2d(
    positions: Float[Array, "n 2"], shape: tuple[int, int], pixel_size, weights=None
) -> Float[Array, "nx ny"]:
    """Cloud-in-cell deposit of 2D positions (Mpc/h) on a periodic ``shape`` image."""
    positions = as_float("positions", positions)
    x = positions / jnp.asarray(pixel_size, dtype=positions.dtype)
    i0 = jnp.floor(x)
    frac = x - i0
    i0 = i0.astype(jnp.int32)
    corners = jnp.asarray(_CORNERS[:4, 1:])  # (4, 2)
    idx = jnp.mod(i0[:, None, :] + corners[None], jnp.asarray(shape, dtype=jnp.int32))
    w = jnp.prod(jnp.where(corners[None] == 1, frac[:, None, :], 1.0 - frac[:, None, :]), axis=-1)
    if weights is not None:
        w = w * weights[:, None]
    flat = idx[..., 0] * shape[1] + idx[..., 1]
    image = jnp.zeros(shape[0] * shape[1], dtype=positions.dtype).at[flat.reshape(-1)].add(w.reshape(-1))
    return image.reshape(shape)


def rfft_wavevectors(mesh_shape: tuple[int, int, int], cell_size, dtype) -> list[Array]:
    """Broadcastable wavevector components (h/Mpc) of ``jnp.fft.rfftn`` of a ``mesh_shape`` mesh."""
    ks = []
    for axis, (n, d) in enumerate(zip(mesh_shape, cell_size, strict=True)):
        f = np.fft.rfftfreq(n, d) if axis == 2 else np.fft.fftfreq(n, d)
        shape = [1, 1, 1]
        shape[axis] = f.size
        ks.append(jnp.asarray(2.0 * np.pi * f, dtype=dtype).reshape(shape))
    return ks


def cic_window(mesh_shape, cell_size, dtype) -> Array:
    """The CIC assignment window W(k) = Π sinc²(k_i Δ_i / 2) on the rfft grid."""
    ks = rfft_wavevectors(mesh_shape, cell_size, dtype)
    w = 1.0
    for k, d in zip(ks, cell_size, strict=True):
        w = w * jnp.sinc(k * d / (2.0 * np.pi)) ** 2
    return w
