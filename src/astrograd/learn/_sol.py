"""Solver-in-the-loop: a coarse Kármán solver corrected by a network after every step.

Modes: ``none`` (the coarse solver alone), ``supervised`` (the network learns, from precomputed
pairs, to map one coarse step of a reference frame to the next reference frame: no gradients
through the solver) and ``loop`` (``unroll`` solver + network steps from a reference frame, the
loss on every step, gradients through the differentiable solver).
"""

from __future__ import annotations

import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from astrograd._errors import (
    InputError,
    check_bool,
    check_choice,
    check_int,
    check_positive,
    check_seed,
    is_concrete,
)
from astrograd.flow import FlowState, enforce_boundaries, step
from astrograd.io._npz import sha256_of
from astrograd.io._paths import file_to_write
from astrograd.learn._karman import coarse_scene, load_karman_data
from astrograd.learn._nets import CorrectorResNet, count_parameters
from astrograd.learn._train import load_weights, read_model_meta, save_model, train

SOL_MODES = ("none", "supervised", "loop")


def _check_kernel(kernel) -> int:
    """The ResNet blocks' kernel size: an odd integer >= 1. An even kernel has no centre cell:
    its "SAME" padding is one cell wider on one side, so the correction of a cell would be
    computed from a neighbourhood shifted by half a cell (it used to be accepted)."""
    kernel = check_int("kernel", kernel, 1)
    if kernel % 2 == 0:
        raise InputError(f"kernel = {kernel} is not allowed; it must be an odd integer >= 1 (an even kernel has "
                         "no centre cell: the correction would be shifted by half a cell)")
    return kernel

#: ``train_sol``'s options: (name, default when None, check of the value). The defaults keep the
#: stored fingerprints reading the same as before (``unroll`` too, in every mode); the checks
#: return Python ints, not numpy ones, which made the model file's JSON header fail after all
#: the training.
TRAIN_SOL_DEFAULTS = (
    ("unroll", 4, lambda v: check_int("unroll", v, 1)),
    ("steps", 1000, lambda v: check_int("steps", v, 0)),
    ("batch", 4, lambda v: check_int("batch", v, 1)),
    ("learning_rate", 1e-3, lambda v: check_positive("learning rate", v)),
    ("blocks", 3, lambda v: check_int("blocks", v, 0)),
    ("channels", 32, lambda v: check_int("channels", v, 1)),
    ("kernel", 3, _check_kernel),
    ("seed", 0, check_seed),
    ("checkpoint_every", 25, lambda v: check_int("checkpoint_every", v, 1)),
)


def corrected_step(model, state: FlowState, params, config, reynolds) -> FlowState:
    """One coarse solver step followed by the additive network correction (``model`` None: the
    plain solver). The corrected velocity gets the boundary values re-imposed."""
    s = step(state, params, config)
    if model is None:
        return s
    dvx, dvy = model(s.vx, s.vy, reynolds)
    vx, vy = enforce_boundaries(s.vx + dvx, s.vy + dvy, params, config)
    return eqx.tree_at(lambda t: (t.vx, t.vy), s, (vx, vy))


class SolProblem(eqx.Module):
    """The coarse solver set up for every run of a data file: ``config`` (static), stacked
    ``params`` (leading axis: run), ``reynolds (runs,)``, reference ``vx (runs, frames, ny, nx+1)``,
    ``vy (runs, frames, ny+1, nx)``."""

    config: object = eqx.field(static=True)
    params: object
    reynolds: jax.Array
    vx: jax.Array
    vy: jax.Array
    template: FlowState

    def state(self, vx, vy, template=None) -> FlowState:
        t = self.template
        return FlowState(
            vx=vx,
            vy=vy,
            marker=t.marker,
            pressure=t.pressure,
            time=t.time,
            status=t.status,
            fail_time=t.fail_time,
            fail_cell=t.fail_cell,
            cg_steps=t.cg_steps,
        )


