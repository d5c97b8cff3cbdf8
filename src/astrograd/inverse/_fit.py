"""Gradient-based fitting driver: optax optimisers, history, best parameters, save and resume."""

from __future__ import annotations

import functools
import math
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from astrograd._cli_util import ProgressBar, StopBetweenSteps
from astrograd._errors import (
    FitStepError,
    InputError,
    SimulationError,
    check_bool,
    check_positive,
    runtime_check_message,
)
from astrograd.io._npz import args_record, as_stored, atomic_savez, differing_keys, load_npz, sha256_of

__all__ = ["FitResult", "fit"]

_OPTIMIZERS = ("adam", "lbfgs", "sgd")
_CHECKPOINT_VERSION = 3  # 2: the starting parameters and the caller's fingerprint; 3: the args


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    params: the parameters after the last update (same pytree structure as the input).
    best_params / best_loss: the evaluated parameters with the lowest loss.
    losses: ``(steps + 1,)`` array; ``losses[i]`` is the loss at ``params_history[i]``
      (index 0: the initial guess, last index: the final parameters).
    params_history: pytree like ``params`` whose array leaves have a leading axis of
      length ``steps + 1`` (None when ``history=False``; use that for large parameter arrays,
      the history is kept in host memory and in the checkpoint).
    steps: number of optimiser updates applied (smaller than requested if ``tol`` was met).
    converged: True if the gradient norm fell to ``tol`` or below.
    grad_norm: global gradient norm at the final parameters.
    resumed_from: the step read from the checkpoint (0 for a fresh run).
    """

    params: Any
    best_params: Any
    best_loss: float
    losses: np.ndarray
    params_history: Any
    steps: int
    converged: bool
    grad_norm: float
    resumed_from: int = 0


def _make_optimizer(optimizer, learning_rate) -> tuple[optax.GradientTransformationExtraArgs, str, float | None]:
    """(the optax transformation, its name, the checked learning rate as a float or None)."""
    if isinstance(optimizer, optax.GradientTransformation):
        if learning_rate is not None:  # it would be ignored: the transformation holds its own
            raise InputError(f"learning_rate = {learning_rate!r} is not allowed with a custom optax optimizer; "
                             "give the learning rate to the optimizer itself")
        return optax.with_extra_args_support(optimizer), "custom", None
    if not isinstance(optimizer, str):
        raise InputError(
            f"optimizer = {optimizer!r} is not allowed; use one of {', '.join(_OPTIMIZERS)} "
            "or an optax.GradientTransformation"
        )
    if optimizer not in _OPTIMIZERS:
        raise InputError(
            f"unknown optimizer {optimizer!r}; choose one of: {', '.join(_OPTIMIZERS)} "
            "(or pass an optax.GradientTransformation)"
        )
    if learning_rate is not None:
        learning_rate = check_positive("learning_rate", learning_rate, strict=True)
    if optimizer == "adam":
        return (optax.with_extra_args_support(optax.adam(1e-2 if learning_rate is None else learning_rate)), "adam",
                learning_rate)
    if optimizer == "sgd":
        return (optax.with_extra_args_support(optax.sgd(1e-2 if learning_rate is None else learning_rate)), "sgd",
                learning_rate)
    # L-BFGS: a zoom line search by default; a fixed learning rate if one is given.
    return optax.lbfgs(learning_rate=learning_rate), "lbfgs", learning_rate


_UPDATE_CACHE: OrderedDict = OrderedDict()
_UPDATE_CACHE_SIZE = 16


def _compiled_update(loss, static, opt, name, optimizer, learning_rate):
    """The jitted update step for this loss and optimiser, reused by later calls with the same
    ones (a resumed fit does not compile again)."""
    static_leaves, static_def = jax.tree.flatten(static)
    key = (loss, name, learning_rate if name != "custom" else optimizer, static_def, tuple(static_leaves))
    try:
        cached = _UPDATE_CACHE.get(key)
    except TypeError:  # unhashable static leaves: no caching
        key, cached = None, None
    if cached is not None:
        _UPDATE_CACHE.move_to_end(key)
        return cached

    def loss_of(diff, args):
        params = eqx.combine(diff, static)
        return jnp.asarray(loss(params) if args is None else loss(params, args))

    @jax.jit
    def update(diff, opt_state, args):
        value_fn = functools.partial(loss_of, args=args)
        if name == "lbfgs":
            value, grad = optax.value_and_grad_from_state(value_fn)(diff, state=opt_state)
        else:
            value, grad = jax.value_and_grad(value_fn)(diff)
        updates, new_state = opt.update(grad, opt_state, diff, value=value, grad=grad, value_fn=value_fn)
        new_diff = optax.apply_updates(diff, updates)
        return new_diff, new_state, value, optax.tree_utils.tree_norm(grad)

    if key is not None:
        _UPDATE_CACHE[key] = (update, loss_of)
        if len(_UPDATE_CACHE) > _UPDATE_CACHE_SIZE:
            _UPDATE_CACHE.popitem(last=False)
    return update, loss_of


def _like_after_an_update(update, diff, opt_state, args):
    """``opt_state`` with each leaf given the dtype that ``update`` returns it with (found by
    tracing, not running). Some optimisers start with weakly typed scalars (optax's L-BFGS: its
    line-search counters and errors) that an update returns strongly typed: without this, the
    jitted update was compiled a second time at the second step."""
    after = jax.eval_shape(update, diff, opt_state, args)[1]
    return jax.tree.map(lambda x, a: jnp.asarray(x, dtype=a.dtype), opt_state, after)


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _stored_leaf(x) -> np.ndarray:
    """A leaf of the optimiser state as numpy: a typed PRNG key (e.g. optax.noisy_sgd's) by its
    key data, which numpy can hold (np.asarray of the key was a TypeError at the first save)."""
    return np.asarray(jax.random.key_data(x) if _is_key(x) else x)


def _restored_leaf(stored: np.ndarray, like):
    """A leaf read back from a checkpoint, with the dtype (or key type) of ``like``."""
    if _is_key(like):
        return jax.random.wrap_key_data(jnp.asarray(stored), impl=jax.random.key_impl(like))
    return jnp.asarray(stored, dtype=jnp.asarray(like).dtype)


def _fingerprint(name, learning_rate, tol, leaves, state_leaves, args, extra) -> dict:
    return as_stored({
        "version": _CHECKPOINT_VERSION,
        "optimizer": name,
        "learning_rate": None if learning_rate is None else float(learning_rate),
        "tol": None if tol is None else float(tol),
        "params": [[list(np.shape(x)), str(jnp.asarray(x).dtype)] for x in leaves],
        "state": [[list(np.shape(x)), str(jnp.asarray(x).dtype)] for x in state_leaves],
        "start_sha256": sha256_of(*leaves),
        # the data the loss reads: a resume with other data would not end where one run ends
        **args_record(args),
        "extra": extra or {},
    })


def _run_update(update, diff, static, opt_state, args, step: int):
    """One compiled update, with the loss value and gradient norm as floats. A check that fails
    inside the loss (e.g. a solver's step cap) becomes a one-line FitStepError naming the step,
    with the parameters and JAX's error as attributes."""
    try:
        new_diff, new_state, value, gnorm = update(diff, opt_state, args)
        return new_diff, new_state, float(value), float(gnorm)
    except (RuntimeError, ValueError) as err:  # JAX raises a failed check as either, by where it surfaces
        message = runtime_check_message(err)
        if message is None:
            raise
        raise FitStepError(f"the loss failed at step {step}: {message}", step, err,
                           eqx.combine(diff, static)) from err


def _non_finite_advice(step: int, start: int, name: str, learning_rate: float | None) -> str:
    """What to change when the loss or gradient is not finite at ``step``: at the first step of a
    fresh run, the starting parameters; later, the optimiser's steps ("at step 5" alone named
    neither)."""
    if step == 0:
        return "; the loss or its gradient is not finite at the starting parameters: start elsewhere"
    if step == start:  # resumed from a checkpoint: the parameters it holds
        return "; the loss or its gradient is not finite at the checkpoint's parameters"
    if name == "custom":
        return f"; the parameters came from {step} optimiser updates: a smaller step size may help"
    if name == "lbfgs" and learning_rate is None:
        return f"; the parameters came from {step} lbfgs updates (line search): a starting point nearer the minimum " \
               "may help"
    rate = "its default learning_rate" if learning_rate is None else f"learning_rate = {learning_rate:g}"
    return f"; the parameters came from {step} {name} updates with {rate}: a smaller learning rate may help"


def fit(
    loss: Callable[[Any], jax.Array],
    params: Any,
    *,
    optimizer: str | optax.GradientTransformation = "adam",
    learning_rate: float | None = None,
    steps: int = 1000,
    tol: float | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
    progress: bool = True,
    history: bool = True,
    description: str = "fit",
    fingerprint: dict | None = None,
    args: Any = None,
) -> FitResult:
    """Minimise ``loss(params)`` with an optax optimiser.

    loss: scalar function of ``params`` (a pytree; only its inexact-array leaves are optimised,
      other leaves such as activation functions are passed through unchanged).
    optimizer: ``"adam"`` (default learning rate 1e-2), ``"sgd"``, ``"lbfgs"`` (optax.lbfgs with
      a zoom line search unless ``learning_rate`` is given), or any optax.GradientTransformation.
    steps: maximum number of updates (> 0). tol: stop when the global gradient norm is <= tol.
    checkpoint: file path; the optimiser state, step, parameters and history are written there
      every ``checkpoint_every`` steps and at the end (atomically). Calling ``fit`` again with the
      same loss, starting parameters, optimiser and learning rate resumes from it (a larger
      ``steps`` continues it) and ends with exactly the parameters of an uninterrupted run. A
      checkpoint written with other starting parameters, optimiser, learning rate, tol, shapes
      ``args`` (their shapes or values) or ``fingerprint`` is refused (InputError naming what
      differs).
    args: data the loss reads but that is not optimised (a pytree of arrays; the loss is then
      called as ``loss(params, args)``). They are inputs of the compiled update, not constants
      in it, so a later fit with the same module-level ``loss`` and other ``args`` of the same
      shapes reuses the compiled program. A checkpoint records their shapes, dtypes and a
      SHA-256 of their values; resuming with other ``args`` is refused.
    fingerprint: JSON-able settings the loss depends on that ``fit`` cannot see (a problem's
      size, a custom optimiser's hyperparameters); a checkpoint must match them to be resumed.
    progress: show a progress bar with the current loss on stderr.

    Each update is one ``jax.jit``-compiled function (compiled once). A non-finite loss or
    gradient raises SimulationError naming the step; a check failing inside the loss
    (``equinox.error_if``, such as a solver's step cap) raises its subclass FitStepError with the
    step, the parameters and JAX's error as attributes (``step``, ``params``, ``cause``).
    """
    for name, value in (("steps", steps), ("checkpoint_every", checkpoint_every)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise InputError(f"{name} = {value!r} is not allowed; it must be an integer > 0")
    if tol is not None:
        tol = check_positive("tol", tol, allow_zero=True, strict=True)
    progress, history = check_bool("progress", progress), check_bool("history", history)
    opt, name, learning_rate = _make_optimizer(optimizer, learning_rate)

    diff0, static = eqx.partition(params, eqx.is_inexact_array)
    leaves0, treedef = jax.tree.flatten(diff0)
    if not leaves0:
        raise InputError("params has no floating-point array leaves to optimise")
    # named by its path (params['a'], params[1].b), not by its place among the leaves
    for where, leaf in jax.tree_util.tree_flatten_with_path(diff0)[0]:
        if not np.all(np.isfinite(np.asarray(leaf))):
            raise InputError(f"params{jax.tree_util.keystr(where)} (shape {tuple(np.shape(leaf))}) has non-finite "
                             "values")

    update, loss_of = _compiled_update(loss, static, opt, name, optimizer, learning_rate)
    value0 = jax.eval_shape(loss_of, diff0, args)
    if value0.shape != ():
        raise InputError(f"loss must return a scalar; it returned shape {value0.shape}")
    if not jnp.issubdtype(value0.dtype, jnp.floating):  # JAX: "grad requires real-valued outputs"
        raise InputError(f"loss must return a floating-point scalar; it returned {value0.dtype}")

    try:
        opt_state = _like_after_an_update(update, diff0, opt.init(diff0), args)
    except TypeError as err:  # tracing the update failed
        dtypes = sorted({str(jnp.result_type(x)) for x in leaves0})
        if name != "lbfgs" or dtypes == [str(value0.dtype)]:
            raise
        # optax's L-BFGS line search mixes the loss and the parameters in one lax.cond
        raise InputError(f"optimizer 'lbfgs' cannot use a {value0.dtype} loss with {'/'.join(dtypes)} parameters "
                         f"(optax: {str(err).splitlines()[0]}); cast the loss to the parameters' dtype") from None
    state_leaves0, state_def = jax.tree.flatten(opt_state)
    stamp = _fingerprint(name, learning_rate, tol, leaves0, state_leaves0, args, fingerprint)

    diff = diff0
    start = 0
    losses: list[float] = []
    hist: list[list[np.ndarray]] = [[np.asarray(x) for x in leaves0]] if history else []
    converged = False
    best_loss, best_diff = math.inf, diff0  # jax arrays are immutable: keeping a reference is free
    path = Path(checkpoint) if checkpoint is not None else None

    if path is not None and path.exists():
        meta, arrays = load_npz(path, "checkpoint")
        stored = meta.get("fingerprint") or {}
        differ = differing_keys(stored, stamp)
        if differ:
            # the caller's fingerprint: name its entries, not only "extra"
            entries = differing_keys(stored.get("extra") or {}, stamp["extra"]) if "extra" in differ else []
            detail = f"; fingerprint entries that differ: {', '.join(map(str, entries))}" if entries else ""
            raise InputError(
                f"checkpoint {str(path)!r} was written by a different fit ({', '.join(differ)} differ){detail}; "
                "delete it or pass another path"
            )
        start = int(meta["step"])
        if start > steps:
            raise InputError(f"steps = {steps} is smaller than the {start} steps already in checkpoint {str(path)!r}")
        converged = bool(meta["converged"])
        diff = jax.tree.unflatten(
            treedef, [jnp.asarray(arrays[f"p{i}"], dtype=jnp.asarray(x).dtype) for i, x in enumerate(leaves0)]
        )
        opt_state = jax.tree.unflatten(
            state_def, [_restored_leaf(arrays[f"s{i}"], x) for i, x in enumerate(state_leaves0)]
        )
        losses = [float(v) for v in arrays["losses"]]
        best_loss = float(meta["best_loss"])
        best_diff = jax.tree.unflatten(
            treedef, [jnp.asarray(arrays[f"b{i}"], dtype=jnp.asarray(x).dtype) for i, x in enumerate(leaves0)]
        )
        if history and not meta["history"]:  # it used to return params_history None silently
            raise InputError(f"checkpoint {str(path)!r} holds no parameter history (written with history=False); "
                             "resume it with history=False, or delete it to start again with history")
        if history:
            hist = [[arrays[f"h{j}"][k] for j in range(len(leaves0))] for k in range(start + 1)]

    def save(step: int) -> None:
        if path is None:
            return
        arrays = {f"p{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(diff))}
        arrays.update({f"s{i}": _stored_leaf(x) for i, x in enumerate(jax.tree.leaves(opt_state))})
        arrays.update({f"b{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(best_diff))})
        arrays["losses"] = np.asarray(losses, dtype=np.float64)
        if history:
            arrays.update({f"h{j}": np.stack([h[j] for h in hist]) for j in range(len(leaves0))})
        meta = {"fingerprint": stamp, "step": step, "converged": converged, "history": history,
                "best_loss": best_loss}
        atomic_savez(path, meta, arrays)

    step = start
    with StopBetweenSteps(path is not None) as stop, ProgressBar(steps, description=description,
                                                                   enabled=progress) as bar:
        bar.advance(start)
        while step < steps and not converged:
            stop.check(save, step, path)  # Ctrl-C: keep every finished step
            new_diff, new_state, value, gnorm = _run_update(update, diff, static, opt_state, args, step)
            if not (math.isfinite(value) and math.isfinite(gnorm)):
                raise SimulationError(
                    f"loss or gradient became non-finite (loss={value}, |grad|={gnorm}) at step {step}"
                    f"{_non_finite_advice(step, start, name, learning_rate)}"
                )
            losses.append(value)
            if value < best_loss:
                best_loss, best_diff = value, diff
            if tol is not None and gnorm <= tol:
                converged = True
                losses.pop()
                break
            diff, opt_state = new_diff, new_state
            step += 1
            if history:
                hist.append([np.asarray(x) for x in jax.tree.leaves(diff)])
            bar.advance(1, status=f"loss {value:.4g}")
            if step % checkpoint_every == 0 and step < steps:
                save(step)
        save(step)

    # the loss and gradient at the final parameters, from the already compiled update
    _, _, final_value, final_gnorm = _run_update(update, diff, static, opt_state, args, step)
    if not (math.isfinite(final_value) and math.isfinite(final_gnorm)):  # the loop refuses them at every step
        raise SimulationError(f"loss or gradient became non-finite (loss={final_value}, |grad|={final_gnorm}) at "
                              f"the final parameters after step {step}"
                              f"{_non_finite_advice(step, start, name, learning_rate)}")
    if final_value < best_loss:
        best_loss, best_diff = final_value, diff
    params_history = None
    if history:
        stacked = [np.stack([h[j] for h in hist]) for j in range(len(leaves0))]
        params_history = eqx.combine(jax.tree.unflatten(treedef, stacked), static)
    return FitResult(
        params=eqx.combine(diff, static),
        best_params=eqx.combine(best_diff, static),
        best_loss=best_loss,
        losses=np.asarray([*losses, final_value]),
        params_history=params_history,
        steps=step,
        converged=converged,
        grad_norm=final_gnorm,
        resumed_from=start,
    )
