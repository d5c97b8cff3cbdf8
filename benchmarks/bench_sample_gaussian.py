"""NUTS (astrograd.inverse.sample) against a random-walk Metropolis baseline on correlated
Gaussians of growing dimension: effective draws per density or gradient evaluation.

    .venv/bin/python benchmarks/bench_sample_gaussian.py [--dims 2 10 100]

The target in d dimensions has a fixed random covariance with standard deviations log-spaced
from 0.1 to 10 along random axes (condition number 1e4). The random walk gets the best setting
it can have: the exact covariance as its proposal, scaled by 2.38/√d (the optimal scaling of
Roberts, Gelman & Gilks 1997), started from the target itself, no warm-up counted. NUTS adapts
its own step size and dense mass matrix in its warm-up, whose gradients are counted. Prints one
JSON line per dimension: the smallest effective sample size over the coordinates per evaluation
(one density for the random walk, one gradient for NUTS, warm-up included, and also for the
drawing phase alone; a gradient costs 1–3 densities by reverse mode), and the largest error of
the sample standard deviations.
"""

from __future__ import annotations

import argparse
import os
import platform

from _timing import input_errors_as_usage_errors, strict_json


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dims", type=int, nargs="+", default=[2, 10, 100])
    p.add_argument("--nuts-draws", type=int, default=1000)
    p.add_argument("--rwm-steps", type=int, default=50_000)
    args = p.parse_args()
    import blackjax
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from astrograd.inverse import sample

    for d in args.dims:
        rng = np.random.default_rng(d)
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        sd = np.logspace(-1, 1, d)
        cov = (q * sd**2) @ q.T
        prec = jnp.asarray(np.linalg.inv(cov))
        chol = np.linalg.cholesky(cov)

        def logp(x, prec=prec):
            return -0.5 * x @ prec @ x

        res = sample(logp, jnp.zeros(d), jax.random.key(0), num_warmup=500, num_samples=args.nuts_draws,
                     num_chains=2, init_scale=1.0, progress=False)
        nuts_x = res.flat_samples()
        nuts_ess = float(np.min(np.concatenate([np.ravel(e) for e in jax.tree.leaves(res.ess)])))
        nuts_evals = int(res.gradient_evaluations.sum() + res.warmup_gradient_evaluations.sum())

        step = 2.38 / np.sqrt(d) * jnp.asarray(chol)

        def rwm_chain(key, x0, step=step, logp=logp):
            def one(carry, k):
                x, lp = carry
                k1, k2 = jax.random.split(k)
                y = x + step @ jax.random.normal(k1, x.shape)
                ly = logp(y)
                accept = jnp.log(jax.random.uniform(k2)) < ly - lp
                x, lp = jnp.where(accept, y, x), jnp.where(accept, ly, lp)
                return (x, lp), (x, accept)

            return jax.lax.scan(one, (x0, logp(x0)), jax.random.split(key, args.rwm_steps))[1]

        keys = jax.random.split(jax.random.key(1), 2)
        starts = jnp.asarray(chol @ rng.normal(size=(d, 2))).T  # exact draws: no burn-in needed
        rwm_x, acc = jax.jit(jax.vmap(rwm_chain))(keys, starts)
        rwm_ess = float(jnp.min(blackjax.diagnostics.effective_sample_size(rwm_x, chain_axis=0, sample_axis=1)))
        rwm_evals = 2 * args.rwm_steps
        sd_true = np.sqrt(np.diag(cov))

        def sd_err(x, d=d, sd_true=sd_true):
            return float(np.max(np.abs(np.std(np.reshape(x, (-1, d)), axis=0, ddof=1) / sd_true - 1)))

        out = {
            "case": "sample_gaussian", "dim": d, "condition_number": float(sd[-1] ** 2 / sd[0] ** 2),
            "nuts_draws": 2 * args.nuts_draws, "nuts_gradient_evaluations": nuts_evals, "nuts_min_ess": round(nuts_ess),
            "nuts_ess_per_evaluation": round(nuts_ess / nuts_evals, 5),
            "nuts_warmup_gradient_evaluations": int(res.warmup_gradient_evaluations.sum()),
            "nuts_ess_per_sampling_evaluation": round(nuts_ess / int(res.gradient_evaluations.sum()), 5),
            "nuts_sd_max_rel_error": round(sd_err(nuts_x), 3),
            "rwm_steps": rwm_evals, "rwm_acceptance": round(float(acc.mean()), 3), "rwm_min_ess": round(rwm_ess),
            "rwm_ess_per_evaluation": round(rwm_ess / rwm_evals, 5), "rwm_sd_max_rel_error": round(sd_err(rwm_x), 3),
            "nuts_over_rwm_per_evaluation": round((nuts_ess / nuts_evals) / (rwm_ess / rwm_evals), 2),
            "jax": jax.__version__, "blackjax": blackjax.__version__, "cpus": os.cpu_count(),
            "machine": platform.machine(),
        }
        print(strict_json(out), flush=True)


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
