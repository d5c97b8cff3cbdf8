"""Static configuration (shapes, scheme names, geometry) and differentiable parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import InputError, check_choice, is_concrete

GEOMETRIES = ("cartesian", "cylindrical", "spherical")
RIEMANN_SOLVERS = ("hll", "hllc")
LIMITERS = ("first_order", "minmod", "mc", "van_leer", "superbee")
INTEGRATORS = ("muscl_hancock", "ssp_rk2")
BOUNDARIES = ("reflective", "open", "periodic", "inflow")
CFL_WIDTHS = ("coordinate", "volume")
MAX_CELLS = 2**31 - 1
"""Most cells of a grid: the largest int32 index."""

__all__ = [
    "BOUNDARIES",
    "CFL_WIDTHS",
    "GEOMETRIES",
    "INTEGRATORS",
    "LIMITERS",
    "RIEMANN_SOLVERS",
    "Grid",
    "HydroConfig",
    "HydroParams",
]


def _python_number(value):
    """A numpy or JAX number (np.int64(8), a 0-d array) as the Python int/float it holds, so that
    static fields hold Python numbers (a numpy scalar set as static made equinox warn "A JAX array
    is being set as static" and was hashed as an array); a numpy bool or array as its Python bool
    or list, which the checks refuse; anything else unchanged."""
    if isinstance(value, np.generic | np.ndarray | jax.Array) and is_concrete(value):
        return np.asarray(value).tolist()  # refused by the checks unless an int or float
    return value


class HydroConfig(eqx.Module):
    """Everything that fixes shapes or program structure (static under ``jit``).

    num_cells: number of cells (>= 4). geometry: cartesian | cylindrical | spherical (the
    coordinate is x or the radius r). r_min, r_max: domain edges in code length (r_min >= 0 for
    curvilinear geometry). riemann: hll | hllc. limiter: first_order | minmod | mc | van_leer |
    superbee (slopes of the primitive variables). integrator: muscl_hancock | ssp_rk2.
    left_boundary, right_boundary: reflective | open | periodic | inflow (a fixed state taken
    from ``HydroParams.inflow_left/right``). wind_cells: number of innermost cells receiving the
    stellar-wind mass and energy (0: no wind). wind_momentum: whether the injected wind carries
    momentum (True: radial velocity v∞ (r − r_min)/(R − r_min) averaged over each wind cell, R
    the outer edge of the wind cells, with the energy source still ½Ṁv∞²; False, the default:
    mass and thermal energy only). cfl_width: the cell width in the CFL condition,
    ``volume`` (default: V / max(A), dx in cartesian geometry and dx/3 for the central cell of
    a spherical grid, which keeps that cell's density positive when outflow empties it, e.g.
    in the Sedov blast) or ``coordinate`` (dx everywhere, as jf1uids does: about 1.6x fewer
    steps for the wind bubble, but the spherical Sedov blast goes negative in the central cell).
    """

    num_cells: int = eqx.field(static=True, converter=_python_number)
    geometry: str = eqx.field(static=True, default="cartesian")
    r_min: float = eqx.field(static=True, default=0.0, converter=_python_number)
    r_max: float = eqx.field(static=True, default=1.0, converter=_python_number)
    riemann: str = eqx.field(static=True, default="hllc")
    limiter: str = eqx.field(static=True, default="mc")
    integrator: str = eqx.field(static=True, default="muscl_hancock")
    left_boundary: str = eqx.field(static=True, default="reflective")
    right_boundary: str = eqx.field(static=True, default="open")
    wind_cells: int = eqx.field(static=True, default=0, converter=_python_number)
    cfl_width: str = eqx.field(static=True, default="volume")
    wind_momentum: bool = eqx.field(static=True, default=False, converter=_python_number)

    def __check_init__(self):
        n = self.num_cells
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 4:
            raise InputError(f"number of cells = {n!r} is not allowed; it must be an integer >= 4")
        if n > MAX_CELLS:  # 10**20 cells was numpy's ValueError traceback "Maximum allowed size exceeded"
            raise InputError(f"number of cells = {n!r} is not allowed; it must be an integer in [4, {MAX_CELLS}] "
                             "(int32 cell indices)")
        check_choice("geometry", self.geometry, GEOMETRIES)
        check_choice("Riemann solver", self.riemann, RIEMANN_SOLVERS)
        check_choice("limiter", self.limiter, LIMITERS)
        check_choice("integrator", self.integrator, INTEGRATORS)
        check_choice("CFL width", self.cfl_width, CFL_WIDTHS)
        check_choice("left boundary", self.left_boundary, BOUNDARIES)
        check_choice("right boundary", self.right_boundary, BOUNDARIES)
        if (self.left_boundary == "periodic") != (self.right_boundary == "periodic"):
            raise InputError("periodic boundaries must be used on both sides (left and right)")
        for name, value in (("r_min", self.r_min), ("r_max", self.r_max)):
            if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
                raise InputError(f"{name} = {value!r} is not allowed; it must be a real number")
        lo, hi = float(self.r_min), float(self.r_max)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise InputError(f"domain [{lo:g}, {hi:g}] is not allowed; it needs finite r_min < r_max")
        if self.geometry != "cartesian" and lo < 0:
            raise InputError(f"r_min = {lo:g} is not allowed in {self.geometry} geometry; it must be >= 0")
        if self.geometry != "cartesian" and self.left_boundary == "periodic":
            raise InputError(f"periodic boundaries are not allowed in {self.geometry} geometry")
        wind_int = isinstance(self.wind_cells, int | np.integer) and not isinstance(self.wind_cells, bool)
        if not wind_int or not 0 <= self.wind_cells <= self.num_cells:
            raise InputError(
                f"wind cells = {self.wind_cells!r} is not allowed; it must be an integer in [0, {self.num_cells}]"
            )
        if not isinstance(self.wind_momentum, bool):
            raise InputError(f"wind momentum = {self.wind_momentum!r} is not allowed; it must be True or False")
        with np.errstate(all="ignore"):
            grid = Grid.build(self)
            extent_ok = (np.all(np.isfinite(grid.areas)) and np.all(np.isfinite(grid.volumes) & (grid.volumes > 0))
                         and np.all(np.isfinite(grid.centres)))
        # e.g. r_max = 1e300 in spherical geometry: r² overflows, the volumes are NaN; [0, 1e308]:
        # the centres (a + b)/2 of the outer cells overflowed to inf with a RuntimeWarning, and ran
        if not extent_ok:
            raise InputError(
                f"domain [{lo:g}, {hi:g}] is not allowed in {self.geometry} geometry: its cell centres, face areas "
                "or cell volumes are not finite positive numbers in float64 (rescale the length unit)"
            )

    @property
    def grid(self) -> Grid:
        """Cell faces, centres, face areas and cell volumes (numpy, float64)."""
        return Grid.build(self)


@dataclass(frozen=True, eq=False)
class Grid:
    """Geometry of a uniform radial grid (numpy arrays, code units).

    faces: (n+1,) face coordinates; centres: (n,) cell centres; dx: cell width;
    areas: (n+1,) face areas (1 cartesian, 2πr cylindrical per unit length, 4πr² spherical);
    volumes: (n,) cell volumes, the exact integrals of the area over each cell.
    """

    faces: np.ndarray
    centres: np.ndarray
    dx: float
    areas: np.ndarray
    volumes: np.ndarray
    alpha: int

    @staticmethod
    def build(config: HydroConfig) -> Grid:
        n = config.num_cells
        faces = np.linspace(config.r_min, config.r_max, n + 1)
        centres = 0.5 * (faces[1:] + faces[:-1])
        dx = (config.r_max - config.r_min) / n
        alpha = GEOMETRIES.index(config.geometry)
        if alpha == 0:
            areas = np.ones(n + 1)
            volumes = np.full(n, dx)
        else:
            # factored: r2² − r1² and r2³ − r1³ cancel catastrophically far from the centre
            # (relative error 1.8e-14 in the outer cells of a fine grid); r2 − r1 is exact
            lo, hi = faces[:-1], faces[1:]
            if alpha == 1:
                areas = 2.0 * np.pi * faces
                volumes = np.pi * (hi - lo) * (hi + lo)
            else:
                areas = 4.0 * np.pi * faces**2
                volumes = 4.0 / 3.0 * np.pi * (hi - lo) * (hi * hi + hi * lo + lo * lo)
        return Grid(faces=faces, centres=centres, dx=dx, areas=areas, volumes=volumes, alpha=alpha)


def _real_array(name, value) -> np.ndarray:
    """A concrete ``value`` as a numpy array of real numbers, for checking, else a one-line
    InputError (a string, None, a complex or bool value). numpy, not jnp: inside a trace a
    jnp array of a constant is staged and cannot be read."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a number") from None
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        what = "a number" if a.dtype.kind in "OUS" else f"real, not {a.dtype}"
        raise InputError(f"{name} = {value!r} is not allowed; it must be {what}")
    return a


