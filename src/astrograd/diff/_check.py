"""Gradient checks: reverse mode vs forward mode vs central finite differences."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from astrograd._errors import InputError, check_int, check_key, check_positive

MODES = ("reverse", "forward", "fd")

PyTree = Any


@dataclass
class GradCheckReport:
    """Directional derivatives ⟨u, J v⟩ per mode and direction, and their relative errors.

    values: mode -> array (num_directions,). rel_errors: "a-b" -> array (num_directions,),
    |a-b| / max(|a|, |b|, floor), floor = 1e-12 × the largest |value| seen (guards zero
    derivatives). max_rel_error: the largest of them.
    """

    values: dict[str, np.ndarray]
    rel_errors: dict[str, np.ndarray] = field(default_factory=dict)
    eps: float = 0.0

    @property
    def max_rel_error(self) -> float:
        return max((float(np.max(e)) for e in self.rel_errors.values()), default=0.0)

    def summary(self) -> str:
        parts = [f"{name}: {float(np.max(err)):.2e}" for name, err in self.rel_errors.items()]
        vals = "; ".join(f"{m}={np.array2string(v, precision=10)}" for m, v in self.values.items())
        return f"max relative errors {', '.join(parts)} (fd eps={self.eps:.1e}); values {vals}"

    def assert_close(self, rtol: float = 1e-6, pairs: Sequence[str] | None = None) -> None:
        """Raise AssertionError if any compared pair (default: all) differs by more than rtol."""
        names = list(pairs) if pairs is not None else list(self.rel_errors)
        unknown = [n for n in names if n not in self.rel_errors]
        if unknown:  # was a KeyError
            raise InputError(f"pairs = {unknown!r} were not compared; allowed: {', '.join(self.rel_errors)}")
        worst = {n: float(np.max(self.rel_errors[n])) for n in names}
        if not all(v <= rtol for v in worst.values()):  # NaN fails too (a NaN derivative never agrees)
            raise AssertionError(f"gradient check failed at rtol={rtol:g}: {self.summary()}")


def _random_like(key, tree, diff_mask):
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, max(1, len(leaves)))
    out = [
        jax.random.normal(k, jnp.shape(x), jnp.result_type(x)) if d else None
        for k, x, d in zip(keys, leaves, diff_mask, strict=True)
    ]
    return out, treedef


def check_grad(
    f: Callable[[PyTree], jax.Array | PyTree],
    x: PyTree,
    *,
    num_directions: int = 3,
    key: jax.Array | None = None,
    eps: float | None = None,
    modes: Sequence[str] = MODES,
) -> GradCheckReport:
    """Compare derivatives of ``f`` at ``x`` from reverse mode, forward mode and finite differences.

    For each of ``num_directions`` random unit directions v over the inexact leaves of ``x`` (and a
    random cotangent u of the output), computes ⟨u, J v⟩ by ``jax.vjp`` ("reverse"), ``jax.jvp``
    ("forward") and the central difference (g(x + eps v) − g(x − eps v)) / (2 eps) with
    g = ⟨u, f⟩ ("fd"). Requires float64 (``jax_enable_x64``).

    Args:
        f: function of a pytree returning a scalar, an array or a pytree of arrays.
        x: point of evaluation (pytree, e.g. an equinox module; its inexact array leaves are
            perturbed, non-array leaves are held fixed).
        num_directions: number of random directions.
        key: PRNG key (default ``jax.random.key(0)``).
        eps: finite-difference step along the unit direction (default 1e-6 × max(1, ‖x‖∞)).
        modes: subset of ("reverse", "forward", "fd") to compare (at least two).

    Returns:
        :class:`GradCheckReport`.
    """
    if not jax.config.read("jax_enable_x64"):
        raise InputError("check_grad needs float64: enable jax_enable_x64 (tests: the x64 fixture)")
    modes = tuple(modes)
    unknown = [m for m in modes if m not in MODES]
    if unknown or len(set(modes)) < len(modes) or len(modes) < 2:  # ("fd", "fd") compared fd with itself
        raise InputError(f"modes = {modes!r}; choose at least two different ones of {', '.join(MODES)}")
    num_directions = check_int("num_directions", num_directions, 1)
    if key is None:
        key = jax.random.key(0)
    check_key("key", key)

    x = jax.tree.map(lambda v: jnp.asarray(v) if isinstance(v, float | int | np.ndarray) else v, x)
    # Non-array leaves (activation functions in an equinox module, strings, ...) stay fixed.
    x, x_static = eqx.partition(x, eqx.is_array)
    f_user = f

    def f(arrays):
        return f_user(eqx.combine(arrays, x_static))

    leaves, treedef = jax.tree.flatten(x)
    diff_mask = [eqx.is_inexact_array(v) for v in leaves]
    if not any(diff_mask):
        raise InputError("check_grad: x has no floating-point leaves to differentiate")
    if any(d and jnp.result_type(v) != jnp.float64 for d, v in zip(diff_mask, leaves, strict=True)):
        raise InputError("check_grad: the floating-point leaves of x must be float64")
    # an empty leaf has no maximum (it was numpy's ValueError)
    scale = max((float(jnp.max(jnp.abs(v))) for d, v in zip(diff_mask, leaves, strict=True) if d and jnp.size(v)),
                default=0.0)
    eps = 1e-6 * max(1.0, scale) if eps is None else check_positive("eps", eps)

    # f, its vjp and its jvp are each compiled once and reused for every direction (evaluated
    # eagerly, each call would trace f again and compile every loop inside it anew).
    f_jit = jax.jit(f)
    y0 = f_jit(x)
    # only the output's inexact leaves are compared (an AdaptiveResult's step count and failure
    # flag are integers and booleans): the others get the symbolic-zero cotangent float0
    out_mask = [eqx.is_inexact_array(y) for y in jax.tree.leaves(y0)]
    if not any(out_mask):
        raise InputError("check_grad: f returns no floating-point values to differentiate")
    vjp_jit = jax.jit(lambda x, u: jax.vjp(f, x)[1](u)[0])
    jvp_jit = jax.jit(lambda x, v: jax.jvp(f, (x,), (v,))[1])
    values = {m: [] for m in modes}
    for key_v, key_u in jax.random.split(key, (num_directions, 2)):
        v_leaves, _ = _random_like(key_v, x, diff_mask)
        norm = jnp.sqrt(sum(jnp.sum(v**2) for v in v_leaves if v is not None))
        v_leaves = [
            (v / norm) if v is not None else np.zeros(np.shape(x_), jax.dtypes.float0)
            for v, x_ in zip(v_leaves, leaves, strict=True)
        ]
        v = jax.tree.unflatten(treedef, v_leaves)
        u = jax.tree.map(
            lambda y, k: jax.random.normal(k, jnp.shape(y), jnp.result_type(y)) if eqx.is_inexact_array(y)
            else np.zeros(np.shape(y), jax.dtypes.float0),
            y0, _split_like(key_u, y0),
        )

        def inner(a, b, mask=out_mask):
            leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b), mask, strict=True)
            return sum(jnp.vdot(p, q) for p, q, d in leaves if d)

        if "reverse" in modes:
            g = vjp_jit(x, u)
            values["reverse"].append(float(inner(g, v, diff_mask)))
        if "forward" in modes:
            jv = jvp_jit(x, v)
            values["forward"].append(float(inner(u, jv)))
        if "fd" in modes:
            def shifted(h, v=v):
                return jax.tree.map(
                    lambda xi, vi, d: xi + h * vi if d else xi, x, v,
                    jax.tree.unflatten(treedef, diff_mask),
                )

            up, down = f_jit(shifted(eps)), f_jit(shifted(-eps))
            values["fd"].append(float((inner(u, up) - inner(u, down)) / (2 * eps)))

    values = {m: np.asarray(vs) for m, vs in values.items()}
    floor = 1e-12 * max(float(np.max(np.abs(vs))) for vs in values.values()) + 1e-300
    errors = {}
    for a, b in itertools.combinations(modes, 2):
        va, vb = values[a], values[b]
        errors[f"{a}-{b}"] = np.abs(va - vb) / np.maximum(np.maximum(np.abs(va), np.abs(vb)), floor)
    return GradCheckReport(values=values, rel_errors=errors, eps=eps)


def _split_like(key, tree):
    leaves, treedef = jax.tree.flatten(tree)
    return jax.tree.unflatten(treedef, list(jax.random.split(key, max(1, len(leaves)))[: len(leaves)]))
