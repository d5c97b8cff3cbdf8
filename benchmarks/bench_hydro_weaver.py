"""The wind bubble against Weaver's whole adiabatic solution (``weaver_bubble``): bubble
pressure and velocity, free wind, shell profiles, at the worked example's ambient pressure and
at a low one (strong outer shock). Prints one JSON object per case.

    .venv/bin/python benchmarks/bench_hydro_weaver.py
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from _timing import input_errors_as_usage_errors  # noqa: E402
from astrograd.hydro import WindSetup, weaver_bubble, wind_problem  # noqa: E402
from astrograd.hydro._examples import run_problem  # noqa: E402


def case(cells: int, ambient_p_k: float) -> dict:
    pr = wind_problem(cells, WindSetup(ambient_pressure_k_cm3=ambient_p_k))
    info = pr.info
    out = run_problem(pr)
    rho, vel, p = np.asarray(out["w"])
    r = out["x"]
    dr = r[1] - r[0]
    ref = weaver_bubble(r, info["mdot"], info["v_inf"], info["rho"], pr.t_end, ambient_pressure=info["p"])
    free = (r > 0.05) & (r < 0.8 * ref.r_reverse)  # beyond the injection and acceleration zone
    bubble = (r > 1.3 * ref.r_reverse) & (r < ref.r_contact - 3 * dr)
    shell = (r > ref.r_contact + 2 * dr) & (r < ref.r_shock - 2 * dr)

    def worst(a, b, m):
        return float(np.max(np.abs(a[m] / b[m] - 1.0)))

    outside = r > ref.r_reverse
    jump = r[outside][np.argmax(rho[outside] > np.sqrt(np.median(rho[bubble]) * info["rho"] * 4))]
    return {
        "cells": cells, "ambient_p_k": ambient_p_k, "steps": out["steps"],
        "bubble_p_median_ratio": float(np.median(p[bubble]) / ref.p_bubble),
        "bubble_p_range": [float(p[bubble].min() / ref.p_bubble), float(p[bubble].max() / ref.p_bubble)],
        "bubble_u_max_rel": worst(vel, ref.u, bubble), "free_wind_rho_max_rel": worst(rho, ref.rho, free),
        "shell_rho_max_rel": worst(rho, ref.rho, shell),
        "shell_rho_mean_ratio": float(np.mean(rho[shell] / ref.rho[shell])),
        "shell_u_max_rel": worst(vel, ref.u, shell), "shell_p_max_rel": worst(p, ref.p, shell),
        "contact_rel": float(jump / ref.r_contact - 1.0),
    }


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help; no options
        for cells, pk in ((401, 3e4), (401, 3e2), (201, 3e2)):
            print(json.dumps(case(cells, pk)), flush=True)
