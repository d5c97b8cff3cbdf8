"""astrograd.flow vs PhiFlow 3.4.0 (JAX backend), measured in the same run.

Case (both codes): smoke plume in a closed 100 x 100 box (zero velocity on the walls), marker
added at rate 1 in a disc of radius 10 at (50, 15), buoyancy 0.1 per unit marker, semi-Lagrangian
advection of marker and velocity, no viscosity, CG pressure solve (tolerance 1e-3, cold start),
dt = 1, float32, CPU.
Measured: compile time of one step, mean wall time per step (10 steps after warm-up, one jitted
step per call in both codes), max |div v| after the last step, and value_and_grad of
sum(marker²) after 16 steps with respect to the initial velocity (astrograd: one jitted
lax.scan; PhiFlow: one jit_compile of 16 traced steps) versus the 16-step forward run.

PhiFlow runs in its own virtual environment (default /tmp/peer-phiflow, override with
PHIFLOW_PYTHON): python3.11 -m venv /tmp/peer-phiflow &&
/tmp/peer-phiflow/bin/pip install phiflow==3.4.0 jax==0.10.1 jaxlib==0.10.1
Prints one JSON object per case on stdout (PhiFlow's own errors inside a step or gradient are
recorded as step_error / grad_error). If the PhiFlow run itself fails, its line has an "error"
and the script exits with status 1; without the PhiFlow venv its line says "skipped".
Usage: bench_flow_phiflow.py [--sizes 128,256] [--grad-steps 16] [--no-phiflow]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from _timing import input_errors_as_usage_errors, int_at_least, int_list_at_least

PHIFLOW_SCRIPT = r"""
import json, sys, time
from phi.jax.flow import *
n, steps_grad = int(sys.argv[1]), int(sys.argv[2])
out = {"code": "phiflow", "n": n}
DOMAIN = dict(x=n, y=n, bounds=Box(x=100, y=100))
src = resample(Sphere(x=50, y=15, radius=10), to=CenteredGrid(0, ZERO_GRADIENT, **DOMAIN), soft=True)
def _step(v, s):
    s = advect.semi_lagrangian(s, v, 1.0) + src
    v = advect.semi_lagrangian(v, v, 1.0) + resample(s * (0, 0.1), to=v)
    v, p = fluid.make_incompressible(v, (), Solve("CG", 1e-3, 1e-3, max_iterations=20000, x0=None))
    return v, s
def sync(x): return float(math.sum(x.values))
v = StaggeredGrid(0, 0, **DOMAIN); s = CenteredGrid(0, ZERO_GRADIENT, **DOMAIN)
try:
    _step(v, s)  # eager call fills PhiFlow's cached grid geometry (otherwise a tracer leaks under jit)
    step = jit_compile(_step)
    t0 = time.perf_counter(); v1, s1 = step(v, s); sync(s1); t1 = time.perf_counter()
    for i in range(4): v1, s1 = step(v1, s1)
    sync(s1); t2 = time.perf_counter()
    for i in range(10): v1, s1 = step(v1, s1)
    sync(s1); t3 = time.perf_counter()
    out["first_call_s"] = t1 - t0
    out["step_s"] = (t3 - t2) / 10
    out["compile_s"] = out["first_call_s"] - out["step_s"]
    out["max_div"] = float(math.max(abs(field.divergence(v1).values)))
