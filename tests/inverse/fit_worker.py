"""Subprocess worker for the kill-and-resume test of astrograd.inverse.fit (not a test module).

usage: python fit_worker.py CHECKPOINT|none OUT.npz STEPS [quiet-after-5]
Fits a damped oscillator's frequency, damping and amplitude (a 1500-step lax.scan per loss
evaluation, so the fit takes a few seconds) with Adam and writes the result to OUT.npz.
quiet-after-5: first 5 steps (so that the checkpoint appears once the fit runs), then the rest
without periodic checkpoints, and Ctrl-C (SIGINT) sent by the worker to itself from its 30th loss
evaluation, inside the second fit (for the Ctrl-C test: a signal sent from outside after a delay
could arrive after the fit, which takes a fraction of a second on an idle machine).
"""

import os
import signal
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from astrograd.inverse import fit  # noqa: E402

DT = 0.01
N = 1500


def trajectory(p):
    def step(carry, _):
        x, v = carry
        a = -(p["omega"] ** 2) * x - p["gamma"] * v
        v = v + DT * a
        x = x + DT * v
        return (x, v), x

    _, xs = jax.lax.scan(step, (p["amp"], jnp.zeros_like(p["amp"])), None, length=N)
    return xs


target = trajectory({"omega": jnp.array(2.0), "gamma": jnp.array(0.3), "amp": jnp.array(1.0)})


INTERRUPT_AT = 30 if sys.argv[4:] == ["quiet-after-5"] else 0  # loss evaluation; 0: never
_evaluations = 0


def _count_evaluation():
    global _evaluations
    _evaluations += 1
    if _evaluations == INTERRUPT_AT:
        os.kill(os.getpid(), signal.SIGINT)


def loss(p):
    # the callback is in every run's program (uninterrupted, interrupted, resumed): the same
    # compiled code, and it does not touch the values
    jax.debug.callback(_count_evaluation)
    return jnp.mean((trajectory(p) - target) ** 2)


if __name__ == "__main__":
    checkpoint = None if sys.argv[1] == "none" else sys.argv[1]
    steps = int(sys.argv[3])
    guess = {"omega": jnp.array(1.5), "gamma": jnp.array(0.1), "amp": jnp.array(0.8)}
    every = 20
    if sys.argv[4:] == ["quiet-after-5"]:
        fit(loss, guess, learning_rate=0.01, steps=5, checkpoint=checkpoint, progress=False)
        every = 10**9
    res = fit(loss, guess, learning_rate=0.01, steps=steps, checkpoint=checkpoint,
              checkpoint_every=every, progress=False)
    np.savez(
        sys.argv[2],
        losses=res.losses,
        resumed_from=res.resumed_from,
        **{k: np.asarray(v) for k, v in res.params.items()},
        **{"hist_" + k: np.asarray(v) for k, v in res.params_history.items()},
    )
