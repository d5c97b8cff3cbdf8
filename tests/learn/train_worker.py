"""Subprocess worker for the kill-and-resume test of astrograd.learn.train (not a test module).

usage: python train_worker.py CHECKPOINT OUT.npz STEPS KILL_AT
Trains a small CorrectorResNet on a synthetic regression with random mini-batches; with
KILL_AT > 0 the process kills itself with SIGKILL right after update KILL_AT; with KILL_AT < 0 it
sends itself SIGINT (Ctrl-C) right after update -KILL_AT.
"""

import os
import signal
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from astrograd.learn import CorrectorResNet, train

checkpoint, out, steps, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ny, nx = 6, 4
# Data and starting weights are drawn with NumPy (fixed seed: the same in every process). Drawn
# with jax.random, each eager draw of a new shape is compiled first (~3 s per process, most of
# its run time, and the test starts five of them); what is tested is the training driver.
rng = np.random.default_rng(3)
vx_all = jnp.asarray(rng.standard_normal((16, ny, nx + 1), dtype=np.float32))
vy_all = jnp.asarray(rng.standard_normal((16, ny + 1, nx), dtype=np.float32))


def loss_fn(model, idx):
    def one(vx, vy):
        dvx, dvy = model(vx, vy, 100.0)
        return jnp.mean((dvx - 0.1 * vx) ** 2) + jnp.mean((dvy + 0.2 * vy) ** 2)

    return jnp.mean(jax.vmap(one)(vx_all[idx], vy_all[idx]))


def batches(k):
    return jax.random.randint(k, (4,), 0, 16)


def callback(step, model, loss):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    if step == -kill_at:
        os.kill(os.getpid(), signal.SIGINT)


# a CorrectorResNet's structure (built abstractly, computing nothing) filled with NumPy draws:
# kernels uniform in ±1/sqrt(fan-in) as equinox draws them, biases in ±0.1
shapes = eqx.filter_eval_shape(lambda k: CorrectorResNet(blocks=1, channels=4, key=k), jax.random.key(0))


def _draw(x):
    if not isinstance(x, jax.ShapeDtypeStruct):
        return x  # the static settings
    limit = 1 / np.sqrt(np.prod(x.shape[1:])) if x.ndim == 4 else 0.1
    return jnp.asarray(rng.uniform(-limit, limit, x.shape).astype(x.dtype))


model = jax.tree.map(_draw, shapes)
res = train(
    loss_fn,
    model,
    batches,
    steps=steps,
    key=jax.random.key(1),
    learning_rate=1e-2,
    checkpoint=None if checkpoint == "none" else checkpoint,
    checkpoint_every=5,
    progress=False,
    callback=callback,
)
leaves = jax.tree.leaves(res.model)
np.savez(
    out,
    losses=res.losses,
    resumed=res.resumed_from,
    **{f"w{i}": np.asarray(x) for i, x in enumerate(leaves) if hasattr(x, "shape")},
)