def make_problem(path, split: str, dtype=None) -> tuple[SolProblem, dict]:
    """Load the ``split`` (``train`` or ``test``) runs of a karman-data file."""
    attrs, runs = load_karman_data(path, split)
    if not runs:
        raise InputError(
            f"{str(path)!r} has no complete {split} runs; generate them with `astrograd learn karman-data`"
        )
    dtype = dtype or jnp.result_type(float)
    nx, ny, dt = int(attrs["nx"]), int(attrs["ny"]), float(attrs["dt"])
    scenes = [coarse_scene(nx, ny, r["reynolds"], dt) for r in runs]
    config = scenes[0][2]
    params = jax.tree.map(
        lambda *a: jnp.stack(a).astype(a[0].dtype if jnp.issubdtype(a[0].dtype, jnp.integer) else dtype),
        *[s[1] for s in scenes],
    )
    template = jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, scenes[0][0])
    problem = SolProblem(
        config,
        params,
        jnp.asarray([r["reynolds"] for r in runs], dtype),
        jnp.asarray(np.stack([r["vx"] for r in runs]), dtype),
        jnp.asarray(np.stack([r["vy"] for r in runs]), dtype),
        template,
    )
    return problem, attrs


def _params_of(problem: SolProblem, run):
    return jax.tree.map(lambda a: a[run], problem.params)


def rollout(model, problem: SolProblem, run: int, start: int, num_steps: int):
    """Run the (corrected) coarse solver ``num_steps`` steps from reference frame ``start`` of
    run ``run``. Returns ``(vx (num_steps+1, ny, nx+1), vy (num_steps+1, ny+1, nx), status)``."""
    num_steps = _check_rollout(problem, run, start, num_steps)
    return _rollout(model, problem, run, start, num_steps)


def _check_rollout(problem: SolProblem, run, start, num_steps) -> int:
    """Raise unless run and start (when concrete) index a reference frame; ``int(num_steps)``."""
    runs, frames = problem.vx.shape[:2]
    for name, value, count, what in (("run", run, runs, "runs"), ("start", start, frames, "frames per run")):
        if not is_concrete(value):
            continue
        # an integral float (1.0) passed and then failed as an array index (a raw TypeError)
        integer = not isinstance(value, bool | np.bool_) and np.ndim(value) == 0 and (
            isinstance(value, int | np.integer) or np.issubdtype(np.asarray(value).dtype, np.integer)
        )
        if not integer:
            raise InputError(f"{name} = {value!r} is not allowed; it must be an integer index (0 to {count - 1})")
        if not 0 <= value < count:
            raise InputError(f"{name} = {value!r} is not allowed; the problem has {count} {what} (0 to {count - 1})")
    return check_int("num_steps", num_steps, 0)


def _rollout_start(problem: SolProblem, run, start):
    """Parameters, initial state (reference frame ``start``) and Reynolds number of run ``run``."""
    s0 = problem.state(problem.vx[run, start], problem.vy[run, start])
    return _params_of(problem, run), s0, problem.reynolds[run]


@eqx.filter_jit
def _rollout(model, problem, run, start, num_steps):
    params, s0, re = _rollout_start(problem, run, start)

    def body(s, _):
        s = corrected_step(model, s, params, problem.config, re)
        return s, (s.vx, s.vy)

    final, (vx, vy) = jax.lax.scan(body, s0, None, length=num_steps)
    vx = jnp.concatenate([s0.vx[None], vx])
    vy = jnp.concatenate([s0.vy[None], vy])
    return vx, vy, final.status


_corrected_step_jit = eqx.filter_jit(corrected_step)


def rollout_stepwise(model, problem: SolProblem, run: int, start: int, num_steps: int):
    """:func:`rollout` with one compiled step per call from Python instead of one ``lax.scan``
    (same results; not for use under ``jit``). On CPU XLA runs the network's convolutions
    several times slower inside a loop body: 32×64 grid, 100 steps, 4.6 vs 19 ms per step
    (``benchmarks/bench_learn_sol.py``)."""
    num_steps = _check_rollout(problem, run, start, num_steps)
    params, s, re = _rollout_start(problem, run, start)
    vx, vy = [s.vx], [s.vy]
    for _ in range(num_steps):
        s = _corrected_step_jit(model, s, params, problem.config, re)
        vx.append(s.vx)
        vy.append(s.vy)
    return jnp.stack(vx), jnp.stack(vy), s.status


def relative_l1(vx, vy, ref_vx, ref_vy):
    """Per-frame relative L1 error ``Σ|v − v_ref| / Σ|v_ref|`` over both face components."""
    num = jnp.abs(vx - ref_vx).sum(axis=(-2, -1)) + jnp.abs(vy - ref_vy).sum(axis=(-2, -1))
    den = jnp.abs(ref_vx).sum(axis=(-2, -1)) + jnp.abs(ref_vy).sum(axis=(-2, -1))
    return num / den


