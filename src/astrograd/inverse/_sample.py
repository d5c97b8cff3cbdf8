"""Posterior sampling with the No-U-Turn sampler (blackjax): warm-up, chains, diagnostics, resume."""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from astrograd._cli_util import ProgressBar
from astrograd._errors import InputError, check_bool, check_int, check_key, check_positive, is_real_number
from astrograd.inverse._nuts import DRAW, SKIP, init_adaptation, make_step, warmup_schedule
from astrograd.io._npz import args_record, as_stored, atomic_savez, differing_keys, key_list, load_npz

__all__ = ["SampleResult", "check_checkpoint", "sample"]

_CHECKPOINT_VERSION = 3  # 2: the warm-up of astrograd.inverse._nuts, an interrupted chain resumes; 3: the args
_CHUNK = 50  # NUTS steps per compiled call (one progress step; a checkpoint after each)


@dataclass
class SampleResult:
    """Outcome of :func:`sample`. Arrays are numpy; ``chains`` × ``draws`` leading axes.

    samples: pytree like ``init`` whose leaves have leading axes (chains, draws).
    log_density: (chains, draws) log density of each draw.
    acceptance_rate: (chains, draws) mean Metropolis acceptance of each NUTS trajectory.
    divergent: (chains, draws) bool, trajectories whose energy error blew up (the posterior
      has a region the step size cannot resolve; the draws there are biased).
    gradient_evaluations: (chains,) leapfrog steps (one gradient each) of the sampling phase;
      ``warmup_gradient_evaluations`` (chains,) those of the warm-up.
    step_size: (chains,) adapted step size; inverse_mass_matrix: (chains, d) or (chains, d, d).
    r_hat: pytree like ``init`` of the split potential-scale reduction per element (NaN with one
      chain; whole chains with fewer than 4 draws); near 1 (< 1.01) when the chains agree.
      ess: pytree like ``init`` of the effective sample size per element, over all chains.
    resumed_chains: chains read from the checkpoint instead of being run.
    """

    samples: Any
    log_density: np.ndarray
    acceptance_rate: np.ndarray
    divergent: np.ndarray
    gradient_evaluations: np.ndarray
    warmup_gradient_evaluations: np.ndarray
    step_size: np.ndarray
    inverse_mass_matrix: np.ndarray
    r_hat: Any
    ess: Any
    resumed_chains: int = 0

    def flat_samples(self) -> np.ndarray:
        """(chains × draws, d) draws with the parameters flattened as ``ravel_pytree`` does."""
        leaves = jax.tree.leaves(self.samples)
        c, n = leaves[0].shape[:2]
        return np.concatenate([np.reshape(a, (c * n, -1)) for a in leaves], axis=1)

    def summary(self) -> dict:
        """Per flattened parameter: mean, standard deviation, 5/50/95 % quantiles, r_hat and ess;
        with the divergences, acceptance and gradient evaluations."""
        flat = self.flat_samples()
        r_hat = np.concatenate([np.ravel(a) for a in jax.tree.leaves(self.r_hat)])
        ess = np.concatenate([np.ravel(a) for a in jax.tree.leaves(self.ess)])
        return {
            "mean": flat.mean(axis=0).tolist(),
            "std": flat.std(axis=0, ddof=1).tolist(),
            "q05": np.quantile(flat, 0.05, axis=0).tolist(),
            "q50": np.quantile(flat, 0.50, axis=0).tolist(),
            "q95": np.quantile(flat, 0.95, axis=0).tolist(),
            "r_hat": r_hat.tolist(),
            "ess": ess.tolist(),
            "divergences": int(self.divergent.sum()),
            "mean_acceptance": float(self.acceptance_rate.mean()),
            "gradient_evaluations": int(self.gradient_evaluations.sum() + self.warmup_gradient_evaluations.sum()),
        }


def _stale(path, differs: str) -> InputError:
    return InputError(
        f"checkpoint {str(path)!r} was written by a different sampling run ({differs} differ); "
        "use the same settings or another checkpoint file"
    )


