"""Wind posterior by NUTS through the hydro solver (astrograd hydro posterior): cost and checks.

    .venv/bin/python benchmarks/bench_wind_posterior.py [--cells 32] [--warmup 150] [--samples 400] [--chains 2]

Prints one JSON object: wall time (compile included), gradient evaluations (warm-up and draws)
and wall seconds per gradient, effective sample sizes and r_hat of the whitened coordinates,
ESS per minute, divergences, the sample mean and covariance of (ln v∞, ln Ṁ) against the
posterior on a grid of forward runs (quadrature) and against the Laplace covariance from the
forward-mode Jacobian (at the posterior mean, and at points along ln v∞ around it), and the
Mahalanobis distance of the truth from the posterior mean.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from _timing import input_errors_as_usage_errors, strict_json


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=32)
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--noise", type=float, default=0.05)
    args = p.parse_args()
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from astrograd.hydro import wind_problem
    from astrograd.hydro._posterior import wind_posterior

    t0 = time.perf_counter()
    post = wind_posterior(wind_problem(args.cells), jax.random.key(0), noise=args.noise, num_warmup=args.warmup,
                          num_samples=args.samples, num_chains=args.chains, progress=False)
    wall = time.perf_counter() - t0
    res = post.result
    s = res.summary()
    u = post.u_samples.reshape(-1, 2)
    cov = np.cov(u.T)
    d = u.mean(axis=0) - post.u_true
    grads = s["gradient_evaluations"]
    # the Laplace standard deviation of ln v∞ at points along ln v∞ around the grid mean (in grid
    # standard deviations): how much the discretised solver's derivative moves it
    from astrograd.hydro._posterior import _laplace_cov, _model_args, _programs

    pr = wind_problem(args.cells)
    programs, model = _programs(pr.config, pr.t_end), _model_args(pr)
    sd_v = float(np.sqrt(post.grid_cov[0, 0]))
    offsets = [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
    laplace_sd = []
    for o in offsets:
        _, j = programs.jacobian(jax.numpy.asarray(post.grid_mean + np.array([o * sd_v, 0.0])), model)
        laplace_sd.append(float(np.sqrt(_laplace_cov(j, args.noise)[0, 0])))
    out = {
        "case": "wind_posterior", "cells": args.cells, "noise": args.noise, "chains": args.chains,
        "warmup": args.warmup, "samples": args.samples, "wall_s": round(wall, 1),
        "gradient_evaluations": grads, "warmup_gradient_evaluations": int(res.warmup_gradient_evaluations.sum()),
        "wall_ms_per_gradient": round(1e3 * wall / grads, 2),
        "ess": [round(e, 1) for e in s["ess"]], "r_hat": [round(r, 4) for r in s["r_hat"]],
        "ess_per_minute": round(60 * min(s["ess"]) / wall, 1), "divergences": s["divergences"],
        "mean_acceptance": round(s["mean_acceptance"], 3),
        "cov_samples": cov.tolist(), "cov_laplace": post.laplace_cov.tolist(),
        "cov_ratio_samples_over_laplace": (cov / post.laplace_cov).round(3).tolist(),
        "cov_grid": post.grid_cov.tolist(),
        "cov_ratio_samples_over_grid": (cov / post.grid_cov).round(3).tolist(),
        "mean_minus_grid_mean_in_sd": (
            (u.mean(axis=0) - post.grid_mean) / np.sqrt(np.diag(post.grid_cov))
        ).round(3).tolist(),
        "grid_sd_ln_v": round(sd_v, 6), "laplace_offsets_in_grid_sd": offsets,
        "laplace_sd_ln_v_at_offsets": [round(x, 6) for x in laplace_sd],
        "truth_mahalanobis": round(float(np.sqrt(d @ np.linalg.solve(cov, d))), 3),
        "jax": jax.__version__, "backend": jax.default_backend(), "cpus": os.cpu_count(),
        "machine": platform.machine(), "load_avg_1min": os.getloadavg()[0],
    }
    print(strict_json(out), flush=True)


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
