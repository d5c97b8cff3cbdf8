"""sensitivity, directional_derivative, finite_difference_limit against hand-derived derivatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.inverse import directional_derivative, finite_difference_limit, sensitivity

T = np.linspace(0.0, 2.0, 7)  # numpy float64: converted inside the x64 tests


def decay(theta):
    # u_i = A exp(-k t_i): dA -> exp(-k t), dk -> -A t exp(-k t)
    return theta["A"] * jnp.exp(-theta["k"] * T)


def decay_jacobian(A, k):
    e = np.exp(-k * np.asarray(T))
    return np.stack([e, -A * np.asarray(T) * e], axis=1)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_jacobian_matches_analytic(x64, mode):
    theta = {"A": jnp.array(1.7), "k": jnp.array(0.4)}
    S = sensitivity(decay, theta, mode=mode)
    assert S.shape == (7, 2)
    np.testing.assert_allclose(S, decay_jacobian(1.7, 0.4), rtol=1e-13)


def test_linear_model_jacobian_is_its_matrix(x64, key):
    A = jax.random.normal(key, (4, 9))
    S = sensitivity(lambda th: A @ th, jnp.ones(9))
    np.testing.assert_array_equal(S, A)


def test_auto_picks_forward_when_p_le_n_and_reverse_otherwise(x64):
    # a while_loop has no reverse mode; a custom_vjp function has no forward mode
    def forward_only(th):
        return jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2.0),
                                  (0, jnp.tile(th, 3)))[1]

    @jax.custom_vjp
    def reverse_only(th):
        return jnp.sum(th**2, keepdims=True)

    reverse_only.defvjp(lambda th: (reverse_only(th), th), lambda th, g: (2 * th * g,))

    th = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(sensitivity(forward_only, th), 8.0 * np.tile(np.eye(2), (3, 1)))
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        sensitivity(forward_only, th, mode="reverse")
    th5 = jnp.arange(5.0)
    np.testing.assert_allclose(sensitivity(reverse_only, th5), 2 * np.arange(5.0)[None, :])
    with pytest.raises(TypeError, match="forward-mode autodiff"):
        sensitivity(reverse_only, th5, mode="forward")


def test_directional_derivative_is_jacobian_times_v(x64):
    theta = {"A": jnp.array(1.7), "k": jnp.array(0.4)}
    v = {"A": jnp.array(0.3), "k": jnp.array(-2.0)}
    dd = directional_derivative(decay, theta, v)
    np.testing.assert_allclose(dd, decay_jacobian(1.7, 0.4) @ np.array([0.3, -2.0]), rtol=1e-13)


def test_finite_difference_error_falls_like_h_then_rises_from_round_off(x64):
    theta = {"A": jnp.array(1.7), "k": jnp.array(0.4)}
    v = {"A": jnp.array(1.0), "k": jnp.array(1.0)}
    res = finite_difference_limit(decay, theta, v)
    assert res.hs.shape == (15,) and res.quotients.shape == (15, 7)
    np.testing.assert_allclose(res.jvp, decay_jacobian(1.7, 0.4) @ np.ones(2), rtol=1e-13)
    # truncation regime: log-log slope 1 (one-sided difference is first order)
    big = res.hs >= 1e-5
    slope = np.polyfit(np.log10(res.hs[big]), np.log10(res.errors[big]), 1)[0]
    assert slope == pytest.approx(1.0, abs=0.02)  # measured 0.99855
    # the best h is near sqrt(eps) ~ 1e-8, and round-off makes the tiniest h much worse
    best = int(np.argmin(res.errors))
    assert 1e-10 <= res.hs[best] <= 1e-6
    assert res.errors[-1] > 1e5 * res.errors[best]  # measured 2e7 (h = 1e-15: 24 % against 1.2e-8)
    assert "relative error" in res.table()


def test_bad_input():
    theta = jnp.array([1.0, 2.0])
    with pytest.raises(InputError, match="sideways"):
        sensitivity(lambda t: t, theta, mode="sideways")
    with pytest.raises(InputError, match="structure and shapes"):
        directional_derivative(lambda t: t, theta, jnp.ones(3))
    with pytest.raises(InputError, match="hs ="):
        finite_difference_limit(lambda t: t, theta, jnp.ones(2), hs=[1e-3, -1e-4])


def test_integer_parameters_directions_and_outputs():
    square = lambda t: t**2  # noqa: E731
    # integer parameters: one line instead of JAX's "jacfwd requires real-valued inputs" and
    # "primal and tangent arguments to jax.jvp do not match"
    for call in (lambda: sensitivity(square, jnp.array([1, 2])),
                 lambda: directional_derivative(square, jnp.array([1, 2]), jnp.array([1.0, 0.0])),
                 lambda: finite_difference_limit(square, jnp.array([1, 2]), jnp.array([1.0, 0.0]))):
        with pytest.raises(InputError, match="^theta has dtype int32; the parameters must be floating-point"):
            call()
    # a pytree's entry is named by its path (was "theta leaf 0": a place in the flattened order)
    with pytest.raises(InputError, match=r"^theta\['k'\] has dtype int32; the parameters must be floating-point"):
        sensitivity(lambda t: t["x"] * t["k"], {"x": jnp.ones(2), "k": jnp.array([1, 2])})
    # an integer direction of float parameters is a valid tangent (was a jvp dtype error)
    theta = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(np.asarray(directional_derivative(square, theta, jnp.array([1, 0]))), [2.0, 0.0])
    np.testing.assert_allclose(finite_difference_limit(square, theta, jnp.array([0, 1]), hs=[1e-2]).jvp, [0.0, 4.0])
    with pytest.raises(InputError, match="^direction v holds <U1 values"):
        directional_derivative(square, theta, np.array(["a", "b"]))
    with pytest.raises(InputError, match=r"^direction v\['y'\] holds <U1 values"):  # was "direction v leaf 1"
        directional_derivative(lambda t: t["x"] * t["y"], {"x": theta, "y": theta},
                               {"x": theta, "y": np.array(["a", "b"])})
    with pytest.raises(InputError, match="^hs holds <U2 values"):  # was float()'s ValueError
        finite_difference_limit(square, theta, jnp.ones(2), hs="ab")
    with pytest.raises(InputError, match="^f must return floating-point values; it returned int32"):
        finite_difference_limit(lambda t: jnp.round(t).astype(jnp.int32), theta, jnp.ones(2))


def test_auto_mode_takes_reverse_mode_for_a_model_with_reverse_mode_only(x64):
    """A model through a custom_vjp adjoint (adaptive_loop's 'checkpointed'): 'auto' with p <= n
    chose forward mode and failed (JAX's TypeError, or the loop's one-line error); it now takes
    reverse mode, exact against the hand-derived Jacobian. 'forward' says why it cannot."""
    from astrograd.diff import adaptive_loop

    def model(theta, outer_jit=False):
        # y' = -k y from y(0) = A, 10 steps of dt = 0.125 (explicit Euler): y_i = A (1 - k dt)^i
        def run(theta):
            res = adaptive_loop(lambda y, t, dt, k: y - dt * k * y, lambda y, t, k: 0.125, theta["A"], 0.0, 1.25,
                                theta["k"], save_times=jnp.arange(1, 11) * 0.125)
            return res.saved
        return jax.jit(run)(theta) if outer_jit else run(theta)

    theta = {"A": jnp.array(2.0), "k": jnp.array(0.8)}
    i = np.arange(1, 11)
    exact = np.stack([0.9**i, -2.0 * i * 0.125 * 0.9 ** (i - 1)], axis=1)
    for outer_jit in (False, True):
        np.testing.assert_allclose(sensitivity(lambda th, j=outer_jit: model(th, j), theta), exact, rtol=1e-14)
    with pytest.raises(InputError, match="^adjoint = 'checkpointed' has reverse mode only"):
        sensitivity(model, theta, mode="forward")
    with pytest.raises(InputError, match="^sensitivity mode = 'forward' is not allowed for this f: it has reverse"):
        sensitivity(lambda th: model(th, True), theta, mode="forward")
