"""Resumable training driver: Adam (optax), mini-batches drawn from an explicit key, atomic
checkpoints, progress with the loss; and model files (hyper-parameters + weights)."""

from __future__ import annotations

import math
import os
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
from astrograd._errors import InputError, SimulationError, check_bool, check_int, check_key, check_positive
from astrograd.io._npz import as_stored, atomic_savez, differing_keys, key_list, load_npz, sha256_of
from astrograd.io._paths import file_to_write

_VERSION = 2  # 2: the starting weights and the batch key are part of the fingerprint


@dataclass
class TrainResult:
    """model: trained model. losses: ``(steps,)`` training loss of each update (all updates,
    including those before a resume). steps: updates done. resumed_from: step read from the
    checkpoint (0 for a fresh run)."""

    model: Any
    losses: np.ndarray
    steps: int
    resumed_from: int


def _leaves(tree) -> list:
    return jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))


def _replace_leaves(tree, arrays: list):
    diff, static = eqx.partition(tree, eqx.is_inexact_array)
    leaves, treedef = jax.tree.flatten(diff)
    if len(leaves) != len(arrays):
        raise InputError(f"stored weights have {len(arrays)} arrays; the model has {len(leaves)}")
    new = []
    for i, (old, a) in enumerate(zip(leaves, arrays, strict=True)):
        if tuple(old.shape) != tuple(a.shape):
            raise InputError(f"stored weight {i} has shape {tuple(a.shape)}; the model expects {tuple(old.shape)}")
        new.append(jnp.asarray(a, dtype=old.dtype))
    return eqx.combine(jax.tree.unflatten(treedef, new), static)