def check_checkpoint(checkpoint, fingerprint: dict) -> dict | None:
    """Refuse a stale checkpoint before the costly preparation of a run (a MAP, a whitening):
    raises InputError if the file ``checkpoint`` exists and the fingerprint :func:`sample` stored
    in it differs from ``fingerprint`` on any key that ``fingerprint`` names. The keys it leaves
    out (e.g. a centre computed later) and the sampler's settings are checked by :func:`sample`
    itself. Returns the stored fingerprint (whose other keys a caller may reuse instead of
    computing them again), or None when there is no checkpoint (``None`` or no file)."""
    if checkpoint is None or not Path(checkpoint).exists():
        return None
    meta, _ = load_npz(checkpoint, "checkpoint")
    stored = meta.get("fingerprint") or {}
    keys = differing_keys(stored, as_stored(fingerprint), only_given=True)
    if keys:
        raise _stale(checkpoint, "fingerprint entries " + ", ".join(map(str, keys)))
    return stored


@functools.cache
def _diagnostic_programs():
    """blackjax's (ess, r_hat) over (chains, draws, d) draws, jitted once: called eagerly, their
    inner scans and conds compiled again in every call."""
    import blackjax

    ess = jax.jit(lambda x: blackjax.diagnostics.effective_sample_size(x, chain_axis=0, sample_axis=1))
    r_hat = jax.jit(lambda x: blackjax.diagnostics.potential_scale_reduction(x, chain_axis=0, sample_axis=1))
    return ess, r_hat


