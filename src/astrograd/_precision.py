"""float64 for the duration of a command or a tour section (never switched on at import)."""

from __future__ import annotations

import contextlib
import functools

import jax


@contextlib.contextmanager
def x64(enabled: bool):
    """``jax_enable_x64`` set to ``enabled`` inside the block, restored afterwards."""
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def float64():
    """Enable ``jax_enable_x64`` inside the block and restore the previous setting afterwards."""
    return x64(True)


def with_float64(fn):
    """Decorator: run ``fn`` (e.g. a CLI command) inside :func:`float64`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with float64():
            return fn(*args, **kwargs)

    return wrapper
