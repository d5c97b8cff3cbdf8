"""The time loop: adaptive CFL steps (``astrograd.diff.adaptive_loop``) or fixed steps
(``astrograd.diff.fixed_loop``), failure detection and checked entry points."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import (
    InputError,
    SimulationError,
    check_bool,
    check_int,
    check_positive,
    is_concrete,
    is_real_number,
    real_array,
    runtime_checks_as_simulation_errors,
)
from astrograd.diff import adaptive_loop, fixed_loop
from astrograd.diff._adaptive import check_later_in, check_times
from astrograd.hydro._config import HydroConfig, HydroParams
from astrograd.hydro._numerics import conserved_to_primitive, primitive_to_conserved
from astrograd.hydro._step import cfl_time_step, step, unphysical

__all__ = [
    "HydroSolution",
    "StepCapError",
    "check_initial_state",
    "raise_if_failed",
    "run",
    "simulate",
    "simulate_fixed",
]


class StepCapError(SimulationError):
    """The adaptive loop took ``max_steps`` steps without reaching the next output time. ``t``:
    the time it reached; ``stop``: that output time; ``t_end``: the end time (code units). A
    caller such as the CLI, which sets no ``max_steps``, words its own advice from them."""

    def __init__(self, message: str, max_steps: int, t: float, stop: float, t_end: float):
        super().__init__(message)
        self.max_steps, self.t, self.stop, self.t_end = max_steps, t, stop, t_end

    def __reduce__(self):  # pickling (e.g. from a worker process) needs every argument of __init__
        return type(self), (str(self), self.max_steps, self.t, self.stop, self.t_end)


class HydroSolution(eqx.Module):
    """Result of :func:`simulate`.

    state: conserved variables (ρ, ρu, E) at ``t``, shape (3, n). saved: states at the save
    times, shape (k, 3, n), or None. t: time reached (t_end unless the run failed).
    num_steps: steps taken. failed: density or pressure became non-positive or non-finite;
    the loop stopped at ``t`` with the offending state in ``state``.
    """

    state: Float[Array, "3 n"]
    saved: Float[Array, "k 3 n"] | None
    t: Float[Array, ""]
    num_steps: Array
    failed: Array

    def primitive(self, gamma) -> Float[Array, "3 n"]:
        """(ρ, u, p) of the final state, shape (3, n)."""
        return conserved_to_primitive(self.state, gamma)


def simulate(
    state: Float[Array, "3 n"],
    params: HydroParams,
    config: HydroConfig,
    t_end,
    *,
    t_start=0.0,
    save_times=None,
    adjoint: str = "checkpointed",
    max_steps: int = 100_000,
    checkpoints: int | None = None,
    differentiate_dt: bool = True,
    remat: bool = True,
) -> HydroSolution:
    """Integrate the conserved state (3, n) from ``t_start`` to ``t_end`` (code time) with
    adaptive CFL steps landing exactly on ``save_times`` and ``t_end``.

    Differentiable: ``adjoint="checkpointed"`` for reverse mode (grad, vjp) at memory bounded by
    ``max_steps``, ``"forward"`` for jvp/jacfwd. The time step is differentiated (it depends on
    the state and on γ and the CFL number) unless ``differentiate_dt=False``. ``checkpoints``:
    states stored by the checkpointed adjoint (default ⌈√max_steps⌉); ``remat`` (default True):
    recompute each step's intermediates (those of its CFL time step included) in the backward
    pass instead of storing a segment's worth. Jit-compatible: a failure is reported in
    ``failed``; call :func:`raise_if_failed` outside ``jit``.
    """

    state = _check_state(state, config)
    check_bool("differentiate_dt", differentiate_dt)
    check_bool("remat", remat)
    if is_concrete(t_start, t_end) and is_real_number(t_start) and is_real_number(t_end):
        t0, t1 = float(t_start), float(t_end)  # the time loop named them "t1 = 0.01 ... t0 = 0.02"
        if not (np.isfinite(t0) and np.isfinite(t1) and t1 > t0):
            raise InputError(f"t_end = {t1:g} with t_start = {t0:g} is not allowed; both must be finite and "
                             "t_end > t_start")
        check_later_in(state.dtype, t0, t1, "t_start", "t_end")

    # remat: rematerialise each step (dt, step and failure check together) inside the adjoint's
    # segment replays. The backward pass then keeps one state per step instead of every
    # intermediate, and is faster for every segment length measured (401-cell wind, 1000
    # checkpoints, value_and_grad: session 3, 1.61 s with the step rematerialised and 2.0 s
    # without; session 5, 1.02 s with the CFL time step rematerialised along with the step
    # against 1.13 s with the step alone; benchmarks/bench_hydro.py).
    concrete = is_concrete(state, params, t_start, t_end, save_times)
    describe = None
    if concrete:
        def describe(message):
            return _step_cap_error(message, state, params, config, t_start, t_end, save_times, max_steps)

    with _simulation_errors(describe):
        res = _loop(state, params, config, t_start, t_end, save_times, max_steps, adjoint=adjoint,
                    checkpoints=checkpoints, differentiate_dt=differentiate_dt,
                    remat=bool(remat) and adjoint == "checkpointed")
        if concrete:  # the step cap's check surfaces here, not later where the result is read
            jax.block_until_ready(res)
    return HydroSolution(state=res.final, saved=res.saved, t=res.t, num_steps=res.num_steps, failed=res.failed)


def simulate_fixed(
    state: Float[Array, "3 n"],
    params: HydroParams,
    config: HydroConfig,
    dt,
    num_steps: int,
    *,
    checkpoint: str = "none",
) -> HydroSolution:
    """Fixed-step mode: ``num_steps`` (static int) steps of size ``dt`` (code time). No CFL
    check is made: choose dt below the CFL limit. As in :func:`simulate`, a step that makes the
    density or pressure non-positive or non-finite sets ``failed`` and stops the run there:
    ``state`` is that offending state and ``t`` its time (call :func:`raise_if_failed`)."""

    state = _check_state(state, config)
    if is_concrete(dt):  # a traced dt (differentiated with respect to it) cannot be checked here
        check_positive("dt", dt)
    num_steps = check_int("num_steps", num_steps, 0)  # numpy integers too: a static Python int after

    # in the state's precision: a float64 dt (np.float64, or float64 params under x64) made the float32
    # state float64 after one step, a TypeError traceback from the scan ("carry ... must have equal types")
    dt_state = jnp.asarray(dt, state.dtype)

    # the scan cannot stop early, so after a failure the state is held at the first unphysical one:
    # stepping on filled the state with NaN, and raise_if_failed named the end time and the
    # leftmost NaN cell (Sod at Courant number 2: "t = 0.6 in cell 20" for a failure at t = 0.02
    # in cell 49)
    def step_fn(carry, i, p):
        q, failed, taken = carry
        q_new = step(q, dt_state, p, config)
        q_next = jnp.where(failed, q, q_new)
        return q_next, failed | jnp.any(unphysical(q_next, p.gamma)), taken + jnp.where(failed, 0, 1)

    start = (state, jnp.asarray(False), jnp.asarray(0, jnp.int32))
    (final, failed, taken), _ = fixed_loop(step_fn, start, num_steps, params, checkpoint=checkpoint)
    return HydroSolution(
        state=final,
        saved=None,
        t=dt_state * taken.astype(final.dtype),
        num_steps=taken,
        failed=failed,
    )


@contextmanager
def _simulation_errors(describe: Callable[[str], SimulationError] | None = None) -> Iterator[None]:
    """:func:`astrograd._errors.runtime_checks_as_simulation_errors`, with the message of the failed
    check turned into the error raised by ``describe`` (a :class:`StepCapError` with the time the
    run reached at the step cap)."""
    try:
        with runtime_checks_as_simulation_errors():
            yield
    except SimulationError as err:
        if describe is None:
            raise
        raise describe(str(err)) from None


def check_later(t_start: float, t_end: float, start: str = "t_start = ", advice: str = "") -> None:
    """A one-line InputError unless ``t_end`` > ``t_start`` (two numbers): "it must be greater than
    the start time" ``start`` t_start ``advice``."""
    if t_end <= t_start:
        raise InputError(f"t_end = {t_end:g} is not allowed; it must be greater than the start time {start}"
                         f"{t_start:g}{advice}")


