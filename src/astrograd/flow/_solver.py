"""The incompressible Navier–Stokes step (Chorin splitting on the MAC grid) and the time loop.

Static ``FlowConfig`` (grid, boundaries, dt, schemes), differentiable ``FlowParams``
(viscosity, inflow speed, buoyancy, masks) and ``FlowState`` (fields + run status);
``step(state, params, config)`` is a pure function, ``simulate`` owns the loop.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from astrograd._errors import (
    InputError,
    SimulationError,
    check_bool,
    check_choice,
    check_finite_if_concrete,
    check_in_range,
    check_int,
    check_positive,
    is_concrete,
)
from astrograd.diff import fixed_loop
from astrograd.flow._advect import ADVECTION_SCHEMES, advect
from astrograd.flow._grid import Boundaries, Grid, as_pair, static_float, static_int
from astrograd.flow._ops import cells_to_xfaces, cells_to_yfaces, complete, divergence, laplacian, unique
from astrograd.flow._pressure import cg_solve, face_weights, project, solve_pressure_cg, solve_pressure_fft
from astrograd.flow._viscosity import check_viscosity

VISCOSITY_SCHEMES = ("explicit", "implicit", "none")
PRESSURE_SOLVERS = ("cg", "fft")

#: ``FlowState.status`` bits.
STATUS_SOLVE_FAILED = 1
STATUS_NON_FINITE = 2


class FlowConfig(eqx.Module):
    """Everything that fixes shapes and program structure (static; changing it recompiles).

    grid, boundaries: see ``Grid`` and ``Boundaries``. dt: time step (time units).
    advection: ``semi-lagrangian`` or ``maccormack``. viscosity_scheme: ``explicit`` (forward
    Euler; requires ν dt (2/dx² + 2/dy²) ≤ 1), ``implicit`` (backward Euler, CG) or ``none``.
    pressure_solver: ``cg`` (any geometry) or ``fft`` (doubly periodic, no obstacles).
    tol: relative tolerance of the linear solves. max_cg_steps: CG iteration cap; reaching it
    sets ``STATUS_SOLVE_FAILED``. forcing_direction: unit vector of the velocity imposed in
    ``FlowParams.forcing`` cells (speed ``inflow_speed``). warm_start: start CG from the
    previous pressure.
    """

    grid: Grid
    boundaries: Boundaries
    dt: float = eqx.field(static=True, converter=static_float)
    advection: str = eqx.field(static=True, default="semi-lagrangian")
    viscosity_scheme: str = eqx.field(static=True, default="explicit")
    pressure_solver: str = eqx.field(static=True, default="cg")
    tol: float = eqx.field(static=True, default=1e-5, converter=static_float)
    max_cg_steps: int = eqx.field(static=True, default=5000, converter=static_int)
    forcing_direction: tuple[float, float] = eqx.field(static=True, default=(0.0, 1.0))
    warm_start: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if not isinstance(self.grid, Grid):
            raise InputError(f"grid = {self.grid!r} is not allowed; it must be a Grid(nx, ny, lx, ly)")
        if not isinstance(self.boundaries, Boundaries):
            raise InputError(f"boundaries = {self.boundaries!r} is not allowed; it must be a Boundaries(...)")
        # a bool (True) was taken as 1.0; whether the state's float type holds dt is checked with
        # the state (make_state, step, simulate): the default float type when the config is built
        # may not be the state's (x64 switched on or off later, a float32 state under x64)
        check_positive("dt", self.dt)
        check_bool("warm_start", self.warm_start)  # "no" was truthy
        check_choice("advection scheme", self.advection, ADVECTION_SCHEMES)
        check_choice("viscosity scheme", self.viscosity_scheme, VISCOSITY_SCHEMES)
        check_choice("pressure solver", self.pressure_solver, PRESSURE_SOLVERS)
        check_in_range("tol", self.tol, 0.0, 1.0, low_open=True, high_open=True)
        if isinstance(self.max_cg_steps, bool) or not isinstance(self.max_cg_steps, int) or self.max_cg_steps < 1:
            raise InputError(f"max_cg_steps = {self.max_cg_steps!r} is not allowed; it must be an integer >= 1")
        if not all(math.isfinite(e) for e in as_pair("forcing_direction", self.forcing_direction)):
            raise InputError(f"forcing_direction = {self.forcing_direction!r} is not allowed; it must be finite")
        sides = (self.boundaries.left, self.boundaries.right, self.boundaries.bottom, self.boundaries.top)
        if "inflow" in sides and not self.boundaries.has_outflow:
            # the projection of a closed domain removes only the zero-mean part of the divergence:
            # the fluid let in stayed as a silent divergence of inflow_speed * (inflow length) / area
            raise InputError(
                f"boundaries (left, right, bottom, top) = {sides} are not allowed: an inflow side needs an "
                "outflow side for the fluid to leave (incompressible flow)"
            )
        if self.pressure_solver == "fft" and not (self.boundaries.periodic_x and self.boundaries.periodic_y):
            raise InputError("pressure solver 'fft' needs periodic boundaries on all sides; use 'cg'")


class FlowParams(eqx.Module):
    """Differentiable parameters.

    viscosity: kinematic viscosity ν (length²/time). inflow_speed: speed through ``inflow``
    sides and in ``forcing`` cells (length/time). buoyancy: upward acceleration per unit marker
    (length/time²). solid: ``(ny, nx)`` 1 in obstacle cells, 0 in fluid. forcing: ``(ny, nx)``
    1 where the velocity is set to ``inflow_speed × forcing_direction`` every step.
    marker_source: ``(ny, nx)`` marker added per unit time.
    """

    viscosity: Float[Array, ""]
    inflow_speed: Float[Array, ""]
    buoyancy: Float[Array, ""]
    solid: Float[Array, "ny nx"]
    forcing: Float[Array, "ny nx"]
    marker_source: Float[Array, "ny nx"]


class FlowState(eqx.Module):
    """Fields and run status.

    vx ``(ny, nx+1)``, vy ``(ny+1, nx)``: face velocities (length/time). marker ``(ny, nx)``:
    passive scalar. pressure ``(ny, nx)``: kinematic pressure p/ρ (length²/time²), 0 on open
    sides (gauge: zero mean over the fluid in closed domains). time: (time units).
    status: 0, or the OR of ``STATUS_SOLVE_FAILED`` / ``STATUS_NON_FINITE`` since the start.
    fail_time, fail_cell: time of the first failure and flat index ``j*nx+i`` of the cell where
    it was seen (−1 if none). cg_steps: largest number of CG iterations of any pressure solve.
    """

    vx: Float[Array, "ny nxp1"]
    vy: Float[Array, "nyp1 nx"]
    marker: Float[Array, "ny nx"]
    pressure: Float[Array, "ny nx"]
    time: Float[Array, ""]
    status: Int[Array, ""]
    fail_time: Float[Array, ""]
    fail_cell: Int[Array, ""]
    cg_steps: Int[Array, ""]


def _check_held(name: str, value, dtype, what: str) -> None:
    """InputError for a finite non-zero number that ``dtype`` holds as 0 or ±inf: it was refused
    later as "viscosity = 0" (a value the caller never gave), or a ``dt`` of 1e-300 stopped the
    run with "non-finite velocity ... at t = 0"."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return  # the checks of the value itself say what is wrong with it
    finfo = np.finfo(dtype)
    with np.errstate(over="ignore", under="ignore"):  # comparing with finfo.max cast v: "overflow in cast"
        held = abs(finfo.dtype.type(v))
    if math.isfinite(v) and v != 0 and not finfo.tiny <= held <= finfo.max:
        raise InputError(
            f"{name} = {v:.6g} is not allowed; {finfo.dtype} ({what}) cannot hold it: its magnitude must lie "
            f"in [{finfo.tiny:.3g}, {finfo.max:.3g}]"
        )


