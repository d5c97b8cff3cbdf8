"""The staggered (MAC) grid and the boundary specification of a rectangular 2D domain.

Arrays are indexed ``[j, i]`` (row = y, column = x). Cell (j, i) spans
``[i dx, (i+1) dx] × [j dy, (j+1) dy]``; ``vx`` lives on x-faces (shape ``(ny, nx+1)``, node
``(i dx, (j+½) dy)``), ``vy`` on y-faces (``(ny+1, nx)``, node ``((i+½) dx, j dy)``), scalars at
cell centres (``(ny, nx)``). On a periodic axis the last face duplicates the first.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from astrograd._errors import InputError, check_choice, check_positive

SIDE_KINDS = ("no-slip", "free-slip", "inflow", "outflow", "periodic")


def as_pair(name: str, value) -> tuple[float, float]:
    """``value`` as two floats (a point, a size, a direction), else a one-line InputError."""
    try:
        a, b = value
        return float(a), float(b)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not allowed; it must be a pair of numbers") from None


def static_float(value):
    """A static float field's value as a Python float: a number, a numpy number or array of one
    element, or numeric text ("0.5", which the checks accept and later arithmetic did not: a
    TypeError); anything else (a bool included) unchanged, for the checks to name. Shared by the
    static configurations of flow and orbit."""
    if isinstance(value, bool | np.bool_):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def static_int(value):
    """A numpy integer as the Python int it holds (a plain, hashable static value)."""
    return int(value) if isinstance(value, np.integer) else value


def _mesh(x, y, dtype=None):
    # Node coordinates are built with numpy and enter traced code as constants: computed from
    # iota inside jit, XLA rewrites (i*dx)/dx and may round a node onto the other side of a
    # cell edge in the forward and transposed programs differently (inconsistent derivatives).
    xx, yy = np.meshgrid(x, y, indexing="xy")
    dtype = dtype or jnp.result_type(float)
    return jnp.asarray(xx, dtype), jnp.asarray(yy, dtype)


class Grid(eqx.Module):
    """Cell counts ``nx, ny`` and domain size ``lx, ly`` (length units). Static."""

    nx: int = eqx.field(static=True, converter=static_int)
    ny: int = eqx.field(static=True, converter=static_int)
    lx: float = eqx.field(static=True, converter=static_float)
    ly: float = eqx.field(static=True, converter=static_float)

    def __check_init__(self):
        for name, n in (("nx", self.nx), ("ny", self.ny)):
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
                raise InputError(f"resolution {name} = {n!r} is not allowed; it must be an integer >= 2")
        check_positive("domain size lx", self.lx)  # a bool (True) was taken as 1.0
        check_positive("domain size ly", self.ly)

    @property
    def dx(self) -> float:
        return self.lx / self.nx

    @property
    def dy(self) -> float:
        return self.ly / self.ny

    def cell_centres(self, dtype=None):
        """``(x, y)``, each ``(ny, nx)``: coordinates of the cell centres (length units),
        in ``dtype`` (default: the default float type)."""
        x = (np.arange(self.nx) + 0.5) * self.dx
        y = (np.arange(self.ny) + 0.5) * self.dy
        return _mesh(x, y, dtype)

    def x_faces(self, dtype=None):
        """``(x, y)``, each ``(ny, nx+1)``: positions of the ``vx`` nodes (in ``dtype``)."""
        x = np.arange(self.nx + 1) * self.dx
        y = (np.arange(self.ny) + 0.5) * self.dy
        return _mesh(x, y, dtype)

    def y_faces(self, dtype=None):
        """``(x, y)``, each ``(ny+1, nx)``: positions of the ``vy`` nodes (in ``dtype``)."""
        x = (np.arange(self.nx) + 0.5) * self.dx
        y = np.arange(self.ny + 1) * self.dy
        return _mesh(x, y, dtype)


class Boundaries(eqx.Module):
    """Kind of each side: ``no-slip``, ``free-slip`` (walls), ``inflow`` (normal velocity
    prescribed by ``FlowParams.inflow_speed``, into the domain), ``outflow`` (open: pressure 0,
    zero normal gradient of velocity) or ``periodic`` (both sides of an axis). Static."""

    left: str = eqx.field(static=True, default="no-slip")
    right: str = eqx.field(static=True, default="no-slip")
    bottom: str = eqx.field(static=True, default="no-slip")
    top: str = eqx.field(static=True, default="no-slip")

    def __check_init__(self):
        for name in ("left", "right", "bottom", "top"):
            check_choice(f"{name} boundary", getattr(self, name), SIDE_KINDS)
        if (self.left == "periodic") != (self.right == "periodic"):
            raise InputError("left/right boundaries: periodic must be set on both sides or neither")
        if (self.bottom == "periodic") != (self.top == "periodic"):
            raise InputError("bottom/top boundaries: periodic must be set on both sides or neither")

    @property
    def periodic_x(self) -> bool:
        return self.left == "periodic"

    @property
    def periodic_y(self) -> bool:
        return self.bottom == "periodic"

    @property
    def has_outflow(self) -> bool:
        return "outflow" in (self.left, self.right, self.bottom, self.top)


PERIODIC = Boundaries("periodic", "periodic", "periodic", "periodic")
