"""The pieces of a PM force and of its adjoint (issue 4: why the gradient costs more than 2.5
forward runs).

    .venv/bin/python benchmarks/bench_pm_parts.py [--ptcl 64] [--repeats 7] [--loop-steps 16]

64³ particles at their 2LPT positions (a = 1/64, Lagrangian order), 128³ mesh, float32. Prints one
JSON object of best-of-repeats milliseconds:
- each piece as one jitted operation: one CIC scatter, the three adjoint scatters summed into one
  mesh one after the other (as the adjoint does), an rfftn, an irfftn, one gather;
- a Poisson solve (rfftn, kernel, irfftn) on its own and per step of a ``fori_loop``, with the
  cores it kept busy (process CPU time / wall time): XLA on CPU runs an FFT inside a loop body
  on one thread (also inside a conditional);
- per step of a ``lax.scan``, as in the N-body run and its adjoint: the force
  (``acceleration``), and the force with its VJP (``acceleration_with_vjp``, one backward step),
  each with the cores it kept busy.

The gradient of an N-body run is one forward run plus one backward run, so its cost relative to
the forward is about 1 + (force with VJP) / (force) per step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from _timing import input_errors_as_usage_errors


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ptcl", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--loop-steps", type=int, default=16)
    args = p.parse_args()
    import jax
    import jax.numpy as jnp

    from astrograd.cosmo import Cosmology
    from astrograd.pm import PMConfig, linear_modes, lpt, white_noise
    from astrograd.pm._gravity import (
        _after,
        _inverse_laplacian,
        _stencil_factors,
        acceleration,
        acceleration_with_vjp,
    )

    n, steps = args.ptcl, args.loop_steps
    cfg = PMConfig(ptcl_grid=n, mesh_shape=2 * n, box_size=2.0 * n)
    cosmo = Cosmology()
    disp, _ = jax.jit(lambda x: lpt(linear_modes(x, cosmo, cfg), cosmo, cfg))(white_noise(jax.random.key(0), cfg))
    x = cfg.lagrangian_positions() + disp
    lam = jax.random.normal(jax.random.key(1), x.shape, x.dtype)
    flat, w, _, _ = jax.jit(lambda x: _stencil_factors(x, cfg))(x)
    size = (2 * n) ** 3
    mesh = jax.random.normal(jax.random.key(2), cfg.mesh_shape, x.dtype)
    mesh_k = jnp.fft.rfftn(mesh)
    green = _inverse_laplacian(cfg)

    def best(fn, *a, per=1):
        """(best milliseconds per ``per``, cores kept busy in that call)."""
        compiled = jax.jit(fn).lower(*a).compile()
        jax.block_until_ready(compiled(*a))
        runs = []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(compiled(*a))
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        wall, cpu = min(runs)
        return round(1e3 * wall / per, 2), round(cpu / wall, 2)

    def paint(f, u):
        return jnp.zeros(size, u.dtype).at[f.reshape(-1)].add(u.reshape(-1))

    def adjoint_scatters(f, w, l):
        # as in acceleration_with_vjp: one after the other, summed (unordered, XLA runs them
        # concurrently and each is slower)
        total, witness = 0.0, l[0, 0]
        for c in range(3):
            total = total + paint(f, w * _after(l[:, c : c + 1], witness))
            witness = total[0]
        return total

    def poisson(m):
        return jnp.fft.irfftn(jnp.fft.rfftn(m) * green, s=cfg.mesh_shape)

    def poisson_loop(m):
        return jax.lax.fori_loop(0, steps, lambda i, y: poisson(y) + m, m)

    def force_scan(x):
        def body(y, _):
            return y + 1e-3 * acceleration(y, cfg), None

        return jax.lax.scan(body, x, None, length=steps)[0]

    def vjp_scan(x, lam):
        def body(c, _):
            y, l = c
            f, y_bar = acceleration_with_vjp(y, l, cfg)
            return (y + 1e-3 * f, l + 1e-3 * y_bar), None

        return jax.lax.scan(body, (x, lam), None, length=steps)[0]

    solve, solve_cores = best(poisson, mesh)
    solve_loop, solve_loop_cores = best(poisson_loop, mesh, per=steps)
    force, force_cores = best(force_scan, x, per=steps)
    force_vjp, force_vjp_cores = best(vjp_scan, x, lam, per=steps)
    out = {
        "case": "pm_parts", "ptcl": n, "mesh": 2 * n, "dtype": "float32", "loop_steps": steps,
        "scatter_ms": best(paint, flat, w)[0],
        "three_adjoint_scatters_ms": best(adjoint_scatters, flat, w, lam)[0],
        "rfftn_ms": best(jnp.fft.rfftn, mesh)[0],
        "irfftn_ms": best(lambda k: jnp.fft.irfftn(k, s=cfg.mesh_shape), mesh_k)[0],
        "gather_ms": best(lambda m, f: m.reshape(-1)[f], mesh, flat)[0],
        "poisson_ms": solve, "poisson_cores": solve_cores,
        "poisson_in_loop_ms": solve_loop, "poisson_in_loop_cores": solve_loop_cores,
        "force_in_scan_ms": force, "force_in_scan_cores": force_cores,
        "force_and_vjp_in_scan_ms": force_vjp, "force_and_vjp_in_scan_cores": force_vjp_cores,
        "gradient_over_forward_estimate": round(1 + force_vjp / force, 2),
        "jax": jax.__version__, "backend": jax.default_backend(), "cpus": os.cpu_count(),
        "machine": platform.machine(), "load_avg_1min": os.getloadavg()[0],
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