def check_dt_held(dt: float, dtype) -> None:
    """InputError for a time step that a state of float type ``dtype`` holds as 0 or inf."""
    if jnp.issubdtype(dtype, jnp.floating):
        _check_held("dt", dt, dtype, "the state's precision")


def make_params(
    config: FlowConfig,
    viscosity,
    *,
    inflow_speed=0.0,
    buoyancy=0.0,
    solid=None,
    forcing=None,
    marker_source=None,
    dtype=None,
) -> FlowParams:
    """Build ``FlowParams``; masks default to zeros. Values are checked when concrete."""
    g = config.grid
    dtype = dtype or jnp.result_type(float)
    zeros = jnp.zeros((g.ny, g.nx), dtype)

    def field(name, a):
        if a is None:
            return zeros
        a = _as_array(name, a, dtype)
        if a.shape != (g.ny, g.nx):
            raise InputError(f"{name} has shape {a.shape}; it must be (ny, nx) = {(g.ny, g.nx)}")
        return a

    def scalar(name, a):
        a = _as_array(name, a, dtype)
        if a.ndim:
            raise InputError(f"{name} has shape {a.shape}; it must be a single number")
        return a

    if is_concrete(viscosity):
        _check_held("viscosity", viscosity, dtype, "the parameters' precision")
    params = FlowParams(
        viscosity=_as_array("viscosity", viscosity, dtype),
        inflow_speed=scalar("inflow_speed", inflow_speed),
        buoyancy=scalar("buoyancy", buoyancy),
        solid=field("solid", solid),
        forcing=field("forcing", forcing),
        marker_source=field("marker_source", marker_source),
    )
    check_params(params, config)
    return params