def _diagnostics(flat_draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(r_hat, ess) per flattened parameter of (chains, draws, d) draws. r_hat is the split
    R̂ (Gelman et al., BDA3 §11.4): each chain's halves are compared as two chains (the middle
    draw of an odd count left out, as Stan does), so that chains which drift together are
    flagged; blackjax's potential_scale_reduction alone compares whole chains only. With fewer
    than 4 draws a half would hold one draw, whose variance is NaN: whole chains then."""
    ess_of, r_hat_of = _diagnostic_programs()
    x = jnp.asarray(flat_draws)
    # (blackjax squeezes a single parameter's result to a scalar)
    ess = np.asarray(ess_of(x)).reshape(x.shape[2])
    if x.shape[0] < 2:
        return np.full(x.shape[2], np.nan), ess
    half = x.shape[1] // 2
    if half < 2:
        return np.asarray(r_hat_of(x)).reshape(x.shape[2]), ess
    halves = jnp.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)
    return np.asarray(r_hat_of(halves)).reshape(x.shape[2]), ess


_PROGRAMS: OrderedDict = OrderedDict()
_PROGRAMS_SIZE = 8


def _compiled_programs(log_density, with_args: bool, init_flat, unravel, run_dtype, target_acceptance: float):
    """``(value_and_grad, advance)`` for this log density, parameter layout and target
    acceptance, jitted once and reused by later calls with the same ones (their ``args`` are
    inputs of the programs, not constants in them). ``value_and_grad(flat, args)`` at a start;
    ``advance(carry, keys, codes, args)`` runs ``_CHUNK`` NUTS steps of one chain."""
    layout = jax.tree.structure(unravel(init_flat))
    shapes = tuple((jnp.shape(x), str(jnp.result_type(x))) for x in jax.tree.leaves(unravel(init_flat)))
    key = (log_density, with_args, layout, shapes, str(init_flat.dtype), str(run_dtype), float(target_acceptance))
    cached = _PROGRAMS.get(key)
    if cached is not None:
        _PROGRAMS.move_to_end(key)
        return cached
    _, unravel = ravel_pytree(unravel(jnp.zeros_like(init_flat)))  # not the caller's values
    dtype = init_flat.dtype

    def logdensity(flat, args):
        theta = unravel(flat.astype(dtype))
        value = log_density(theta, args) if with_args else log_density(theta)
        if jnp.shape(value) != ():
            raise InputError(f"log_density must return a scalar; it returned shape {jnp.shape(value)}")
        if not jnp.issubdtype(jnp.result_type(value), jnp.floating):
            raise InputError(f"log_density must return a floating-point scalar; it returned {jnp.result_type(value)}")
        return jnp.asarray(value, run_dtype)

    value_and_grad = jax.jit(jax.value_and_grad(logdensity))

    @jax.jit
    def advance(carry, keys, codes, args):  # _CHUNK steps of a chain, warm-up or draws
        step = make_step(functools.partial(logdensity, args=args), target_acceptance)
        return jax.lax.scan(step, carry, (keys, codes))

    _PROGRAMS[key] = (value_and_grad, advance)
    if len(_PROGRAMS) > _PROGRAMS_SIZE:
        _PROGRAMS.popitem(last=False)
    return value_and_grad, advance


def sample(
    log_density: Callable,
    init,
    key,
    *,
    num_warmup: int = 500,
    num_samples: int = 1000,
    num_chains: int = 4,
    init_scale: float = 0.1,
    dense_mass: bool = True,
    target_acceptance: float = 0.8,
    checkpoint: str | os.PathLike | None = None,
    fingerprint: dict | None = None,
    progress: bool = True,
    description: str = "NUTS",
    args: Any = None,
) -> SampleResult:
    """Draw from the density ``exp(log_density(θ))`` with the No-U-Turn sampler (Hoffman &
    Gelman 2014; the transition is blackjax's): each chain adapts its step size and mass matrix
    in a Stan-style windowed warm-up (:mod:`astrograd.inverse._nuts`), then draws
    ``num_samples``. Warm-up and draws are one compiled program, run 50 steps at a time.

    log_density: θ ↦ scalar log posterior (up to a constant), differentiable by JAX; θ a pytree
      like ``init`` in unconstrained coordinates (take logs of positive parameters). It is
      traced once and reused by every chain.
    init: a pytree of arrays, the centre of the starting points.
    key: a ``jax.random.key``; chain ``c`` uses ``fold_in(key, c)`` only, so its draws do not
      depend on ``num_chains`` (a run with more chains extends one with fewer).
    init_scale: chain ``c`` starts at ``init + init_scale · N(0, 1)`` per element, so that r_hat
      compares chains from different starts (0: every chain starts at ``init``).
    dense_mass: adapt a full mass matrix (default; right for a few correlated parameters) or a
      diagonal one (many parameters).
    checkpoint: file; the finished chains and the state of the running one are saved there
      (atomically) every 50 steps, and a call with the same settings resumes from it: the
      finished chains are read, the interrupted one continues where it stopped, with the same
      result as an uninterrupted run. A checkpoint written with other settings, ``key``,
      ``init``, ``args`` (their shapes or values) or ``fingerprint`` is refused (InputError
      naming what differs). The log density itself cannot be compared: pass what defines it
      and ``sample`` cannot see (noise, model settings, data it closes over; JSON-able) as
      ``fingerprint``.
    args: data the density reads (a pytree of arrays; ``log_density`` is then called as
      ``log_density(θ, args)``). They are inputs of the compiled programs, not constants in
      them: a later call with the same module-level ``log_density`` and ``args`` of the same
      shapes compiles nothing. A checkpoint records their shapes, dtypes and a SHA-256 of their
      values; resuming with other ``args`` is refused.
    The chains run one after the other, not vmapped: a simulator with an adaptive time loop runs
    a vmapped batch for as many steps as its slowest member.

    Raises InputError for bad settings and for a start where the log density or its gradient is
    not finite.
    """
    from blackjax.mcmc.hmc import HMCState

    num_warmup = check_int("num_warmup", num_warmup, 1)
    num_samples = check_int("num_samples", num_samples, 2)  # the diagnostics need 2 draws
    num_chains = check_int("num_chains", num_chains, 1)
    check_key("key", key)
    init_scale = check_positive("init_scale", init_scale, allow_zero=True, strict=True)
    if not (is_real_number(target_acceptance) and 0.0 < target_acceptance < 1.0):
        raise InputError(f"target_acceptance = {target_acceptance!r} is not allowed; it must be in (0, 1)")
    dense_mass = check_bool("dense_mass", dense_mass)  # "no" would be truthy: a dense matrix
    flat0, unravel = ravel_pytree(init)
    if flat0.size == 0:
        raise InputError("init has no parameters")
    if not jnp.issubdtype(flat0.dtype, jnp.floating):
        raise InputError(f"init must hold floating-point arrays; got dtype {flat0.dtype}")
    dim = int(flat0.size)
    # the chains run in at least the default float precision: blackjax's trajectory mixes its
    # constants in it (float32 parameters under x64 failed in its lax.cond); the density still
    # gets the parameters in their own dtype
    run_dtype = jnp.promote_types(flat0.dtype, jnp.result_type(float))

    value_and_grad, advance = _compiled_programs(log_density, args is not None, flat0, unravel, run_dtype,
                                                 float(target_acceptance))

    # the starts (their log density is checked once the checkpoint tells which chains start now)
    chain_keys = [jax.random.split(jax.random.fold_in(key, c), 3) for c in range(num_chains)]  # start, warm-up, draws
    starts = [(flat0 + init_scale * jax.random.normal(k[0], flat0.shape, flat0.dtype)).astype(run_dtype)
              for k in chain_keys]
    settings = as_stored({
        "version": _CHECKPOINT_VERSION, "num_warmup": num_warmup, "num_samples": num_samples,
        "init_scale": float(init_scale), "dense_mass": bool(dense_mass),
        "target_acceptance": float(target_acceptance), "dim": dim,
        "key": key_list(key), "init": np.asarray(flat0).tolist(),
        # the data the density reads: chains resumed with other data would mix two posteriors
        **args_record(args), "fingerprint": fingerprint,
    })  # compared with a stored header as it reads back
    path = Path(checkpoint) if checkpoint is not None else None

    def first_carry(c):
        value, grad = first_states[c]
        return HMCState(starts[c], value, grad), init_adaptation(dim, run_dtype, dense_mass)

    def save(chains, carry=None, outs=None, chunks_done=0):
        """The finished chains, and the state and draws of the one running after its
        ``chunks_done``-th chunk (atomically: an interrupted write leaves the previous file)."""
        arrays = {f"c{j}_{k}": v for j, d in enumerate(chains) for k, v in d.items()}
        if carry is not None:
            arrays.update({f"p_carry{j}": np.asarray(a) for j, a in enumerate(jax.tree.leaves(carry))})
            arrays.update({f"p_out{j}": np.concatenate(p) for j, p in enumerate(zip(*outs, strict=True))})
        atomic_savez(path, {**settings, "chains": len(chains), "partial_chunks": chunks_done}, arrays)

    done: list[dict[str, np.ndarray]] = []
    partial = None  # the interrupted chain: its state after a number of chunks, and its draws so far
    if path is not None and path.exists():
        meta, arrays = load_npz(path, "checkpoint")
        differ = differing_keys({k: meta[k] for k in settings if k in meta}, settings, only_given=True)
        if differ:
            raise _stale(path, ", ".join(differ))
        stored = int(meta["chains"])
        done = [{k[len(f"c{c}_") :]: v for k, v in arrays.items() if k.startswith(f"c{c}_")} for c in range(stored)]
        done = done[:num_chains]
        if int(meta.get("partial_chunks", 0)) and stored < num_chains:
            placeholder = HMCState(starts[stored], jnp.zeros((), run_dtype), starts[stored])  # its structure only
            treedef = jax.tree.structure((placeholder, init_adaptation(dim, run_dtype, dense_mass)))
            carry = jax.tree.unflatten(treedef, [jnp.asarray(arrays[f"p_carry{j}"]) for j in range(treedef.num_leaves)])
            partial = {"carry": carry, "outs": [[arrays[f"p_out{j}"] for j in range(5)]],
                       "chunks": int(meta["partial_chunks"])}
    resumed = len(done)

    # the log density and its gradient at the start of each chain that starts now (not those
    # read from the checkpoint: a finished resume compiles nothing): the first NUTS states (one
    # program, not vmapped: a batched adaptive loop compiles slower)
    fresh = [c for c in range(resumed, num_chains) if partial is None or c != resumed]
    first_states = {c: value_and_grad(starts[c], args) for c in fresh}
    for c, (v, g) in first_states.items():
        v, g = np.asarray(v), np.asarray(g)
        if not np.isfinite(v):
            raise InputError(
                f"log_density is {v} at the start of chain {c}; every start must have a finite log density "
                "(move init or lower init_scale)"
            )
        if not np.all(np.isfinite(g)):
            raise InputError(f"the gradient of log_density is not finite at the start of chain {c} "
                             "(move init or lower init_scale)")

    total_steps = num_warmup + num_samples
    chunks = -(-total_steps // _CHUNK)
    codes = np.full(chunks * _CHUNK, SKIP, np.int32)
    codes[:num_warmup] = warmup_schedule(num_warmup)
    codes[num_warmup:total_steps] = DRAW
    todo = (num_chains - resumed) * chunks - (partial["chunks"] if partial else 0)
    with ProgressBar(todo, description, enabled=progress and todo > 0) as bar:
        for c in range(resumed, num_chains):
            _, k_warm, k_draw = chain_keys[c]
            keys = jnp.concatenate([jax.random.split(k_warm, num_warmup),
                                    jax.random.split(k_draw, chunks * _CHUNK - num_warmup)])
            if partial is not None:
                carry, outs, first = partial["carry"], partial["outs"], partial["chunks"]
                partial = None
            else:
                carry = first_carry(c)
                outs, first = [], 0
            for i in range(first, chunks):
                part = slice(i * _CHUNK, (i + 1) * _CHUNK)
                carry, out = advance(carry, keys[part], jnp.asarray(codes[part]), args)
                outs.append([np.asarray(a) for a in out])
                done_steps = min((i + 1) * _CHUNK, total_steps)
                if done_steps <= num_warmup:
                    status = f"chain {c}: warm-up {done_steps}/{num_warmup}"
                else:
                    status = f"chain {c}: {done_steps - num_warmup}/{num_samples} draws"
                if path is not None and i + 1 < chunks:
                    save(done, carry, outs, i + 1)
                bar.advance(status=status)
            pos, logd, acc, div, steps = (np.concatenate(p)[:total_steps] for p in zip(*outs, strict=True))
            adaptation = carry[1]
            done.append({
                "position": pos[num_warmup:], "logdensity": logd[num_warmup:], "acceptance": acc[num_warmup:],
                "divergent": div[num_warmup:], "steps": steps[num_warmup:].astype(np.int64),
                "warmup_grads": np.asarray(int(np.sum(steps[:num_warmup]))),
                "step_size": np.asarray(adaptation.step_size),
                "inverse_mass_matrix": np.asarray(adaptation.inverse_mass_matrix),
            })
            if path is not None:
                save(done)

    flat = np.stack([d["position"] for d in done])  # (chains, draws, d)
    r_hat, ess = _diagnostics(flat)
    per_draw = jax.vmap(jax.vmap(unravel))(jnp.asarray(flat, flat0.dtype))
    return SampleResult(
        samples=jax.tree.map(np.asarray, per_draw),
        log_density=np.stack([d["logdensity"] for d in done]),
        acceptance_rate=np.stack([d["acceptance"] for d in done]),
        divergent=np.stack([d["divergent"] for d in done]).astype(bool),
        gradient_evaluations=np.array([int(d["steps"].sum()) for d in done]),
        warmup_gradient_evaluations=np.array([int(d["warmup_grads"]) for d in done]),
        step_size=np.array([float(d["step_size"]) for d in done]),
        inverse_mass_matrix=np.stack([d["inverse_mass_matrix"] for d in done]),
        r_hat=jax.tree.map(np.asarray, unravel(jnp.asarray(r_hat, flat0.dtype))),
        ess=jax.tree.map(np.asarray, unravel(jnp.asarray(ess, flat0.dtype))),
        resumed_chains=resumed,
    )
