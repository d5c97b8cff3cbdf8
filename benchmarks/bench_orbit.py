"""Ballistic throw: compile and run times of a forward throw and of its gradient (float64, CPU).

Prints one JSON object per case on stdout. Run: .venv/bin/python benchmarks/bench_orbit.py
"""

import argparse
import json
import platform

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from _timing import input_errors_as_usage_errors, timed  # noqa: E402
from astrograd.orbit import Ballistics, ThrowConfig, landing, simulate  # noqa: E402


def main():
    p = {"speed": jnp.array(20.0), "angle": jnp.array(0.6), "g": jnp.array(9.81), "drag": jnp.array(0.02)}
    for integrator in ("euler", "leapfrog", "rk4"):
        for num_steps in (250, 2500):
            config = ThrowConfig(4.5 / num_steps, num_steps, integrator)

            def range_of(q, config=config):
                v0 = q["speed"] * jnp.stack([jnp.cos(q["angle"]), jnp.sin(q["angle"])])
                return landing(simulate(jnp.zeros(2), v0, Ballistics(q["g"], q["drag"]), config)).distance

            fwd_first, fwd = timed(jax.jit(range_of), p, repeats=20)
            grad_first, grad = timed(jax.jit(jax.value_and_grad(range_of)), p, repeats=20)
            print(json.dumps({
                "case": f"orbit_range_{integrator}_{num_steps}",
                "forward_s": fwd, "forward_first_call_s": fwd_first,
                "value_and_grad_s": grad, "value_and_grad_first_call_s": grad_first,
                "grad_over_forward": grad / fwd,
                "jax": jax.__version__, "machine": platform.processor() or platform.machine(),
            }), flush=True)


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help; no options
        main()