def make_state(config: FlowConfig, vx=None, vy=None, marker=None, *, time=0.0, dtype=None) -> FlowState:
    """Initial ``FlowState`` (zero fields by default; pressure 0, status 0)."""
    g = config.grid
    dtype = dtype or jnp.result_type(float)
    check_dt_held(config.dt, dtype)

    def field(name, a, shape):
        if a is None:
            return jnp.zeros(shape, dtype)
        a = _as_array(name, a, dtype)
        if a.shape != shape:
            raise InputError(f"{name} has shape {a.shape}; it must be {shape}")
        return a

    state = FlowState(
        vx=field("vx", vx, (g.ny, g.nx + 1)),
        vy=field("vy", vy, (g.ny + 1, g.nx)),
        marker=field("marker", marker, (g.ny, g.nx)),
        pressure=jnp.zeros((g.ny, g.nx), dtype),
        time=field("time", time, ()),
        status=jnp.asarray(0, jnp.int32),
        fail_time=jnp.asarray(jnp.inf, dtype),
        fail_cell=jnp.asarray(-1, jnp.int32),
        cg_steps=jnp.asarray(0, jnp.int32),
    )
    check_state_input(state)
    return state


def _as_array(name, a, dtype):
    try:
        return jnp.asarray(a, dtype)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {a!r} is not allowed; it must be a number or an array of numbers") from None


def check_state_input(state: FlowState) -> None:
    """Raise InputError on non-finite input fields (skipped when traced)."""
    for name in ("vx", "vy", "marker", "time"):
        check_finite_if_concrete(name, getattr(state, name))