def _check_state(state, config: HydroConfig):
    """``state`` as a floating-point JAX array of shape (3, cells) (an integer one is cast; a list
    is converted), else a one-line InputError."""
    try:
        state = jnp.asarray(state)
    except (TypeError, ValueError):
        raise InputError("state is not allowed; it must be an array of real numbers, shape (3, cells)") from None
    if jnp.issubdtype(state.dtype, jnp.integer):
        state = state.astype(jnp.result_type(float))
    if not jnp.issubdtype(state.dtype, jnp.floating):
        raise InputError(f"state holds {state.dtype} values; it must be an array of real numbers, shape (3, cells)")
    shape = tuple(state.shape)
    if shape != (3, config.num_cells):
        raise InputError(
            f"state has shape {shape}; expected (3, {config.num_cells}): conserved density, momentum "
            "and energy per cell (see primitive_to_conserved)"
        )
    return state


def check_initial_state(rho, vel, p, num_cells: int | None = None) -> np.ndarray:
    """Validate a primitive initial state; returns it stacked as a numpy array (3, n).

    Raises a one-line InputError naming the first cell with a non-finite or non-positive
    density or pressure (or non-finite velocity), or arrays of the wrong length.
    """
    arrays = [_real_values(name, a) for name, a in (("rho", rho), ("u", vel), ("p", p))]
    n = arrays[0].size
    for name, a in zip(("rho", "u", "p"), arrays, strict=True):
        if a.size != n or (num_cells is not None and a.size != num_cells):
            want = num_cells if num_cells is not None else n
            raise InputError(f"{name} has {a.size} values; expected {want} (one per cell)")
    if n < 4:
        raise InputError(f"number of cells = {n} is not allowed; it must be an integer >= 4")
    checks = (("density", arrays[0], True), ("velocity", arrays[1], False), ("pressure", arrays[2], True))
    for name, a, positive in checks:
        bad = ~np.isfinite(a) | ((a <= 0) if positive else False)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            allowed = "finite and > 0" if positive else "finite"
            raise InputError(f"initial {name} = {a[i]:.6g} in cell {i} is not allowed; it must be {allowed}")
    return np.stack(arrays)


