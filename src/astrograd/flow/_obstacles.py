"""Obstacle masks on the cell centres: cylinders and boxes (1 inside, 0 outside)."""

from __future__ import annotations

import jax.numpy as jnp

from astrograd._errors import InputError, check_positive
from astrograd.flow._grid import Grid, as_pair


def cylinder_mask(grid: Grid, centre: tuple[float, float], radius: float):
    """``(ny, nx)`` mask of the cells whose centre lies within ``radius`` of ``centre``
    (length units). The cylinder must lie inside the domain."""
    radius = check_positive("cylinder radius", radius)
    cx, cy = as_pair("cylinder centre", centre)
    if not (radius <= cx <= grid.lx - radius and radius <= cy <= grid.ly - radius):
        raise InputError(
            f"cylinder centre ({cx:g}, {cy:g}) with radius {radius:g} is not inside the domain "
            f"[0, {grid.lx:g}] x [0, {grid.ly:g}]"
        )
    x, y = grid.cell_centres()
    return ((x - cx) ** 2 + (y - cy) ** 2 <= radius**2).astype(jnp.result_type(float))


def box_mask(grid: Grid, lower: tuple[float, float], upper: tuple[float, float]):
    """``(ny, nx)`` mask of the cells whose centre lies in ``[x0, x1] × [y0, y1]``."""
    # the pairs as numbers: numeric text passed as_pair and was compared as text
    (x0, y0), (x1, y1) = as_pair("box lower corner", lower), as_pair("box upper corner", upper)
    if not (x1 > x0 and y1 > y0):
        raise InputError(f"box lower corner ({x0:g}, {y0:g}) must be below/left of upper ({x1:g}, {y1:g})")
    x, y = grid.cell_centres()
    return ((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).astype(jnp.result_type(float))