def check_inputs(state: FlowState, params: FlowParams, config: FlowConfig) -> None:
    """Raise InputError unless ``state``, ``params`` and ``config`` have the right types and
    the field shapes of ``config.grid`` (shapes are static: checked under jit too)."""
    for name, value, kind, maker in (
        ("config", config, FlowConfig, "FlowConfig(...)"),
        ("state", state, FlowState, "make_state"),
        ("params", params, FlowParams, "make_params"),
    ):
        if not isinstance(value, kind):
            raise InputError(f"{name} is a {type(value).__name__}; it must be a {kind.__name__} (see {maker})")
    g = config.grid
    c, x, y = (g.ny, g.nx), (g.ny, g.nx + 1), (g.ny + 1, g.nx)
    for name, a, shape in (
        ("state.vx", state.vx, x),
        ("state.vy", state.vy, y),
        ("state.marker", state.marker, c),
        ("state.pressure", state.pressure, c),
        ("params.solid", params.solid, c),
        ("params.forcing", params.forcing, c),
        ("params.marker_source", params.marker_source, c),
    ):
        if jnp.shape(a) != shape:
            raise InputError(f"{name} has shape {jnp.shape(a)}; the grid of config needs {shape}")
    check_dt_held(config.dt, jnp.result_type(state.vx))


def diffusion_number(config: FlowConfig, viscosity: float) -> float:
    """ν dt (2/dx² + 2/dy²): explicit viscosity is stable for values ≤ 1."""
    g = config.grid
    return float(viscosity) * config.dt * (2 / g.dx**2 + 2 / g.dy**2)


def check_params(params: FlowParams, config: FlowConfig) -> None:
    """Raise InputError on bad concrete parameters (skipped for traced values)."""
    if is_concrete(params.viscosity):
        if config.viscosity_scheme == "none":
            check_viscosity(params.viscosity, "viscosity_scheme 'none'", "zero",
                            "or use the explicit or implicit viscosity scheme")
        else:
            check_viscosity(params.viscosity, f"viscosity_scheme {config.viscosity_scheme!r}", "positive",
                            "viscosity_scheme 'none' runs inviscid flow")
        if config.viscosity_scheme == "explicit":
            d = diffusion_number(config, params.viscosity)
            if d > 1.0:
                raise InputError(
                    f"diffusion number nu*dt*(2/dx^2+2/dy^2) = {d:.4g} is above the explicit "
                    "viscosity limit 1; use the implicit viscosity scheme or a smaller dt"
                )
    for name in ("inflow_speed", "buoyancy"):
        a = getattr(params, name)
        if is_concrete(a) and not np.isfinite(np.asarray(a)).all():
            raise InputError(f"{name} = {np.asarray(a)!r} is not allowed; it must be finite")
    for name in ("solid", "forcing", "marker_source"):
        check_finite_if_concrete(name, getattr(params, name))
    for name in ("solid", "forcing"):
        a = getattr(params, name)
        if not is_concrete(a):
            continue
        a = np.asarray(a)  # numpy: a jnp reduction would be staged when called under a trace
        bad = (a < 0) | (a > 1)
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad)), a.shape)
            raise InputError(
                f"{name} has the value {a[idx]:g} at index {tuple(int(i) for i in idx)}; "
                "mask values must lie in [0, 1]"
            )
    if is_concrete(params.solid) and config.pressure_solver == "fft" and np.any(np.asarray(params.solid) != 0):
        raise InputError("pressure solver 'fft' does not support obstacles; use 'cg'")


def _implicit_diffuse(q, kind, nu_dt, config: FlowConfig):
    """Backward Euler: solve (I − ν dt ∇²) q_new = q by CG. Returns (q_new, converged)."""
    g, bc = config.grid, config.boundaries
    qu = unique(q, kind, bc)

    def matvec(v):
        return v - nu_dt * unique(laplacian(complete(v, kind, bc), kind, g, bc), kind, bc)

    inv_diag = jax.lax.stop_gradient(jnp.ones_like(qu) / (1 + nu_dt * (2 / g.dx**2 + 2 / g.dy**2)))
    y, ok, _ = cg_solve(matvec, qu, inv_diag, config.tol, config.max_cg_steps, y0=jax.lax.stop_gradient(qu))
    return complete(y, kind, bc), ok


