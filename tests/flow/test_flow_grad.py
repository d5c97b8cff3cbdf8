"""Gradients through several solver steps, pressure solves included, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd import flow
from astrograd._precision import float64
from astrograd.diff import check_grad


@pytest.fixture(scope="module")
def karman_small():
    with float64():
        state, params, config = flow.karman(12, 24, reynolds=100, tol=1e-12, perturbation=0.05, key=jax.random.key(3))
        yield state, params, config


def test_check_grad_through_steps_with_pressure_solve(x64, karman_small):
    """Initial cross-stream velocity and viscosity -> velocity and marker after 6 steps (6 CG
    pressure solves, gradients by adjoint solves): reverse = forward = finite differences."""
    state, params, config = karman_small

    @jax.jit
    def f(x):
        s = flow.make_state(config, x["vx"], state.vy, state.marker)
        p = params.__class__(
            x["viscosity"], params.inflow_speed, params.buoyancy, params.solid, params.forcing, params.marker_source
        )
        final, _ = flow.simulate(s, p, config, 6)
        return {"vx": final.vx, "marker": final.marker, "status": final.status.astype(jnp.float64)}

    x = {"vx": state.vx, "viscosity": params.viscosity}
    # small fd step: the bilinear interpolation has kinks at cell edges
    report = check_grad(f, x, num_directions=2, key=jax.random.key(4), eps=1e-8)
    report.assert_close(rtol=1e-6)  # measured 4.5e-7 (finite differences)
    # the two exact modes agree to the adjoint CG tolerance (measured 4.1e-13)
    report.assert_close(rtol=1e-11, pairs=["reverse-forward"])
    assert float(f(x)["status"]) == 0.0


@pytest.mark.slow
def test_nested_checkpointing_gives_the_same_gradient(x64, karman_small):
    state, params, config = karman_small

    def loss(vx0, checkpoint):
        s = flow.make_state(config, vx0, state.vy, state.marker)
        final, _ = flow.simulate(s, params, config, 9, checkpoint=checkpoint)
        return jnp.sum(final.marker**2) + jnp.sum(final.vx**2)

    g_plain = jax.jit(jax.grad(lambda v: loss(v, "none")))(state.vx)
    g_nested = jax.jit(jax.grad(lambda v: loss(v, "nested")))(state.vx)
    assert float(jnp.abs(g_plain).max()) > 0
    np.testing.assert_allclose(g_nested, g_plain, rtol=1e-10, atol=1e-12 * float(jnp.abs(g_plain).max()))


def _periodic_check(viscosity_scheme):
    state, params, config = flow.taylor_green(8, 0.05, advection="maccormack")
    config = flow.FlowConfig(
        config.grid,
        config.boundaries,
        config.dt,
        advection="maccormack",
        viscosity_scheme=viscosity_scheme,
        pressure_solver="fft",
        tol=1e-13,
    )
    # a generic point: the symmetric vortex puts characteristic feet exactly on grid nodes and
    # limiter bounds exactly on ties, where the scheme is not differentiable
    vx0 = state.vx + 0.1 * jax.random.normal(jax.random.key(6), state.vx.shape)
    vx0 = vx0.at[:, -1].set(vx0[:, 0])

    @jax.jit
    def f(x):
        s = flow.make_state(config, x, state.vy)
        final, _ = flow.simulate(s, params, config, 3)
        return final.vy

    # forward mode is covered by the Kármán check; reverse vs finite differences here
    # measured 4.8e-10 (explicit viscosity)
    check_grad(f, vx0, num_directions=1, key=jax.random.key(5), modes=("reverse", "fd")).assert_close(rtol=1e-8)


def test_check_grad_periodic_fft_maccormack(x64):
    """Periodic domain: MacCormack advection (with limiter), explicit viscosity, FFT projection."""
    _periodic_check("explicit")


@pytest.mark.slow
def test_check_grad_periodic_fft_maccormack_implicit_viscosity(x64):
    _periodic_check("implicit")


def test_solver_in_the_loop_rollout_as_documented(x64, karman_small):
    """docs/flow.md recipe: k steps with a user correction added after each step, differentiated
    with respect to the correction's parameters (here a linear map of the velocity)."""
    import equinox as eqx

    from astrograd.diff import fixed_loop

    state, params, config = karman_small

    def rollout(theta, k=2):
        def body(s, i, theta):
            s = flow.step(s, params, config)
            dvx, dvy = theta["a"] * s.vx + theta["b"], theta["a"] * s.vy
            return eqx.tree_at(lambda t: (t.vx, t.vy), s, (s.vx + dvx, s.vy + dvy))

        _, saved = fixed_loop(body, state, k, theta, save_every=1, checkpoint="step")
        return saved  # states after 0, 1, ..., k steps

    @jax.jit
    def f(theta):
        saved = rollout(theta)
        return jnp.mean(saved.vx[1:] ** 2) + jnp.mean(saved.marker[1:])

    # float64 leaves, not weakly typed ones: the finite-difference points x ± eps v are float64,
    # and a weakly typed x would make check_grad compile f a second time for them
    x = {"a": jnp.asarray(0.01, jnp.float64), "b": jnp.asarray(-0.02, jnp.float64)}
    check_grad(f, x, num_directions=2, modes=("reverse", "fd")).assert_close(rtol=2e-8)  # measured 7.5e-10


def test_check_grad_of_the_marker_fit_loss(x64):
    """The fit-marker loss (mean squared marker difference after steps in a closed free-slip box,
    from initial face velocities) had no gradient check of its own; reverse = forward = central
    differences, with a CG tolerance at round-off so that the finite differences see exact solves."""
    config, params, marker0, target, (vx, vy) = flow.marker_problem(8, 3)
    config = flow.FlowConfig(config.grid, config.boundaries, config.dt, tol=1e-13)
    key_x, key_y = jax.random.split(jax.random.key(8))
    v0 = {"vx": 0.5 * vx + 0.05 * jax.random.normal(key_x, vx.shape),
          "vy": 0.5 * vy + 0.05 * jax.random.normal(key_y, vy.shape)}

    @jax.jit
    def loss(v):
        final, _ = flow.simulate(flow.make_state(config, v["vx"], v["vy"], marker0), params, config, 3, check=False)
        return jnp.mean((final.marker - target) ** 2)

    report = check_grad(loss, v0, num_directions=2, key=jax.random.key(9))
    report.assert_close(rtol=3e-6)  # measured 1.8e-7 (finite differences)
    report.assert_close(rtol=1e-13, pairs=["reverse-forward"])  # measured 5.7e-15
