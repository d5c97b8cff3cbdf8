"""Posterior of the wind parameters (v_inf, Mdot) from the log enclosed-mass profile with 5 %
noise, sampled with NUTS through the hydro solver, against the posterior on a grid of forward runs
and the Laplace (Fisher) approximation.

    .venv/bin/python examples/hydro_posterior.py [CELLS] [WARMUP] [DRAWS] [CHAINS]
"""

import argparse
from pathlib import Path

from _args import add_nuts_arguments, int_at_least  # examples/_args.py

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Writes outputs/hydro/examples/hydro_posterior.png.")
parser.add_argument("cells", metavar="CELLS", type=int_at_least(16), nargs="?", default=32,
                    help="cells of the wind problem (default: %(default)s)")
add_nuts_arguments(parser, warmup=150)
args = parser.parse_args()  # before importing JAX, so that --help and bad values answer at once

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from astrograd.hydro import wind_problem  # noqa: E402
from astrograd.hydro._plot import plot_posterior  # noqa: E402
from astrograd.hydro._posterior import physical_summary, wind_posterior  # noqa: E402

cells, warmup, draws, chains = args.cells, args.warmup, args.draws, args.chains
out = Path("outputs/hydro/examples")

post = wind_posterior(wind_problem(cells), jax.random.key(0), noise=0.05, num_warmup=warmup, num_samples=draws,
                      num_chains=chains)
for name, p in physical_summary(post).items():
    print(f"{name}: {p['mean']:.5g} ± {p['std']:.2g} (90 %: {p['q05']:.5g} – {p['q95']:.5g}), truth {p['true']:.5g}; "
          f"sd of ln: NUTS {p['sd_log_samples']:.3g}, Laplace {p['sd_log_laplace']:.3g}")
u = post.u_samples.reshape(-1, 2)
print("sample covariance of (ln v, ln Mdot):", np.cov(u.T).round(8).tolist())
print("Laplace covariance:                  ", post.laplace_cov.round(8).tolist())
print("diagnostics:", {k: v for k, v in post.result.summary().items() if k in ("r_hat", "ess", "divergences")})
print("grid (quadrature) covariance:        ", post.grid_cov.round(8).tolist())
fig = plot_posterior(out / "hydro_posterior.png", post.v_inf_km_s, post.mdot_msun_per_myr, post.true,
                     grid=(post.grid_u, post.grid_log_posterior), laplace_cov=post.laplace_cov,
                     title=f"wind posterior, {cells} cells, 5 % noise")
print(f"figure: {fig}")
