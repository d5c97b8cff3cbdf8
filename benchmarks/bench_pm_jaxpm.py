"""Peer benchmark: JaxPM (from the registry) on the same problem as bench_pm_nbody.py.

Runs ONLY in a throwaway venv outside the repository (never imported by the package):
    python3.11 -m venv /tmp/peer-jaxpm && /tmp/peer-jaxpm/bin/pip install jaxpm packaging \
        "jax==0.10.1" "jaxlib==0.10.1"
    /tmp/peer-jaxpm/bin/python benchmarks/bench_pm_jaxpm.py --ptcl 64 --steps 63
Same model: white noise on the particle grid → 2LPT at a = 1/64 (jaxpm.pm.lpt) → 63 KDK steps
uniform in a to a = 1 with jaxpm.pm.pm_forces on a 2× finer mesh (jaxpm ships no fixed-step
integrator; the KDK scan here is the plain leapfrog of its make_ode_fn equations), float32. Gradient: plain reverse
mode through the scan (JaxPM has no adjoint). One JSON object per case (fresh subprocess each);
a case that fails prints {"code": "jaxpm", ..., "error": ...} and the script exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys


def _case(kind, ptcl, mesh_factor, steps, repeats):
    import jax
    import jax.numpy as jnp
    import jax_cosmo as jc
    from jaxpm.distributed import fft3d, ifft3d
    from jaxpm.kernels import fftk, gradient_kernel, invlaplace_kernel
    from jaxpm.painting import _cic_paint_impl, _cic_read_impl
    from jaxpm.pm import lpt

    shape = (ptcl,) * 3
    mesh = (ptcl * mesh_factor,) * 3
    box = [2.0 * ptcl] * 3
    cosmo = jc.Cosmology(Omega_c=0.25, Omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8, Omega_k=0.0, w0=-1.0, wa=0.0)
    kk = jnp.logspace(-4, 1, 256)
    # a separate Cosmology for the power spectrum: jax_cosmo caches its own growth table under the
    # key jaxpm's dGfa reads, without the entries jaxpm needs (KeyError 'h' otherwise)
    pk = jc.power.linear_matter_power(jc.Cosmology(Omega_c=0.25, Omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8,
                                                   Omega_k=0.0, w0=-1.0, wa=0.0), kk)
    a0 = 1.0 / 64
    a_steps = jnp.linspace(a0, 1.0, steps + 1)

    def forces(pos):
        # jaxpm.pm.pm_forces with the painting kernels called directly: its public cic_paint /
        # cic_read reshape the particles to the mesh shape, i.e. need mesh == particle grid
        delta_k = fft3d(_cic_paint_impl(jnp.zeros(mesh), pos))
        kvec = fftk(delta_k)
        pot_k = delta_k * invlaplace_kernel(kvec)
        return jnp.stack([_cic_read_impl(ifft3d(-gradient_kernel(kvec, i) * pot_k), pos) for i in range(3)], -1)

    def ode(state, a, cosmo):
        pos, vel = state
        e = jnp.sqrt(jc.background.Esqr(cosmo, a))
        return vel / (a**3 * e), forces(pos) * 1.5 * cosmo.Omega_m / (a**2 * e)
    noise = jax.random.normal(jax.random.key(0), shape)

    def forward(x):
        field = jnp.fft.rfftn(x)
        kvec = fftk(jnp.fft.fftn(x))
        kmesh = sum((k / box[i] * shape[i]) ** 2 for i, k in enumerate(kvec)) ** 0.5
        kmesh = kmesh[..., : shape[2] // 2 + 1]
        pkmesh = jnp.interp(kmesh, kk, pk) * (ptcl**3) / (box[0] * box[1] * box[2])
        ic = jnp.fft.irfftn(field * jnp.sqrt(pkmesh), s=shape)
        dx, p, _ = lpt(cosmo, ic, a=a0, order=2)
        q = jnp.stack(jnp.meshgrid(*[jnp.arange(n, dtype=jnp.float32) for n in shape], indexing="ij"), -1)
        pos = (q + dx) * mesh_factor
        vel = p * mesh_factor
        acc = ode((pos, vel), a0, cosmo)[1]

        def step(carry, i):
            pos, vel, acc = carry
            a, b = a_steps[i], a_steps[i + 1]
            vel = vel + 0.5 * (b - a) * acc
            pos = pos + (b - a) * ode((pos, vel), 0.5 * (a + b), cosmo)[0]
            acc = ode((pos, vel), b, cosmo)[1]
            vel = vel + 0.5 * (b - a) * acc
            return (pos, vel, acc), None

        (pos, vel, _), _ = jax.lax.scan(step, (pos, vel, acc), jnp.arange(steps))
        return pos, vel

    def loss(x):
        pos, _ = forward(x)
        return jnp.sum(pos**2)

    fn = jax.jit(forward) if kind == "forward" else jax.jit(jax.value_and_grad(loss))
    from _timing import compile_and_time

    compile_s, times = compile_and_time(fn, noise, repeats=repeats)
    from importlib.metadata import version

    return {"code": f"jaxpm {version('jaxpm')}", "case": kind, "ptcl": ptcl, "mesh": ptcl * mesh_factor,
            "steps": steps, "dtype": "float32", "compile_s": round(compile_s, 3), "run_s": round(min(times), 3),
            "run_s_all": [round(x, 3) for x in times],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "jax": jax.__version__, "load_avg_1min": os.getloadavg()[0]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ptcl", type=int, nargs="+", default=[64])
    p.add_argument("--mesh-factor", type=int, default=2)
    p.add_argument("--steps", type=int, nargs="+", default=[63])
    p.add_argument("--case", choices=["forward", "grad", "all"], default="all")
    from _timing import int_at_least  # stdlib only: importable under the peer's interpreter

    p.add_argument("--repeats", type=int_at_least(1), default=2)  # 0: every case ran, then failed
    args = p.parse_args()
    if args.case != "all" and len(args.ptcl) == 1 and len(args.steps) == 1:
        print(json.dumps(_case(args.case, args.ptcl[0], args.mesh_factor, args.steps[0], args.repeats)), flush=True)
        return
    failed = []
    for ptcl in args.ptcl:
        for steps in args.steps:
            for kind in (["forward", "grad"] if args.case == "all" else [args.case]):
                cmd = [sys.executable, __file__, "--case", kind, "--ptcl", str(ptcl), "--steps", str(steps),
                       "--mesh-factor", str(args.mesh_factor), "--repeats", str(args.repeats)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                lines = out.stdout.strip().splitlines()
                if lines:
                    print(lines[-1], flush=True)
                if out.returncode != 0 or not lines:
                    failed.append(f"{kind} ptcl {ptcl} steps {steps}")
                    print(json.dumps({"code": "jaxpm", "case": kind, "ptcl": ptcl, "steps": steps,
                                      "error": out.stderr.strip()[-400:] or out.returncode}), flush=True)
    if failed:
        raise SystemExit(f"error: {len(failed)} case(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
