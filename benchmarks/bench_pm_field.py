"""Field-level inference through the PM model (astrograd pm reconstruct): cost and checks.

    .venv/bin/python benchmarks/bench_pm_field.py [--ptcl-grid 16] [--warmup 200] [--samples 300] [--chains 2]

Two runs of the CLI's driver, float64, 16³ particles, a 32³ force mesh, (256 Mpc/h)³, 10 KDK steps
from a = 1/16 to 1:
- "nonlinear": σ8 = 0.8, noise σ = 0.2 on δ per (16 Mpc/h)³ cell;
- "linear": σ8 = 0.008 and σ = 0.002, the same signal-to-noise, where the posterior is the
  linearised model's Gaussian (Wiener filter mean, covariance eigenvalues σ²/(σ² + |r̂|²)).
Prints one JSON object: wall time (compile included), seconds per gradient of the log posterior
(timed alone, after compiling), MAP iterations, NUTS gradient evaluations, ESS (min, median) and
ESS per gradient, r_hat, divergences; the posterior sd per cell against linear theory, the rms of
(posterior mean − Wiener filter) in units of its Monte Carlo error, the 1σ coverage of the truth,
and the cross-correlation r(k) of the Wiener filter, MAP and posterior mean with the truth against
the Wiener filter's expectation.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from _timing import input_errors_as_usage_errors, strict_json


def _grad_seconds(ptcl_grid: int, sigma8: float, noise: float) -> float:
    import jax

    from astrograd.pm._config import cli_config, cli_cosmology
    from astrograd.pm._field import log_posterior, mock_data

    # the configuration reconstruct_to_dir builds from the same options
    config = cli_config(ptcl_grid, 2, 16.0 * ptcl_grid, 1 / 16, 1.0, 10, dtype="float64")
    cosmo = cli_cosmology(0.3, sigma8)
    truth, problem = mock_data(jax.random.key(0), noise, cosmo, config)
    grad = jax.jit(jax.value_and_grad(log_posterior))
    jax.block_until_ready(grad(truth, problem))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(10):
            jax.block_until_ready(grad(truth, problem))
        best = min(best, (time.perf_counter() - t) / 10)
    return best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ptcl-grid", type=int, default=16)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--chains", type=int, default=2)
    args = p.parse_args()
    import h5py
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from astrograd.pm._field import reconstruct_to_dir

    n = args.ptcl_grid
    out: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__,
                             "backend": jax.default_backend()}, "ptcl_grid": n, "mesh": 2 * n, "box": 16.0 * n}
    for name, sigma8, noise in (("nonlinear", 0.8, 0.2), ("linear", 0.008, 0.002)):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = reconstruct_to_dir(tmp, ptcl_grid=n, box=16.0 * n, steps=10, sigma8=sigma8, noise=noise,
                                   warmup=args.warmup, samples=args.samples, chains=args.chains, progress=False)
            wall = time.perf_counter() - t0
            with h5py.File(s["out"]) as f:
                mean, wiener = f["mean"][:], f["wiener"][:]
        mc_error = s["posterior_std_linear"] / np.sqrt(s["ess_median"])
        draw_grads = s["gradient_evaluations"]
        out[name] = {
            "sigma8": sigma8, "noise": noise, "wall_s": wall, "map_steps": s["map_steps"],
            "map_grad_norm": s["map_grad_norm"], "gradient_evaluations": draw_grads,
            "seconds_per_gradient": _grad_seconds(n, sigma8, noise),
            "ess_min": s["ess_min"], "ess_median": s["ess_median"],
            "ess_median_per_1000_gradients": 1000 * s["ess_median"] / draw_grads,
            "r_hat_max": s["r_hat_max"], "divergences": s["divergences"], "mean_acceptance": s["mean_acceptance"],
            "posterior_std_mean": s["posterior_std_mean"], "posterior_std_linear": s["posterior_std_linear"],
            "mean_minus_wiener_rms_over_mc_error": float(np.sqrt(np.mean((mean - wiener) ** 2)) / mc_error),
            "coverage_1sigma": s["coverage_1sigma"], "k": s["k"], "r_wiener_expected": s["r_wiener_expected"],
            "r_wiener": s["r_wiener"], "r_map": s["r_map"], "r_mean": s["r_mean"],
            "data_residual_rms_map": s["data_residual_rms_map"],
        }
    print(strict_json(out), flush=True)


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