def enforce_boundaries(vx, vy, params: FlowParams, config: FlowConfig):
    """Impose wall/inflow normal velocities, zero velocity on faces touching obstacles and the
    forced velocity in ``params.forcing`` cells. Outflow and periodic faces are left free."""
    bc = config.boundaries
    u_in = params.inflow_speed.astype(vx.dtype)
    side_value = {"no-slip": 0.0, "free-slip": 0.0, "inflow": 1.0}
    if bc.left in side_value:
        vx = vx.at[:, 0].set(side_value[bc.left] * u_in)
    if bc.right in side_value:
        vx = vx.at[:, -1].set(-side_value[bc.right] * u_in)
    if bc.bottom in side_value:
        vy = vy.at[0, :].set(side_value[bc.bottom] * u_in)
    if bc.top in side_value:
        vy = vy.at[-1, :].set(-side_value[bc.top] * u_in)
    if bc.periodic_x:
        vx = vx.at[:, -1].set(vx[:, 0])
    if bc.periodic_y:
        vy = vy.at[-1, :].set(vy[0, :])
    vx = vx * (1 - cells_to_xfaces(params.solid, bc))
    vy = vy * (1 - cells_to_yfaces(params.solid, bc))
    fx = cells_to_xfaces(params.forcing, bc)
    fy = cells_to_yfaces(params.forcing, bc)
    ex, ey = config.forcing_direction
    vx = vx * (1 - fx) + fx * ex * u_in
    vy = vy * (1 - fy) + fy * ey * u_in
    return vx, vy


def step(state: FlowState, params: FlowParams, config: FlowConfig) -> FlowState:
    """One time step: viscosity, marker and velocity advection, buoyancy, boundary conditions,
    pressure projection, status update. Pure; differentiable with respect to state and params
    (the pressure solve by the implicit function theorem)."""
    # static: under jit too; a state of another grid was a raw broadcasting TypeError
    check_inputs(state, params, config)
    g, bc, dt = config.grid, config.boundaries, config.dt
    vx, vy = state.vx, state.vy
    # the step runs in the state's float type: float64 parameters (make_params' default under x64)
    # made a float32 state float64, which the loop refused
    params = jax.tree.map(lambda a: jnp.asarray(a, vx.dtype) if jnp.issubdtype(jnp.result_type(a), jnp.floating)
                          else a, params)
    ok = jnp.asarray(True)
    if config.viscosity_scheme == "explicit":
        vx = vx + dt * params.viscosity * laplacian(vx, "x", g, bc)
        vy = vy + dt * params.viscosity * laplacian(vy, "y", g, bc)
    elif config.viscosity_scheme == "implicit":
        vx, okx = _implicit_diffuse(vx, "x", dt * params.viscosity, config)
        vy, oky = _implicit_diffuse(vy, "y", dt * params.viscosity, config)
        ok = okx & oky
    marker = advect(state.marker + dt * params.marker_source, "c", vx, vy, dt, g, bc, config.advection)
    vx, vy = (
        advect(vx, "x", vx, vy, dt, g, bc, config.advection),
        advect(vy, "y", vx, vy, dt, g, bc, config.advection),
    )
    if not bc.periodic_y:
        buoy = jnp.concatenate([marker[:1], 0.5 * (marker[1:] + marker[:-1]), marker[-1:]], axis=0)
    else:
        buoy = complete(0.5 * (marker + jnp.roll(marker, 1, axis=0)), "y", bc)
    vy = vy + dt * params.buoyancy * buoy
    vx, vy = enforce_boundaries(vx, vy, params, config)

    if config.pressure_solver == "fft":
        phi = solve_pressure_fft(vx, vy, g)
        weights = face_weights(params.solid, bc)
        cg_steps = jnp.asarray(0, jnp.int32)
    else:
        phi0 = state.pressure * dt if config.warm_start else None
        phi, converged, cg_steps, weights = solve_pressure_cg(
            vx, vy, params.solid, g, bc, config.tol, config.max_cg_steps, phi0
        )
        ok = ok & converged
    vx, vy = project(vx, vy, phi, weights, g, bc)
    if bc.periodic_x:
        vx = vx.at[:, -1].set(vx[:, 0])
    if bc.periodic_y:
        vy = vy.at[-1, :].set(vy[0, :])
    pressure = phi / dt
    time = state.time + dt

    ux = vx[:, 1:] + vx[:, :-1]
    uy = vy[1:] + vy[:-1]
    bad_cells = ~jnp.isfinite(ux * ux + uy * uy + marker + pressure)
    finite = ~jnp.any(bad_cells)
    fluid = 1.0 - params.solid
    div = jnp.where(fluid > 0, jnp.abs(divergence(vx, vy, g)), 0.0)
    flags = jnp.where(ok, 0, STATUS_SOLVE_FAILED) | jnp.where(finite, 0, STATUS_NON_FINITE)
    first = (state.status == 0) & (flags != 0)
    where_bad = jnp.where(finite, jnp.argmax(div.ravel()), jnp.argmax(bad_cells.ravel())).astype(jnp.int32)
    return FlowState(
        vx=vx,
        vy=vy,
        marker=marker,
        pressure=pressure,
        time=time,
        status=(state.status | flags).astype(jnp.int32),
        fail_time=jnp.where(first, time, state.fail_time),
        fail_cell=jnp.where(first, where_bad, state.fail_cell),
        cg_steps=jnp.maximum(state.cg_steps, jnp.asarray(cg_steps, jnp.int32)),
    )


