"""Shared test fixtures. float64 is switched on inside tests only, never at import."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import pytest


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