def unrolled_loss(model, problem: SolProblem, run, start, unroll: int):
    """Mean over the ``unroll`` steps of the mean squared velocity error of the corrected
    coarse solver started from reference frame ``start`` of run ``run`` (traceable; concrete
    ``run`` and ``start`` are checked: the reference frames ``start + unroll`` must exist)."""
    _check_rollout(problem, run, start, 0)
    unroll = check_int("unroll", unroll, 1)  # 0 was the mean of no steps: NaN
    if is_concrete(start) and start + unroll > problem.vx.shape[1] - 1:
        # JAX clamps an index past the data: the loss compared with the last frame, repeated
        raise InputError(
            f"start = {start!r} with unroll = {unroll} is not allowed; the problem has {problem.vx.shape[1]} frames "
            f"per run: start + unroll must be at most {problem.vx.shape[1] - 1}"
        )
    params = _params_of(problem, run)
    re = problem.reynolds[run]
    s0 = problem.state(problem.vx[run, start], problem.vy[run, start])

    def body(s, k):
        s = corrected_step(model, s, params, problem.config, re)
        rx = problem.vx[run, start + k]
        ry = problem.vy[run, start + k]
        err = jnp.mean((s.vx - rx) ** 2) + jnp.mean((s.vy - ry) ** 2)
        return s, err

    # unrolled: XLA on CPU runs the network's convolutions inside a while loop several times
    # slower (see docs/learn.md); the solver's own CG loop stays a loop
    _, errs = jax.lax.scan(jax.checkpoint(body), s0, jnp.arange(1, unroll + 1), unroll=True)
    return jnp.mean(errs)


@eqx.filter_jit
def precompute_solver_step(problem: SolProblem):
    """One plain coarse step from every reference frame (but the last) of every run:
    ``(vx (runs, frames-1, ny, nx+1), vy (runs, frames-1, ny+1, nx))``."""

    def one(run):
        params = _params_of(problem, run)

        def f(vx, vy):
            s = step(problem.state(vx, vy), params, problem.config)
            return s.vx, s.vy

        return jax.lax.map(lambda a: f(*a), (problem.vx[run, :-1], problem.vy[run, :-1]))

    return jax.lax.map(one, jnp.arange(problem.vx.shape[0]))


def supervised_loss(model, inputs, targets, reynolds):
    """Mean squared error of ``input + model(input)`` against the next reference frame."""
    (ix, iy), (tx, ty) = inputs, targets

    def one(vx, vy, rx, ry, re):
        dvx, dvy = model(vx, vy, re)
        return jnp.mean((vx + dvx - rx) ** 2) + jnp.mean((vy + dvy - ry) ** 2)

    return jnp.mean(jax.vmap(one)(ix, iy, tx, ty, reynolds))


def make_corrector(hyper: dict, key) -> CorrectorResNet:
    return CorrectorResNet(
        blocks=hyper["blocks"],
        channels=hyper["channels"],
        kernel=hyper["kernel"],
        reynolds_scale=hyper["reynolds_scale"],
        key=key,
    )


