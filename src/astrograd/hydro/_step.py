"""One time step of the finite-volume scheme, the CFL time step and the stellar-wind source.

Conservative update in every geometry (face areas A, cell volumes V):
    V dU/dt = A_{i-1/2} F_{i-1/2} - A_{i+1/2} F_{i+1/2} + V S,
with the geometric pressure source of the momentum equation, p (A_{i+1/2} - A_{i-1/2}), folded
into the face terms as A (F_mom - p_cell): a uniform gas at rest has F_mom = p_cell at both faces
and stays exactly at rest. Mass and energy are fluxes only, so their totals change by boundary
fluxes alone.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import InputError, check_positive, is_concrete
from astrograd._xla import materialise
from astrograd.hydro._config import Grid, HydroConfig, HydroParams
from astrograd.hydro._numerics import (
    _gamma,
    _three,
    hll,
    hllc,
    limited_slope,
    primitive_to_conserved,
    to_primitive,
)

NUM_GHOSTS = 2

# The step works on the three variables as separate arrays (tuples): see _numerics.
_MIRROR = (1.0, -1.0, 1.0)


def _ghosts(x, k: int, side: str, kind: str, inflow):
    """Two ghost values (2,) of variable k (array ``x`` of the n cells) in grid order."""
    if kind == "periodic":
        return x[-2:] if side == "left" else x[:2]
    if kind == "inflow":
        return jnp.broadcast_to(inflow[k], (2,)).astype(x.dtype)
    if kind == "open":
        edge = x[:1] if side == "left" else x[-1:]
        return jnp.concatenate([edge, edge])
    # reflective: mirror image with the velocity reversed
    inner = x[1::-1] if side == "left" else x[:-3:-1]
    return inner * _MIRROR[k] if k == 1 else inner


def _pad(w, params: HydroParams, config: HydroConfig) -> tuple:
    """Primitive variables (tuple of three (n,) arrays) with two ghost cells on each side."""
    return tuple(
        jnp.concatenate([
            _ghosts(x, k, "left", config.left_boundary, params.inflow_left),
            x,
            _ghosts(x, k, "right", config.right_boundary, params.inflow_right),
        ])
        for k, x in enumerate(w)
    )


def pad_primitive(w: Float[Array, "3 n"], params: HydroParams, config: HydroConfig) -> Float[Array, "3 n+4"]:
    """Primitive states with two ghost cells on each side set by the boundary conditions."""
    return jnp.stack(_pad((w[0], w[1], w[2]), params, config))


def _speeds_barrier(gamma):
    """The ``materialise`` hook of the Riemann solvers (wave speeds and mass fluxes), witnessed
    by γ. When γ is a compile-time constant XLA folds it in the forward step (where the barrier
    did not pay: 9.7 vs 11.7 µs per step), while the reverse pass, which receives the predicate
    as a residual, keeps it (value_and_grad of a 2000-step scan with remat 100 → 75 µs per step)."""
    return lambda x: materialise(x, gamma)


def _reconstruct(q, dt, params: HydroParams, config: HydroConfig):
    """Limited slopes of the primitive variables and the cell states ``w`` they belong to (the
    n cells and one ghost on each side; tuples of three (n+2,) arrays).

    The padded primitive states, the slopes, and later the face states and fluxes, each have several consumers; on
    CPU they go through :func:`astrograd._xla.materialise` (witnessed by dt) so that XLA
    computes the limiter and the Riemann solver once per step instead of inside every consumer.
    Measured at 401 cells (van Leer, HLLC, with :func:`_speeds_barrier`): 20 → 9.7 µs per step,
    jvp 91 → 45, value_and_grad with the step rematerialised 149 → 75
    (``benchmarks/bench_hydro_step.py``)."""
    wp = materialise(_pad(to_primitive(q, params.gamma), params, config), dt)
    d = tuple(jnp.diff(x) for x in wp)
    slope = materialise(tuple(limited_slope(x[:-1], x[1:], config.limiter) for x in d), dt)
    return slope, tuple(x[1:-1] for x in wp)


def _fluxes(w, slope, w_face, dt, gamma, config: HydroConfig):
    """Riemann fluxes at the n+1 faces from the cell states extrapolated by half a slope."""
    wl, wr = materialise(_walls(*_face_states(w, slope, w_face), config), dt)
    riemann = hllc if config.riemann == "hllc" else hll
    return materialise(riemann(wl, wr, gamma, _speeds_barrier(gamma)), dt)


def _padded_centres(grid: Grid) -> np.ndarray:
    dx, c = grid.dx, grid.centres
    return np.concatenate([c[0] - dx * np.array([2.0, 1.0]), c, c[-1] + dx * np.array([1.0, 2.0])])


def _face_states(wp, slope, w_mid):
    """Left/right states at the n+1 faces from the n+2 cells around them; cells whose
    extrapolated edges would have non-positive density or pressure fall back to their centre."""
    lo = [m - 0.5 * s for m, s in zip(w_mid, slope, strict=True)]
    hi = [m + 0.5 * s for m, s in zip(w_mid, slope, strict=True)]
    bad = (lo[0] <= 0) | (lo[2] <= 0) | (hi[0] <= 0) | (hi[2] <= 0)
    left = tuple(jnp.where(bad, x, h)[:-1] for x, h in zip(wp, hi, strict=True))
    right = tuple(jnp.where(bad, x, lo_)[1:] for x, lo_ in zip(wp, lo, strict=True))
    return left, right


def _walls(wl, wr, config: HydroConfig):
    """At a reflective boundary the outer face state is the mirror image of the inner one, so the
    mass and energy fluxes through the wall vanish (in curvilinear geometry the ghost cells'
    predicted states are not mirror images of the interior ones)."""
    if config.left_boundary == "reflective":
        wl = tuple(a.at[0].set(b[0] * m) for a, b, m in zip(wl, wr, _MIRROR, strict=True))
    if config.right_boundary == "reflective":
        wr = tuple(b.at[-1].set(a[-1] * m) for a, b, m in zip(wl, wr, _MIRROR, strict=True))
    return wl, wr


def _update(q, flux, p_cell, dt, grid: Grid, extra=None):
    """q + dt/V (A_L F_L - A_R F_R) with the pressure source folded into the momentum faces;
    q (3, n) array, flux a tuple of three (n+1,) arrays, extra (3, n) or None."""
    areas = jnp.asarray(grid.areas, q.dtype)
    inv_vol = jnp.asarray(1.0 / grid.volumes, q.dtype)
    a_l, a_r = areas[:-1], areas[1:]
    div = [a_l * f[:-1] - a_r * f[1:] for f in flux]
    if grid.alpha != 0:
        div[1] = a_l * (flux[1][:-1] - p_cell) - a_r * (flux[1][1:] - p_cell)
    rate = jnp.stack(div) * inv_vol
    if extra is not None:
        rate = rate + extra
    return q + dt * rate


def wind_velocity_profile(grid: Grid, wind_cells: int) -> np.ndarray:
    """Velocity of the injected wind per cell as a fraction of v∞, (n,) numpy: the volume average
    of (r − r_min)/(R − r_min) over each of the ``wind_cells`` innermost cells (R the outer edge of
    the last one), 0 outside. Written in offsets from r_min (exact differences of nearby faces):
    the average of r − r_min over a cell [lo, hi] of width h is the midpoint offset plus a positive
    correction, 0 (slab), h²/(6(lo + hi)) (disc), (lo + hi) h²/(4(lo² + lo hi + hi²)) (ball). The
    mean of r minus r_min lost digits far from r = 0 (5e-10 relative at r_min = 1e6)."""
    r_min = grid.faces[0]
    lo, hi = grid.faces[:wind_cells], grid.faces[1:wind_cells + 1]
    width = hi - lo
    if grid.alpha == 0:
        correction = np.zeros_like(width)
    elif grid.alpha == 1:
        correction = width * width / (6.0 * (lo + hi))
    else:
        correction = (lo + hi) * width * width / (4.0 * (lo * lo + lo * hi + hi * hi))
    mean_offset = 0.5 * ((lo - r_min) + (hi - r_min)) + correction
    profile = np.zeros(grid.centres.shape)
    profile[:wind_cells] = np.clip(mean_offset / (grid.faces[wind_cells] - r_min), 0.0, 1.0)
    return profile


def wind_source(q, params: HydroParams, config: HydroConfig, grid: Grid):
    """Rate of change (3, n) from the stellar wind: Ṁ and L = Ṁ v∞²/2 spread uniformly over the
    volume of the innermost ``wind_cells`` cells. Without ``config.wind_momentum``, mass and
    thermal energy (the gas accelerates itself to v∞ as its enthalpy turns into kinetic energy);
    with it, the injected mass also carries the momentum of the velocity
    v∞ × :func:`wind_velocity_profile`, and the same L (its kinetic energy, the rest heat)."""
    k = config.wind_cells
    if k == 0:  # no wind (1 / the volume of no cells was a ZeroDivisionError)
        return jnp.zeros((3, config.num_cells), jnp.result_type(q, params.wind_mass_loss_rate))
    mask = jnp.asarray((jnp.arange(config.num_cells) < k), q.dtype)
    inv_volume = 1.0 / float(grid.volumes[:k].sum())
    mdot = params.wind_mass_loss_rate
    rate_mass = mdot * inv_volume
    rate_energy = 0.5 * mdot * params.wind_velocity**2 * inv_volume
    if config.wind_momentum:
        # the momentum of mass injected at velocity v into gas moving at u heats it by ½ṁ(v − u)² + ½ṁ(v∞² − v²) >= 0
        speed = params.wind_velocity * jnp.asarray(wind_velocity_profile(grid, k), q.dtype)
        rate_momentum = rate_mass * speed
    else:
        rate_momentum = jnp.zeros_like(mask)
    return jnp.stack([rate_mass * mask, rate_momentum, rate_energy * mask])


def _rhs_sources(q, params, config, grid):
    return wind_source(q, params, config, grid) if config.wind_cells > 0 else None


def muscl_hancock_step(q, dt, params: HydroParams, config: HydroConfig, grid: Grid):
    """MUSCL–Hancock (Toro 2009 §14.4) on primitive variables: limited slopes, half-step
    predictor (with the geometric source terms), Riemann fluxes, conservative update."""
    gamma = params.gamma
    slope, w = _reconstruct(q, dt, params, config)
    rho, vel, p = w
    drho, dvel, dp = slope
    change = (vel * drho + rho * dvel, vel * dvel + dp / rho, vel * dp + gamma * p * dvel)
    half = 0.5 * dt / grid.dx
    w_half = [x - half * c for x, c in zip(w, change, strict=True)]
    if grid.alpha != 0:
        # geometric source of the primitive equations: -α u/r (ρ, 0, γ p)
        r = _padded_centres(grid)[1:-1]
        inv_r = jnp.asarray(np.where(r != 0, 1.0 / np.where(r != 0, r, 1.0), 0.0), q.dtype)
        k = (-0.5 * grid.alpha) * dt * vel * inv_r
        w_half[0] = w_half[0] + k * rho
        w_half[2] = w_half[2] + k * gamma * p
    w_half = materialise(tuple(w_half), dt)
    flux = _fluxes(w, slope, w_half, dt, gamma, config)
    return _update(q, flux, w_half[2][1:-1], dt, grid, _rhs_sources(q, params, config, grid))


def _rate_step(q, dt, params, config, grid):
    """Forward-Euler stage of SSP-RK2: limited linear reconstruction, fluxes, update."""
    slope, w = _reconstruct(q, dt, params, config)
    flux = _fluxes(w, slope, w, dt, params.gamma, config)
    return _update(q, flux, w[2][1:-1], dt, grid, _rhs_sources(q, params, config, grid))


def ssp_rk2_step(q, dt, params: HydroParams, config: HydroConfig, grid: Grid):
    """Strong-stability-preserving RK2 (Heun; Shu & Osher 1988) with linear reconstruction."""
    q1 = _rate_step(q, dt, params, config, grid)
    q2 = _rate_step(q1, dt, params, config, grid)
    return 0.5 * (q + q2)


def _state(q, config: HydroConfig):
    """``q`` as an array of shape (3, cells), else a one-line InputError (a static check: also under
    jit). jnp clamps an index out of range, so a (2, n) state read row 1 as the energy."""
    q = _three("conserved state (rho, rho u, E)", q)
    if tuple(q.shape) != (3, config.num_cells):
        raise InputError(f"state has shape {tuple(q.shape)}; expected (3, {config.num_cells}): conserved density, "
                         "momentum and energy per cell (see primitive_to_conserved)")
    return q


def step(q: Float[Array, "3 n"], dt, params: HydroParams, config: HydroConfig) -> Float[Array, "3 n"]:
    """Advance the conserved state q (3, n) by dt (code time) with the configured scheme."""
    q = _state(q, config)
    if is_concrete(dt):  # a traced dt (the adaptive loop's) cannot be read
        check_positive("dt", dt)  # dt < 0 stepped backwards, NaN filled the state with NaN, silently
    grid = config.grid
    if config.integrator == "ssp_rk2":
        return ssp_rk2_step(q, dt, params, config, grid)
    return muscl_hancock_step(q, dt, params, config, grid)


def _cfl_width(config: HydroConfig) -> np.ndarray:
    """Cell width for the CFL condition: V / max(A_left, A_right) (``cfl_width="volume"``: dx
    in cartesian geometry and dx/3 for the central cell of a spherical grid, where the outflow
    through the face of area A empties the volume V) or dx (``"coordinate"``)."""
    grid = config.grid
    if config.cfl_width == "coordinate":
        return np.full(grid.volumes.shape, grid.dx)
    return grid.volumes / np.maximum(grid.areas[:-1], grid.areas[1:])


def cfl_time_step(q: Float[Array, "3 n"], params: HydroParams, config: HydroConfig):
    """dt = min(cfl · min_i(w_i / (|u_i| + c_i)), dt_max) in code time, with w_i the cell width
    of ``config.cfl_width`` (V / max(A) by default). An ``inflow`` boundary's state counts as
    well, with the width of the cell it flows into."""
    q = _state(q, config)
    w = to_primitive(q, params.gamma)
    c = jnp.sqrt(params.gamma * jnp.abs(w[2]) / w[0])
    width = jnp.asarray(_cfl_width(config), q.dtype)
    flow = jnp.abs(w[1])
    if config.wind_momentum and config.wind_cells > 0:
        # the wind cells are driven towards the injection velocity within a step: a gas at rest took
        # the step of its sound speed, and SSP-RK2's second stage ran at Courant number > 1 in the
        # accelerated central cell of a sphere (negative density there in the first step)
        injected = params.wind_velocity * jnp.asarray(wind_velocity_profile(config.grid, config.wind_cells), q.dtype)
        flow = jnp.maximum(flow, injected)
    dt = jnp.min(width / (flow + c))
    # the waves of an inflow state enter through the boundary face: a fast inflow into slower gas
    # (inflow (1, 30, 1) into (1, 0, 1)) took steps of Courant number 20 and gave an L1 density
    # error of 0.84 against the exact solution (with this rule 0.087 at Courant number 0.8;
    # 0.076 with dt_max = 1e-5)
    for boundary, state, cell in ((config.left_boundary, params.inflow_left, 0),
                                  (config.right_boundary, params.inflow_right, -1)):
        if boundary == "inflow":
            speed = jnp.abs(state[1]) + jnp.sqrt(params.gamma * state[2] / state[0])
            dt = jnp.minimum(dt, width[cell] / speed)
    return jnp.minimum(params.cfl * dt, params.dt_max)


def unphysical(q: Float[Array, "3 n"], gamma):
    """Per cell: non-positive or non-finite density or pressure (bool, shape (n,))."""
    w = to_primitive(_three("conserved state (rho, rho u, E)", q), _gamma(gamma))
    return (w[0] <= 0) | (w[2] <= 0) | ~jnp.isfinite(w[0]) | ~jnp.isfinite(w[2]) | ~jnp.isfinite(w[1])


__all__ = [
    "cfl_time_step",
    "muscl_hancock_step",
    "pad_primitive",
    "primitive_to_conserved",
    "ssp_rk2_step",
    "step",
    "unphysical",
    "wind_source",
    "wind_velocity_profile",
]
