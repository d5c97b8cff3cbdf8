"""Shared test fixtures. float64 is switched on inside tests only, never at import."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import pytest


@pytest.fixture(autouse=True)
def _restore_x64():
    """CLI commands run in-process (CliRunner) may switch float64 on for their own run; restore it."""
    previous = jax.config.read("jax_enable_x64")
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def x64():
    """Run the test with float64 enabled; restores the previous setting afterwards."""
    from astrograd._precision import float64

    with float64():
        yield


@pytest.fixture
def key():
    """An explicit PRNG key (tests are reproducible)."""
    return jax.random.key(0)