def _scalar(name, value, check, positive=False):
    if not is_concrete(value):  # traced (under jit/grad/vmap): cannot be validated
        return value
    a = _real_array(name, value)
    if a.ndim != 0:
        raise InputError(f"{name} must be a scalar, got shape {a.shape}")
    check(name, float(a))
    # the dtype jnp stores it in (float32 unless float64 is on), checked in numpy: inside a trace
    # jnp.asarray of a constant is staged and cannot be read
    stored = jax.dtypes.canonicalize_dtype(a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64)
    with np.errstate(over="ignore"):
        overflows = math.isfinite(float(a)) and not np.isfinite(a.astype(stored))
    if overflows:  # e.g. gamma = 1e300 was stored as inf in float32
        raise InputError(
            f"{name} = {float(a):.6g} is not allowed in {np.dtype(stored).name}: it overflows to inf "
            "(enable float64 with jax_enable_x64, or rescale the code units)"
        )
    if positive and float(a) < np.finfo(stored).tiny:  # dt_max = 1e-50 was 0 in float32: every step was
        # refused and the run reported an "unphysical state" in a healthy cell (1e-42 too: XLA flushes subnormals)
        raise InputError(
            f"{name} = {float(a):.6g} is not allowed in {np.dtype(stored).name}: it is below the smallest normal "
            f"number {np.finfo(stored).tiny:.6g} and becomes 0 (enable float64 with jax_enable_x64, or rescale "
            "the code units)"
        )
    value = jnp.asarray(value)
    return value if jnp.issubdtype(value.dtype, jnp.floating) else value.astype(float)


