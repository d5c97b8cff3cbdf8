"""The CPU fusion barrier: values, derivatives and batching pass through unchanged, and the
conditional really is in the compiled program (on CPU)."""

import jax
import jax.numpy as jnp
import numpy as np

from astrograd._xla import materialise


def _f(x, w):
    a, b = materialise((jnp.sin(x), x**2), w)
    return jnp.sum(a * b) + jnp.sum(a)


def test_values_and_derivatives_unchanged(x64):
    x = jnp.linspace(-1.0, 2.0, 7)
    w = jnp.asarray(0.3)
    ref = lambda x: jnp.sum(jnp.sin(x) * x**2) + jnp.sum(jnp.sin(x))  # noqa: E731
    np.testing.assert_array_equal(jax.jit(_f)(x, w), jax.jit(ref)(x))
    np.testing.assert_allclose(jax.grad(_f)(x, w), jax.grad(ref)(x), rtol=1e-15)
    t = jnp.cos(x)
    np.testing.assert_allclose(jax.jvp(lambda x: _f(x, w), (x,), (t,))[1], jax.jvp(ref, (x,), (t,))[1], rtol=1e-14)
    # batched witness: the conditional becomes a select and still returns the first branch
    xs = jnp.stack([x, 2 * x])
    np.testing.assert_allclose(jax.vmap(_f)(xs, jnp.array([0.1, 0.2])), jax.vmap(ref)(xs), rtol=1e-15)


def test_barrier_is_in_the_compiled_program():
    """On CPU the conditional is there; elsewhere materialise returns its input and there is none
    (this asserted nothing off CPU)."""
    hlo = jax.jit(_f).lower(jnp.ones(4), jnp.asarray(1.0)).compile().as_text()
    plain = jax.jit(lambda x, w: jnp.sum(jnp.sin(x) * x**2) + jnp.sum(jnp.sin(x))).lower(
        jnp.ones(4), jnp.asarray(1.0)).compile().as_text()
    assert "conditional" not in plain  # the word is XLA's, not something every program holds
    assert ("conditional" in hlo) == (jax.default_backend() == "cpu")
