"""The initial white noise behind a noisy density map, with the library API: a mock observation,
the Wiener filter of the linearised model, the MAP through the whole PM model and NUTS draws,
compared with the truth shell by shell.

    .venv/bin/python examples/pm_reconstruct.py [PTCL_GRID] [WARMUP] [DRAWS] [CHAINS]
"""

import argparse

from _args import add_nuts_arguments, int_at_least  # examples/_args.py

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Prints the sampling diagnostics and the correlation with the truth per k "
                                        "shell; writes no file.")
parser.add_argument("n", metavar="PTCL_GRID", type=int_at_least(2), nargs="?", default=16,
                    help="particles per side (16 Mpc/h each; the mesh is twice as fine) (default: %(default)s)")
add_nuts_arguments(parser, warmup=200)
args = parser.parse_args()  # before importing JAX, so that --help and bad values answer at once

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from astrograd.cosmo import Cosmology  # noqa: E402
from astrograd.pm import (  # noqa: E402
    PMConfig,
    coverage,
    cross_correlation,
    field_posterior,
    linear_posterior_std,
    mock_data,
    wiener_correlation,
)

n, warmup, draws, chains = args.n, args.warmup, args.draws, args.chains

# 16 Mpc/h per particle, 2LPT at a = 1/16, 10 KDK steps to a = 1 on a mesh twice as fine
config = PMConfig(ptcl_grid=n, mesh_shape=2 * n, box_size=16.0 * n, a_start=1 / 16, a_stop=1.0, num_steps=10,
                  dtype="float64")
cosmo = Cosmology(omega_m=0.3, omega_b=0.05, sigma8=0.8)
key_data, key_sample = jax.random.split(jax.random.key(0))
truth, problem = mock_data(key_data, 0.2, cosmo, config)  # data: δ(truth) + N(0, 0.2²) per cell

post = field_posterior(problem, key_sample, num_warmup=warmup, num_samples=draws, num_chains=chains)
res = post.sampling
print(f"{res.gradient_evaluations.sum() + res.warmup_gradient_evaluations.sum()} gradients, "
      f"{res.divergent.sum()} divergences, ESS min {np.min(res.ess):.0f}, r_hat max {np.nanmax(res.r_hat):.3f}")
print(f"posterior sd per cell {post.std.mean():.3f}, linear theory "
      f"{linear_posterior_std(post.variance_k, config.ptcl_grid):.3f}")
print(f"1σ coverage of the truth: {coverage(truth, post.mean, post.std):.3f} (0.683 if calibrated)")
k, expected = wiener_correlation(post.variance_k, config.ptcl_grid, config.box_size)
print("k (h/Mpc)   r: Wiener  MAP    mean   (Wiener expected)")
for i in range(len(k)):
    r = [cross_correlation(f, truth, config.box_size)[1][i] for f in (post.wiener, post.map, post.mean)]
    print(f"{k[i]:.3f}          {r[0]:.3f}  {r[1]:.3f}  {r[2]:.3f}  ({expected[i]:.3f})")
