import jax

import astrograd


def test_import_does_not_enable_x64():
    assert astrograd.__version__
    assert not jax.config.read("jax_enable_x64")


def test_x64_fixture_switches_on_and_off(x64):
    import jax.numpy as jnp

    assert jnp.zeros(1).dtype == jnp.float64
