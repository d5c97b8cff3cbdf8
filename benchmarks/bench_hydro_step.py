"""Cost of one hydro step and of its derivatives (401-cell wind, a scan of 2000 adaptive steps),
per limiter; and the cost of running several wind models at once (vmap vs lax.map).

    .venv/bin/python benchmarks/bench_hydro_step.py [--steps 2000]

Prints one JSON object per case: XLA's flop count of one step and of its reverse pass; µs per
step for the forward scan, its jvp, and
value_and_grad with and without rematerialising each step; then seconds for one value_and_grad
of the three-start fit loss (64 cells) and for a batch of 40 forward losses (the loss map).
To compare with an earlier version, check that commit out and run this script again.
"""

from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _timing import input_errors_as_usage_errors, int_at_least  # noqa: E402
from astrograd.hydro import primitive_to_conserved, wind_problem  # noqa: E402
from astrograd.hydro._step import cfl_time_step, step  # noqa: E402
from astrograd.hydro._wind import theta_from_physical, wind_loss, wind_model  # noqa: E402


def best(fn, *args, repeats=2):
    fn = jax.jit(fn)
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return min(times)


def flops(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)["flops"]


def step_costs(limiter: str, n: int) -> dict:
    pr = wind_problem(401, limiter=limiter)
    q0 = primitive_to_conserved(jnp.asarray(pr.initial), pr.params.gamma)

    def run(v, remat=False):
        p = eqx.tree_at(lambda p: p.wind_velocity, pr.params, v)

        def body(q, _):
            return step(q, cfl_time_step(q, p, pr.config), p, pr.config), None

        body = jax.checkpoint(body) if remat else body
        return jnp.sum(jax.lax.scan(body, q0, None, length=n)[0][0] ** 2)

    v = pr.params.wind_velocity
    us = 1e6 / n
    dt = cfl_time_step(q0, pr.params, pr.config)
    one = lambda q, dt: step(q, dt, pr.params, pr.config)  # noqa: E731
    return {
        "case": "step", "limiter": limiter, "cells": 401, "steps": n,
        # XLA's cost analysis of one step and of its reverse pass (recomputation included)
        "forward_flops": flops(one, q0, dt),
        "vjp_flops": flops(lambda q, dt, g: jax.vjp(one, q, dt)[1](g), q0, dt, q0),
        "forward_us": best(run, v) * us,
        "jvp_us": best(lambda v: jax.jvp(run, (v,), (1.0,)), v) * us,
        "value_and_grad_remat_us": best(jax.value_and_grad(lambda v: run(v, True)), v) * us,
        "value_and_grad_no_remat_us": best(jax.value_and_grad(run), v) * us,
    }


def batching() -> dict:
    pr = wind_problem(64)
    target = jax.jit(wind_model(pr, adjoint="forward"))(pr.params.wind_velocity, pr.params.wind_mass_loss_rate)
    fit_loss = wind_loss(pr, target, "density")
    starts = jnp.asarray(np.stack([theta_from_physical(*s) for s in [(1200, 0.16), (3000, 0.07), (1500, 0.06)]]))
    map_loss = wind_loss(pr, target, "density", adjoint="forward")
    grid = jnp.asarray(theta_from_physical(np.linspace(200, 4000, 40), np.full(40, 40 * 2.965e-3)))
    return {
        "case": "batching", "cells": 64,
        "fit_value_and_grad_3_starts_vmap_s": best(
            jax.value_and_grad(lambda t: jnp.sum(jax.vmap(fit_loss)(t))), starts),
        "fit_value_and_grad_3_starts_lax_map_s": best(
            jax.value_and_grad(lambda t: jnp.sum(jax.lax.map(fit_loss, t))), starts),
        "loss_map_40_vmap_s": best(jax.vmap(map_loss), grid),
        "loss_map_40_lax_map_s": best(lambda t: jax.lax.map(map_loss, t), grid),
    }


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--steps", type=int_at_least(1), default=2000)  # 0 was a ZeroDivisionError
        args = parser.parse_args()
        for lim in ("van_leer", "minmod", "mc"):
            print(json.dumps(step_costs(lim, args.steps)), flush=True)
        print(json.dumps(batching()), flush=True)