except Exception as err:
    out["step_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
print(json.dumps(out), flush=True)
if steps_grad and "step_error" not in out:
    g = {"code": "phiflow", "n": n, "case": "grad"}
    try:
        v0 = StaggeredGrid(Noise(scale=20), 0, **DOMAIN) * 0.1
        t0 = time.perf_counter(); v1, s1 = v0, s
        for i in range(steps_grad): v1, s1 = step(v1, s1)
        sync(s1); g["forward_s"] = time.perf_counter() - t0
        def loss(v0):
            v, sm = v0, s
            for i in range(steps_grad): v, sm = _step(v, sm)
            return math.sum(sm.values ** 2)
        grad = jit_compile(math.gradient(loss, "v0", get_output=True))
        t0 = time.perf_counter(); L, dv = grad(v0); float(L); t1 = time.perf_counter()
        L, dv = grad(v0); float(L); float(math.sum(dv.values)); t2 = time.perf_counter()
        g["grad_first_call_s"] = t1 - t0
        g["grad_s"] = t2 - t1
    except Exception as err:
        g["grad_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    print(json.dumps(g), flush=True)
"""


def ours(n: int, steps_grad: int, tol: float = 1e-3) -> list[dict]:
    import jax
    import jax.numpy as jnp

    from astrograd import flow

    grid = flow.Grid(n, n, 100.0, 100.0)
    bc = flow.Boundaries("no-slip", "no-slip", "no-slip", "no-slip")
    config = flow.FlowConfig(
        grid,
        bc,
        1.0,
        advection="semi-lagrangian",
        viscosity_scheme="none",
        tol=tol,
        max_cg_steps=20000,
        warm_start=False,
    )
    params = flow.make_params(config, 0.0, buoyancy=0.1, marker_source=flow.cylinder_mask(grid, (50.0, 15.0), 10.0))
    state = flow.make_state(config)
    step = jax.jit(lambda s, p: flow.step(s, p, config))
    out = {"code": "astrograd", "n": n, "tol": tol}
    t0 = time.perf_counter()
    s1 = jax.block_until_ready(step(state, params))
    t1 = time.perf_counter()
    for _ in range(4):
        s1 = step(s1, params)
    jax.block_until_ready(s1)
    t2 = time.perf_counter()
    for _ in range(10):
        s1 = step(s1, params)
    jax.block_until_ready(s1)
    t3 = time.perf_counter()
    out["first_call_s"] = t1 - t0
    out["step_s"] = (t3 - t2) / 10
    out["compile_s"] = out["first_call_s"] - out["step_s"]
    out["max_div"] = float(jnp.max(jnp.abs(flow.divergence(s1.vx, s1.vy, grid))))
    out["status"] = int(s1.status)
    out["max_cg_steps"] = int(s1.cg_steps)
    results = [out]
    if steps_grad:
        g = {"code": "astrograd", "n": n, "case": "grad", "tol": tol}
        k1, k2 = jax.random.split(jax.random.key(0))
        v0 = (0.1 * jax.random.normal(k1, state.vx.shape), 0.1 * jax.random.normal(k2, state.vy.shape))

        def run(v):
            final, _ = flow.simulate(flow.make_state(config, v[0], v[1]), params, config, steps_grad, check=False)
            return final

        forward = jax.jit(run)
        jax.block_until_ready(forward(v0))
        t0 = time.perf_counter()
        jax.block_until_ready(forward(v0))
        g["forward_s"] = time.perf_counter() - t0
        grad = jax.jit(jax.value_and_grad(lambda v: jnp.sum(run(v).marker ** 2)))
        t0 = time.perf_counter()
        jax.block_until_ready(grad(v0))
        t1 = time.perf_counter()
        jax.block_until_ready(grad(v0))
        t2 = time.perf_counter()
        g["grad_first_call_s"] = t1 - t0
        g["grad_s"] = t2 - t1
        g["grad_over_forward"] = g["grad_s"] / g["forward_s"]
        g["status"] = int(run(v0).status)
        results.append(g)
    return results


def phiflow(n: int, steps_grad: int, python: str) -> list[dict]:
    if not os.path.exists(python):
        return [{"code": "phiflow", "n": n, "skipped": f"{python} not found"}]
    proc = subprocess.run(
        [python, "-c", PHIFLOW_SCRIPT, str(n), str(steps_grad)], capture_output=True, text=True, timeout=3600
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 and not rows:
        rows = [{"code": "phiflow", "n": n, "error": failure_message(proc)}]
    return rows


def failure_message(proc: subprocess.CompletedProcess) -> str:
    """The last line of a failed run's stderr, or its exit status when it wrote nothing there (a
    run killed by a signal, e.g. out of memory, often does)."""
    lines = proc.stderr.strip().splitlines()
    if lines:
        return lines[-1][:300]
    if proc.returncode < 0:
        return f"PhiFlow run killed by signal {-proc.returncode}, nothing on stderr"
    return f"PhiFlow run exited with status {proc.returncode}, nothing on stderr"


def main() -> None:
    parser = argparse.ArgumentParser()
    # --sizes abc was a ValueError traceback, after JAX had started
    parser.add_argument("--sizes", type=int_list_at_least(1), default="128,256",
                        help="grid sizes n (n x n cells), comma-separated (default 128,256)")
    parser.add_argument("--grad-steps", type=int_at_least(0), default=16)
    parser.add_argument("--tol", type=float, default=1e-3, help="astrograd CG tolerance")
    parser.add_argument("--no-phiflow", action="store_true")
    parser.add_argument("--phiflow-python", default=os.environ.get("PHIFLOW_PYTHON", "/tmp/peer-phiflow/bin/python"))
    args = parser.parse_args()
    import jax

    meta = {
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "python": sys.version.split()[0],
    }
    failed = []
    for n in args.sizes:
        grad_steps = args.grad_steps if n == 128 else 0
        rows = ours(n, grad_steps, args.tol)
        if not args.no_phiflow:
            rows += phiflow(n, grad_steps, args.phiflow_python)
        for row in rows:
            row.update(meta)
            print(json.dumps(row), flush=True)
        failed += [f"phiflow n {n}" for row in rows if "error" in row]
    if failed:
        raise SystemExit(f"error: {len(failed)} case(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
