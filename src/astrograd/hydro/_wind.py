"""Stellar-wind bubble: differentiable forward model of (v∞, Ṁ), sensitivity profiles,
outer-shock radius, parameter recovery by Adam and the loss landscape."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass

import astropy.units as u
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from astrograd._errors import InputError, SimulationError, check_choice, check_int, check_positive, real_array
from astrograd.hydro._numerics import conserved_to_primitive, primitive_to_conserved
from astrograd.hydro._problems import Problem
from astrograd.hydro._solve import simulate

__all__ = [
    "LOSSES",
    "WindFit",
    "fit_wind",
    "outer_shock_radius",
    "wind_loss",
    "wind_loss_map",
    "wind_model",
    "wind_sensitivity",
]

LOSSES = ("density", "profile")

#: Scales of the fitted parameters: θ = (log(v∞ / V_SCALE), log(Ṁ / MDOT_SCALE)).
V_SCALE = 1000.0 * u.km / u.s
MDOT_SCALE = 0.1 * u.Msun / u.Myr


def outer_shock_radius(x, pressure, ambient_pressure, level: float = 1.5, quantity: str = "pressure") -> float:
    """Radius of the outermost cell whose pressure exceeds ``level`` × the ambient pressure
    (numpy; x and pressure of shape (n,)). Any other profile works too (``quantity`` names it in
    the message). Raises InputError if no cell does."""
    x = real_array("x", x, "a 1D array of real numbers")
    profile = real_array(quantity, pressure, "a 1D array of real numbers")
    if x.ndim != 1 or profile.shape != x.shape:  # before: an IndexError traceback when longer than x
        raise InputError(f"x has shape {x.shape} and the {quantity} {profile.shape}; they must be 1D of equal length")
    for name, value in ((f"ambient {quantity}", ambient_pressure), ("level", level)):
        check_positive(name, value)  # before: a NaN ambient value said "no shock found"
    above = np.flatnonzero(profile > level * ambient_pressure)
    if above.size == 0:
        raise InputError(f"no shock found: the {quantity} nowhere exceeds {level:g} × the ambient {quantity}")
    return float(x[above[-1]])


def wind_model(
    problem: Problem,
    *,
    adjoint: str = "checkpointed",
    max_steps: int | None = None,
    checkpoints: int = 1000,
    with_failed: bool = False,
) -> Callable:
    """``f(v_inf, mdot) -> (3, n)`` final primitive state (ρ, u, p) of the wind problem, in code
    units, differentiable in both arguments (reverse mode with ``adjoint="checkpointed"``,
    forward mode with ``"forward"``). Jit it yourself; it is vmap-compatible.

    max_steps: step cap (default 80 × cells + 2000, about twice the steps of the default set-up
    at v∞ = 4000 km/s). checkpoints: states stored by the reverse pass (each segment of
    max_steps/checkpoints steps is replayed once in the backward pass, each step
    rematerialised). with_failed: return ``(state, failed)``, ``failed`` true where the run met a
    non-physical state (see :func:`simulate`). The default checkpoints, 1000 (34-step segments
    at 401 cells, 10 MB of checkpoints): 500 to 4000 measured within 3 % of each other
    (1.61–1.66 s value_and_grad at 401 cells)."""
    config = problem.config
    if max_steps is None:
        max_steps = 80 * config.num_cells + 2000
    base = problem.params
    w0 = jnp.asarray(problem.initial)

    def f(v_inf, mdot):
        params = eqx.tree_at(lambda p: (p.wind_velocity, p.wind_mass_loss_rate), base, (v_inf, mdot))
        q0 = primitive_to_conserved(w0.astype(jnp.result_type(v_inf)), params.gamma)
        sol = simulate(q0, params, config, problem.t_end, adjoint=adjoint, max_steps=max_steps,
                       checkpoints=checkpoints if adjoint == "checkpointed" else None)
        w = conserved_to_primitive(sol.state, params.gamma)
        return (w, sol.failed) if with_failed else w

    return f


def wind_sensitivity(problem: Problem):
    """Forward-mode sensitivity profiles of the final state with respect to v∞.

    Returns (w, dw) with w = (ρ, u, p) (3, n) and dw = ∂(ρ, u, p)/∂v∞ (3, n), code units
    (per code velocity). One jvp through the adaptive loop (the time step is differentiated).
    """
    f = wind_model(problem, adjoint="forward")
    v, m = problem.params.wind_velocity, problem.params.wind_mass_loss_rate
    w, dw = jax.jit(lambda v, m: jax.jvp(lambda vv: f(vv, m), (v,), (jnp.ones_like(v),)))(v, m)
    return np.asarray(w), np.asarray(dw)


def theta_from_physical(v_inf_km_s, mdot_msun_per_myr):
    """Fit coordinates θ = (log v, log v² Ṁ) with v = v∞/1000 km/s, Ṁ in units of 0.1 M☉/Myr.

    The second coordinate is the log of the wind luminosity (up to a constant), which sets the
    bubble size; the loss valley along constant luminosity is then aligned with the first axis,
    which suits Adam's per-coordinate steps.
    """
    a = np.log(np.asarray(v_inf_km_s, float) / V_SCALE.to_value(u.km / u.s))
    b = np.log(np.asarray(mdot_msun_per_myr, float) / MDOT_SCALE.to_value(u.Msun / u.Myr))
    return np.stack([a, b + 2.0 * a], axis=-1)


def physical_from_theta(theta):
    """Inverse of :func:`theta_from_physical`: (v∞ km/s, Ṁ M☉/Myr)."""
    theta = np.asarray(theta)
    a, b = theta[..., 0], theta[..., 1] - 2.0 * theta[..., 0]
    return (
        np.exp(a) * V_SCALE.to_value(u.km / u.s),
        np.exp(b) * MDOT_SCALE.to_value(u.Msun / u.Myr),
    )


def wind_loss(problem: Problem, target, loss: str = "density", *, adjoint: str = "checkpointed") -> Callable:
    """``L(θ)`` (θ of shape (2,) as in :func:`theta_from_physical`) comparing the final state
    with ``target`` (3, n) primitive through cumulative (enclosed) profiles, which move
    smoothly when a shock moves across cells (a cell-by-cell difference of shock profiles stops
    growing once they are a cell apart, leaving the loss flat and rippled).

    ``density``: mean((log M(<r) − log M*(<r))²) with M(<r) the enclosed mass, a transform of
    the density profile alone. ``profile``: that plus the same for the enclosed thermal energy
    ∫p dV and mean((P(<r) − P*(<r))²)/mean(P*²) for the enclosed radial momentum ∫ρu dV.
    """
    check_choice("loss", loss, LOSSES)
    loss_fn = _loss_function(problem.config, problem.t_end, loss, adjoint)
    args = _loss_args(problem, jnp.asarray(target))
    return lambda theta: loss_fn(theta, args)


def _loss_args(problem: Problem, target):
    """The inputs of :func:`_loss_function`'s loss besides θ: (the problem's parameters and
    initial primitive state, the target state (3, n), the code values of the θ scales)."""
    cu = problem.units
    return (problem.params, jnp.asarray(problem.initial), target, cu.to_code(V_SCALE), cu.to_code(MDOT_SCALE))


@functools.lru_cache(maxsize=16)
def _loss_function(config, t_end: float, loss: str, adjoint: str) -> Callable:
    """``loss(θ, args)`` of :func:`wind_loss` for one grid and end time, the problem's arrays and
    the target among ``args`` (:func:`_loss_args`): the same function object for the same grid,
    so that the programs built on it (``fit``'s update, the loss map) are compiled once."""
    volumes = config.grid.volumes

    def enclosed(w):
        vol = jnp.asarray(volumes, w.dtype)
        return jnp.cumsum(w[0] * vol), jnp.cumsum(w[2] * vol), jnp.cumsum(w[0] * w[1] * vol)

    def loss_fn(theta, args):
        params, initial, target, v_scale, m_scale = args
        f = wind_model(Problem("wind", config, params, initial, t_end), adjoint=adjoint)
        mass_t, heat_t, mom_t = enclosed(target)
        v = v_scale * jnp.exp(theta[0])
        mdot = m_scale * jnp.exp(theta[1] - 2.0 * theta[0])
        mass, heat, mom = enclosed(f(v, mdot))
        value = jnp.mean((jnp.log(mass) - jnp.log(mass_t)) ** 2)
        if loss == "profile":
            value = value + jnp.mean((jnp.log(heat) - jnp.log(heat_t)) ** 2)
            value = value + jnp.mean((mom - mom_t) ** 2) / jnp.mean(mom_t**2)
        return value

    return loss_fn


@functools.lru_cache(maxsize=16)
def _summed_loss(config, t_end: float, loss: str) -> Callable:
    """``L(θ (k, 2), args)``: the sum of the reverse-mode losses of k starts, mapped with
    ``lax.map`` (see :func:`fit_wind`); one function object per grid, end time and loss."""
    single = _loss_function(config, t_end, loss, "checkpointed")
    return lambda theta, args: jnp.sum(jax.lax.map(lambda th: single(th, args), theta))


@functools.lru_cache(maxsize=16)
def _target_program(config, t_end: float) -> Callable:
    """Compiled ``(v∞, Ṁ, params, initial) -> (3, n)`` final primitive state (forward mode), the
    problem's arrays as inputs: one program per grid and end time."""

    def target(v_inf, mdot, params, initial):
        return wind_model(Problem("wind", config, params, initial, t_end), adjoint="forward")(v_inf, mdot)

    return jax.jit(target)


def _wind_target(problem: Problem, setup):
    """The final primitive state (3, n) of ``problem`` at its set-up's (v∞, Ṁ): the data fitted."""
    cu = problem.units
    return _target_program(problem.config, problem.t_end)(
        jnp.asarray(cu.to_code(setup.v_inf_km_s * u.km / u.s)),
        jnp.asarray(cu.to_code(setup.mdot_msun_per_myr * u.Msun / u.Myr)),
        problem.params, jnp.asarray(problem.initial),
    )


def _wind_setup(problem: Problem):
    """The WindSetup of a problem made by ``wind_problem``, else a one-line InputError."""
    from astrograd.hydro._problems import WindSetup

    setup = problem.info.get("setup")
    if not isinstance(setup, WindSetup):
        raise InputError(f"problem {problem.name!r} is not allowed; it must be a wind problem (wind_problem(...))")
    return setup


def _real_values(name: str, values, positive: bool = False) -> np.ndarray:
    """``values`` as a float array of finite (and ``positive``: > 0) real numbers, else a
    one-line InputError."""
    a = real_array(name, values, "an array of real numbers")
    bad = ~np.isfinite(a) | ((a <= 0) if positive else False)
    if bad.any():
        value = a[np.unravel_index(int(np.flatnonzero(bad)[0]), a.shape)] if a.ndim else a
        allowed = "finite and > 0" if positive else "finite"
        raise InputError(f"{name} = {float(value):.6g} is not allowed; it must be {allowed}")
    return a


def _problem_fingerprint(problem: Problem) -> dict:
    """What defines a wind problem's loss beyond its cell count, for a checkpoint's fingerprint:
    the set-up (the truth), the static configuration, and a hash of the initial state, the
    parameters and t_end. Without it a checkpoint of another set-up with as many cells (e.g.
    a 60 M☉ star instead of 40) was resumed, and a finished one returned that fit's result,
    with errors taken against the new truth."""
    import dataclasses

    from astrograd.io._npz import sha256_of

    config = problem.config
    fields = [f.name for f in dataclasses.fields(config)]
    leaves = [np.asarray(leaf, float) for leaf in jax.tree.leaves(problem.params)]
    return {
        "setup": dataclasses.asdict(_wind_setup(problem)),
        # wind_momentum only when on: a checkpoint written before the option existed still resumes
        "config": {name: getattr(config, name) for name in fields
                   if name != "wind_momentum" or config.wind_momentum},
        "problem_sha256": sha256_of(np.asarray(problem.initial, float), *leaves, np.asarray(float(problem.t_end))),
    }


def stored_wind_momentum(fingerprint) -> bool:
    """Whether a checkpoint's stored ``fingerprint`` (of :func:`fit_wind`, or of
    ``wind_posterior``) is of a run with the wind momentum source. The option is recorded only
    when on (a checkpoint written before it existed is of a run without it): in the problem's
    configuration (``fit``'s caller fingerprint, under ``extra``) or as a key of its own."""
    if not isinstance(fingerprint, dict):  # not a checkpoint of these functions: theirs refuse it
        return False
    extra = fingerprint.get("extra")
    if isinstance(extra, dict):
        fingerprint = extra
    config = fingerprint.get("config")
    return bool(fingerprint.get("wind_momentum") or (isinstance(config, dict) and config.get("wind_momentum")))


def refuse_other_settings(checkpoint, settings) -> None:
    """Refuse a ``checkpoint`` written with another setting: ``settings`` are (name, stored
    value, this run's value) triples, compared in order as a JSON header stores them (a stored
    value of None, a setting the checkpoint does not record, is not compared). The InputError
    names the first that differs with both values, "checkpoint 'F' was written with name=a, this
    run has name=b; use the same setting or another checkpoint file", a form the CLI rewrites
    into its options."""
    from astrograd.io._npz import as_stored

    for name, stored, value in settings:
        if stored is not None and as_stored(stored) != as_stored(value):
            raise InputError(f"checkpoint {str(checkpoint)!r} was written with {name}={as_stored(stored)!r}, this run "
                             f"has {name}={as_stored(value)!r}; use the same setting or another checkpoint file")


def _check_fit_resume(checkpoint, problem: Problem, *, loss: str, iterations: int, learning_rate: float,
                      starts, theta0) -> None:
    """Refuse an existing ``checkpoint`` of :func:`fit_wind` written with another setting, naming
    it with both values (:func:`refuse_other_settings`): the wind momentum, cells, loss,
    iterations, learning rate; then the starts ((k, 2) (v∞ km/s, Ṁ M☉/Myr), fit coordinates
    θ0), which the checkpoint records as a hash of θ0, so only this run's are named. Nothing
    without one. ``fit``'s fingerprint would refuse it too, after the forward run of the truth and
    as "fingerprint entries that differ: learning_rate" (no values)."""
    from pathlib import Path

    from astrograd.io._npz import as_stored, load_npz, sha256_of

    if checkpoint is None or not Path(checkpoint).exists():
        return
    meta, _ = load_npz(checkpoint, "checkpoint")
    stored = meta.get("fingerprint")
    extra = stored.get("extra") if isinstance(stored, dict) else None
    if not (isinstance(extra, dict) and extra.get("problem") == "fit_wind"):  # not of fit_wind: fit refuses it
        extra = {}
    refuse_other_settings(checkpoint, [
        ("wind_momentum", stored_wind_momentum(stored), bool(problem.config.wind_momentum)),
        ("cells", extra.get("cells"), problem.config.num_cells), ("loss", extra.get("loss"), loss),
        ("iterations", extra.get("iterations"), iterations),
        ("learning_rate", extra.get("learning_rate"), learning_rate),
    ])
    if extra and stored.get("start_sha256") not in (None, sha256_of(theta0)):
        raise InputError(f"checkpoint {str(checkpoint)!r} was written from other starts than this run's "
                         f"starts={as_stored(starts)} (v_inf km/s, mdot Msun/Myr); use the same setting or another "
                         "checkpoint file")


def _starts_at_the_step_cap(problem: Problem, theta) -> list:
    """``(index, StepCapError)`` of each start whose forward run of the wind model meets its step
    cap at fit coordinates ``theta`` (k, 2): run one at a time outside ``jit``, where
    :func:`~astrograd.hydro._solve.simulate` raises the cap as a StepCapError (with the cap). For
    ``fit``'s error path only: k forward runs."""
    from astrograd.hydro._solve import StepCapError

    f = wind_model(problem, adjoint="forward")
    cu = problem.units
    v_scale, m_scale = cu.to_code(V_SCALE), cu.to_code(MDOT_SCALE)
    capped = []
    for i, (a, b) in enumerate(np.asarray(theta)):
        try:  # the loss's conversion of θ to code units
            f(v_scale * jnp.exp(jnp.asarray(a)), m_scale * jnp.exp(jnp.asarray(b - 2.0 * a)))
        except StepCapError as err:
            capped.append((i, err))
    return capped


@contextlib.contextmanager
def _step_cap_named(problem: Problem, starts, data_v_inf: float):
    """``fit``'s FitStepError for the solver's step cap ("the loss failed at step K: adaptive_loop
    reached max_steps=N ...; increase max_steps", not a setting of :func:`fit_wind`: the cap is
    :func:`wind_model`'s default) reworded as what the caller can change. Which starts met the
    cap is found by running each at the failed step's parameters (a StepCapError; any other
    failure is raised unchanged). The solver's CFL step falls as 1/v∞ (the free wind and the hot
    bubble move at ~v∞), so the cap is met by too large a v∞: at step 0 a start's (an
    InputError naming the starts that met it), later one Adam moved to. ``starts``: (k, 2) (v∞
    km/s, Ṁ M☉/Myr); ``data_v_inf``: the v∞ of the data fitted (km/s)."""
    from astrograd._errors import FitStepError

    try:
        yield
    except FitStepError as err:
        capped = _starts_at_the_step_cap(problem, err.params)
        if not capped:
            raise
        step, cap = err.step, capped[0][1].max_steps
        why = (f"the wind model needs more than its cap of {cap} solver steps (80 × cells + 2000) there: the time step "
               "falls as 1/v_inf")
        if step == 0:
            named = ", ".join(f"({starts[i, 0]:g} km/s, {starts[i, 1]:g} Msun/Myr)" for i, _ in capped)
            raise InputError(f"starts {named} {'is' if len(capped) == 1 else 'are'} not allowed; {why}; use starts "
                             f"with a smaller v_inf (the data's is {data_v_inf:g} km/s)") from None
        raise SimulationError(f"the loss failed at step {step}: Adam moved a start to a v_inf too large for the "
                              f"solver; {why}; use starts nearer the data's v_inf ({data_v_inf:g} km/s) or a smaller "
                              "learning_rate") from None


LEARNING_RATE_MAX = 10.0
"""Largest initial Adam step of :func:`fit_wind`, in log-parameter space."""


@dataclass
class WindFit:
    """Result of :func:`fit_wind`: true and recovered (v∞ km/s, Ṁ M☉/Myr) per start, relative
    errors, loss histories (starts, iterations+1) and θ paths (starts, iterations+1, 2)."""

    true: tuple[float, float]
    starts: np.ndarray
    recovered: np.ndarray
    relative_error: np.ndarray
    losses: np.ndarray
    paths: np.ndarray
    loss: str


@functools.lru_cache(maxsize=16)
def wind_adam(iterations: int, learning_rate: float = 0.1):
    """The Adam used for wind fits: the step decays exponentially from ``learning_rate`` to
    ``learning_rate``/100 over ``iterations``; b2 = 0.99 (instead of 0.999) lets the
    second-moment estimate forget the large early gradients, so the steps do not stall near the
    minimum. The same object for the same arguments, so that ``fit`` reuses its compiled update."""
    import optax

    schedule = optax.exponential_decay(learning_rate, transition_steps=iterations, decay_rate=0.01)
    return optax.adam(schedule, b2=0.99)


def fit_wind(
    problem: Problem,
    starts,
    *,
    loss: str = "density",
    iterations: int = 200,
    learning_rate: float = 0.1,
    checkpoint=None,
    progress: bool = True,
) -> WindFit:
    """Recover (v∞, Ṁ) of ``problem`` from its own final state by Adam, from several starts.

    starts: (k, 2) initial guesses (v∞ km/s, Ṁ M☉/Myr). The k fits run together as one summed
    loss, mapped over the starts with ``lax.map`` (Adam acts per coordinate, so each start
    follows its own independent trajectory). Not ``vmap``: a batched adaptive loop runs every
    lane for the longest lane's steps and its checkpointed adjoint for all ``max_steps`` slots;
    at 64 cells and three starts one iteration took 2.0 s vmapped and 0.18 s mapped.
    checkpoint: file for save/resume (``astrograd.inverse.fit``); a checkpoint of other starts,
    cells, loss, iterations, learning rate or another problem (set-up, configuration, initial
    state, parameters or t_end) is refused; one of another ``wind_momentum``, cells, loss,
    iterations, learning rate or starts before any run, naming the setting (with both values).
    """
    from astrograd.inverse import fit

    check_choice("loss", loss, LOSSES)
    check_int("iterations", iterations, 1)
    rate = check_positive("learning_rate", learning_rate)
    # Adam's first step is about learning_rate in each log-parameter: beyond LEARNING_RATE_MAX it
    # leaves any physical range (1e308 ran the truth, then stopped with "loss or gradient became
    # non-finite ... after step 1", naming neither the option nor the value)
    if rate > LEARNING_RATE_MAX:
        raise InputError(f"learning_rate = {rate:g} is not allowed; it must be a finite number > 0 and <= "
                         f"{LEARNING_RATE_MAX:g} (a step in log v_inf and log mdot: e^{LEARNING_RATE_MAX:g} = "
                         f"{np.exp(LEARNING_RATE_MAX):.0f}-fold)")
    setup = _wind_setup(problem)
    truth = (setup.v_inf_km_s, setup.mdot_msun_per_myr)
    starts = _real_values("starts", starts, positive=True)
    starts = np.atleast_2d(starts)
    if starts.ndim != 2 or starts.shape[1] != 2 or starts.shape[0] == 0:
        raise InputError(f"starts has shape {starts.shape}; it must be (k, 2) positive (v_inf km/s, mdot Msun/Myr) "
                         "pairs")
    light = 299792.458  # km/s
    with np.errstate(over="ignore"):
        theta0 = np.stack([theta_from_physical(*s) for s in starts])
    for (v, m), theta in zip(starts, theta0, strict=True):
        # 1e308 km/s stopped with "loss or gradient became non-finite ... at step 0" and an Ṁ of
        # 1e308 M☉/Myr, whose θ overflows, with "params leaf 0 ... has non-finite values"
        if not (v < light and np.all(np.isfinite(theta))):
            raise InputError(f"starts ({v:g} km/s, {m:g} Msun/Myr) is not allowed; v_inf must be below the speed of "
                             f"light ({light:g} km/s) and mdot / 0.1 Msun/Myr times (v_inf / 1000 km/s)^2 finite "
                             "in float64")
    theta0 = jnp.asarray(theta0)
    # before the forward run of the truth: a checkpoint of another setting, named with both values
    _check_fit_resume(checkpoint, problem, loss=loss, iterations=iterations, learning_rate=learning_rate,
                      starts=starts, theta0=theta0)
    args = _loss_args(problem, _wind_target(problem, setup))
    with _step_cap_named(problem, starts, setup.v_inf_km_s):
        result = fit(
            _summed_loss(problem.config, problem.t_end, loss),  # compiled once per grid: the problem's arrays are args
            theta0,
            args=args,
            optimizer=wind_adam(iterations, learning_rate),
            steps=iterations,
            checkpoint=checkpoint,
            progress=progress,
            description=f"fit-wind ({loss})",
            # the optimiser's schedule depends on iterations and learning_rate; the loss on the grid
            fingerprint={"problem": "fit_wind", "cells": problem.config.num_cells, "loss": loss,
                         "iterations": iterations, "learning_rate": learning_rate, **_problem_fingerprint(problem)},
        )
    paths = np.asarray(result.params_history)  # (iterations+1, k, 2)
    final = np.asarray(result.params)
    v_rec, m_rec = physical_from_theta(final)
    recovered = np.stack([v_rec, m_rec], axis=1)
    rel = np.abs(recovered / np.asarray(truth)[None, :] - 1.0)
    return WindFit(
        true=truth,
        starts=starts,
        recovered=recovered,
        relative_error=rel,
        losses=np.asarray(result.losses),
        paths=np.transpose(paths, (1, 0, 2)),
        loss=loss,
    )


def wind_loss_map(
    problem: Problem,
    v_inf_km_s,
    star_mass_msun,
    *,
    loss: str = "density",
    batch: int = 40,
    vmap: int | None = None,
    devices=None,
    progress: bool = True,
) -> np.ndarray:
    """Loss over a grid of (v∞, star mass), with Ṁ = (Ṁ per M☉) × mass as in the set-up.

    v_inf_km_s: (a,), star_mass_msun: (b,). Returns (b, a) losses from forward runs (no
    gradients), evaluated in chunks of ``batch`` runs (one compiled call and one progress step
    each). Within a chunk ``vmap`` runs at a time go through one vmapped adaptive loop
    (``lax.map``'s ``batch_size``; default: the device's whole share of the chunk). A vmapped
    adaptive loop takes as many steps as its slowest member and, on a CPU, runs its batched
    step slower than one run at a time, so there ``vmap=1`` is faster (benchmarks/RESULTS.md).
    ``devices`` (a count, devices or a one-axis mesh) splits each chunk over devices, each
    running its share independently.
    """
    from astrograd._cli_util import progress as progress_iter
    from astrograd._devices import one_axis_mesh

    check_int("batch", batch, 1)
    if vmap is not None and (isinstance(vmap, bool) or not isinstance(vmap, int | np.integer) or vmap < 1):
        raise InputError(f"vmap = {vmap!r} is not allowed; it must be an integer >= 1 (or None: automatic)")
    setup = _wind_setup(problem)
    grids = [_real_values(name, values, positive=True)
             for name, values in (("v_inf_km_s", v_inf_km_s), ("star_mass_msun", star_mass_msun))]
    for name, values in zip(("v_inf_km_s", "star_mass_msun"), grids, strict=True):
        if values.ndim != 1 or values.size == 0:
            raise InputError(f"{name} has shape {values.shape}; it must be a non-empty 1D grid")
    check_choice("loss", loss, LOSSES)
    mesh = None if devices is None else one_axis_mesh(devices, "runs")
    per_device = 1 if mesh is None else mesh.devices.size
    # no larger than the grid: a 2 × 2 map at the default batch of 40 ran 40 forward runs, 36 of
    # them padding (and --batch 100000 ran 100000)
    batch = min(int(batch), grids[0].size * grids[1].size)
    batch = -(-batch // per_device) * per_device  # a multiple of the device count
    vmap = batch // per_device if vmap is None else int(vmap)
    single = _loss_map_program(problem.config, problem.t_end, loss, vmap, mesh)
    args = _loss_args(problem, _wind_target(problem, setup))
    vv, mm = np.meshgrid(*grids)
    thetas = theta_from_physical(vv.ravel(), mm.ravel() * setup.mdot_per_msun)
    out = np.empty(len(thetas))
    chunks = range(0, len(thetas), batch)
    for start in progress_iter(chunks, total=len(chunks), description="loss map", enabled=progress):
        part = thetas[start : start + batch]
        pad = batch - len(part)
        padded = np.concatenate([part, np.repeat(part[-1:], pad, axis=0)]) if pad else part
        out[start : start + len(part)] = np.asarray(single(jnp.asarray(padded), args))[: len(part)]
    return out.reshape(vv.shape)



@functools.lru_cache(maxsize=16)
def _loss_map_program(config, t_end: float, loss: str, vmap: int, mesh) -> Callable:
    """Compiled ``(θ (batch, 2), args) -> (batch,)`` forward-mode losses of :func:`wind_loss_map`,
    ``vmap`` runs at a time, split over the devices of ``mesh`` (or None); the problem's arrays
    and the target are inputs (:func:`_loss_args`), so a second map of the same grid compiles
    nothing."""
    one = _loss_function(config, t_end, loss, "forward")

    def chunk(thetas, args):
        # vmap=1 is a plain lax.map: a vmap of size 1 would still turn the solver's conditionals
        # (fusion barriers) into selects
        def f(theta):
            return one(theta, args)

        return jax.lax.map(f, thetas, batch_size=vmap) if vmap > 1 else jax.lax.map(f, thetas)

    if mesh is not None:
        spec = jax.sharding.PartitionSpec(mesh.axis_names[0])
        # check_vma off: the adaptive loop's carry starts from values shared by all devices; the
        # problem's arrays are replicated
        chunk = jax.shard_map(chunk, mesh=mesh, in_specs=(spec, jax.sharding.PartitionSpec()), out_specs=spec,
                              check_vma=False)
    return jax.jit(chunk)
