"""Stellar-wind bubble (40 Msun, v_inf = 2000 km/s, 25 kyr) against Weaver et al. (1977), the
forward-mode sensitivity profiles d(rho, u, p)/d v_inf, and the recovery of (v_inf, Mdot) by Adam
from three starting guesses.

    .venv/bin/python examples/hydro_wind.py [CELLS] [FIT_CELLS] [ITERATIONS]
"""

import argparse
from pathlib import Path

from _args import int_at_least  # examples/_args.py

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Writes outputs/hydro/examples/wind.png.")
parser.add_argument("cells", metavar="CELLS", type=int_at_least(16), nargs="?", default=401,
                    help="cells of the forward run and its sensitivities (default: %(default)s)")
parser.add_argument("fit_cells", metavar="FIT_CELLS", type=int_at_least(16), nargs="?", default=64,
                    help="cells of the runs inside the fits (default: %(default)s)")
parser.add_argument("iterations", metavar="ITERATIONS", type=int_at_least(1), nargs="?", default=200,
                    help="Adam iterations of each fit (default: %(default)s)")
args = parser.parse_args()  # before importing JAX, so that --help and bad values answer at once

import astropy.units as u  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from astrograd.hydro import wind_problem  # noqa: E402
from astrograd.hydro._examples import run_problem  # noqa: E402
from astrograd.hydro._plot import plot_wind  # noqa: E402
from astrograd.hydro._wind import fit_wind, wind_sensitivity  # noqa: E402

cells, fit_cells, iterations = args.cells, args.fit_cells, args.iterations
out = Path("outputs/hydro/examples")

pr = wind_problem(cells)
res = run_problem(pr)
n = res["numbers"]
print(f"{cells} cells, {res['steps']} steps: outer shock {n['shock_radius_pc']:.3f} pc, "
      f"Weaver {n['weaver_radius_pc']:.3f} pc ({n['relative_error']:+.2%})")
w, dw = wind_sensitivity(pr)
pc = pr.units.from_code(1.0, u.pc).value
plot_wind(out / "wind.png", pr.config.grid.centres * pc, w, dw, weaver_pc=n["weaver_radius_pc"])

starts = np.array([[1200.0, 0.16], [3000.0, 0.07], [1500.0, 0.06]])
for loss in ("density", "profile"):
    fit = fit_wind(wind_problem(fit_cells), starts, loss=loss, iterations=iterations)
    for s, r, e in zip(fit.starts, fit.recovered, fit.relative_error, strict=True):
        print(f"{loss:8s} start {s} -> {r.round(5)}  relative errors {e.round(5)}")
