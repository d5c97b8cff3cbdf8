"""Reverse-mode memory of long Kármán rollouts: plain scan vs nested (√N) checkpointing.

For 32 × 64 Kármán (Re = 100, float32) it compiles the gradient of the kinetic energy after N
steps with respect to the initial velocity and reports XLA's temp-buffer size
(`memory_analysis()`; nothing is run, so the numbers do not depend on machine load).
Prints one JSON object per (checkpoint, N).

    .venv/bin/python benchmarks/bench_flow_rollout_memory.py [N1 N2 ...]   (default 64 256)
"""

import argparse
import json

import jax
import jax.numpy as jnp

from _timing import input_errors_as_usage_errors
from astrograd import flow


def main(steps: list[int]) -> None:
    state, params, config = flow.karman(32, 64, reynolds=100.0)
    for checkpoint in ("none", "nested"):
        for n in steps:
            def loss(vx, vy, checkpoint=checkpoint, n=n):
                s = eqx_replace(state, vx, vy)
                final, _ = flow.simulate(s, params, config, n, checkpoint=checkpoint, check=False)
                return jnp.sum(final.vx**2) + jnp.sum(final.vy**2)

            compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(state.vx, state.vy).compile()
            mb = compiled.memory_analysis().temp_size_in_bytes / 1e6
            print(json.dumps({"bench": "flow_rollout_grad_memory", "res": "32x64", "checkpoint": checkpoint,
                              "steps": n, "temp_MB": round(mb, 3), "jax": jax.__version__}), flush=True)


def eqx_replace(state, vx, vy):
    import equinox as eqx

    return eqx.tree_at(lambda s: (s.vx, s.vy), state, (vx, vy))


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("steps", type=int, nargs="*", default=[64, 256], help="rollout lengths N (default 64 256)")
        main(parser.parse_args().steps)
