"""Burgers' equation u_t + u u_x = ν u_xx in 1D, periodic, on cell centres: explicit
viscosity then semi-Lagrangian (or MacCormack) advection, the splitting of the
Physics-based Deep Learning book's example; or a conservative Godunov finite-volume step
(``advection="godunov"``), which also solves the inviscid equation (ν = 0)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import InputError, check_choice, check_finite_array, check_positive, is_concrete
from astrograd.diff import fixed_loop
from astrograd.flow._advect import ADVECTION_SCHEMES
from astrograd.flow._grid import static_float, static_int
from astrograd.flow._solver import check_dt_held
from astrograd.flow._viscosity import check_viscosity

#: Semi-Lagrangian schemes of the 2D solver, and the conservative upwind finite-volume step.
BURGERS_ADVECTION = (*ADVECTION_SCHEMES, "godunov")


class BurgersConfig(eqx.Module):
    """n cells on ``[x_min, x_min + length)`` (periodic), time step ``dt``, ``advection``
    scheme. Static.

    advection: ``semi-lagrangian`` or ``maccormack`` (the book's; not conservative: at small
    viscosity a moving shock travels at the wrong speed and ∫u dx drifts), or ``godunov``
    (finite volumes with the exact Riemann flux of u²/2: ∫u dx conserved to round-off, shocks at
    the Rankine–Hugoniot speed; needs dt max|u| ≤ dx; the only scheme that allows ν = 0).
    """

    n: int = eqx.field(static=True, default=128, converter=static_int)
    length: float = eqx.field(static=True, default=2.0, converter=static_float)
    x_min: float = eqx.field(static=True, default=-1.0, converter=static_float)
    dt: float = eqx.field(static=True, default=1.0 / 32, converter=static_float)
    advection: str = eqx.field(static=True, default="semi-lagrangian")

    def __check_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, int | np.integer) or self.n < 4:
            raise InputError(f"resolution n = {self.n!r} is not allowed; it must be an integer >= 4")
        check_positive("length", self.length)  # a bool (True) was taken as 1.0
        try:
            x_min_ok = np.isfinite(float(self.x_min))
        except (TypeError, ValueError):
            x_min_ok = False
        if not x_min_ok or isinstance(self.x_min, bool | np.bool_):
            raise InputError(f"x_min = {self.x_min!r} is not allowed; it must be a finite number")
        check_positive("dt", self.dt)
        check_choice("advection scheme", self.advection, BURGERS_ADVECTION)

    @property
    def dx(self) -> float:
        return self.length / self.n

    def cell_centres(self, dtype=None) -> Float[Array, " n"]:
        """Cell-centre positions (length units), in ``dtype`` (default: the default float type)."""
        return self.x_min + (jnp.arange(self.n, dtype=dtype) + 0.5) * self.dx


def _sample(q, x, config: BurgersConfig, with_bounds=False):
    f = (x - config.x_min) / config.dx - 0.5
    i0f = jnp.floor(f)
    t = f - i0f
    i0 = jnp.mod(i0f.astype(jnp.int32), config.n)
    i1 = jnp.mod(i0 + 1, config.n)
    value = (1 - t) * q[i0] + t * q[i1]
    if with_bounds:
        return value, jnp.minimum(q[i0], q[i1]), jnp.maximum(q[i0], q[i1])
    return value


def _advect(q, u, dt, config: BurgersConfig):
    # the positions in the fields' float type (default-float ones were float64 under x64)
    x = config.cell_centres(jnp.result_type(q, u, float))

    def trace(dt):
        xm = x - 0.5 * dt * _sample(u, x, config)
        return x - dt * _sample(u, xm, config)

    if config.advection == "semi-lagrangian":
        return _sample(q, trace(dt), config)
    forward, lo, hi = _sample(q, trace(dt), config, with_bounds=True)
    backward = _sample(forward, trace(-dt), config)
    return jnp.clip(forward + 0.5 * (q - backward), lo, hi)


def _godunov(u, dt, config: BurgersConfig):
    """One forward-Euler finite-volume step with the Godunov flux of f(u) = u²/2 (exact Riemann
    solution; f convex with its minimum at 0): F(a, b) = max(f(max(a, 0)), f(min(b, 0)))."""
    right = jnp.roll(u, -1)
    flux = 0.5 * jnp.maximum(jnp.maximum(u, 0.0) ** 2, jnp.minimum(right, 0.0) ** 2)  # at i + 1/2
    return u - dt / config.dx * (flux - jnp.roll(flux, 1))


def burgers_step(u: Float[Array, " n"], viscosity, config: BurgersConfig) -> Float[Array, " n"]:
    """One step: explicit viscosity (forward Euler, ν in length²/time) then advection."""
    _check_shape(u, config, "u")
    if jnp.issubdtype(jnp.result_type(u), jnp.inexact):  # a float64 ν made a float32 state float64 under x64
        viscosity = jnp.asarray(viscosity, jnp.result_type(u))
    lap = (jnp.roll(u, -1) - 2 * u + jnp.roll(u, 1)) / config.dx**2
    u = u + config.dt * viscosity * lap
    if config.advection == "godunov":
        return _godunov(u, config.dt, config)
    return _advect(u, u, config.dt, config)


def _check_shape(u0, config: BurgersConfig, name: str = "u0") -> None:
    """InputError unless ``u0`` is ``(n,)`` (static: checked under jit too; another length was a
    raw scan TypeError under jit, and a silently wrong-length result from :func:`burgers_step`),
    or if the float type the state is run in holds ``dt`` as 0 or inf (static too: a dt of 1e-45
    left a float32 state unchanged and was reported as a successful run)."""
    if np.shape(u0) != (config.n,):
        raise InputError(f"{name} has shape {np.shape(u0)}; it must be (n,) = ({config.n},)")
    dtype = getattr(u0, "dtype", None) or np.asarray(u0).dtype
    # as JAX runs it: float64 is float32 without x64, an integer state becomes the default float
    dtype = jax.dtypes.canonicalize_dtype(dtype) if jnp.issubdtype(dtype, jnp.inexact) else jnp.result_type(float)
    check_dt_held(config.dt, dtype)


def check_burgers(u0, viscosity, config: BurgersConfig) -> None:
    """Raise InputError for an initial state of the wrong shape or non-finite, ν ≤ 0 (ν < 0 with
    ``godunov``), ν dt·2/dx² > 1, or (``godunov``) a Courant number dt max|u0|/dx > 1 (the
    scheme keeps max|u| from growing, so the first step's limit holds for all)."""
    _check_shape(u0, config)
    if is_concrete(u0):
        if not np.issubdtype(np.asarray(u0).dtype, np.number):
            raise InputError(f"u0 has dtype {np.asarray(u0).dtype}; it must be an array of numbers")
        check_finite_array("u0", u0)
        if config.advection == "godunov":
            courant = float(np.max(np.abs(np.asarray(u0, dtype=float)))) * config.dt / config.dx
            if courant > 1:
                raise InputError(
                    f"Courant number dt*max|u0|/dx = {courant:.4g} is above the godunov limit 1; use a smaller dt"
                )
    if is_concrete(viscosity):
        nu = check_viscosity(
            viscosity,
            f"advection {config.advection!r}",
            "non-negative" if config.advection == "godunov" else "positive",
            "the inviscid equation needs the conservative advection 'godunov'",
        )
        d = nu * config.dt * 2 / config.dx**2
        if d > 1:
            raise InputError(
                f"diffusion number nu*dt*2/dx^2 = {d:.4g} is above the explicit viscosity limit 1; use a smaller dt"
            )


def burgers_simulate(
    u0, viscosity, config: BurgersConfig, num_steps: int, *, save_every: int | None = None, checkpoint: str = "none"
):
    """Run ``num_steps`` steps from ``u0`` ``(n,)``. Returns ``(u_final, saved)`` where
    ``saved`` stacks the initial state and every ``save_every``-th state (or None)."""
    check_burgers(u0, viscosity, config)
    u0 = jnp.asarray(u0)
    if not jnp.issubdtype(u0.dtype, jnp.inexact):  # an integer state would change dtype in the loop
        u0 = u0.astype(jnp.result_type(float))

    def body(u, i, nu):
        return burgers_step(u, nu, config)

    return fixed_loop(
        body, u0, num_steps, jnp.asarray(viscosity), save_every=save_every, checkpoint=checkpoint
    )


def burgers_initial(config: BurgersConfig) -> Float[Array, " n"]:
    """The book's initial state u₀ = −sin(π x)."""
    return -jnp.sin(jnp.pi * config.cell_centres())


BOOK_VISCOSITY = 0.01 / np.pi
