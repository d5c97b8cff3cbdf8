"""Adaptive-step loops: dt from the state each step, exact landing on output and end times.

Reverse mode at bounded memory: the forward pass of :func:`_checkpointed_interval` stores the
loop state every ``segment`` steps in a buffer of ``checkpoints`` slots; the backward pass walks
the segments from last to first, re-running each one from its stored start under ``jax.vjp``
(so only one segment's intermediate states are alive at a time). Memory is
O(checkpoints + segment) states, fixed by ``max_steps`` and independent of the steps taken.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from astrograd._errors import (
    INT32_MAX,
    InputError,
    check_bool,
    check_choice,
    check_int,
    forward_mode_refused,
    is_concrete,
    is_real_number,
)

ADJOINTS = ("checkpointed", "forward", "direct")

#: Most steps a loop counts: its step index and counters are int32.
MAX_STEP_COUNT = INT32_MAX

PyTree = Any


class AdaptiveResult(eqx.Module):
    """Result of :func:`adaptive_loop`.

    final: state at ``t`` (``t1`` unless the run failed). saved: states at the save times,
    stacked on a leading axis (None if none requested). t: time reached. num_steps: total steps
    taken (int32; it stays at 2**31 - 1 beyond that). failed: ``fail_fn`` became true, or
    ``dt_fn`` proposed a step that is not > 0 (not applied), and the loop stopped there.
    """

    final: PyTree
    saved: PyTree | None
    t: jax.Array
    num_steps: jax.Array
    failed: jax.Array


def _is_diff(x) -> bool:
    return eqx.is_inexact_array(x)


def _cotangent_like(diff_cot, full):
    """Full-structure cotangent: ``diff_cot`` for inexact leaves, None (a symbolic zero) elsewhere."""
    return jax.tree.map(
        lambda c, x: c if _is_diff(x) else None,
        diff_cot,
        full,
        is_leaf=lambda v: v is None,
    )


def _make_interval_runners(fn_static: PyTree, max_steps: int, checkpoints: int):
    """Build the three ways to run one interval [t, t_end] of the adaptive loop.

    Each runner is called as ``runner(fn_arrays, carry, t_end)`` where
    ``eqx.combine(fn_arrays, fn_static)`` is the closure-converted one-step function
    ``(carry, t_end) -> carry`` and carry = (state, t, n, failed). Passing the closed-over
    arrays explicitly lets the custom_vjp return their cotangents.
    """

    def keep_going(carry, t_end):
        _, t, n, failed = carry
        return (t < t_end) & jnp.logical_not(failed) & (n < max_steps)

    def run_forward(fn_arrays, carry, t_end):
        fn = eqx.combine(fn_arrays, fn_static)
        return lax.while_loop(lambda c: keep_going(c, t_end), lambda c: fn(c, t_end), carry)

    def run_direct(fn_arrays, carry, t_end):
        fn = eqx.combine(fn_arrays, fn_static)

        def body(c, _):
            return lax.cond(keep_going(c, t_end), lambda c: fn(c, t_end), lambda c: c, c), None

        return lax.scan(body, carry, None, length=max_steps)[0]

    segment = -(-max_steps // checkpoints)

    def run_segment(fn_arrays, carry, t_end, n_valid):
        """``segment`` steps; with ``n_valid`` given, steps past it are skipped (last segment)."""
        fn = eqx.combine(fn_arrays, fn_static)

        def body(c, j):
            if n_valid is None:
                return fn(c, t_end), None
            return lax.cond(j < n_valid, lambda c: fn(c, t_end), lambda c: c, c), None

        return lax.scan(body, carry, jnp.arange(segment))[0]

    @jax.custom_vjp
    def run_checkpointed(fn_arrays, carry, t_end):
        return run_forward(fn_arrays, carry, t_end)

    def fwd(fn_arrays, carry, t_end):
        fn = eqx.combine(fn_arrays, fn_static)
        buffer = jax.tree.map(lambda x: jnp.zeros((checkpoints, *jnp.shape(x)), jnp.result_type(x)), carry)

        def body(loop):
            c, buf, k = loop
            # Row k // segment holds the state at the segment's first step. Writing one row
            # unconditionally (the old value when not at a segment start) keeps the update
            # in place; a cond returning the whole buffer would copy it every step.
            row, at_start = k // segment, k % segment == 0
            buf = jax.tree.map(
                lambda bx, cx: bx.at[row].set(jnp.where(at_start, cx, bx[row])), buf, c
            )
            return fn(c, t_end), buf, k + 1

        final, buffer, k = lax.while_loop(
            lambda loop: keep_going(loop[0], t_end), body, (carry, buffer, jnp.zeros((), jnp.int32))
        )
        return final, (fn_arrays, carry, t_end, buffer, k)

    def bwd(residuals, g_final):
        # a residual known at trace time (a Python-number state made an array inside the jit)
        # comes back as a numpy scalar, which is not an inexact *JAX* array: back to arrays, or
        # its cotangent was dropped and jax.vjp saw another tree structure
        fn_arrays, carry0, t_end, buffer, k = jax.tree.map(jnp.asarray, residuals)
        fn_diff, fn_nondiff = eqx.partition(fn_arrays, _is_diff)
        carry_diff = eqx.filter(carry0, _is_diff)
        # Cotangent of the differentiable part of the final carry (None elsewhere).
        g_c = jax.tree.map(
            lambda x, g: None if x is None else g, carry_diff, g_final, is_leaf=lambda v: v is None
        )
        g_f = jax.tree.map(jnp.zeros_like, fn_diff)
        g_te = jnp.zeros_like(t_end)
        n_segments = (k + segment - 1) // segment

        def segment_vjp(i, g_c, g_f, g_te, masked):
            start = jax.tree.map(lambda b: b[i], buffer)
            start_diff, start_static = eqx.partition(start, _is_diff)
            n_valid = jnp.minimum(segment, k - i * segment) if masked else None

            def run(f_d, c_d, te):
                out = run_segment(eqx.combine(f_d, fn_nondiff), eqx.combine(c_d, start_static), te, n_valid)
                return eqx.filter(out, _is_diff)

            _, vjp = jax.vjp(run, fn_diff, start_diff, t_end)
            d_f, d_c, d_te = vjp(g_c)
            return d_c, jax.tree.map(jnp.add, g_f, d_f), g_te + d_te

        # The last segment may be partial (masked steps); all earlier ones are full.
        last = n_segments - 1
        g_c, g_f, g_te = lax.cond(
            last >= 0,
            lambda: segment_vjp(jnp.maximum(last, 0), g_c, g_f, g_te, masked=True),
            lambda: (g_c, g_f, g_te),
        )

        def seg_body(loop):
            i, g_c, g_f, g_te = loop
            return (i - 1, *segment_vjp(i, g_c, g_f, g_te, masked=False))

        _, g_c, g_f, g_te = lax.while_loop(lambda loop: loop[0] >= 0, seg_body, (last - 1, g_c, g_f, g_te))
        return _cotangent_like(g_f, fn_arrays), _cotangent_like(g_c, carry0), g_te

    run_checkpointed.defvjp(fwd, bwd)
    return {"forward": run_forward, "direct": run_direct, "checkpointed": run_checkpointed}


def check_step_count(name: str, value, minimum: int) -> int:
    """``int(value)`` for an integer in [minimum, MAX_STEP_COUNT], else a one-line InputError: the
    int32 step index or counter of a longer loop silently wrapped around."""
    value = check_int(name, value, minimum)
    if value > MAX_STEP_COUNT:
        raise InputError(f"{name} = {value} is not allowed; it must be an integer in [{minimum}, {MAX_STEP_COUNT}] "
                         "(the loop counts steps in int32)")
    return value


def add_step_counts(total, n):
    """``total + n`` for int32 step counts ≥ 0, saturating at MAX_STEP_COUNT instead of wrapping."""
    return jnp.where(total > MAX_STEP_COUNT - n, MAX_STEP_COUNT, total + n).astype(jnp.int32)


def default_checkpoints(max_steps: int) -> int:
    """States stored by the checkpointed adjoint when ``checkpoints`` is not given: ⌈√max_steps⌉."""
    return max(1, math.isqrt(max_steps - 1) + 1)


def adaptive_loop(
    step: Callable[[PyTree, jax.Array, jax.Array, PyTree], PyTree],
    dt_fn: Callable[[PyTree, jax.Array, PyTree], jax.Array],
    state: PyTree,
    t0: float | jax.Array,
    t1: float | jax.Array,
    args: PyTree = None,
    *,
    save_times: Sequence[float] | jax.Array | None = None,
    max_steps: int = 100_000,
    adjoint: str = "checkpointed",
    checkpoints: int | None = None,
    fail_fn: Callable[[PyTree], jax.Array] | None = None,
    remat: bool = False,
    stop_at_max_steps: bool = False,
) -> AdaptiveResult:
    """Integrate from ``t0`` to ``t1`` with steps proposed by ``dt_fn``.

    Args:
        step: ``step(state, t, dt, args) -> state``.
        dt_fn: ``dt_fn(state, t, args) -> dt`` (scalar > 0), e.g. a CFL condition. The loop
            takes ``min(dt_fn(...), next_stop - t)``: it lands exactly on every save time and t1.
        state: initial state (pytree of arrays).
        t0, t1: start and end time (t1 > t0).
        args: parameters (pytree); gradients flow to them and to ``state``.
        save_times: increasing times in (t0, t1] at which the state is returned.
        max_steps: cap on the number of steps between two consecutive stops, at most
            2**31 - 1 (int32 counters); reaching it raises an error at run time.
        adjoint: ``"checkpointed"`` (reverse mode at bounded memory), ``"forward"``
            (``lax.while_loop``: ``jvp``/``jacfwd``), ``"direct"`` (masked ``lax.scan`` of
            ``max_steps`` steps: reverse mode storing every step; a reference).
        checkpoints: states stored by the checkpointed adjoint (default ⌈√max_steps⌉).
        fail_fn: ``fail_fn(state) -> bool``; when true the loop stops (``result.failed``).
            The loop also stops with ``result.failed`` set, at the time reached, when
            ``dt_fn`` proposes a step that is not > 0 (zero, negative or NaN).
        remat: wrap each whole step (``dt_fn``, ``step`` and ``fail_fn``) in ``jax.checkpoint``,
            so that the backward pass of a segment replay keeps one carry per step and
            recomputes the rest (reverse mode only; no effect on the values).
        stop_at_max_steps: instead of raising, stop where ``max_steps`` was reached, with
            ``result.failed`` set and ``result.t`` the time reached (e.g. to report that time
            after the error, by running again with this set).

    Returns:
        :class:`AdaptiveResult`.
    """
    check_choice("adjoint", adjoint, ADJOINTS)
    max_steps = check_step_count("max_steps", max_steps, 1)  # numpy integers too (a static Python int after)
    if checkpoints is None:
        checkpoints = default_checkpoints(max_steps)
    whole = isinstance(checkpoints, int | np.integer) and not isinstance(checkpoints, bool)
    if not (whole and 1 <= checkpoints <= max_steps):
        raise InputError(f"checkpoints = {checkpoints!r} is not allowed; it must be an integer in [1, max_steps]")
    checkpoints = int(checkpoints)
    check_bool("remat", remat)
    check_bool("stop_at_max_steps", stop_at_max_steps)

    dtype = jnp.result_type(*[x for x in jax.tree.leaves(state) if eqx.is_inexact_array(x)] or [float])
    check_times(t0, t1, save_times, dtype)
    # traced times (jit/vmap over t1 or save_times) cannot be checked here: save_times = [0.07] with a
    # traced t1 = 0.05 ran on to 0.07 and returned t = 0.07 as the end time, silently
    check_at_run_time = not is_concrete(t0, t1, save_times)
    if save_times is not None:
        save_times = jnp.asarray(save_times, dtype)
    # jit inside: closures over values traced by an outer transformation are then handled by
    # jit's own closure conversion before eqx.filter_closure_convert sees them.
    # only the checkpointed adjoint is a custom_vjp: with adjoint="forward" JAX's own error (a
    # custom_vjp inside the user's step) is passed on as it is, not blamed on this option
    refused = (forward_mode_refused("adjoint = 'checkpointed'", "use adjoint='forward' for jvp/jacfwd")
               if adjoint == "checkpointed" else contextlib.nullcontext())
    with refused:
        return _adaptive_jit(
            step, dt_fn, fail_fn, state, jnp.asarray(t0, dtype), jnp.asarray(t1, dtype), args,
            save_times, max_steps, adjoint, checkpoints, remat, stop_at_max_steps, check_at_run_time,
        )


@eqx.filter_jit
def _adaptive_jit(step, dt_fn, fail_fn, state, t0, t1, args, save_times, max_steps, adjoint, checkpoints, remat,
                  stop_at_max_steps, check_at_run_time=False):
    dtype = t0.dtype
    if check_at_run_time:  # the times that give a wrong result: the loop only steps forward, to each stop in turn
        bad = t1 < t0
        if save_times is not None:
            bad = bad | jnp.any(save_times < t0) | jnp.any(save_times > t1) | jnp.any(jnp.diff(save_times) < 0)
        t0 = eqx.error_if(t0, bad, "adaptive_loop: t1 must be >= t0 and save_times must increase and lie in [t0, t1]")

    state = jax.tree.map(jnp.asarray, state)
    _check_functions(step, dt_fn, fail_fn, state, t0, args)
    # typed PRNG keys travel through the loop as their uint32 key data (no cotangent, like legacy keys)
    state, keys = _keys_as_data(state)

    def one_step(carry, t_end, args):
        s, t, n, failed = carry
        s_user = _keys_from_data(s, keys)
        proposed = jnp.asarray(dt_fn(s_user, t, args), dtype)
        # A step that is not > 0 (zero, negative or NaN) would never reach t_end, or would
        # carry NaN time out of the loop unnoticed: it fails the run at the time it was proposed.
        bad_dt = jnp.logical_not(proposed > 0)
        remaining = t_end - t
        last = proposed >= remaining
        dt = jnp.where(last, remaining, proposed)
        # a refused step is not applied: ``final`` stays the state at the time reached
        s_stepped = _keys_as_data(step(s_user, t, dt, args))[0]
        s_new = jax.tree.map(lambda old, new: jnp.where(bad_dt, old, new), s, s_stepped)
        t_new = jnp.where(bad_dt, t, jnp.where(last, t_end, t + dt))
        failed = jnp.asarray(fail_fn(_keys_from_data(s_new, keys)), bool) if fail_fn is not None else failed
        return (s_new, t_new, n + 1, failed | bad_dt)

    if remat:
        one_step = jax.checkpoint(one_step)
    carry0 = (state, t0, jnp.zeros((), jnp.int32), jnp.zeros((), bool))
    fn = eqx.filter_closure_convert(lambda c, te: one_step(c, te, args), carry0, t1)
    fn_arrays, fn_static = eqx.partition(fn, eqx.is_array)
    runner = _make_interval_runners(fn_static, max_steps, checkpoints)[adjoint]

    def interval(carry, t_end):
        s, t, total, failed = carry
        out = runner(fn_arrays, (s, t, jnp.zeros((), jnp.int32), failed), t_end)
        s_end, t_reached, n, failed = out
        stuck = (t_reached < t_end) & jnp.logical_not(failed)
        if stop_at_max_steps:  # the later intervals do not run: failed
            return (s_end, t_reached, add_step_counts(total, n), failed | stuck)
        s_end = eqx.error_if(
            s_end,
            stuck,
            f"adaptive_loop reached max_steps={max_steps} before the next output/end time; "
            "increase max_steps or check the step size",
        )
        return (s_end, t_reached, add_step_counts(total, n), failed)

    carry = (state, t0, jnp.zeros((), jnp.int32), jnp.zeros((), bool))
    saved = None
    if save_times is not None:
        stops = save_times

        def scan_body(c, t_stop):
            c = interval(c, t_stop)
            return c, c[0]

        carry, saved = lax.scan(scan_body, carry, stops)
    carry = interval(carry, t1)
    final, t_reached, total, failed = carry
    final = _keys_from_data(final, keys)
    saved = None if saved is None else _keys_from_data(saved, keys)
    return AdaptiveResult(final=final, saved=saved, t=t_reached, num_steps=total, failed=failed)


def _describe(x) -> str:
    name = str(x.dtype) if _is_key_dtype(x.dtype) else jnp.dtype(x.dtype).name  # np.dtype refuses key<fry>
    return f"{name}{list(x.shape)}"


def _is_key_dtype(dtype) -> bool:
    return jnp.issubdtype(dtype, jax.dtypes.prng_key)


def _keys_as_data(state):
    """``state`` with each typed PRNG key leaf (``jax.random.key``) replaced by its raw uint32 key
    data, and the per-leaf key implementations (None for other leaves) that undo it. The loop
    machinery (buffers, ``jnp.where``, ``eqx.error_if``'s callback) needs numpy dtypes; a key
    leaf was "TypeError: Cannot interpret 'key<fry>' as a data type"."""
    leaves, treedef = jax.tree.flatten(state)
    impls = [jax.random.key_impl(x) if _is_key_dtype(jnp.result_type(x)) else None for x in leaves]
    raw = [x if impl is None else jax.random.key_data(x) for x, impl in zip(leaves, impls, strict=True)]
    return treedef.unflatten(raw), (treedef, impls)


def _keys_from_data(raw, keys):
    """Inverse of :func:`_keys_as_data` (leaves may have extra leading axes, e.g. ``saved``)."""
    treedef, impls = keys
    leaves = treedef.flatten_up_to(raw)
    wrapped = [x if impl is None else jax.random.wrap_key_data(x, impl=impl) for x, impl in zip(leaves, impls,
                                                                                                   strict=True)]
    return treedef.unflatten(wrapped)


def check_state_kept(state, out, what: str = "step", weak_may_change_kind: bool = False) -> None:
    """InputError naming the first leaf where ``out`` (shapes and dtypes, e.g. from
    ``jax.eval_shape``) differs from ``state`` in structure, shape or dtype. A weak-typed leaf (from
    a Python number) may change precision, and its kind too (int to float) where the loop allows
    it (``lax.scan`` does, ``while_loop`` does not)."""
    paths_in, tree_in = jax.tree_util.tree_flatten_with_path(state)
    leaves_out, tree_out = jax.tree_util.tree_flatten(out)
    if tree_in != tree_out:
        raise InputError(f"{what} returned a state of structure {tree_out}; it must return the structure of the "
                         f"state it is given, {tree_in}")
    for (path, x), y in zip(paths_in, leaves_out, strict=True):
        same_kind = all(jnp.issubdtype(x.dtype, kind) == jnp.issubdtype(y.dtype, kind)
                        for kind in (jnp.inexact, jnp.integer, jnp.bool_))
        weak_ok = getattr(x, "weak_type", False) and (same_kind or weak_may_change_kind)
        if x.shape != y.shape or (x.dtype != y.dtype and not weak_ok):
            where = jax.tree_util.keystr(path) or "the state"
            raise InputError(f"{what} turned state leaf {where} from {_describe(x)} into {_describe(y)}; each leaf "
                             "must keep its shape and dtype (an integer leaf plus a float such as dt becomes a float: "
                             "keep such a leaf as a float, or cast the result back to its dtype)")


def _check_functions(step, dt_fn, fail_fn, state, t0, args) -> None:
    """InputError (at trace time, from shapes only) if ``step`` returns a state of another
    structure, shape or kind of dtype, or ``dt_fn``/``fail_fn`` does not return one number: an
    integer leaf advanced by ``dt`` (a float) was a raw JAX error of the while_loop or cond."""
    dt = jnp.zeros((), t0.dtype)
    # args are closed over, not passed: they may hold leaves that are not arrays (a network's
    # activation function), which eval_shape's arguments cannot
    check_state_kept(state, jax.eval_shape(lambda s: step(s, t0, dt, args), state))
    for name, fn in (("dt_fn", lambda s: dt_fn(s, t0, args)), ("fail_fn", fail_fn and (lambda s: fail_fn(s)))):
        if fn is None:
            continue
        result = jax.eval_shape(fn, state)
        if not (hasattr(result, "shape") and result.shape == ()):
            shape = getattr(result, "shape", type(result).__name__)
            raise InputError(f"{name} returned {shape}; it must return one number (shape ())")


def _time(name, value) -> float:
    if not is_real_number(value):  # float() took the text "1" and True
        raise InputError(f"{name} = {value!r} is not a number")
    return float(value)


def check_later_in(dtype, t0: float, t1: float, name0: str, name1: str) -> None:
    """A one-line InputError if ``t1`` > ``t0`` rounds to ``t1`` <= ``t0`` in ``dtype`` (the loop's
    precision): t1 = 0.1 + 1e-10 after t0 = 0.1 in float32 was a run of no steps that returned t = 0.1."""
    with np.errstate(over="ignore"):
        lo, hi = (np.asarray(v).astype(dtype) for v in (t0, t1))
    if not hi > lo:
        raise InputError(f"{name1} = {t1:.10g} is not allowed in {np.dtype(dtype).name}: it rounds to {name0} = "
                         f"{t0:.10g} (enable float64 with jax_enable_x64, or rescale the time unit)")


def check_times(t0, t1, save_times, dtype=None) -> None:
    """Validate concrete times (skipped for traced values). ``dtype``: the loop's time precision; a
    save time is in (t0, t1] if it is so there or in float64 (float32 0.1 is above the float64 0.1,
    equal to t1 = 0.1 in a float32 loop)."""
    if not is_concrete(t0, t1):
        return
    t0c, t1c = _time("t0", t0), _time("t1", t1)
    if not (math.isfinite(t0c) and math.isfinite(t1c) and t1c > t0c):
        raise InputError(f"t1 = {t1c:g} is not allowed; it must be finite and greater than t0 = {t0c:g}")
    if dtype is not None:
        check_later_in(dtype, t0c, t1c, "t0", "t1")
    if save_times is None:
        return
    if not is_concrete(save_times):
        return
    try:
        ts = np.asarray(save_times)
    except ValueError:  # ragged
        raise InputError("save_times must be a non-empty 1D sequence of times") from None
    if not (np.issubdtype(ts.dtype, np.integer) or np.issubdtype(ts.dtype, np.floating)):
        raise InputError(f"save_times = {save_times!r} is not allowed; it must be real numbers, not {ts.dtype}")
    ts_given, ts = ts, ts.astype(float)
    if ts.ndim != 1 or ts.size == 0:
        raise InputError("save_times must be a non-empty 1D sequence of times")
    if not np.all(np.isfinite(ts)):  # NaN passes every comparison below as False
        raise InputError(f"save_times = {save_times!r} is not allowed; every time must be finite")
    outside = (ts <= t0c) | (ts > t1c)
    if dtype is not None:  # as the loop holds them (jnp.linspace(0.01, t1, k) in float32 ends above t1)
        with np.errstate(over="ignore"):
            lo, hi, ts_loop = (np.asarray(v).astype(dtype) for v in (t0c, t1c, ts_given))
        outside &= (ts_loop <= lo) | (ts_loop > hi)
    if np.any(outside) or np.any(np.diff(ts) <= 0):
        raise InputError(f"save_times must increase strictly and lie in ({t0c:g}, {t1c:g}]")
