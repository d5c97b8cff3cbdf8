"""Worked inverse problems: Burgers initial state, and the initial velocity that carries a
marker onto a target."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from astrograd._errors import InputError, SimulationError, check_bool, check_int, check_positive
from astrograd.flow._burgers import BOOK_VISCOSITY, BurgersConfig, burgers_initial, burgers_simulate
from astrograd.flow._grid import Boundaries, Grid
from astrograd.flow._pressure import project, solve_pressure_cg
from astrograd.flow._solver import FlowConfig, make_params, make_state, simulate
from astrograd.inverse import fit


def _check_iterations(iterations) -> int:
    return check_int("iterations", iterations, 0)


def _finite_loss(loss, iteration: int) -> float:
    value = float(loss)
    if not np.isfinite(value):
        raise SimulationError(
            f"the fit diverged: the loss became {value} at iteration {iteration}; lower the learning rate"
        )
    return value


def fit_burgers(
    iterations: int = 50,
    learning_rate: float = 128.0,
    *,
    n: int = 128,
    target_step: int = 16,
    viscosity: float = BOOK_VISCOSITY,
    callback: Callable[[int, float], None] | None = None,
) -> dict:
    """Plain gradient descent on the initial state u₀ (starting from 0) so that the state at
    ``target_step`` matches the run from u₀ = −sin(πx); loss = mean squared difference over
    the ``n`` points. ``learning_rate`` multiplies the gradient of that mean (128 = 1 per
    point of the sum of squares).

    Returns a dict: initial_loss, final_loss, iterations, losses (per iteration, before the
    update), x, u0_fit, u0_true, target, u_fit (state at target_step from u0_fit).
    """
    iterations = _check_iterations(iterations)
    check_positive("learning rate", learning_rate)
    target_step = check_int("target_step", target_step, 0)  # it was named num_steps
    config = BurgersConfig(n=n)
    u0_true = burgers_initial(config)
    target, _ = burgers_simulate(u0_true, viscosity, config, target_step)

    def loss_fn(u0):
        u, _ = burgers_simulate(u0, viscosity, config, target_step)
        return jnp.mean((u - target) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss_fn))
    u0 = jnp.zeros_like(u0_true)
    losses = []
    for it in range(iterations):
        loss, grad = value_and_grad(u0)
        losses.append(_finite_loss(loss, it))
        if callback is not None:
            callback(it, float(loss))
        u0 = u0 - learning_rate * grad
    final = _finite_loss(value_and_grad(u0)[0], iterations)
    u_fit, _ = burgers_simulate(u0, viscosity, config, target_step)
    return {
        "initial_loss": losses[0] if losses else final,
        "final_loss": final,
        "iterations": iterations,
        "losses": np.array(losses),
        "x": np.asarray(config.cell_centres()),
        "u0_fit": np.asarray(u0),
        "u0_true": np.asarray(u0_true),
        "target": np.asarray(target),
        "u_fit": np.asarray(u_fit),
    }


def marker_problem(n: int = 32, steps: int = 20, dt: float = 0.02):
    """The marker-transport inverse problem: closed unit box (free-slip), ``n × n`` cells, a
    Gaussian marker blob at (0.3, 0.5) (width 0.1), target = the marker after ``steps`` steps
    of the flow started from the cellular vortex ψ = 0.2 sin(πx) sin(πy) (speed ≤ 0.63).
    Returns ``(config, params, marker0, target, (vx_true, vy_true))``."""
    n = check_int("resolution n", n, 2)
    steps = check_int("steps", steps, 0)  # it was named num_steps
    grid = Grid(n, n, 1.0, 1.0)
    bc = Boundaries("free-slip", "free-slip", "free-slip", "free-slip")
    config = FlowConfig(grid, bc, check_positive("dt", dt), tol=1e-5)
    params = make_params(config, 1e-4)
    xc, yc = grid.cell_centres()
    marker0 = jnp.exp(-((xc - 0.3) ** 2 + (yc - 0.5) ** 2) / (2 * 0.1**2))
    amp = 0.2
    x, y = grid.x_faces()
    vx = amp * jnp.pi * jnp.sin(jnp.pi * x) * jnp.cos(jnp.pi * y)  # u = dψ/dy
    x, y = grid.y_faces()
    vy = -amp * jnp.pi * jnp.cos(jnp.pi * x) * jnp.sin(jnp.pi * y)  # v = -dψ/dx
    final, _ = simulate(make_state(config, vx, vy, marker0), params, config, steps)
    return config, params, marker0, final.marker, (vx, vy)


def fit_marker(
    iterations: int = 100,
    learning_rate: float = 0.05,
    *,
    n: int = 32,
    steps: int = 20,
    checkpoint=None,
    progress: bool = False,
) -> dict:
    """Adam on the initial face velocities (from rest; projected to be divergence-free by a
    differentiable pressure solve before the first step) so that the marker after ``steps``
    steps matches the target of :func:`marker_problem`. Loss = mean squared marker difference.
    Runs on :func:`astrograd.inverse.fit`: ``checkpoint`` is a file to save the optimisation to
    and resume it from (a checkpoint of another ``n``, ``steps`` or learning rate is refused);
    ``progress`` shows a progress bar with the loss.

    Returns a dict: initial_loss, final_loss, iterations, losses (per iteration, before the
    update), marker0, target, marker_fit, vx0, vy0 (fitted, projected), grid (nx, ny, lx, ly).
    """
    iterations = _check_iterations(iterations)
    check_positive("learning rate", learning_rate)
    progress = check_bool("progress", progress)  # "no" would be truthy (fit checks it only when it runs)
    if checkpoint is not None and iterations == 0:  # it used to be accepted and ignored
        raise InputError(
            f"checkpoint = {str(checkpoint)!r} is not allowed with iterations = 0; nothing is optimised or saved"
        )
    config, params, marker0, target, _ = marker_problem(n, steps)
    g, bc = config.grid, config.boundaries

    def run(v):
        vx, vy = v
        phi, _, _, w = solve_pressure_cg(vx, vy, params.solid, g, bc, config.tol, config.max_cg_steps)
        vx, vy = project(vx, vy, phi, w, g, bc)
        final, _ = simulate(make_state(config, vx, vy, marker0), params, config, steps, check=False)
        return final, (vx, vy)

    def loss_fn(v):
        final, _ = run(v)
        return jnp.mean((final.marker - target) ** 2)

    v = (jnp.zeros((g.ny, g.nx + 1)), jnp.zeros((g.ny + 1, g.nx)))
    losses = np.array([])
    if iterations:
        res = fit(loss_fn, v, optimizer="adam", learning_rate=learning_rate, steps=iterations,
                  checkpoint=checkpoint, progress=progress, history=False, description="fit marker",
                  fingerprint={"problem": "fit_marker", "n": int(n), "steps": int(steps)})
        v, losses = res.params, res.losses[:-1]
    final, (vx0, vy0) = jax.jit(run)(v)
    from astrograd.flow._solver import raise_on_failure

    raise_on_failure(final, config)
    final_loss = float(jnp.mean((final.marker - target) ** 2))
    return {
        "initial_loss": float(losses[0]) if len(losses) else final_loss,
        "final_loss": final_loss,
        "iterations": iterations,
        "losses": np.array(losses),
        "marker0": np.asarray(marker0),
        "target": np.asarray(target),
        "marker_fit": np.asarray(final.marker),
        "vx0": np.asarray(vx0),
        "vy0": np.asarray(vy0),
        "grid": (g.nx, g.ny, g.lx, g.ly),
    }
