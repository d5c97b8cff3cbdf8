"""Fixed-step loops: one ``lax.scan`` with optional rematerialisation."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from astrograd._errors import InputError, check_choice, check_int, is_concrete
from astrograd.diff._adaptive import check_state_kept, check_step_count

CHECKPOINTS = ("none", "step", "nested")

PyTree = Any


def _run(step: Callable, state: PyTree, args: PyTree, start: int, length: int, checkpoint: str) -> PyTree:
    """Advance ``state`` by ``length`` steps with indices start, start+1, … (start may be traced)."""
    if length == 0:
        return state

    def body(carry, i):
        return step(carry, i, args), None

    if checkpoint == "step":
        body = jax.checkpoint(body)
    if checkpoint in ("none", "step"):
        final, _ = lax.scan(body, state, start + jnp.arange(length, dtype=jnp.int32))
        return final

    # Nested: ~sqrt(N) segments, each re-run from its stored start in the backward pass.
    seg = max(1, math.isqrt(length - 1) + 1) if length > 1 else 1
    n_outer, rem = divmod(length, seg)

    @jax.checkpoint
    def segment(carry, seg_start):
        carry, _ = lax.scan(body, carry, seg_start + jnp.arange(seg, dtype=jnp.int32))
        return carry, None

    starts = start + seg * jnp.arange(n_outer, dtype=jnp.int32)
    carry, _ = lax.scan(segment, state, starts)
    if rem:
        carry, _ = lax.scan(body, carry, start + n_outer * seg + jnp.arange(rem, dtype=jnp.int32))
    return carry


def _ndim(values) -> int | None:
    try:
        return np.ndim(values)
    except ValueError:  # ragged
        return None


def fixed_loop(
    step: Callable[[PyTree, jax.Array, PyTree], PyTree],
    state: PyTree,
    num_steps: int,
    args: PyTree = None,
    *,
    save_steps: Sequence[int] | None = None,
    save_every: int | None = None,
    checkpoint: str = "none",
) -> tuple[PyTree, PyTree | None]:
    """Run ``num_steps`` steps of ``step(state, i, args) -> state``.

    Args:
        step: one step; ``i`` is the int32 step index, 0 … num_steps-1.
        state: initial state (a pytree of arrays).
        num_steps: number of steps (static Python int in [0, 2**31 - 1]: ``i`` is int32).
        args: parameters passed to every step (differentiable).
        save_steps: step counts in [0, num_steps] after which the state is returned
            (0 = the initial state).
        save_every: alternatively, save the initial state and every ``save_every`` steps (≤ 2**31 - 1)
            (one nested scan: compile time does not grow with the number of saves).
        checkpoint: ``"none"``, ``"step"`` (rematerialise each step) or ``"nested"`` (√N
            segments; reverse-mode memory O(√N) states).

    Returns:
        ``(final_state, saved)``; ``saved`` stacks the requested states on a new leading axis,
        or is None when none were requested.
    """
    check_choice("checkpoint", checkpoint, CHECKPOINTS)
    # numpy integers too (a static Python int after); beyond int32 the step index wrapped silently
    num_steps = check_step_count("num_steps", num_steps, 0)
    try:
        return _fixed_loop(step, state, num_steps, args, save_steps, save_every, checkpoint)
    except TypeError as err:
        # a step that changes a leaf (an int32 counter advanced by a float, a shape, a list for a
        # tuple) was lax.scan's raw TypeError: name the leaf (traced again only on this path)
        try:
            states = jax.tree.map(jnp.asarray, state)
            out = jax.eval_shape(lambda s, a: step(s, jnp.zeros((), jnp.int32), a), states, args)
        except Exception:  # noqa: BLE001 - the step fails on its own: the original error says more
            raise err from None
        check_state_kept(states, out, weak_may_change_kind=True)
        raise


def _fixed_loop(step, state, num_steps: int, args, save_steps, save_every, checkpoint: str):
    if save_steps is not None and save_every is not None:
        raise InputError("give save_steps or save_every, not both")

    if save_every is not None:
        save_every = check_step_count("save_every", save_every, 1)
        n_chunks, rem = divmod(num_steps, save_every)

        def chunk(carry, chunk_index):
            carry = _run(step, carry, args, chunk_index * save_every, save_every, checkpoint)
            return carry, carry

        final, saved = lax.scan(chunk, state, jnp.arange(n_chunks, dtype=jnp.int32))
        # jnp.asarray: a Python-number leaf (state = 1.0) was "'float' object is not subscriptable"
        saved = jax.tree.map(lambda s0, s: jnp.concatenate([jnp.asarray(s0, s.dtype)[None], s]), state, saved)
        final = _run(step, final, args, n_chunks * save_every, rem, checkpoint)
        return final, saved

    if save_steps is None:
        return _run(step, state, args, 0, num_steps, checkpoint), None

    if not is_concrete(save_steps):  # traced (an argument of jit): was a TracerArrayConversionError traceback
        raise InputError("save_steps is traced (an argument of jit or vmap); it must be a concrete sequence of "
                         "integers (static: close over it or mark it static)")
    # "12" was read as the steps 1 and 2; a lone integer was a TypeError traceback
    if isinstance(save_steps, str | bytes) or _ndim(save_steps) != 1:
        raise InputError(f"save_steps = {save_steps!r} is not allowed; it must be a sequence of integers")
    if isinstance(save_steps, np.ndarray | jax.Array):  # an integer array's entries: numpy integers
        save_steps = np.asarray(save_steps).tolist()
    marks = [check_int("save_steps entry", s, 0) for s in save_steps]
    bad = [s for s in marks if not 0 <= s <= num_steps]
    if bad:
        raise InputError(f"save_steps contains {bad[0]}; each must lie in [0, {num_steps}]")
    if marks != sorted(marks):
        raise InputError("save_steps must be in increasing order")
    saved_states = []
    done = 0
    current = state
    for mark in marks:
        current = _run(step, current, args, done, mark - done, checkpoint)
        done = mark
        saved_states.append(current)
    final = _run(step, current, args, done, num_steps - done, checkpoint)
    saved = jax.tree.map(lambda *xs: jnp.stack(xs), *saved_states) if saved_states else None
    return final, saved

