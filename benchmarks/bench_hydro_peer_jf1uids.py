"""Peer measurements for benchmarks/bench_hydro.py: jf1uids 0.4.0 on the same problems.

Run with the peer's own interpreter (a throwaway venv, never a dependency of astrograd):
    /tmp/peer-jf1uids/bin/python benchmarks/bench_hydro_peer_jf1uids.py [--quick]
Prints one JSON object per measured case. Under an interpreter without jf1uids it prints one
JSON object saying so and exits 0 (``--help`` and a bad argument are answered first, anywhere).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def emit(obj):
    print(json.dumps(obj), flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Sod at 200 and 1000 cells only")
    return parser.parse_args(argv)


# before importing jf1uids: without it, --help and a bad argument printed the "skipped" line, exit 0
ARGS = parse_args() if __name__ == "__main__" else None

try:
    import jax
    import jax.numpy as jnp
    import jf1uids
    import numpy as np
    from jf1uids import (
        CARTESIAN,
        HLL,
        HLLC,
        MINMOD,
        OPEN_BOUNDARY,
        REFLECTIVE_BOUNDARY,
        SPHERICAL,
        SimulationConfig,
        SimulationParams,
        WindParams,
        construct_primitive_state,
        finalize_config,
        get_registered_variables,
        time_integration,
    )
    from jf1uids._physics_modules._stellar_wind.stellar_wind_options import WindConfig
    from jf1uids.option_classes.simulation_config import BACKWARDS, DOUBLE_PRECISION, BoundarySettings1D
except ImportError as err:  # pragma: no cover - depends on the interpreter
    emit({"peer": "jf1uids", "skipped": f"jf1uids not importable here ({err})"})
    sys.exit(0)

jax.config.update("jax_enable_x64", True)
VERSION = getattr(jf1uids, "__version__", None)
if VERSION is None:
    from importlib.metadata import version

    VERSION = version("jf1uids")


def timed(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def sod(n, riemann=HLLC, geometry=CARTESIAN):
    left = OPEN_BOUNDARY if geometry == CARTESIAN else REFLECTIVE_BOUNDARY
    config = SimulationConfig(
        numerical_precision=DOUBLE_PRECISION, geometry=geometry, box_size=1.0, num_cells=n,
        riemann_solver=riemann, limiter=MINMOD,
        boundary_settings=BoundarySettings1D(left, OPEN_BOUNDARY),
    )
    rv = get_registered_variables(config)
    dx = 1.0 / n
    x = jnp.linspace(dx / 2, 1 - dx / 2, n)
    rho = jnp.where(x < 0.5, 1.0, 0.125)
    p = jnp.where(x < 0.5, 1.0, 0.1)
    state = construct_primitive_state(config=config, registered_variables=rv, density=rho,
                                      velocity_x=jnp.zeros(n), gas_pressure=p)
    config = finalize_config(config, state.shape)
    params = SimulationParams(C_cfl=0.8, gamma=1.4, t_end=0.2, dt_max=0.1)
    fn = jax.jit(lambda s, prm: time_integration(s, config, prm, rv))
    start = time.perf_counter()
    compiled = fn.lower(state, params).compile()
    compile_s = time.perf_counter() - start
    out, run_s = timed(compiled, state, params)
    out, run_s2 = timed(compiled, state, params)
    return {"x": np.asarray(x).tolist(), "rho": np.asarray(out[0]).tolist(), "compile_s": compile_s,
            "run_s": min(run_s, run_s2)}


def wind(n, grad=False):
    from astropy import constants as c
    from astropy import units as u

    code_units = jf1uids.CodeUnits(3 * u.parsec, 1e-4 * u.M_sun, 1 * u.km / u.s)
    mdot = (2.965e-3 * 40 * u.M_sun / u.Myr).to(code_units.code_mass / code_units.code_time).value
    vinf = (2000 * u.km / u.s).to(code_units.code_velocity).value
    rho0 = (2 * c.m_p / u.cm**3).to(code_units.code_density).value
    p0 = (3e4 * u.K / u.cm**3 * c.k_B).to(code_units.code_pressure).value
    t_end = (2.5e4 * u.yr).to(code_units.code_time).value
    config = SimulationConfig(
        numerical_precision=DOUBLE_PRECISION, geometry=SPHERICAL, box_size=1.0, num_cells=n,
        wind_config=WindConfig(stellar_wind=True, num_injection_cells=10),
        boundary_settings=BoundarySettings1D(REFLECTIVE_BOUNDARY, OPEN_BOUNDARY),
        differentiation_mode=BACKWARDS if grad else 0, num_checkpoints=100,
    )
    rv = get_registered_variables(config)
    state = construct_primitive_state(config=config, registered_variables=rv, density=jnp.full(n, rho0),
                                      velocity_x=jnp.zeros(n), gas_pressure=jnp.full(n, p0))
    config = finalize_config(config, state.shape)

    def params_of(v, m):
        return SimulationParams(C_cfl=0.8, gamma=5 / 3, t_end=t_end, dt_max=0.1,
                                wind_params=WindParams(wind_mass_loss_rate=m, wind_final_velocity=v))

    out = {"mdot_code": mdot, "v_code": vinf, "rho0": rho0, "p0": p0, "t_end": t_end}
    fwd = jax.jit(lambda v, m: time_integration(state, config, params_of(v, m), rv))
    start = time.perf_counter()
    compiled = fwd.lower(vinf, mdot).compile()
    out["compile_s"] = time.perf_counter() - start
    final, t1 = timed(compiled, vinf, mdot)
    _, t2 = timed(compiled, vinf, mdot)
    out["forward_s"] = min(t1, t2)
    x = (np.arange(n) + 0.5) / n
    pr = np.asarray(final[2])
    above = np.flatnonzero(pr > 1.5 * p0)
    out["shock_radius_pc"] = float(x[above[-1]] * 3.0) if above.size else None
    if grad:
        def loss_fn(v, m):
            return jnp.sum(time_integration(state, config, params_of(v, m), rv)[0] ** 2)

        loss = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))
        start = time.perf_counter()
        compiled_g = loss.lower(vinf, mdot).compile()
        out["grad_compile_s"] = time.perf_counter() - start
        _, g1 = timed(compiled_g, vinf, mdot)
        _, g2 = timed(compiled_g, vinf, mdot)
        out["value_and_grad_s"] = min(g1, g2)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(args: argparse.Namespace):
    quick = args.quick
    for n in ((200, 1000) if quick else (200, 400, 1000)):
        r = sod(n)
        emit({"peer": "jf1uids", "version": VERSION, "case": "sod", "cells": n, **r})
    try:
        r = sod(200, riemann=HLL, geometry=SPHERICAL)
        emit({"peer": "jf1uids", "version": VERSION, "case": "sod_spherical", "cells": 200, **r})
    except Exception as err:  # noqa: BLE001 - record the peer's failure as it is
        emit({"peer": "jf1uids", "version": VERSION, "case": "sod_spherical", "cells": 200,
              "error": f"{type(err).__name__}: {str(err)[:200]}"})
    emit({"peer": "jf1uids", "version": VERSION, "case": "wind", "cells": 401, **wind(401, grad=True)})


if __name__ == "__main__":
    main(ARGS)
