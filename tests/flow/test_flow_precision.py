"""A float32 flow state under x64 runs in float32: the same numbers as with x64 off.

The reference is the same run in a process state where float64 does not exist (x64 off), from
the same float32 inputs: an independent path for every constant (grid nodes, FFT eigenvalues,
parameters), which under x64 were built in float64 and promoted the state.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd import flow
from astrograd._precision import x64
from astrograd.flow import burgers


def _as(tree, dtype):
    """``tree`` with its floating leaves as ``dtype`` numpy arrays (integer leaves kept)."""
    return jax.tree.map(
        lambda a: np.asarray(a, dtype) if np.issubdtype(np.asarray(a).dtype, np.floating) else np.asarray(a), tree
    )


def _on_device(tree):
    return jax.tree.map(jnp.asarray, tree)


def _scene32(make):
    """The scene built with x64 off: float32 numpy state and params, and the config."""
    with x64(False):
        state, params, config = make()
        return _as(state, np.float32), _as(params, np.float32), config


def _assert_float32_close(got, expected):
    """``got`` float32 and equal to ``expected`` to float32 round-off (relative to its largest entry)."""
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        a, b = np.asarray(a), np.asarray(b)  # numpy dtypes: jnp.result_type would canonicalise float64 away
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(float(np.abs(b).max()), 1e-30))


def _both_ways(fn, *args):
    """``fn(*args)`` (args float32 numpy trees) with x64 off, then with x64 on: both results."""
    results = []
    for enabled in (False, True):
        with x64(enabled):
            results.append(jax.tree.map(np.asarray, fn(*_on_device(args))))
    return results


@pytest.mark.parametrize(
    "make",
    [
        # the FFT pressure solve with MacCormack advection (periodic box)
        lambda: flow.taylor_green(8, advection="maccormack", pressure_solver="fft", viscosity_scheme="explicit"),
        # the CG pressure solve, semi-Lagrangian advection, inflow, outflow, walls and an obstacle
        lambda: flow.karman(8, 32, perturbation=0.1),
    ],
    ids=["taylor-green-fft-maccormack", "karman-cg-semi-lagrangian"],
)
def test_a_float32_state_under_x64_runs_in_float32(make):
    """It did not run: the FFT eigenvalues, the grid nodes of the advection and the default
    (float64) parameters made the fields float64, which the loop refused; the CG solve failed in
    lineax ("preconditioner must have in_structure that matches")."""
    state, params, config = _scene32(make)
    with x64(False):
        expected, _ = flow.simulate(_on_device(state), _on_device(params), config, 2)
    with x64(True):
        # the parameters as make_params gives them under x64 (float64), the state float32
        final, _ = flow.simulate(_on_device(state), _on_device(_as(params, np.float64)), config, 2)
    _assert_float32_close(final, expected)
    assert int(final.status) == 0 and int(final.cg_steps) == int(expected.cg_steps)


@pytest.mark.parametrize("scheme", flow.ADVECTION_SCHEMES)
@pytest.mark.parametrize("solver", flow.PRESSURE_SOLVERS)
def test_each_pressure_solver_and_advection_scheme_keeps_float32_under_x64(solver, scheme):
    """The pieces of the step, each pressure solver with each advection scheme: advect the
    Taylor–Green field, then project it (periodic box, 8 x 8)."""
    from astrograd.flow._pressure import face_weights, project, solve_pressure_cg, solve_pressure_fft

    state, params, config = _scene32(lambda: flow.taylor_green(8, amplitude=1.3, dt=0.4))
    g, bc = config.grid, config.boundaries

    def advect_and_project(vx0, vy0, solid):
        vx = flow.advect(vx0, "x", vx0, vy0, config.dt, g, bc, scheme)
        vy = flow.advect(vy0, "y", vx0, vy0, config.dt, g, bc, scheme)
        if solver == "fft":
            phi, weights = solve_pressure_fft(vx, vy, g), face_weights(solid, bc)
        else:
            phi, _, _, weights = solve_pressure_cg(vx, vy, solid, g, bc, 1e-5, 500)
        return project(vx, vy, phi, weights, g, bc)

    expected, got = _both_ways(advect_and_project, state.vx, state.vy, params.solid)
    _assert_float32_close(got, expected)


def test_gradients_through_the_cg_solve_of_a_float32_state_under_x64():
    """One reverse-mode gradient through advection and the CG pressure solve (its adjoint solve)
    with respect to the initial velocity: float32, and as with x64 off."""
    from astrograd.flow._pressure import project, solve_pressure_cg

    state, params, config = _scene32(lambda: flow.karman(8, 32, perturbation=0.1))
    g, bc = config.grid, config.boundaries

    def loss(vx0, vy0, solid):
        vx = flow.advect(vx0, "x", vx0, vy0, config.dt, g, bc, "semi-lagrangian")
        phi, _, _, weights = solve_pressure_cg(vx, vy0, solid, g, bc, 1e-5, 500)
        vx, vy = project(vx, vy0, phi, weights, g, bc)
        return jnp.sum(vx**2) + jnp.sum(vx[:, 1:] * vy[1:])

    expected, got = _both_ways(jax.grad(loss, argnums=(0, 1)), state.vx, state.vy, params.solid)
    assert all(np.any(e != 0) for e in expected)
    _assert_float32_close(got, expected)


@pytest.mark.parametrize("advection", burgers.BURGERS_ADVECTION)
def test_a_float32_burgers_state_under_x64_matches_x64_off(advection):
    """Cell centres in the default float type (float64 under x64) made the semi-Lagrangian feet
    float64 before rounding them back: not the float32 run. A float64 viscosity array made the
    state float64, which the loop refused."""
    config = burgers.BurgersConfig(n=20, length=2.3, x_min=-1.1, dt=0.013, advection=advection)
    with x64(False):
        u0 = np.asarray(burgers.burgers_initial(config))
        expected, _ = burgers.burgers_simulate(u0, 0.01, config, 3)
    with x64(True):
        for viscosity in (0.01, jnp.asarray(0.01, jnp.float64)):
            u, _ = burgers.burgers_simulate(jnp.asarray(u0), viscosity, config, 3)
            assert u.dtype == jnp.float32
            np.testing.assert_allclose(np.asarray(u), np.asarray(expected), rtol=1e-5, atol=1e-6)
