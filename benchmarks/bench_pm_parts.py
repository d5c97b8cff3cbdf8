"""The pieces of a PM force and of its adjoint, each as one jitted operation (issue 4: why the
gradient costs more than 2.5 forward runs).

    .venv/bin/python benchmarks/bench_pm_parts.py [--ptcl 64] [--repeats 7]

64³ particles at their 2LPT positions (a = 1/64, Lagrangian order), 128³ mesh, float32. Prints one
JSON object: best-of-repeats milliseconds of one CIC scatter, the three adjoint scatters, an
rfftn, an irfftn and one gather. (The force itself is timed per step inside the N-body scan by
bench_pm_nbody.py: forward run_s / steps.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ptcl", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    import jax
    import jax.numpy as jnp

    from astrograd.cosmo import Cosmology
    from astrograd.pm import PMConfig, linear_modes, lpt, white_noise
    from astrograd.pm._gravity import _stencil_factors

    n = args.ptcl
    cfg = PMConfig(ptcl_grid=n, mesh_shape=2 * n, box_size=2.0 * n)
    cosmo = Cosmology()
    disp, _ = jax.jit(lambda x: lpt(linear_modes(x, cosmo, cfg), cosmo, cfg))(white_noise(jax.random.key(0), cfg))
    x = cfg.lagrangian_positions() + disp
    lam = jax.random.normal(jax.random.key(1), x.shape, x.dtype)
    flat, w, _, _ = jax.jit(lambda x: _stencil_factors(x, cfg))(x)
    size = (2 * n) ** 3
    mesh = jnp.ones(cfg.mesh_shape, x.dtype)
    mesh_k = jnp.fft.rfftn(mesh)

    def best_ms(fn, *a):
        compiled = jax.jit(fn).lower(*a).compile()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(*a))
            times.append(time.perf_counter() - t0)
        return round(1e3 * min(times), 2)

    def paint(f, u):
        return jnp.zeros(size, u.dtype).at[f.reshape(-1)].add(u.reshape(-1))

    out = {
        "case": "pm_parts", "ptcl": n, "mesh": 2 * n, "dtype": "float32",
        "scatter_ms": best_ms(paint, flat, w),
        "three_adjoint_scatters_ms": best_ms(lambda f, w, l: [paint(f, w * l[:, c : c + 1]) for c in range(3)],
                                             flat, w, lam),
        "rfftn_ms": best_ms(jnp.fft.rfftn, mesh),
        "irfftn_ms": best_ms(lambda k: jnp.fft.irfftn(k, s=cfg.mesh_shape), mesh_k),
        "gather_ms": best_ms(lambda m, f: m.reshape(-1)[f], mesh, flat),
        "jax": jax.__version__, "backend": jax.default_backend(), "cpus": os.cpu_count(),
        "machine": platform.machine(), "load_avg_1min": os.getloadavg()[0],
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
