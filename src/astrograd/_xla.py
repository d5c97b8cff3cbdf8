"""Workarounds for XLA's CPU code generation, shared by the solvers."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["materialise"]


def materialise(x, witness):
    """``x`` (any pytree of arrays) unchanged, but computed once and stored (CPU only).

    XLA on CPU fuses a cheap producer into each of its consumers and re-evaluates it there. When
    an intermediate feeds several expensive consumers (slopes and fluxes in the hydro step, the
    CIC stencil in the PM force) it is computed several times over. A conditional is a fusion
    boundary: its operand is computed once. The predicate, ``isfinite(witness)`` for a scalar
    ``witness`` that is finite in every valid run, is a runtime value, so XLA cannot fold the
    conditional away, and the other branch (taken only for a non-finite witness, which makes
    the result invalid anyway) differs from the first, so the two are not merged. If ``witness``
    is a compile-time constant XLA does fold it: the barrier then vanishes from the forward
    program (the reverse pass, which receives the predicate as a residual, keeps it).
    On other backends a conditional costs a device synchronisation, so there ``x`` is returned
    as is.
    """
    if jax.default_backend() != "cpu":
        return x
    return jax.lax.cond(jnp.isfinite(witness), lambda v: v, lambda v: jax.tree.map(jnp.negative, v), x)