def _real_values(name: str, values) -> np.ndarray:
    """``values`` (a number or a 1D array) as a flat float array, else a one-line InputError
    (strings, None, complex or boolean values, several dimensions)."""
    a = real_array(name, values, "a 1D array of real numbers, one per cell")
    if a.ndim > 1:
        raise InputError(f"{name} has shape {a.shape}; it must be 1D, one value per cell")
    return a.reshape(-1)


def raise_if_failed(solution: HydroSolution, params: HydroParams, config: HydroConfig) -> None:
    """Raise SimulationError naming the time and the first bad cell if the run went unphysical
    (call outside ``jit``)."""
    bad = np.asarray(unphysical(solution.state, params.gamma))
    if not (bool(solution.failed) or bad.any()):
        return
    if not bad.any():  # the loop stopped on a CFL time step that was not > 0; the state is fine
        raise SimulationError(
            f"the time step at t = {float(solution.t):.6g} is not > 0 (CFL number = {float(params.cfl):.6g}, "
            f"dt_max = {float(params.dt_max):.6g}, in {solution.state.dtype}); the run stopped there"
        )
    i = int(np.flatnonzero(bad)[0]) if bad.any() else 0
    w = np.asarray(conserved_to_primitive(solution.state, params.gamma))
    x = config.grid.centres[i]
    raise SimulationError(
        f"unphysical state at t = {float(solution.t):.6g} in cell {i} (x = {x:.6g}): "
        f"density = {w[0, i]:.6g}, pressure = {w[2, i]:.6g}; try a smaller CFL number or more diffusive limiter"
    )


@eqx.filter_jit
def _simulate_jit(q0, params, config, t_start, t_end, save_times, max_steps):
    return simulate(q0, params, config, t_end, t_start=t_start, save_times=save_times, adjoint="forward",
                    max_steps=max_steps)