def train(
    loss_fn: Callable[[Any, Any], jax.Array],
    model: Any,
    batch_fn: Callable[[jax.Array], Any],
    *,
    steps: int,
    key: jax.Array,
    learning_rate: float = 1e-3,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 25,
    progress: bool = True,
    description: str = "train",
    fingerprint: dict | None = None,
    callback: Callable[[int, Any, float], None] | None = None,
    final_learning_rate: float | None = None,
    clip_norm: float | None = None,
) -> TrainResult:
    """Minimise ``loss_fn(model, batch)`` with Adam.

    model: an equinox module; its inexact-array leaves are trained. batch_fn(key) -> batch:
    the batch of update ``i`` is ``batch_fn(jax.random.fold_in(key, i))``, so a resumed run sees
    exactly the batches of an uninterrupted one. checkpoint: file; model, optimiser state, step
    and losses are written there atomically every ``checkpoint_every`` updates and at the end;
    if it exists the run resumes from it and ends with bit-identical weights to an
    uninterrupted run. fingerprint: extra JSON-able settings that must match on resume.
    callback(step, model, loss): called after each update (e.g. to log).
    final_learning_rate: if given, the rate follows a cosine from ``learning_rate`` to it over
    ``steps``. clip_norm: if given, gradients are clipped to this global norm before Adam.
    A non-finite loss raises SimulationError naming the update.
    """
    # numpy integers too (they were refused as "not an integer")
    steps = check_int("steps", steps, 0)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, 1)
    check_key("key", key)
    progress = check_bool("progress", progress)  # "no" would be truthy
    lr = check_positive("learning_rate", learning_rate)
    rate = lr
    if final_learning_rate is not None:
        final = check_positive("final learning rate", final_learning_rate)
        rate = optax.cosine_decay_schedule(lr, max(steps, 1), alpha=final / lr)
    opt = optax.adam(rate)
    if clip_norm is not None:
        check_positive("clip norm", clip_norm)
        opt = optax.chain(optax.clip_by_global_norm(float(clip_norm)), opt)
    diff, static = eqx.partition(model, eqx.is_inexact_array)
    opt_state = opt.init(diff)
    fp = {
        "version": _VERSION,
        "learning_rate": lr,
        "shapes": [list(np.shape(x)) for x in jax.tree.leaves(diff)],
        "start_sha256": sha256_of(*jax.tree.leaves(diff)),  # the starting weights
        "key": key_list(key),  # the batches
        "extra": fingerprint or {},
    }
    # only when set: they change the updates
    if final_learning_rate is not None:
        fp["final_learning_rate"] = float(final_learning_rate)
        fp["steps"] = steps  # the cosine schedule spans the steps
    if clip_norm is not None:
        fp["clip_norm"] = float(clip_norm)
    fp = as_stored(fp)

    @eqx.filter_jit
    def update(diff, opt_state, batch):
        def f(d):
            return loss_fn(eqx.combine(d, static), batch)

        value, grad = jax.value_and_grad(f)(diff)
        updates, opt_state = opt.update(grad, opt_state, diff)
        return optax.apply_updates(diff, updates), opt_state, value

    start, losses = 0, []
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and not path.is_dir():
        # below a file: found at the first save (after checkpoint_every updates) otherwise
        file_to_write(path, "state.npz")
    if path is not None and path.exists():
        meta, arrays = load_npz(path, "checkpoint")
        stored = meta.get("fingerprint") or {}
        differ = differing_keys(stored, fp)
        if differ:
            # the caller's fingerprint (the settings): name its entries, not only "extra"
            extra = stored.get("extra")
            entries = differing_keys(extra, fp["extra"]) if "extra" in differ and isinstance(extra, dict) else []
            detail = f"; fingerprint entries that differ: {', '.join(map(str, entries))}" if entries else ""
            raise InputError(
                f"checkpoint {str(path)!r} was written by a different training run ({', '.join(differ)} "
                f"differ){detail}; delete it or pass another --checkpoint"
            )
        start = int(meta["step"])
        if start > steps:
            raise InputError(f"steps = {steps} is smaller than the {start} steps already in checkpoint {str(path)!r}")
        n_model = int(meta["n_model"])
        diff = eqx.filter(
            _replace_leaves(eqx.combine(diff, static), [arrays[f"m{i}"] for i in range(n_model)]), eqx.is_inexact_array
        )
        state_leaves, state_def = jax.tree.flatten(opt_state)
        opt_state = jax.tree.unflatten(
            state_def, [jnp.asarray(arrays[f"s{i}"], dtype=jnp.asarray(x).dtype) for i, x in enumerate(state_leaves)]
        )
        losses = [float(v) for v in arrays["losses"]]

    # which weights were finite at the start: a weight that is inf from the start and gets no
    # gradient (a clamp, a mask) stays inf, and is not a weight that training made non-finite
    finite_at_start = [np.isfinite(np.asarray(x)) for x in jax.tree.leaves(diff)]

    def save(step: int) -> None:
        # the loss of an update is that of the weights before it: weights made non-finite by the
        # last update were saved and returned (sol-train --lr 1e308 wrote NaN weights, exit 0)
        if step > start and not all(np.all(np.isfinite(np.asarray(x)) | ~was)
                                    for x, was in zip(jax.tree.leaves(diff), finite_at_start, strict=True)):
            raise SimulationError(f"training weights became non-finite at update {step - 1}; lower the learning rate")
        if path is None:
            return
        model_leaves = jax.tree.leaves(diff)
        arrays = {f"m{i}": np.asarray(x) for i, x in enumerate(model_leaves)}
        arrays.update({f"s{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(opt_state))})
        arrays["losses"] = np.asarray(losses, dtype=np.float64)
        atomic_savez(path, {"fingerprint": fp, "step": step, "n_model": len(model_leaves)}, arrays)

    step = start
    with StopBetweenSteps(path is not None) as stop, ProgressBar(steps, description=description,
                                                                   enabled=progress) as bar:
        bar.advance(start)
        while step < steps:
            stop.check(save, step, path)  # Ctrl-C: keep every finished update
            batch = batch_fn(jax.random.fold_in(key, step))
            diff, opt_state, value = update(diff, opt_state, batch)
            value = float(value)
            if not math.isfinite(value):
                raise SimulationError(f"training loss became non-finite ({value}) at update {step}")
            losses.append(value)
            step += 1
            bar.advance(1, status=f"loss {value:.4g}")
            if step % checkpoint_every == 0 and step < steps:
                save(step)
            if callback is not None:
                callback(step, eqx.combine(diff, static), value)
        save(step)
    return TrainResult(eqx.combine(diff, static), np.asarray(losses), step, start)


def save_model(path: str | os.PathLike, model: Any, meta: dict) -> Path:
    """Write the model's weights and ``meta`` (kind and hyper-parameters, JSON) atomically."""
    path = Path(path)
    atomic_savez(path, meta, {f"w{i}": np.asarray(x) for i, x in enumerate(_leaves(model))})
    return path


def load_weights(path: str | os.PathLike, skeleton: Any) -> Any:
    """Fill a model of the right structure (``skeleton``) with the weights stored in ``path``."""
    _, arrays = load_npz(Path(path), "model file")
    n = len([k for k in arrays if k.startswith("w")])
    return _replace_leaves(skeleton, [arrays[f"w{i}"] for i in range(n)])


def read_model_meta(path: str | os.PathLike) -> dict:
    """The ``meta`` dictionary of a model file."""
    meta, _ = load_npz(Path(path), "model file")
    return meta
