"""Cost of differentiating through astrograd.diff loops: time and compiled temp memory.

Problem: 1D inviscid Burgers on a periodic grid (Rusanov flux), CFL-limited adaptive step,
float64. For several end times (so several step counts) it measures the forward run, the
gradient with the checkpointed adjoint and with plain autodiff of the same loop (adjoint="direct"),
and XLA's temp-buffer size of each compiled gradient. Prints one JSON object per case.

    python benchmarks/bench_diff.py [--cells 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform

import jax
import jax.numpy as jnp

from _timing import input_errors_as_usage_errors, int_at_least, timed
from astrograd.diff import adaptive_loop, fixed_loop


def flux_step(u, t, dt, dx):
    f = 0.5 * u**2
    a = jnp.maximum(jnp.abs(u), jnp.abs(jnp.roll(u, -1)))
    face = 0.5 * (f + jnp.roll(f, -1)) - 0.5 * a * (jnp.roll(u, -1) - u)
    return u - dt / dx * (face - jnp.roll(face, 1))


def cfl_dt(u, t, dx):
    return 0.4 * dx / jnp.max(jnp.abs(u))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # --cells 0 was a ZeroDivisionError, --cells -5 a JAX traceback, --repeat 0 timings of Infinity
    parser.add_argument("--cells", type=int_at_least(1), default=512, help="grid cells (default 512)")
    parser.add_argument("--repeat", type=int_at_least(1), default=3, help="timed calls per case (default 3)")
    opts = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    n = opts.cells
    x = (jnp.arange(n) + 0.5) / n
    u0 = 1.0 + 0.5 * jnp.sin(2 * jnp.pi * x)
    dx = jnp.asarray(1.0 / n)
    meta = {"machine": platform.machine(), "python": platform.python_version(), "jax": jax.__version__,
            "devices": str(jax.devices()), "cells": n}
    for t_end, max_steps in [(0.05, 256), (0.2, 1024), (0.8, 4096)]:
        row = {"bench": "adaptive_loop", "t_end": t_end, "max_steps": max_steps, **meta}
        for adjoint in ("checkpointed", "direct"):
            def loss(u, adjoint=adjoint, t_end=t_end, max_steps=max_steps):
                res = adaptive_loop(flux_step, cfl_dt, u, 0.0, t_end, dx, max_steps=max_steps, adjoint=adjoint)
                return jnp.sum(res.final**2)

            grad = jax.jit(jax.grad(loss))
            row[f"grad_{adjoint}_first_call_s"], row[f"grad_{adjoint}_s"] = timed(grad, u0, repeats=opts.repeat)
            row[f"grad_{adjoint}_temp_MB"] = grad.lower(u0).compile().memory_analysis().temp_size_in_bytes / 1e6
        fwd = jax.jit(lambda u, t_end=t_end, max_steps=max_steps: adaptive_loop(
            flux_step, cfl_dt, u, 0.0, t_end, dx, max_steps=max_steps, adjoint="forward"))
        _, row["forward_s"] = timed(fwd, u0, repeats=opts.repeat)
        row["steps"] = int(fwd(u0).num_steps)
        row["grad_over_forward"] = row["grad_checkpointed_s"] / row["forward_s"]
        print(json.dumps(row), flush=True)

    for num_steps in (256, 4096):
        row = {"bench": "fixed_loop", "num_steps": num_steps, **meta}
        for checkpoint in ("none", "nested"):
            def loss(u, checkpoint=checkpoint, num_steps=num_steps):
                final, _ = fixed_loop(lambda u, i, dx: flux_step(u, 0.0, 2e-4, dx), u, num_steps, dx,
                                      checkpoint=checkpoint)
                return jnp.sum(final**2)

            grad = jax.jit(jax.grad(loss))
            _, row[f"grad_{checkpoint}_s"] = timed(grad, u0, repeats=opts.repeat)
            row[f"grad_{checkpoint}_temp_MB"] = grad.lower(u0).compile().memory_analysis().temp_size_in_bytes / 1e6
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