@eqx.filter_jit
def _run(state, params, config, num_steps, save_every, checkpoint):
    def body(s, i, p):
        return step(s, p, config)

    return fixed_loop(body, state, num_steps, params, save_every=save_every, checkpoint=checkpoint)


def simulate(
    state: FlowState,
    params: FlowParams,
    config: FlowConfig,
    num_steps: int,
    *,
    save_every: int | None = None,
    checkpoint: str = "none",
    check: bool = True,
) -> tuple[FlowState, FlowState | None]:
    """Run ``num_steps`` steps (one compiled ``lax.scan``).

    save_every: also return the initial state and every ``save_every``-th state, stacked on a
    leading axis. checkpoint: ``"none"``, ``"step"`` or ``"nested"`` (reverse mode at
    O(√num_steps) memory), see ``astrograd.diff.fixed_loop``. check: when the result is
    concrete, raise ``SimulationError`` if a pressure solve failed or a field became non-finite
    (under ``jit``/``grad`` inspect ``state.status`` instead).
    Returns ``(final_state, saved_states_or_None)``.
    """
    check_inputs(state, params, config)
    num_steps = check_int("num_steps", num_steps, 0)
    if save_every is not None:
        save_every = check_int("save_every", save_every, 1)
    check = check_bool("check", check)  # "no" would be truthy, 0 switched the check off
    check_state_input(state)
    check_params(params, config)
    final, saved = _run(state, params, config, num_steps, save_every, checkpoint)
    if check and is_concrete(final.status):
        raise_on_failure(final, config)
    return final, saved


def raise_on_failure(state: FlowState, config: FlowConfig) -> None:
    """Raise ``SimulationError`` naming the time and place of the first failure, if any."""
    status = int(state.status)
    if status == 0:
        return
    g = config.grid
    j, i = divmod(int(state.fail_cell), g.nx)
    x, y = (i + 0.5) * g.dx, (j + 0.5) * g.dy
    where = f"t = {float(state.fail_time):.6g}, cell (i={i}, j={j}) at (x, y) = ({x:.4g}, {y:.4g})"
    if status & STATUS_NON_FINITE and not status & STATUS_SOLVE_FAILED:
        raise SimulationError(f"non-finite velocity, marker or pressure at {where}")
    raise SimulationError(
        f"linear solve did not converge (tol {config.tol:g}, max {config.max_cg_steps} CG steps) at {where}"
    )


def is_ok(state: FlowState) -> Bool[Array, ""]:
    """True when no solve failed and all fields stayed finite (usable under jit)."""
    return state.status == 0
