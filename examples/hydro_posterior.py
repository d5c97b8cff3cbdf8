"""Posterior of the wind parameters (v_inf, Mdot) from the log enclosed-mass profile with 5 %
noise, sampled with NUTS through the hydro solver, against the posterior on a grid of forward runs
and the Laplace (Fisher) approximation.

    .venv/bin/python examples/hydro_posterior.py [CELLS] [WARMUP] [DRAWS] [CHAINS]
"""

import sys
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from astrograd.hydro import wind_problem  # noqa: E402
from astrograd.hydro._plot import plot_posterior  # noqa: E402
from astrograd.hydro._posterior import physical_summary, wind_posterior  # noqa: E402

cells = int(sys.argv[1]) if len(sys.argv) > 1 else 32
warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 150
draws = int(sys.argv[3]) if len(sys.argv) > 3 else 300
chains = int(sys.argv[4]) if len(sys.argv) > 4 else 2
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