def train_sol(
    data: str | Path,
    out: str | Path,
    *,
    mode: str = "loop",
    unroll: int | None = None,
    steps: int | None = None,
    batch: int | None = None,
    learning_rate: float | None = None,
    blocks: int | None = None,
    channels: int | None = None,
    kernel: int | None = None,
    seed: int | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    progress: bool = True,
    init: str | Path | None = None,
) -> dict:
    """Train a corrector on the training runs of ``data`` and write the model file ``out``.

    mode: ``none`` (writes a model file meaning "no correction"), ``supervised`` or ``loop``
    (``unroll`` steps, default 4; ``unroll`` is refused in the other modes). steps: Adam updates
    (default 1000). batch: samples (run, start frame) per update, drawn from the key of each
    update (default 4). learning_rate: default 1e-3. blocks, channels, kernel: the ResNet
    (defaults 3, 32, 3). seed: initial weights and batches (default 0). checkpoint_every:
    updates between checkpoints (default 25). init: a model file of the same architecture (e.g.
    a supervised network) to start from instead of random weights (fine-tuning). Mode ``none``
    trains nothing: it refuses every training option (None means not given). Returns a summary
    dict (losses, parameters, seconds).
    """
    check_choice("mode", mode, SOL_MODES)
    # options that do not apply to the mode used to be accepted and ignored
    if unroll is not None and mode != "loop":
        raise InputError(f"unroll = {unroll!r} is not allowed with mode {mode!r}; it applies to mode 'loop' only")
    training = {
        "init": init,
        "checkpoint": checkpoint,
        "steps": steps,
        "batch": batch,
        "learning_rate": learning_rate,
        "blocks": blocks,
        "channels": channels,
        "kernel": kernel,
        "seed": seed,
        "checkpoint_every": checkpoint_every,
    }
    for name, value in training.items():
        if value is not None and mode == "none":
            shown = str(value) if isinstance(value, Path) else value
            raise InputError(f"{name} = {shown!r} is not allowed with mode 'none'; it trains no network")
    given = {"unroll": unroll, **training}
    unroll, steps, batch, learning_rate, blocks, channels, kernel, seed, checkpoint_every = (
        check(default if given[name] is None else given[name]) for name, default, check in TRAIN_SOL_DEFAULTS
    )
    progress = check_bool("progress", progress)  # "no" would be truthy
    out = file_to_write(out, "model.npz")  # before training, not when saving its result
    problem, attrs = make_problem(data, "train")
    # the blocks see the (ny+1, nx+1) velocity image: a kernel wider than 2 min(nx, ny) + 1 holds
    # weights that never reach a cell, at any output cell (99 on 32x64 was accepted)
    widest = 2 * min(int(attrs["nx"]), int(attrs["ny"])) + 1
    if kernel > widest:
        raise InputError(f"kernel = {kernel} is not allowed for the {int(attrs['nx'])}x{int(attrs['ny'])} grid of "
                         f"{str(data)!r}; it must be at most 2*{min(int(attrs['nx']), int(attrs['ny']))} + 1 = "
                         f"{widest} (the weights of a wider kernel never reach a cell)")
    frames = problem.vx.shape[1]
    if mode == "loop" and unroll >= frames:
        raise InputError(f"unroll = {unroll} is not allowed; it must be smaller than the {frames} frames per run")
    hyper = {"blocks": blocks, "channels": channels, "kernel": kernel, "reynolds_scale": 1000.0}
    meta = {
        "kind": "sol",
        "mode": mode,
        "unroll": unroll if mode == "loop" else (1 if mode == "supervised" else 0),
        "hyper": hyper,
        "nx": int(attrs["nx"]),
        "ny": int(attrs["ny"]),
    }
    t0 = time.perf_counter()
    if mode == "none":
        save_model(out, eqx.nn.Identity(), meta)
        return {"mode": mode, "out": str(out), "parameters": 0, "seconds": time.perf_counter() - t0}
    key = jax.random.key(seed)
    model = make_corrector(hyper, jax.random.fold_in(key, 1))
    if init is not None:
        start_model, start_meta = load_corrector(init)
        if start_model is None or start_meta.get("hyper") != hyper:
            raise InputError(
                f"--init {str(init)!r} holds a {start_meta.get('mode')} model with {start_meta.get('hyper')}; "
                f"it must be a trained network with {hyper}"
            )
        model = start_model
        meta["init"] = str(init)
    runs = problem.vx.shape[0]
    span = unroll if mode == "loop" else 1

    def draw(k):
        kr, kt = jax.random.split(k)
        return (jax.random.randint(kr, (batch,), 0, runs), jax.random.randint(kt, (batch,), 0, frames - span))

    if mode == "loop":

        def loss_fn(m, b):
            run, start = b
            return jnp.mean(jax.vmap(lambda r, s: unrolled_loss(m, problem, r, s, unroll))(run, start))
    else:
        inputs = precompute_solver_step(problem)

        def loss_fn(m, b):
            run, start = b
            src = (inputs[0][run, start], inputs[1][run, start])
            tgt = (problem.vx[run, start + 1], problem.vy[run, start + 1])
            return supervised_loss(m, src, tgt, problem.reynolds[run])

    result = train(
        loss_fn,
        model,
        draw,
        steps=steps,
        key=jax.random.fold_in(key, 2),
        learning_rate=learning_rate,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        progress=progress,
        description=f"sol-train {mode}",
        # the data by content: a file deleted and regenerated under the same name used to resume
        # a checkpoint of other data (and a moved file was refused)
        fingerprint={"mode": mode, "unroll": unroll, "batch": batch, "seed": seed, "dt": float(attrs["dt"]),
                     "data_sha256": sha256_of(problem.reynolds, problem.vx, problem.vy),
                     **({} if init is None else {"init": str(init)})},
    )
    meta["losses_first_last"] = [float(result.losses[0]), float(result.losses[-1])] if len(result.losses) else []
    save_model(out, result.model, meta)
    return {
        "mode": mode,
        "unroll": meta["unroll"],
        "out": str(out),
        "parameters": count_parameters(result.model),
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "loss_first": float(result.losses[0]) if len(result.losses) else None,
        "loss_last": float(result.losses[-1]) if len(result.losses) else None,
        "seconds": time.perf_counter() - t0,
    }