def run(
    rho,
    vel,
    p,
    params: HydroParams,
    config: HydroConfig,
    t_end: float,
    *,
    t_start: float = 0.0,
    save_times=None,
    max_steps: int = 1_000_000,
) -> tuple[np.ndarray, HydroSolution]:
    """Checked, compiled forward run from primitive arrays (each (n,), code units), from
    ``t_start`` (the time of the initial state, e.g. a snapshot's) to ``t_end``.

    Validates the initial state (InputError naming the first bad cell) and t_end, runs, and
    raises SimulationError with time and cell if the run goes unphysical, or naming the step
    cap if ``max_steps`` steps do not reach the next output time.
    Returns the final primitive state (3, n) as numpy and the :class:`HydroSolution`.
    """
    max_steps = check_int("max_steps", max_steps, 1)  # a static Python int for the compiled run
    w0 = check_initial_state(rho, vel, p, config.num_cells)
    t_end = check_positive("t_end", t_end)  # a number (not None, a string or an array), finite, > 0
    t_start = check_positive("t_start", t_start, allow_zero=True)
    check_later(t_start, t_end)
    dtype = jnp.result_type(float)
    check_later_in(dtype, t_start, t_end, "t_start", "t_end")
    check_times(t_start, t_end, save_times, dtype)  # here, where the times are concrete; the jitted run cannot
    q0 = primitive_to_conserved(jnp.asarray(w0, dtype), jnp.asarray(params.gamma, dtype))
    bad = np.asarray(unphysical(q0, params.gamma))
    if bad.any():  # valid (ρ, u, p) that the conserved variables cannot hold: the run would fail in its first step
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"initial state in cell {i} (density {w0[0, i]:.6g}, velocity {w0[1, i]:.6g}, pressure {w0[2, i]:.6g}) "
            f"is not allowed: in {dtype}, its conserved variables (ρ, ρu, E) overflow or lose the pressure to "
            "round-off (E − ρu²/2 ≤ 0)"
        )
    st = None if save_times is None else jnp.asarray(save_times, dtype)
    with _simulation_errors(lambda message: _step_cap_error(message, q0, params, config, t_start, t_end, st,
                                                              max_steps)):  # the step cap, checked in the loop
        sol = jax.block_until_ready(_simulate_jit(q0, params, config, jnp.asarray(t_start, dtype),
                                                  jnp.asarray(t_end, dtype), st, max_steps))
    raise_if_failed(sol, params, config)
    return np.asarray(sol.primitive(params.gamma)), sol


def _loop(state, params: HydroParams, config: HydroConfig, t_start, t_end, save_times, max_steps: int, *,
          adjoint: str = "forward", checkpoints=None, differentiate_dt: bool = True, remat: bool = False,
          stop_at_max_steps: bool = False):
    """The adaptive CFL loop of :func:`simulate` (an ``AdaptiveResult``)."""

    def dt_fn(q, t, p):
        dt = cfl_time_step(q, p, config)
        return dt if differentiate_dt else jax.lax.stop_gradient(dt)

    def step_fn(q, t, dt, p):
        return step(q, dt, p, config)

    return adaptive_loop(step_fn, dt_fn, state, t_start, t_end, params, save_times=save_times, max_steps=max_steps,
                         adjoint=adjoint, checkpoints=checkpoints, remat=remat, stop_at_max_steps=stop_at_max_steps,
                         fail_fn=lambda q: jnp.any(unphysical(q, params.gamma)))


def _step_cap_error(message: str, q0, params: HydroParams, config: HydroConfig, t_start, t_end, save_times,
                    max_steps: int) -> SimulationError:
    """The error for ``message`` of a failed check inside the adaptive loop: if it is the step
    cap's, a :class:`StepCapError` with the time the run reached and t_end appended (one line).
    Runs the loop again to find that time (``stop_at_max_steps``; only on this error path)."""
    if "max_steps" not in message:
        return SimulationError(message)
    # the same loop again, stopping where the cap is reached instead of raising (forward mode)
    t = _loop(q0, params, config, t_start, t_end, save_times, max_steps, stop_at_max_steps=True).t
    stops = [] if save_times is None else [float(v) for v in np.asarray(save_times).reshape(-1)]
    for stop in [*stops, float(t_end)]:
        if bool(t < jnp.asarray(stop, t.dtype)):  # compared in the loop's precision (float32 rounds 0.7 down)
            return StepCapError(f"{message} (the run stopped at t = {float(t):.6g}, short of the next output time "
                                f"{stop:.6g}; t_end = {float(t_end):.6g})", max_steps, float(t), stop, float(t_end))
    return StepCapError(f"{message} (t_end = {float(t_end):.6g})", max_steps, float(t), float(t_end), float(t_end))
