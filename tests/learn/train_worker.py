"""Subprocess worker for the kill-and-resume test of astrograd.learn.train (not a test module).

usage: python train_worker.py CHECKPOINT OUT.npz STEPS KILL_AT
Trains a small CorrectorResNet on a synthetic regression with random mini-batches; with
KILL_AT > 0 the process kills itself with SIGKILL right after update KILL_AT; with KILL_AT < 0 it
sends itself SIGINT (Ctrl-C) right after update -KILL_AT.
"""

import os
import signal
import sys

import jax
import jax.numpy as jnp
import numpy as np

from astrograd.learn import CorrectorResNet, train

checkpoint, out, steps, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ny, nx = 6, 4
data_key = jax.random.key(3)
vx_all = jax.random.normal(data_key, (16, ny, nx + 1))
vy_all = jax.random.normal(jax.random.fold_in(data_key, 1), (16, ny + 1, nx))


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


model = CorrectorResNet(blocks=1, channels=4, key=jax.random.key(0))
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
