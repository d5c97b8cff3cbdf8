"""Cost of one end-to-end OP/CFE training gradient (all controlled steps, both U-Nets), with the
controlled rollout as a checkpointed ``lax.scan`` (the loop form) against the library's fully
unrolled rollout.

usage: python benchmarks/bench_learn_control.py [N STEPS CHANNELS BATCH]   (default 64 16 16 8)
Prints one JSON object per form: compile seconds and the best of 2 later calls. XLA on CPU runs
convolutions inside a while loop several times slower than the same convolutions unrolled.
"""

import argparse
import json

import equinox as eqx
import jax
import jax.numpy as jnp

from _timing import input_errors_as_usage_errors, timed
from astrograd.flow import make_params, make_state
from astrograd.learn import ControlNets, control_config, controlled_rollout, make_pairs, smoothed_error
from astrograd.learn._control import _apply_control, _network_control


def scan_rollout(nets, start, target, config, num_steps):
    """The controlled rollout as a checkpointed scan (what the library did before unrolling)."""
    params = make_params(config, 0.0, dtype=start.dtype)
    s0 = make_state(config, marker=start, dtype=start.dtype)

    def body(s, k):
        _, psi = _network_control(nets, s, target, (num_steps - k).astype(start.dtype) / num_steps)
        return _apply_control(s, psi, params, config)

    final, force = jax.lax.scan(jax.checkpoint(body), s0, jnp.arange(num_steps))
    return final.marker, jnp.sum(force)


def main(n=64, num_steps=16, channels=16, batch=8):
    config = control_config(n)
    start, target = make_pairs(jax.random.key(0), batch, n)
    nets = ControlNets(channels=channels, levels=3, key=jax.random.key(1))
    for form, rollout in (("unrolled", controlled_rollout), ("scan_checkpoint", scan_rollout)):

        def loss(m, rollout=rollout):
            def one(s, t):
                final, force = rollout(m, s, t, config, num_steps)
                return smoothed_error(final, t, (0.0, n / 8)) + 1e-3 * force

            return jnp.mean(jax.vmap(one)(start, target))

        grad = eqx.filter_jit(eqx.filter_value_and_grad(loss))
        first, best = timed(grad, nets, repeats=2)
        print(
            json.dumps(
                {
                    "case": "control_e2e_gradient",
                    "form": form,
                    "n": n,
                    "num_steps": num_steps,
                    "channels": channels,
                    "batch": batch,
                    "first_call_s": round(first, 2),
                    "seconds_per_gradient": round(best, 3),
                    "jax": jax.__version__,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        for name, default, what in (("n", 64, "grid cells per side"), ("steps", 16, "controlled steps"),
                                    ("channels", 16, "U-Net base channels"), ("batch", 8, "batch size")):
            parser.add_argument(name, type=int, nargs="?", default=default, help=f"{what} (default {default})")
        a = parser.parse_args()
        main(a.n, a.steps, a.channels, a.batch)
