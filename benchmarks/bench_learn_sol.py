"""Cost of solver-in-the-loop training and of corrected rollouts on the coarse Kármán grid.

usage: python benchmarks/bench_learn_sol.py [NX NY]   (default 32 64)
Prints one JSON object per case: seconds per Adam update (after compilation, batch 4) of the
in-the-loop loss at unroll 1, 4 and 8, and seconds per step of a corrected 100-step rollout
(one lax.scan, and step by step from Python as the evaluation runs it).
The reference frames are synthetic (the coarse solver's own run); no data file is needed.
"""

import argparse
import json
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from _timing import input_errors_as_usage_errors
from astrograd.flow import simulate
from astrograd.learn import (
    CorrectorResNet,
    SolProblem,
    coarse_scene,
    count_parameters,
    rollout,
    rollout_stepwise,
    unrolled_loss,
)


def main(nx=32, ny=64):
    state, params, config = coarse_scene(nx, ny, 200.0)
    state, _ = simulate(state, params, config, 20)
    _, saved = simulate(state, params, config, 120, save_every=1)
    problem = SolProblem(
        config, jax.tree.map(lambda a: a[None], params), jnp.asarray([200.0]), saved.vx[None], saved.vy[None], state
    )
    model = CorrectorResNet(key=jax.random.key(0))
    diff, static = eqx.partition(model, eqx.is_inexact_array)
    opt = optax.adam(1e-3)
    for unroll in (1, 4, 8):

        @eqx.filter_jit
        def update(d, st, starts, unroll=unroll):
            def f(d):
                m = eqx.combine(d, static)
                return jnp.mean(jax.vmap(lambda s: unrolled_loss(m, problem, 0, s, unroll))(starts))

            v, g = jax.value_and_grad(f)(d)
            u, st = opt.update(g, st, d)
            return optax.apply_updates(d, u), st, v

        st = opt.init(diff)
        starts = jnp.arange(4)
        t0 = time.perf_counter()
        d, st, v = update(diff, st, starts)
        v.block_until_ready()
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(3):
            d, st, v = update(d, st, starts)
        v.block_until_ready()
        print(
            json.dumps(
                {
                    "case": "loop_update",
                    "grid": [nx, ny],
                    "unroll": unroll,
                    "batch": 4,
                    "parameters": count_parameters(model),
                    "seconds_per_update": (time.perf_counter() - t0) / 3,
                    "first_call_seconds": compile_s,
                }
            ),
            flush=True,
        )
    for name, fn in (("corrected_rollout", rollout), ("corrected_rollout_stepwise", rollout_stepwise)):
        fn(model, problem, 0, 0, 100)[0].block_until_ready()
        t0 = time.perf_counter()
        fn(model, problem, 0, 0, 100)[0].block_until_ready()
        print(
            json.dumps(
                {"case": name, "grid": [nx, ny], "steps": 100, "seconds_per_step": (time.perf_counter() - t0) / 100}
            ),
            flush=True,
        )


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("nx", type=int, nargs="?", default=32, help="coarse cells in x (default 32)")
        parser.add_argument("ny", type=int, nargs="?", default=64, help="coarse cells in y (default 64)")
        a = parser.parse_args()
        main(a.nx, a.ny)
