"""Cloud-in-cell paint and read-out on periodic meshes, and Fourier-space wavevectors."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import InputError, is_concrete

_CORNERS = np.array(list(itertools.product((0, 1), repeat=3)), dtype=np.int32)  # (8, 3)


def as_float(name: str, array):
    """``array`` as a JAX float array (integers and bools converted to the default float: integer
    positions made an integer mesh and an integer cell size, so 1.5 became 1 and painted weights
    were truncated); InputError unless it holds real numbers."""
    array = jnp.asarray(array)
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name} has dtype {array.dtype}; it must hold real numbers")
    return array if array.dtype.kind == "f" else array.astype(jnp.result_type(float))


def _check_cic_input(positions, dims: int, mesh_shape, cell_size, cell_name: str, weights=None):
    """One-line InputErrors for the low-level CIC functions: ``positions`` (N, dims) and
    ``weights`` (N,) by their shapes (static, known under tracing too: a wrong one failed with
    a TypeError or broadcasting traceback), and a concrete ``cell_size`` (one number or ``dims``
    of them, finite and > 0: 0 or NaN made a NaN mesh). Values under tracing are not checked.
    Returns ``weights`` as a float array (or None)."""
    shape = tuple(np.shape(positions))
    if len(shape) != 2 or shape[1] != dims:
        raise InputError(f"positions has shape {shape}; it must be (N, {dims})")
    entries = list(mesh_shape) if isinstance(mesh_shape, tuple | list) or np.ndim(mesh_shape) == 1 else ()
    if len(entries) != dims or any(isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1
                                   for n in entries):
        raise InputError(f"the mesh shape {mesh_shape!r} is not allowed; it must be {dims} positive integers")
    if is_concrete(cell_size):
        try:
            cells = np.asarray(cell_size, dtype=np.float64)
        except (TypeError, ValueError):
            cells = np.array([np.nan])
        if cells.ndim > 1 or cells.size not in (1, dims) or not np.all(np.isfinite(cells) & (cells > 0)):
            raise InputError(f"{cell_name} = {cell_size!r} is not allowed; it must be one finite number > 0 (Mpc/h) "
                             f"or {dims} of them")
    if weights is None:
        return None
    if tuple(np.shape(weights)) != shape[:1]:
        raise InputError(f"weights has shape {tuple(np.shape(weights))}; it must be ({shape[0]},), one per particle")
    return as_float("weights", weights)


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
    weights = _check_cic_input(positions, 3, mesh_shape, cell_size, "cell_size", weights)
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
    if np.ndim(mesh) < 3:
        raise InputError(f"mesh has shape {tuple(np.shape(mesh))}; it must be (nx, ny, nz) or (nx, ny, nz, ...)")
    _check_cic_input(positions, 3, mesh.shape[:3], cell_size, "cell_size")
    positions = as_float("positions", positions)
    mesh_shape = mesh.shape[:3]
    flat, w = _cic_stencil(positions, mesh_shape, cell_size)
    values = mesh.reshape(int(np.prod(mesh_shape)), *mesh.shape[3:])[flat]  # (N, 8, *c)
    w = w.reshape(w.shape + (1,) * (values.ndim - 2))
    return jnp.sum(values * w, axis=1)


def cic_paint_2d(
    positions: Float[Array, "n 2"], shape: tuple[int, int], pixel_size, weights=None
) -> Float[Array, "nx ny"]:
    """Cloud-in-cell deposit of 2D positions (Mpc/h) on a periodic ``shape`` image of
    ``pixel_size`` (Mpc/h, one number or two); each particle carries ``weights`` (N,) (default 1)."""
    weights = _check_cic_input(positions, 2, shape, pixel_size, "pixel_size", weights)
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


def rfft_wavenumbers(mesh_shape: tuple[int, int, int], cell_size) -> list[np.ndarray]:
    """The 1D wavenumbers (h/Mpc, numpy float64) along each axis of ``rfftn`` of a
    ``mesh_shape`` mesh (the last axis halved)."""
    return [2.0 * np.pi * (np.fft.rfftfreq(n, d) if axis == 2 else np.fft.fftfreq(n, d))
            for axis, (n, d) in enumerate(zip(mesh_shape, cell_size, strict=True))]


def rfft_wavevectors(mesh_shape: tuple[int, int, int], cell_size, dtype) -> list[Array]:
    """Broadcastable wavevector components (h/Mpc) of ``jnp.fft.rfftn`` of a ``mesh_shape`` mesh."""
    ks = []
    for axis, k in enumerate(rfft_wavenumbers(mesh_shape, cell_size)):
        shape = [1, 1, 1]
        shape[axis] = k.size
        ks.append(jnp.asarray(k, dtype=dtype).reshape(shape))
    return ks


def cic_window(mesh_shape, cell_size, dtype) -> Array:
    """The CIC assignment window W(k) = Π sinc²(k_i Δ_i / 2) on the rfft grid."""
    ks = rfft_wavevectors(mesh_shape, cell_size, dtype)
    w = 1.0
    for k, d in zip(ks, cell_size, strict=True):
        w = w * jnp.sinc(k * d / (2.0 * np.pi)) ** 2
    return w
