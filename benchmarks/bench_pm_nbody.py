"""PM benchmark: forward, gradient (reverse-time adjoint), compile time and peak memory.

Each case runs in a fresh subprocess (so peak RSS is per case) and prints one JSON object:
    .venv/bin/python benchmarks/bench_pm_nbody.py                 # 64³ particles, 128³ mesh, 63 steps
    .venv/bin/python benchmarks/bench_pm_nbody.py --ptcl 32 --steps 63 252
    .venv/bin/python benchmarks/bench_pm_nbody.py --case grad --ptcl 64 --steps 63   # one case
    .venv/bin/python benchmarks/bench_pm_nbody.py --devices 2   # split over 2 devices (on a CPU:
                                                                 # 2 host devices of the same cores)
Model: white noise → 2LPT at a = 1/64 → KDK to a = 1, float32, box 128 Mpc/h per 64 particles;
gradient: d/d(noise) of sum(final displacement²), via the reverse-time adjoint.
A case that fails prints {"case": ..., "error": ...} and the script exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

from _timing import exit_on_usage_error_of, input_errors_as_usage_errors, int_at_least


def _max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _case(kind: str, ptcl: int, mesh_factor: int, steps: int, repeats: int, devices: int = 0) -> dict:
    if devices > 1:  # before JAX starts; it only adds host (CPU) devices, GPUs are unaffected
        os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    import jax
    import jax.numpy as jnp

    from astrograd.cosmo import Cosmology
    from astrograd.pm import PMConfig, simulate, white_noise

    cfg = PMConfig(ptcl_grid=ptcl, mesh_shape=ptcl * mesh_factor, box_size=2.0 * ptcl, num_steps=steps)
    cosmo = Cosmology()
    noise = white_noise(jax.random.key(0), cfg)

    split = devices or None

    def forward(x):
        disp, mom = simulate(x, cosmo, cfg, devices=split)
        return disp, mom

    def loss(x):
        disp, _ = simulate(x, cosmo, cfg, devices=split)
        return jnp.sum(disp**2)

    fn = jax.jit(forward) if kind == "forward" else jax.jit(jax.value_and_grad(loss))
    setup_rss = _max_rss_mb()
    t0 = time.perf_counter()
    compiled = fn.lower(noise).compile()
    compile_s = time.perf_counter() - t0
    compile_rss = _max_rss_mb()
    temp_mb = compiled.memory_analysis().temp_size_in_bytes / 2**20
    flops = compiled.cost_analysis().get("flops")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(noise))
        times.append(time.perf_counter() - t0)
    return {
        "code": "astrograd",
        "case": kind,
        "ptcl": ptcl,
        "mesh": ptcl * mesh_factor,
        "steps": steps,
        "devices": devices or 1,
        "sharded": bool(devices),
        "dtype": "float32",
        "compile_s": round(compile_s, 3),
        "run_s": round(min(times), 3),
        "run_s_all": [round(x, 3) for x in times],
        "peak_rss_mb": _max_rss_mb(),
        # where the peak comes from: setup (imports, white noise), compilation (XLA on CPU keeps
        # ~1.2 MB per compiled kernel), then the run (XLA's temporary buffer and the outputs)
        "rss_after_setup_mb": setup_rss,
        "rss_after_compile_mb": compile_rss,
        "xla_temp_mb": round(temp_mb, 1),
        "xla_flops": flops,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ptcl", type=int, nargs="+", default=[64])
    p.add_argument("--mesh-factor", type=int, default=2)
    p.add_argument("--steps", type=int, nargs="+", default=[63])
    p.add_argument("--case", choices=["forward", "grad", "all"], default="all")
    # --repeats 0 ran every case and then failed them all (min() of no timings)
    p.add_argument("--repeats", type=int_at_least(1), default=2)
    p.add_argument("--devices", type=int, default=0,
                   help="split the N-body part over this many devices (0: the unsplit single-device code)")
    args = p.parse_args()
    if args.case != "all" and len(args.ptcl) == 1 and len(args.steps) == 1:
        res = _case(args.case, args.ptcl[0], args.mesh_factor, args.steps[0], args.repeats, args.devices)
        res.update(machine=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                   load_avg_1min=os.getloadavg()[0])
        print(json.dumps(res), flush=True)
        return
    kinds = ["forward", "grad"] if args.case == "all" else [args.case]
    failed = []
    for ptcl in args.ptcl:
        for steps in args.steps:
            for kind in kinds:
                cmd = [sys.executable, __file__, "--case", kind, "--ptcl", str(ptcl), "--steps", str(steps),
                       "--mesh-factor", str(args.mesh_factor), "--repeats", str(args.repeats),
                       "--devices", str(args.devices)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                exit_on_usage_error_of(out)
                lines = out.stdout.strip().splitlines()
                if lines:
                    print(lines[-1], flush=True)
                if out.returncode != 0 or not lines:
                    failed.append(f"{kind} ptcl {ptcl} steps {steps}")
                    print(json.dumps({"case": kind, "ptcl": ptcl, "steps": steps,
                                      "error": out.stderr.strip().splitlines()[-1:] or out.returncode}), flush=True)
    if failed:
        raise SystemExit(f"error: {len(failed)} case(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
