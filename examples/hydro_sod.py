"""Sod shock tube: cartesian against the exact Riemann solution (with the convergence order),
and the same initial data in spherical geometry.

    .venv/bin/python examples/hydro_sod.py [OUTDIR]
"""

import argparse
from pathlib import Path

from _args import out_folder  # examples/_args.py

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Writes OUTDIR/sod_cartesian.png and OUTDIR/sod_spherical.png.")
parser.add_argument("out", metavar="OUTDIR", type=out_folder, nargs="?", default=Path("outputs/hydro/examples"),
                    help="folder for the two figures (default: %(default)s)")
args = parser.parse_args()  # before importing JAX, so that --help answers at once

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from astrograd.hydro import sod_problem  # noqa: E402
from astrograd.hydro._examples import run_problem  # noqa: E402
from astrograd.hydro._plot import plot_profiles  # noqa: E402

out = args.out
errors = {}
for cells in (200, 400, 1000):
    res = run_problem(sod_problem(cells))
    errors[cells] = res["numbers"]["l1_density_error"]
    print(f"{cells:5d} cells: {res['steps']} steps, L1 density error {errors[cells]:.3e} "
          f"(at centres {res['numbers']['l1_density_error_centres']:.3e})")
print(f"order 200 -> 1000: {np.log(errors[200] / errors[1000]) / np.log(5):.3f}")
plot_profiles(out / "sod_cartesian.png", res["x"], res["w"], reference=(res["reference_x"], res["reference"]),
              title="Sod, 1000 cells")
sph = run_problem(sod_problem(400, geometry="spherical"))
plot_profiles(out / "sod_spherical.png", sph["x"], sph["w"], title="spherical Sod, 400 cells")
print(f"spherical Sod: {sph['steps']} steps; figures in {out}")
