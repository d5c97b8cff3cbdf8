"""Strouhal number of the cylinder wake at Re = 100 (astrograd.flow), nearly unconfined.

Domain 400 x 280 (20 D wide: 5 % blockage, free-slip side walls), cylinder D = 20 at
(200, 70) (3.5 D above the bottom, whose lowest 5 units are forced to v = (0, 1); open top
10.5 D downstream), 320 x 224 cells (D = 16 cells), dt = 0.5, MacCormack advection, implicit
viscosity ν = U D / Re, CG tolerance 1e-3, 1200 steps (t = 600). Probe: cross-stream velocity
3 D behind the cylinder centre; St = D / (U × mean period between upward zero crossings, t ≥ 200).
Reference (unconfined, Re = 100): 0.164–0.167. Prints one JSON object.
Usage: bench_flow_strouhal.py [NX NY STEPS]
"""

from __future__ import annotations

import argparse
import json
import math
import time

from _timing import input_errors_as_usage_errors


def measure(nx: int = 320, ny: int = 224, steps: int = 1200, dt: float = 0.5) -> dict:
    from astrograd import flow

    width, height, radius, yc = 400.0, 280.0, 10.0, 70.0
    state, params, config = flow.karman(
        nx,
        ny,
        100.0,
        dt,
        width=width,
        height=height,
        centre=(width / 2, yc),
        radius=radius,
        sides="free-slip",
        advection="maccormack",
        viscosity_scheme="implicit",
        tol=1e-3,
        perturbation=0.5,
    )
    t0 = time.perf_counter()
    final, times, probe = flow.shedding_probe(state, params, config, steps, (width / 2, yc + 6 * radius))
    st, periods = flow.strouhal_number(times, probe, 2 * radius, 1.0, 200.0)
    measured = math.isfinite(st)  # no full period after t = 200 (too few steps): null, not bare NaN
    return {
        "case": "strouhal_re100",
        "nx": nx,
        "ny": ny,
        "steps": steps,
        "dt": dt,
        "strouhal": float(st) if measured else None,
        "periods": periods,
        "reference": 0.165,
        "relative_error": float(st) / 0.165 - 1 if measured else None,
        "probe_amplitude": float(abs(probe[times >= 200]).max()),
        "max_cg_steps": int(final.cg_steps),
        "seconds": time.perf_counter() - t0,
    }


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("nx", type=int, nargs="?", default=320, help="cells across the stream (default 320)")
        parser.add_argument("ny", type=int, nargs="?", default=224, help="cells along the stream (default 224)")
        parser.add_argument("steps", type=int, nargs="?", default=1200, help="time steps of dt = 0.5 (default 1200)")
        a = parser.parse_args()
        if a.steps <= 400:  # the period is measured from t = 200 on: no probe sample after it
            parser.error(f"steps {a.steps} is too few; the shedding period is measured from t = 200 (dt = 0.5): "
                         "give > 400")
        print(json.dumps(measure(a.nx, a.ny, a.steps), allow_nan=False), flush=True)