def load_corrector(path: str | Path):
    """``(model or None, meta)`` from a sol-train model file."""
    meta = read_model_meta(path)
    if meta.get("kind") != "sol":
        raise InputError(f"{str(path)!r} is not a sol-train model file (kind {meta.get('kind')!r})")
    try:
        if meta["mode"] == "none":
            return None, meta
        skeleton = make_corrector(meta["hyper"], jax.random.key(0))
    except (KeyError, TypeError) as err:
        raise InputError(f"{str(path)!r} is not a valid sol-train model file (missing or bad setting {err})") from None
    return load_weights(path, skeleton), meta


def evaluate_sol(data: str | Path, models: dict[str, str | Path], *, steps: int = 100, start: int = 0) -> dict:
    """Roll out each model (label -> model file; ``none``, the uncorrected solver, is always
    included: a network labelled ``none`` is refused) ``steps`` steps on every test run of
    ``data`` from frame ``start``. Labels are names without '/' (datasets of eval.h5). Returns
    ``{"reynolds": [...], "errors": {label: (runs, steps+1) relative L1 errors}, "mean": {label:
    [per run mean over steps 1..]}, "vorticity": ...}``."""
    steps = check_int("steps", steps, 1)
    start = check_int("start", start, 0)
    problem, attrs = make_problem(data, "test")
    frames = problem.vx.shape[1]
    if start > frames - 2:  # no step left: blamed on steps before ("at most -95 steps")
        raise InputError(f"start = {start!r} is not allowed; the test runs have {frames} frames: it must be an "
                         f"integer in [0, {frames - 2}]")
    if start + steps > frames - 1:
        raise InputError(
            f"steps = {steps!r} from frame {start} is not allowed; the test runs have {frames} frames "
            f"(at most {frames - 1 - start} steps)"
        )
    for label in models:
        # the labels name the datasets of eval.h5: "a/b" was stored as b in a group a, "." and ""
        # failed writing it, after the whole evaluation
        if not isinstance(label, str) or label in ("", ".", "..") or "/" in label:
            raise InputError(f"model label {label!r} is not allowed; it must be a non-empty name without '/'")
    loaded = {"none": None}
    for label, p in models.items():
        model, meta = load_corrector(p)
        if label == "none":
            if model is None:  # a sol-train --mode none file: the uncorrected solver itself
                continue
            # it replaced the uncorrected solver's entry: the network's errors were reported as
            # those of the solver alone
            raise InputError(
                f"model label 'none' ({str(p)!r}) is not allowed; 'none' is the uncorrected solver (always "
                "included): choose another label"
            )
        if (meta["nx"], meta["ny"]) != (int(attrs["nx"]), int(attrs["ny"])):
            raise InputError(
                f"model {str(p)!r} was trained on {meta['nx']}x{meta['ny']} cells; the data has "
                f"{attrs['nx']}x{attrs['ny']}"
            )
        loaded[label] = model
    errors, finals = {}, {}
    for label, model in loaded.items():
        per_run, last = [], []
        for run in range(problem.vx.shape[0]):
            vx, vy, status = rollout_stepwise(model, problem, run, start, steps)
            err = relative_l1(
                vx, vy, problem.vx[run, start : start + steps + 1], problem.vy[run, start : start + steps + 1]
            )
            per_run.append(np.asarray(err))
            last.append((np.asarray(vx[-1]), np.asarray(vy[-1]), int(status)))
        errors[label] = np.stack(per_run)
        finals[label] = last
    reynolds = [float(r) for r in np.asarray(problem.reynolds)]
    ref_final = [
        (np.asarray(problem.vx[r, start + steps]), np.asarray(problem.vy[r, start + steps]))
        for r in range(len(reynolds))
    ]
    return {
        "reynolds": reynolds,
        "errors": errors,
        "mean": {k: v[:, 1:].mean(axis=1).tolist() for k, v in errors.items()},
        "finals": finals,
        "reference_final": ref_final,
        "steps": steps,
        "start": start,
        "grid": (int(attrs["nx"]), int(attrs["ny"])),
        "dt": float(attrs["dt"]),
    }
