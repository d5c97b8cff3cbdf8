"""Observables: density meshes, 2D projections, power spectra (with CIC deconvolution)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import InputError, check_bool, check_finite_if_concrete, check_int, check_positive
from astrograd.pm._config import check_cells, check_counts, per_axis, rfft_shape
from astrograd.pm._mesh import as_float, cic_paint, cic_paint_2d, cic_window, rfft_wavenumbers


def _box(box_size) -> tuple[float, float, float]:
    return tuple(check_positive("box_size", side) for side in per_axis("box_size", box_size))


def _check_positions(positions):
    """``positions`` (N, 3), finite if concrete, as a float array."""
    shape = tuple(np.shape(positions))
    if len(shape) != 2 or shape[0] < 1 or shape[1] != 3:
        raise InputError(f"positions has shape {shape}; it must be (N, 3) with N >= 1")
    positions = as_float("positions", positions)
    check_finite_if_concrete("positions", positions)
    return positions


def density_mesh(
    positions: Float[Array, "n 3"], mesh_shape: tuple[int, int, int], box_size
) -> Float[Array, "nx ny nz"]:
    """ρ/ρ̄ (mean 1) of particles at ``positions`` (Mpc/h) on a CIC mesh of ``mesh_shape`` cells."""
    positions = _check_positions(positions)
    mesh_shape = check_counts("mesh_shape", mesh_shape, 1, "a positive integer")
    check_cells("mesh_shape", mesh_shape)
    cell = tuple(b / n for b, n in zip(_box(box_size), mesh_shape, strict=True))
    counts = cic_paint(positions, mesh_shape, cell)
    # a Python float: a numpy float64 factor made a float64 mesh from float32 positions under x64
    return counts * float(np.prod(mesh_shape) / positions.shape[0])


def projection(
    positions: Float[Array, "n 3"], box_size, axis: int, pixel_size: float | None = None, shape=None
) -> Float[Array, "h w"]:
    """Particles per pixel, CIC-painted along the two axes other than ``axis`` (in increasing
    order) — the same as painting a 3D mesh and summing it along ``axis``. Give ``pixel_size``
    (Mpc/h; the box side must be a multiple of it) or the image ``shape``."""
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise InputError(f"axis = {axis!r} is not allowed; choose 0, 1 or 2")
    positions = _check_positions(positions)
    keep = [i for i in range(3) if i != axis]
    box_size = _box(box_size)
    sides = [box_size[i] for i in keep]
    if pixel_size is None and shape is None:
        raise InputError("give pixel_size or shape for the projection")
    if pixel_size is not None and shape is not None:  # pixel_size was ignored
        raise InputError(f"give pixel_size or shape for the projection, not both (pixel_size = {pixel_size!r}, "
                         f"shape = {shape!r})")
    if shape is None:
        pixel_size = check_positive("pixel_size", pixel_size)
        shape = tuple(int(round(s / pixel_size)) for s in sides)
        if any(abs(n * pixel_size - s) > 1e-6 * s for n, s in zip(shape, sides, strict=True)):
            raise InputError(f"pixel_size = {pixel_size:g} does not divide the box sides {sides}")
    shape = check_counts("shape", shape, 1, "a positive integer", entries=2)
    pix = tuple(s / n for s, n in zip(sides, shape, strict=True))
    return cic_paint_2d(positions[:, keep], shape, pix)


def shell_average(shape, box_size, fields, num_bins: int | None = None, k_max: float | None = None,
                  dtype=np.float64):
    """Sums of rfftn-layout ``fields`` (each of the rfft shape of a real ``shape`` grid) over
    ``num_bins`` shells of |k| of equal width, [lower, upper) edges from k_f / 2 (k_f the
    fundamental frequency of the largest box side) up to the smallest Nyquist frequency k_Ny (or
    ``k_max``), every mode counted once (the rfft's kz = 0 and Nyquist planes once, the others
    twice). By default ``num_bins`` = int(k_top / k_f), so each shell is (k_top − k_f/2) /
    num_bins wide, a little under k_f (7/8 k_f for 8 cells per side, (1 − 1/n) k_f for n even).

    Returns (k (mean of each shell's modes), [sum of each field per shell], number of modes),
    for the non-empty shells. |k| is computed in ``dtype`` (a mode at the top edge, rounded
    below it, is kept)."""
    shape = check_counts("shape", shape, 1, "a positive integer")
    box_size = _box(box_size)
    for f in fields:
        if tuple(np.shape(f)) != rfft_shape(shape):
            raise InputError(f"a field of shape {tuple(np.shape(f))} is not allowed; it must be {rfft_shape(shape)}, "
                             f"the rfftn layout of shape {shape}")
    if num_bins is not None:
        check_int("num_bins", num_bins, 1)
    cell = tuple(b / n for b, n in zip(box_size, shape, strict=True))
    # in numpy: ``dtype`` float64 stays float64 without x64 (jnp truncated it, with a warning)
    kx, ky, kz = (np.asarray(k, dtype) for k in rfft_wavenumbers(shape, cell))
    kmag = np.sqrt(kx[:, None, None] ** 2 + ky[None, :, None] ** 2 + kz[None, None, :] ** 2)
    weight = np.full(kmag.shape[2], 2.0)
    weight[0] = 1.0
    if shape[2] % 2 == 0:
        weight[-1] = 1.0
    weight = np.broadcast_to(weight, kmag.shape).ravel()
    k_fund = 2.0 * np.pi / max(box_size)
    if k_max is not None and check_positive("k_max", k_max) <= 0.5 * k_fund:
        raise InputError(f"k_max = {k_max:g} is not allowed; it must be > {0.5 * k_fund:g} (half the fundamental "
                         "frequency, the lowest shell's lower edge)")
    k_corner = float(kmag.max())
    if k_max is not None and k_max > k_corner * (1.0 + 1e-6):  # 1e30: a traceback allocating 1e31 shells
        raise InputError(f"k_max = {k_max:g} is not allowed; it must be at most {k_corner:g}, the largest |k| of the "
                         f"{shape} mesh (h/Mpc; every shell above it is empty)")
    if k_max is None and min(np.pi / c for c in cell) <= k_fund:
        # every |k| >= k_f except k = 0, so no mode lies below the Nyquist edge: the shells were
        # all empty and the spectrum empty arrays, silently. Along an axis of length L, n cells
        # give k_Ny = π n / L > k_f = 2π / L_max for n > 2 L / L_max (3 on a cube)
        need = tuple(int(np.floor(2.0 * b / max(box_size) * (1.0 + 1e-12))) + 1 for b in box_size)
        least = f"{need[0]} cells along each axis" if len(set(need)) == 1 else f"{need} cells along its axes"
        raise InputError(f"a mesh of shape {shape} has no mode below its Nyquist frequency (no shell to average); "
                         f"it must have at least {least}")
    k_top = min(np.pi / c for c in cell) if k_max is None else float(k_max)
    if num_bins is None:
        num_bins = max(1, int(k_top / k_fund))
    edges = np.linspace(0.5 * k_fund, k_top, num_bins + 1)
    idx = np.digitize(kmag.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < num_bins)

    def per_shell(values):
        return np.bincount(idx[ok], weights=weight[ok] * np.ravel(values)[ok], minlength=num_bins)

    counts = per_shell(np.ones(kmag.size))
    good = counts > 0
    if not good.any():  # a k_max at or below the lowest mode: empty arrays, silently
        k_low = float(np.min(kmag[kmag > 0]))
        raise InputError(f"k_max = {k_max:g} is not allowed; no mode of the {shape} mesh lies below it "
                         f"(it must be > {k_low:g}, the smallest |k| > 0)")
    return (per_shell(kmag)[good] / counts[good], [per_shell(np.asarray(f, np.float64))[good] for f in fields],
            counts[good])


def power_spectrum(
    delta: Float[Array, "nx ny nz"],
    box_size,
    num_bins: int | None = None,
    deconvolve_cic: bool = True,
    k_max: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spherically averaged power spectrum of a density contrast mesh.

    Returns (k (h/Mpc, mean of the modes in each bin), P(k) ((Mpc/h)³), number of modes) for
    the non-empty bins: ``num_bins`` bins linear in k from half the fundamental frequency k_f of
    the largest box side up to the smallest Nyquist frequency (or ``k_max``), by default
    int(k_Ny / k_f) of them, each a little under k_f wide (:func:`shell_average`). The shells are
    [lower, upper): modes with |k| exactly at the top edge (k_Ny or ``k_max``), such as the
    Nyquist modes (k_Ny, 0, 0), are left out. ``deconvolve_cic`` divides by the CIC window.
    """
    check_bool("deconvolve_cic", deconvolve_cic)
    if np.ndim(delta) != 3:
        raise InputError(f"delta has shape {np.shape(delta)}; it must be a 3D mesh")
    delta = as_float("delta", delta)
    check_finite_if_concrete("delta", delta)
    shape = delta.shape
    box_size = _box(box_size)
    cell = tuple(b / n for b, n in zip(box_size, shape, strict=True))
    volume = float(np.prod(box_size))
    dk = jnp.fft.rfftn(delta)
    if deconvolve_cic:
        dk = dk / cic_window(shape, cell, delta.dtype)
    p = jnp.abs(dk) ** 2 * volume / float(np.prod(shape)) ** 2
    k, (psum,), counts = shell_average(shape, box_size, [p], num_bins, k_max, dtype=delta.dtype)
    return k, psum / counts, counts
