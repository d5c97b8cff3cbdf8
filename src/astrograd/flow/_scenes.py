"""Ready-made scenes: each returns ``(state, params, config)``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from astrograd._errors import (
    InputError,
    check_finite_array,
    check_int,
    check_key,
    check_positive,
    is_concrete,
    is_real_number,
)
from astrograd.flow._grid import PERIODIC, Boundaries, Grid, as_pair
from astrograd.flow._obstacles import box_mask, cylinder_mask
from astrograd.flow._ops import _check_faces
from astrograd.flow._solver import FlowConfig, check_dt_held, make_params, make_state


def _check_finite_number(name: str, value) -> None:
    """InputError unless ``value`` is one finite real number (a string or NaN used to reach JAX)."""
    if not (is_real_number(value) and math.isfinite(value)):  # True was 1.0
        raise InputError(f"{name} = {value!r} is not allowed; it must be a finite number")


def karman(
    nx: int = 32,
    ny: int = 64,
    reynolds: float = 100.0,
    dt: float = 1.0,
    *,
    width: float = 100.0,
    height: float = 200.0,
    centre: tuple[float, float] | None = None,
    radius: float = 10.0,
    inflow_speed: float = 1.0,
    inflow_depth: float = 5.0,
    sides: str = "no-slip",
    advection: str = "semi-lagrangian",
    viscosity_scheme: str = "explicit",
    tol: float = 1e-3,
    max_cg_steps: int = 5000,
    perturbation: float = 0.0,
    key: jax.Array | None = None,
):
    """Flow past a cylinder, the Physics-based Deep Learning book geometry by default:
    domain ``width × height`` = 100 × 200, cylinder of ``radius`` 10 at (50, 50), velocity
    (0, ``inflow_speed``) imposed over the bottom ``inflow_depth`` = 5 units, open top, walls
    of kind ``sides`` left and right, marker injected at rate 1 in y ∈ [5, 10],
    x ∈ [width/4, 3 width/4]. Reynolds number ``Re = inflow_speed × 2 radius / ν``.
    ``perturbation``: amplitude of a smooth cross-stream velocity bump (width ``radius``)
    centred one diameter behind the cylinder, which breaks the symmetry and starts shedding
    early; with a ``key``, white noise of 0.1 × that amplitude is added as well.
    """
    reynolds = check_positive("Reynolds number", reynolds)
    if is_concrete(inflow_speed):  # the scene is traceable in the speed
        inflow_speed = check_positive("inflow speed", inflow_speed)
    inflow_depth = check_positive("inflow depth", inflow_depth)
    # the checked numbers: numeric text ("10") passed the checks of the grid and the cylinder and
    # was a TypeError in the arithmetic below
    width, height = check_positive("width", width), check_positive("height", height)
    radius = check_positive("cylinder radius", radius)
    if is_concrete(perturbation):  # traceable in the perturbation too
        _check_finite_number("perturbation", perturbation)
    if key is not None:
        check_key("key", key)
    grid = Grid(
        check_int("resolution nx", nx, 2),
        check_int("resolution ny", ny, 2),
        width,
        height,
    )
    if centre is None:
        centre = (0.5 * width, 50.0 * height / 200.0)
    centre = as_pair("cylinder centre", centre)
    bc = Boundaries(left=sides, right=sides, bottom="inflow", top="outflow")
    config = FlowConfig(
        grid,
        bc,
        check_positive("dt", dt),
        advection=advection,
        viscosity_scheme=viscosity_scheme,
        tol=tol,
        max_cg_steps=max_cg_steps,
        forcing_direction=(0.0, 1.0),
    )
    solid = cylinder_mask(grid, centre, radius)
    forcing = box_mask(grid, (-1.0, -1.0), (width + 1.0, inflow_depth))
    source = box_mask(grid, (0.25 * width, inflow_depth), (0.75 * width, 2 * inflow_depth))
    if not np.any(np.asarray(solid)):
        raise InputError(
            f"cylinder radius {radius:g} is too small for the grid: it covers no cell centre "
            f"(dx = {grid.dx:g}, dy = {grid.dy:g})"
        )
    if not np.any(np.asarray(forcing)):
        raise InputError(f"inflow depth {inflow_depth:g} is thinner than one cell (dy = {grid.dy:g})")
    if np.any(np.asarray(forcing) * np.asarray(solid)):
        raise InputError(
            f"inflow depth {inflow_depth:g} reaches the cylinder (lowest point y = {centre[1] - radius:g}); "
            "it must end below it"
        )
    # viscosity_scheme "none" runs the inviscid flow (viscosity 0; reynolds sets nothing then): the
    # viscosity of Re was refused with it, as if the user had asked for both
    viscosity = 0.0 if viscosity_scheme == "none" else inflow_speed * 2 * radius / reynolds
    # the scene's state is of the default float type: a dt it cannot hold is refused before the
    # parameters' checks (an explicit-viscosity limit would advise a smaller dt it also refuses)
    check_dt_held(config.dt, jnp.result_type(float))
    params = make_params(
        config, viscosity, inflow_speed=inflow_speed, solid=solid, forcing=forcing, marker_source=source
    )
    x, y = grid.x_faces()
    cx, cy = centre
    vx = perturbation * jnp.exp(-((x - cx) ** 2 + (y - cy - 2 * radius) ** 2) / (2 * radius**2))
    if key is not None:
        vx = vx + 0.1 * perturbation * jax.random.normal(key, x.shape, x.dtype)
    x, y = grid.y_faces()
    vy = inflow_speed * jnp.ones_like(x)
    state = make_state(config, vx, vy)
    return state, params, config


def taylor_green(
    n: int = 32,
    viscosity: float | None = None,
    dt: float | None = None,
    *,
    k: int = 1,
    amplitude: float = 1.0,
    advection: str = "maccormack",
    viscosity_scheme: str = "implicit",
    pressure_solver: str = "fft",
):
    """Taylor–Green vortex on the periodic square [0, 2π]², ``n × n`` cells:
    ``vx = A sin(kx) cos(ky)``, ``vy = −A cos(kx) sin(ky)``; kinetic energy decays as
    ``E₀ exp(−4 ν k² t)``. Default dt: CFL 0.5 (dt = 0.5 dx / A). Default viscosity: 0.05, or 0
    with ``viscosity_scheme="none"`` (inviscid)."""
    n = check_int("resolution n", n, 2)
    grid = Grid(n, n, 2 * np.pi, 2 * np.pi)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k < n / 2:
        raise InputError(f"wavenumber k = {k!r} is not allowed; it must be an integer with 1 <= k < n/2 = {n / 2:g}")
    if is_concrete(amplitude):  # traceable in the amplitude (with a given dt)
        _check_finite_number("amplitude", amplitude)
    if dt is None:
        if amplitude == 0:
            raise InputError("amplitude = 0 needs an explicit dt (the default is 0.5 dx / |amplitude|)")
        dt = 0.5 * grid.dx / abs(amplitude)
    config = FlowConfig(
        grid,
        PERIODIC,
        check_positive("dt", dt),
        advection=advection,
        viscosity_scheme=viscosity_scheme,
        pressure_solver=pressure_solver,
        tol=1e-8,
    )
    # the scene's state is of the default float type: a dt it cannot hold is refused before the
    # parameters' checks (an explicit-viscosity limit would advise a smaller dt it also refuses)
    check_dt_held(config.dt, jnp.result_type(float))
    params = make_params(config, _scene_viscosity(viscosity, 0.05, viscosity_scheme))
    x, y = grid.x_faces()
    vx = amplitude * jnp.sin(k * x) * jnp.cos(k * y)
    x, y = grid.y_faces()
    vy = -amplitude * jnp.cos(k * x) * jnp.sin(k * y)
    return make_state(config, vx, vy), params, config


def _scene_viscosity(viscosity, default: float, viscosity_scheme: str):
    """A scene's viscosity: as given, else its default, or 0 with viscosity_scheme "none" (the
    default was refused with it: "viscosity = 0.01 is not allowed with viscosity_scheme 'none'")."""
    if viscosity is not None:
        return viscosity
    return 0.0 if viscosity_scheme == "none" else default


def kinetic_energy(state, config) -> jax.Array:
    """½ ∫ |v|² dA from the face velocities (each face counted once; exact for periodic grids)."""
    g, bc = config.grid, config.boundaries
    # a state of another grid gave a silently wrong energy (summed with this grid's dx dy)
    _check_faces("kinetic_energy", state.vx, state.vy, g)
    vx = state.vx[:, :-1] if bc.periodic_x else 0.5 * (state.vx[:, 1:] + state.vx[:, :-1])
    vy = state.vy[:-1] if bc.periodic_y else 0.5 * (state.vy[1:] + state.vy[:-1])
    return 0.5 * (jnp.sum(vx**2) + jnp.sum(vy**2)) * g.dx * g.dy


def smoke(
    nx: int = 64,
    ny: int = 64,
    dt: float = 1.0,
    *,
    size: tuple[float, float] = (100.0, 100.0),
    buoyancy: float = 0.1,
    viscosity: float | None = None,
    advection: str = "maccormack",
    viscosity_scheme: str = "explicit",
):
    """Smoke plume: closed box (free-slip walls), marker injected at rate 1 in a disc of radius
    size/10 near the bottom centre, rising under ``buoyancy`` (acceleration per unit marker).
    Default viscosity: 0.01, or 0 with ``viscosity_scheme="none"`` (inviscid)."""
    lx, ly = as_pair("size", size)
    grid = Grid(check_int("resolution nx", nx, 2), check_int("resolution ny", ny, 2), lx, ly)
    bc = Boundaries("free-slip", "free-slip", "free-slip", "free-slip")
    config = FlowConfig(
        grid, bc, check_positive("dt", dt), advection=advection, viscosity_scheme=viscosity_scheme, tol=1e-4
    )
    source = cylinder_mask(grid, (0.5 * lx, 0.15 * ly), 0.1 * min(lx, ly))
    if not np.any(np.asarray(source)):  # no marker was injected: a run of a box at rest, no error
        raise InputError(
            f"resolution {nx}x{ny} is too coarse for the smoke source (a disc of radius "
            f"{0.1 * min(lx, ly):g} covering no cell centre at dx = {grid.dx:g}, dy = {grid.dy:g}); use more cells"
        )
    # the scene's state is of the default float type: a dt it cannot hold is refused before the
    # parameters' checks (an explicit-viscosity limit would advise a smaller dt it also refuses)
    check_dt_held(config.dt, jnp.result_type(float))
    params = make_params(config, _scene_viscosity(viscosity, 0.01, viscosity_scheme), buoyancy=buoyancy,
                         marker_source=source)
    return make_state(config), params, config


def shedding_probe(state, params, config, num_steps: int, probe: tuple[float, float]):
    """Run ``num_steps`` steps recording the cross-stream velocity ``vx`` at the x-face nearest
    to ``probe`` (length units) after every step. Returns ``(final_state, times, vx_series)``."""
    from astrograd.flow._solver import check_inputs, check_params, check_state_input, raise_on_failure, step

    check_inputs(state, params, config)
    num_steps = check_int("num_steps", num_steps, 0)
    check_state_input(state)
    check_params(params, config)
    g = config.grid
    px, py = as_pair("probe", probe)
    if not (math.isfinite(px) and math.isfinite(py)):
        raise InputError(f"probe {probe} lies outside the domain [0, {g.lx:g}] x [0, {g.ly:g}]")
    if not (0 <= px <= g.lx and 0 <= py <= g.ly):
        raise InputError(f"probe {probe} lies outside the domain [0, {g.lx:g}] x [0, {g.ly:g}]")
    # the nearest x-face (faces at x = i dx, y = (j + 1/2) dy); a probe in the top half cell of
    # the domain (y = ly included) was refused as outside it
    i = min(int(round(px / g.dx)), g.nx)
    j = min(max(int(round(py / g.dy - 0.5)), 0), g.ny - 1)

    @jax.jit
    def run(state, params):
        def body(s, _):
            s = step(s, params, config)
            return s, (s.time, s.vx[j, i])

        return jax.lax.scan(body, state, None, length=num_steps)

    final, (times, series) = run(state, params)
    if is_concrete(final.status):
        raise_on_failure(final, config)
    return final, np.asarray(times), np.asarray(series)


def strouhal_number(times, signal, diameter: float, speed: float, t_start: float) -> tuple[float, int]:
    """Strouhal number f D / U from the mean period between upward zero crossings of
    ``signal − mean`` after ``t_start``. Returns ``(St, number_of_periods)``."""
    check_positive("diameter", diameter)
    check_positive("speed", speed)
    times, signal = np.asarray(times), np.asarray(signal)
    if times.ndim != 1 or signal.shape != times.shape:
        raise InputError(f"times {times.shape} and signal {signal.shape} must be 1-D arrays of the same length")
    check_finite_array("times", times)
    check_finite_array("signal", signal)
    _check_finite_number("t_start", t_start)
    keep = times >= t_start
    if np.count_nonzero(keep) < 2:  # the mean of no samples was a RuntimeWarning before the NaN
        return float("nan"), 0
    t, s = times[keep], signal[keep]
    s = s - s.mean()
    idx = np.flatnonzero((s[:-1] < 0) & (s[1:] >= 0))
    if len(idx) < 3:
        return float("nan"), max(len(idx) - 1, 0)
    crossings = t[idx] + (t[idx + 1] - t[idx]) * (-s[idx]) / (s[idx + 1] - s[idx])
    period = (crossings[-1] - crossings[0]) / (len(crossings) - 1)
    return float(diameter / (period * speed)), len(crossings) - 1
