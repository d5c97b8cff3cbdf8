"""Staggered-grid operators: interpolation, ghost layers, Laplacian, gradient, divergence.

``kind`` names where a field lives: ``"x"`` (x-faces, ``vx``), ``"y"`` (y-faces, ``vy``) or
``"c"`` (cell centres). See ``_grid`` for the index conventions.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from astrograd._errors import InputError
from astrograd.flow._grid import Boundaries, Grid


def _layout(kind: str, grid: Grid, bc: Boundaries):
    """Origin of node (0, 0) and number of distinct nodes along x and y for a field ``kind``."""
    nx = grid.nx if (kind != "x" or bc.periodic_x) else grid.nx + 1
    ny = grid.ny if (kind != "y" or bc.periodic_y) else grid.ny + 1
    x0 = 0.0 if kind == "x" else 0.5 * grid.dx
    y0 = 0.0 if kind == "y" else 0.5 * grid.dy
    return x0, y0, nx, ny


def unique(q, kind: str, bc: Boundaries):
    """Drop the duplicated last face of a periodic axis."""
    if kind == "x" and bc.periodic_x:
        q = q[:, :-1]
    if kind == "y" and bc.periodic_y:
        q = q[:-1, :]
    return q


def complete(q, kind: str, bc: Boundaries):
    """Inverse of :func:`unique`: append the duplicated face of a periodic axis."""
    if kind == "x" and bc.periodic_x:
        q = jnp.concatenate([q, q[:, :1]], axis=1)
    if kind == "y" and bc.periodic_y:
        q = jnp.concatenate([q, q[:1, :]], axis=0)
    return q


def _axis_weights(f, n: int, periodic: bool):
    if periodic:
        i0f = jnp.floor(f)
        t = f - i0f
        i0 = jnp.mod(i0f.astype(jnp.int32), n)
        return i0, jnp.mod(i0 + 1, n), t
    f = jnp.clip(f, 0.0, n - 1.0)
    i0 = jnp.clip(jnp.floor(f), 0, n - 2).astype(jnp.int32)
    return i0, i0 + 1, f - i0


def sample(q, kind: str, x, y, grid: Grid, bc: Boundaries, with_bounds: bool = False):
    """Bilinear interpolation of the field ``q`` (living on ``kind`` nodes) at points ``(x, y)``.

    Outside the domain the field is continued periodically or by its boundary values.
    With ``with_bounds`` also returns the min and max of the four nodes used (for limiters).
    """
    x0, y0, nxu, nyu = _layout(kind, grid, bc)
    q = q[:nyu, :nxu]
    i0, i1, tx = _axis_weights((x - x0) / grid.dx, nxu, bc.periodic_x)
    j0, j1, ty = _axis_weights((y - y0) / grid.dy, nyu, bc.periodic_y)
    # One flat gather of the four corners (compiles and runs faster than four 2D gathers).
    flat = jnp.stack([j0 * nxu + i0, j0 * nxu + i1, j1 * nxu + i0, j1 * nxu + i1])
    q00, q01, q10, q11 = jnp.take(q.ravel(), flat, mode="clip")
    value = (1 - ty) * ((1 - tx) * q00 + tx * q01) + ty * ((1 - tx) * q10 + tx * q11)
    if not with_bounds:
        return value
    lo = jnp.minimum(jnp.minimum(q00, q01), jnp.minimum(q10, q11))
    hi = jnp.maximum(jnp.maximum(q00, q01), jnp.maximum(q10, q11))
    return value, lo, hi


def nodes(kind: str, grid: Grid, dtype=None):
    """``(x, y)`` positions of the nodes of ``kind`` (full staggered shapes), in ``dtype``
    (default: the default float type)."""
    return {"x": grid.x_faces, "y": grid.y_faces, "c": grid.cell_centres}[kind](dtype)


def _ghost_mode(side: str, normal: bool) -> str:
    """Ghost-value rule at a wall: tangential velocity odd (no-slip, inflow) or even (free-slip,
    outflow); normal velocity and scalars even (their boundary values are imposed separately)."""
    if normal:
        return "edge"
    return "odd" if side in ("no-slip", "inflow") else "edge"


def _pad(q, axis: int, lo: str, hi: str):
    """One ghost layer on each end of ``axis``: ``wrap``, ``edge`` (even) or ``odd``."""
    if lo == "wrap":
        return jnp.concatenate([jnp.take(q, jnp.array([-1]), axis), q, jnp.take(q, jnp.array([0]), axis)], axis)
    first = jnp.take(q, jnp.array([0]), axis)
    last = jnp.take(q, jnp.array([-1]), axis)
    return jnp.concatenate([-first if lo == "odd" else first, q, -last if hi == "odd" else last], axis)


def laplacian(q, kind: str, grid: Grid, bc: Boundaries):
    """Five-point Laplacian of a velocity component (``kind`` x or y) or scalar (``c``), with
    ghost values from the boundary kinds. Same shape as ``q``; units of q / length²."""
    u = unique(q, kind, bc)
    if bc.periodic_x:
        px = _pad(u, 1, "wrap", "wrap")
    else:
        px = _pad(
            u, 1, _ghost_mode(bc.left, kind == "x" or kind == "c"), _ghost_mode(bc.right, kind == "x" or kind == "c")
        )
    if bc.periodic_y:
        py = _pad(u, 0, "wrap", "wrap")
    else:
        py = _pad(
            u, 0, _ghost_mode(bc.bottom, kind == "y" or kind == "c"), _ghost_mode(bc.top, kind == "y" or kind == "c")
        )
    lap = (px[:, 2:] - 2 * u + px[:, :-2]) / grid.dx**2 + (py[2:, :] - 2 * u + py[:-2, :]) / grid.dy**2
    return complete(lap, kind, bc)


def cells_to_xfaces(m, bc: Boundaries):
    """Face mask ``(ny, nx+1)``: the maximum of the two cells sharing each x-face."""
    if bc.periodic_x:
        return complete(jnp.maximum(m, jnp.roll(m, 1, axis=1)), "x", bc)
    p = jnp.concatenate([m[:, :1], m, m[:, -1:]], axis=1)
    return jnp.maximum(p[:, :-1], p[:, 1:])


def cells_to_yfaces(m, bc: Boundaries):
    """Face mask ``(ny+1, nx)``: the maximum of the two cells sharing each y-face."""
    if bc.periodic_y:
        return complete(jnp.maximum(m, jnp.roll(m, 1, axis=0)), "y", bc)
    p = jnp.concatenate([m[:1], m, m[-1:]], axis=0)
    return jnp.maximum(p[:-1], p[1:])


def gradient(phi, grid: Grid, bc: Boundaries):
    """Face gradient of a cell field: ``(gx (ny, nx+1), gy (ny+1, nx))``. Outside a
    non-periodic side the field is taken as 0 (the open-boundary ghost value)."""
    if bc.periodic_x:
        gx = complete((phi - jnp.roll(phi, 1, axis=1)) / grid.dx, "x", bc)
    else:
        p = jnp.pad(phi, ((0, 0), (1, 1)))
        gx = (p[:, 1:] - p[:, :-1]) / grid.dx
    if bc.periodic_y:
        gy = complete((phi - jnp.roll(phi, 1, axis=0)) / grid.dy, "y", bc)
    else:
        p = jnp.pad(phi, ((1, 1), (0, 0)))
        gy = (p[1:] - p[:-1]) / grid.dy
    return gx, gy


def _check_faces(name: str, vx, vy, grid: Grid) -> None:
    """One-line InputError unless ``vx`` is ``(ny, nx+1)`` and ``vy`` ``(ny+1, nx)`` on ``grid``
    (shapes are static: the check also runs under ``jit``). Mismatched shapes were a raw
    broadcasting TypeError, or a wrong-sized result when both fitted another grid."""
    want_x, want_y = (grid.ny, grid.nx + 1), (grid.ny + 1, grid.nx)
    got_x, got_y = tuple(np.shape(vx)), tuple(np.shape(vy))
    if got_x != want_x or got_y != want_y:
        raise InputError(
            f"{name}: vx of shape {got_x} and vy of shape {got_y} are not allowed on the {grid.nx}x{grid.ny} "
            f"grid; it needs vx {want_x} (ny, nx+1) and vy {want_y} (ny+1, nx)"
        )


def divergence(vx, vy, grid: Grid):
    """Cell-centred divergence ``(ny, nx)`` of a staggered field (units of v / length)."""
    _check_faces("divergence", vx, vy, grid)
    return (vx[:, 1:] - vx[:, :-1]) / grid.dx + (vy[1:] - vy[:-1]) / grid.dy


def curl(vx, vy, grid: Grid):
    """Vorticity ∂vy/∂x − ∂vx/∂y at cell centres ``(ny, nx)`` (centred differences of the
    face velocities averaged to the centres; one-sided in the edge cells, also on a periodic
    axis: the grid does not know the boundaries)."""
    _check_faces("curl", vx, vy, grid)
    ux = 0.5 * (vx[:, 1:] + vx[:, :-1])
    uy = 0.5 * (vy[1:] + vy[:-1])
    return jnp.gradient(uy, grid.dx, axis=1) - jnp.gradient(ux, grid.dy, axis=0)


def centred_velocity(vx, vy):
    """Velocity averaged to the cell centres: ``(ux, uy)``, each ``(ny, nx)``."""
    return 0.5 * (vx[:, 1:] + vx[:, :-1]), 0.5 * (vy[1:] + vy[:-1])
