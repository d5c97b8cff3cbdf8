"""Hydro benchmarks: Sod accuracy and convergence, spherical Sod, the 401-cell wind bubble
(forward, value_and_grad, compile times, peak memory, outer shock vs Weaver, convergence to 1601
cells), side by side with jf1uids 0.4.0 when its throwaway venv exists.

    .venv/bin/python benchmarks/bench_hydro.py [--quick] [--peer /tmp/peer-jf1uids/bin/python] \
        [--sod-cells 200 400 1000] [--wind-cells 401 1601]

Prints one JSON object per measured case. Each case runs in its own subprocess (clean peak RSS);
a case that fails prints {"case": ..., "error": ...} and the script exits with status 1.
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
from pathlib import Path

from _timing import exit_on_usage_error_of, input_errors_as_usage_errors

HERE = Path(__file__).resolve().parent
PEER_PY = "/tmp/peer-jf1uids/bin/python"


def emit(obj):
    print(json.dumps(obj), flush=True)


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_sod(cells: int, limiter: str):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from astrograd.hydro import HydroParams, primitive_to_conserved, simulate, sod_problem
    from astrograd.hydro._examples import sod_l1_error

    pr = sod_problem(cells, limiter=limiter)
    params = HydroParams(gamma=1.4, cfl=0.8)
    q0 = primitive_to_conserved(jnp.asarray(pr.initial), 1.4)
    fn = jax.jit(lambda q: simulate(q, params, pr.config, 0.2, adjoint="forward"))
    t = time.perf_counter()
    compiled = fn.lower(q0).compile()
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(3):
        t = time.perf_counter()
        sol = jax.block_until_ready(compiled(q0))
        times.append(time.perf_counter() - t)
    w = sol.primitive(1.4)
    return {"case": "sod", "cells": cells, "limiter": limiter, "riemann": "hllc", "steps": int(sol.num_steps),
            "l1_cell_average": sod_l1_error(w, pr.config, 1.4, 0.2),
            "l1_centres": sod_l1_error(w, pr.config, 1.4, 0.2, cell_average=False),
            "run_s": min(times), "compile_s": compile_s}


def case_sod_spherical(cells: int):
    import jax

    jax.config.update("jax_enable_x64", True)
    from astrograd.hydro import run, sod_problem

    pr = sod_problem(cells, geometry="spherical")
    t = time.perf_counter()
    w, sol = run(*pr.initial, pr.params, pr.config, pr.t_end)
    return {"case": "sod_spherical", "cells": cells, "steps": int(sol.num_steps), "wall_s": time.perf_counter() - t,
            "finite": bool((w == w).all()), "rho_max": float(w[0].max())}


def _best_of_two(compiled, *args):
    """(the shorter wall time of two calls, the last result)."""
    import jax

    times = []
    for _ in range(2):
        t = time.perf_counter()
        result = jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t)
    return min(times), result


def case_wind(cells: int, grad: bool):
    import astropy.units as u
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from astrograd.hydro import weaver_radius, wind_luminosity, wind_problem
    from astrograd.hydro._wind import outer_shock_radius, wind_model

    pr = wind_problem(cells)
    v0, m0 = pr.params.wind_velocity, pr.params.wind_mass_loss_rate
    out = {"case": "wind_grad" if grad else "wind", "cells": cells}
    fwd = jax.jit(wind_model(pr, adjoint="forward"))
    t = time.perf_counter()
    compiled = fwd.lower(v0, m0).compile()
    out["compile_s"] = time.perf_counter() - t
    out["forward_s"], w = _best_of_two(compiled, v0, m0)
    info = pr.info
    pc = pr.units.from_code(1.0, u.pc).value
    radius = outer_shock_radius(pr.config.grid.centres, np.asarray(w[2]), info["p"])
    exact = weaver_radius(wind_luminosity(info["mdot"], info["v_inf"]), info["rho"], pr.t_end)
    out.update(shock_radius_pc=radius * pc, weaver_radius_pc=exact * pc, relative_to_weaver=radius / exact - 1)
    from astrograd.hydro import primitive_to_conserved
    from astrograd.hydro._solve import _simulate_jit

    q0 = primitive_to_conserved(jnp.asarray(pr.initial), pr.params.gamma)
    sol = _simulate_jit(q0, pr.params, pr.config, jnp.asarray(0.0, q0.dtype), jnp.asarray(pr.t_end, q0.dtype), None,
                        10**6)
    out["steps"] = int(sol.num_steps)
    if grad:
        f = wind_model(pr)
        vg = jax.jit(jax.value_and_grad(lambda v, m: jnp.sum(f(v, m)[0] ** 2), argnums=(0, 1)))
        t = time.perf_counter()
        compiled_g = vg.lower(v0, m0).compile()
        out["grad_compile_s"] = time.perf_counter() - t
        out["value_and_grad_s"] = _best_of_two(compiled_g, v0, m0)[0]
        out["grad_over_forward"] = out["value_and_grad_s"] / out["forward_s"]
        # the same value and gradient by forward mode: one jvp through the adaptive loop with
        # both tangent directions batched (the alternative for two parameters)
        fm = wind_model(pr, adjoint="forward")

        def value_and_jvps(v, m):
            x = jnp.stack([v, m])
            return jax.vmap(lambda t: jax.jvp(lambda y: jnp.sum(fm(y[0], y[1])[0] ** 2), (x,), (t,)),
                            out_axes=(None, 0))(jnp.eye(2, dtype=x.dtype))

        compiled_f = jax.jit(value_and_jvps).lower(v0, m0).compile()
        out["forward_mode_grad_s"] = _best_of_two(compiled_f, v0, m0)[0]
        out["forward_mode_grad_over_forward"] = out["forward_mode_grad_s"] / out["forward_s"]
        # AD against central finite differences of the same forward model (float64). The
        # discrete program (step count, limiter switches) has structure on small scales, so FD
        # approaches AD only as the step shrinks: report several steps.
        g = compiled_g(v0, m0)[1]
        loss = jax.jit(lambda v, m: jnp.sum(fwd(v, m)[0] ** 2))
        out["dloss_dv_ad"] = float(g[0])
        for rel in (1e-4, 1e-6, 1e-7):
            h = rel * float(v0)
            out[f"dloss_dv_fd_h{rel:.0e}"] = (float(loss(v0 + h, m0)) - float(loss(v0 - h, m0))) / (2 * h)
    out["peak_rss_mb"] = _rss_mb()
    return out


def run_case(args: list[str]) -> bool:
    """Run one case in a subprocess and forward its JSON lines; False if it failed."""
    proc = subprocess.run([sys.executable, __file__, "--case", *args], capture_output=True, text=True)
    exit_on_usage_error_of(proc)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    failed = proc.returncode != 0 or not lines
    if failed:
        emit({"case": args[0], "error": proc.stderr.strip().splitlines()[-1:] or proc.returncode})
    for ln in lines:
        print(ln, flush=True)
    return not failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="skip the forward-only wind runs (1601 cells) and the peer's 400-cell Sod")
    parser.add_argument("--peer", default=PEER_PY, help=f"jf1uids 0.4.0 interpreter (default {PEER_PY})")
    parser.add_argument("--sod-cells", type=int, nargs="+", default=[200, 400, 1000],
                        help="Sod cells per run, each with both limiters; the first also for spherical Sod "
                             "(default 200 400 1000)")
    parser.add_argument("--wind-cells", type=int, nargs="+", default=[401, 1601],
                        help="wind cells: the first with its gradient, the others forward only and skipped by "
                             "--quick (default 401 1601)")
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)  # one case, in the subprocess
    args = parser.parse_args()
    if args.case:
        name, rest = args.case[0], args.case[1:]
        if name == "sod":
            emit(case_sod(int(rest[0]), rest[1]))
        elif name == "sod_spherical":
            emit(case_sod_spherical(int(rest[0])))
        elif name == "wind":
            emit(case_wind(int(rest[0]), grad=rest[1] == "grad"))
        else:  # exited 0 with nothing printed
            parser.error(f"unknown --case {name!r}; choose sod, sod_spherical or wind")
        return
    quick, peer = args.quick, args.peer
    import jax

    emit({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
          "python": platform.python_version(),
          "jax": jax.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
          "load_average_1min": os.getloadavg()[0]})
    cases = [["sod", str(cells), limiter] for cells in args.sod_cells for limiter in ("mc", "superbee")]
    cases += [["sod_spherical", str(args.sod_cells[0])], ["wind", str(args.wind_cells[0]), "grad"]]
    if not quick:
        cases += [["wind", str(cells), "fwd"] for cells in args.wind_cells[1:]]
    failed = [" ".join(case) for case in cases if not run_case(case)]
    if Path(peer).exists():
        proc = subprocess.run([peer, str(HERE / "bench_hydro_peer_jf1uids.py")] + (["--quick"] if quick else []),
                              capture_output=True, text=True)
        import numpy as np

        from astrograd.hydro._exact_riemann import exact_riemann

        for ln in proc.stdout.splitlines():
            if not ln.startswith("{"):
                continue  # jf1uids prints notices on stdout
            rec = json.loads(ln)
            if rec.get("case") == "sod" and "rho" in rec:
                x = np.asarray(rec.pop("x"))
                rho = np.asarray(rec.pop("rho"))
                n = x.size
                dx = 1.0 / n
                xs = ((np.arange(n)[:, None] + (np.arange(16) + 0.5) / 16) * dx).ravel()
                exact_avg = exact_riemann((1, 0, 1), (0.125, 0, 0.1), 1.4, xs, 0.2)[0].reshape(n, 16).mean(1)
                exact_c = exact_riemann((1, 0, 1), (0.125, 0, 0.1), 1.4, x, 0.2)[0]
                rec["l1_cell_average"] = float(np.mean(np.abs(rho - exact_avg)))
                rec["l1_centres"] = float(np.mean(np.abs(rho - exact_c)))
            rec.pop("x", None)
            rec.pop("rho", None)
            emit(rec)
        if proc.returncode != 0:
            emit({"peer": "jf1uids", "error": proc.stderr.strip().splitlines()[-1:]})
            failed.append("peer jf1uids")
    else:
        emit({"peer": "jf1uids", "skipped": f"{peer} not found"})
    if failed:
        raise SystemExit(f"error: {len(failed)} case(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