GAMMA_MAX = 1e300
"""Largest adiabatic index accepted: the solver's formulas (2γ, γ + 1, γ p/ρ of order-unity
states) stay finite in float64 (γ = 1e308 made 2γ overflow: a ZeroDivisionError in the exact
Riemann solver)."""


def _shown(v: float) -> str:
    """``v`` to 6 significant digits, or to all its digits where 6 would round it onto a bound it
    violates (CFL number = 1.0000001 was shown as "1 is outside the allowed range (0, 1]")."""
    short = f"{v:.6g}"
    return short if not math.isfinite(v) or float(short) == v else repr(float(v))


def check_gamma(name, v):
    if not (math.isfinite(v) and v > 1.0):
        raise InputError(f"{name} = {_shown(v)} is not allowed; it must be a finite number > 1")
    if v > GAMMA_MAX:
        raise InputError(f"{name} = {_shown(v)} is not allowed; it must be a number with 1 < {name} <= {GAMMA_MAX:g}")


def _cfl_ok(name, v):
    if not (math.isfinite(v) and 0.0 < v <= 1.0):
        raise InputError(f"{name} = {_shown(v)} is outside the allowed range (0, 1]")


def _positive_or_inf(name, v):
    if not v > 0:
        raise InputError(f"{name} = {_shown(v)} is not allowed; it must be > 0 (inf for no limit)")


def _non_negative(name, v):
    if not (math.isfinite(v) and v >= 0):
        raise InputError(f"{name} = {_shown(v)} is not allowed; it must be a finite number >= 0")


def _state3(name, value):
    if not is_concrete(value):
        return value
    a = _real_array(name, value)
    if a.shape != (3,):
        raise InputError(f"{name} must be (density, velocity, pressure), got shape {a.shape}")
    rho, vel, p = (float(v) for v in a)
    if not (rho > 0 and p > 0 and math.isfinite(rho) and math.isfinite(p) and math.isfinite(vel)):
        # an infinite velocity was refused as "density and pressure must be > 0"
        raise InputError(f"{name} = ({rho:g}, {vel:g}, {p:g}) is not allowed; density and pressure must be finite "
                         "and > 0, the velocity finite")
    return jnp.asarray(value, dtype=float)


class HydroParams(eqx.Module):
    """Differentiable parameters (scalars unless stated; code units).

    gamma: adiabatic index (> 1). cfl: Courant number in (0, 1]. dt_max: largest time step
    (inf: no limit). wind_mass_loss_rate: Ṁ (mass / time). wind_velocity: terminal velocity v∞.
    inflow_left, inflow_right: (3,) primitive states (density, velocity, pressure) imposed by
    ``inflow`` boundaries.
    """

    gamma: Float[Array, ""]
    cfl: Float[Array, ""]
    dt_max: Float[Array, ""]
    wind_mass_loss_rate: Float[Array, ""]
    wind_velocity: Float[Array, ""]
    inflow_left: Float[Array, "3"]
    inflow_right: Float[Array, "3"]

    def __init__(
        self,
        gamma=5.0 / 3.0,
        cfl=0.8,
        dt_max=float("inf"),
        wind_mass_loss_rate=0.0,
        wind_velocity=0.0,
        inflow_left=(1.0, 0.0, 1.0),
        inflow_right=(1.0, 0.0, 1.0),
    ):
        self.gamma = _scalar("gamma", gamma, check_gamma)
        self.cfl = _scalar("CFL number", cfl, _cfl_ok, positive=True)
        self.dt_max = _scalar("dt_max", dt_max, _positive_or_inf, positive=True)
        self.wind_mass_loss_rate = _scalar("wind mass-loss rate", wind_mass_loss_rate, _non_negative)
        self.wind_velocity = _scalar("wind velocity", wind_velocity, _non_negative)
        self.inflow_left = _state3("inflow_left", inflow_left)
        self.inflow_right = _state3("inflow_right", inflow_right)
