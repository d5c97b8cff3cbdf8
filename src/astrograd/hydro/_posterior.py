"""Posterior of the wind parameters (v∞, Ṁ) from a noisy enclosed-mass profile, sampled with
NUTS through the solver, and its Laplace (Fisher) approximation for comparison."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from astrograd._errors import InputError, check_int, check_key, check_positive
from astrograd.hydro._problems import Problem
from astrograd.hydro._wind import (
    _problem_fingerprint,
    _wind_setup,
    refuse_other_settings,
    stored_wind_momentum,
    wind_adam,
    wind_model,
)

__all__ = [
    "PRIOR_MASS_MSUN",
    "PRIOR_V_KM_S",
    "WindPosterior",
    "grid_log_likelihood",
    "grid_posterior",
    "physical_summary",
    "wind_posterior",
]

#: The prior: uniform in log v∞ and in log Ṁ over the loss map's range, v∞ from 200 to
#: 4000 km/s and Ṁ that of a 15 to 70 M☉ star (Ṁ per M☉ of the set-up).
PRIOR_V_KM_S = (200.0, 4000.0)
PRIOR_MASS_MSUN = (15.0, 70.0)


@dataclass
class WindPosterior:
    """Result of :func:`wind_posterior`. Coordinates u = (ln v∞/[km/s], ln Ṁ/[M☉/Myr]).

    u_true (2,); data (n,) and noise: the synthetic observation ln M(<r) + noise · N(0, 1).
    u_samples (chains, draws, 2); v_inf_km_s and mdot_msun_per_myr (chains, draws) the same
    draws in physical units. laplace_cov (2, 2): the Laplace (Fisher) covariance in u,
    (Jᵀ J / σ²)⁻¹ with J = ∂ ln M(<r)/∂u by forward mode at the posterior mean (the prior is
    flat in u). result: the :class:`astrograd.inverse.SampleResult` (diagnostics).
    grid_u ((g,), (g,)), grid_log_posterior (g, g) (axis 0: ln Ṁ, axis 1: ln v∞), grid_mean and
    grid_cov: the posterior on a grid from forward runs alone, and its moments by quadrature
    (the reference the draws are checked against; None with ``grid_points=0``).
    """

    u_true: np.ndarray
    data: np.ndarray
    noise: float
    u_samples: np.ndarray
    v_inf_km_s: np.ndarray
    mdot_msun_per_myr: np.ndarray
    laplace_cov: np.ndarray
    result: object
    grid_u: tuple[np.ndarray, np.ndarray] | None = None
    grid_log_posterior: np.ndarray | None = None
    grid_mean: np.ndarray | None = None
    grid_cov: np.ndarray | None = None

    @property
    def true(self) -> tuple[float, float]:
        return float(np.exp(self.u_true[0])), float(np.exp(self.u_true[1]))


def _prior_box(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    per_msun = problem.info["setup"].mdot_per_msun
    lo = np.log([PRIOR_V_KM_S[0], per_msun * PRIOR_MASS_MSUN[0]])
    hi = np.log([PRIOR_V_KM_S[1], per_msun * PRIOR_MASS_MSUN[1]])
    return lo, hi


def _model_args(problem: Problem):
    """What the compiled programs of :func:`_programs` read of ``problem`` as inputs: (params,
    initial state, code units of 1 km/s and of 1 M☉/Myr)."""
    import astropy.units as au

    cu = problem.units
    return (problem.params, jnp.asarray(problem.initial), float(cu.to_code(1.0 * au.km / au.s)),
            float(cu.to_code(1.0 * au.Msun / au.Myr)))


class _Programs:
    """The functions of :func:`wind_posterior` for one grid and end time, built once
    (:func:`_programs`): the problem's arrays (``model``, see :func:`_model_args`), the data and
    the whitening are their inputs, not constants in them, so a second posterior of the same
    grid compiles nothing again (a closure per call compiled the solver's forward run, its
    Jacobian, the reverse-mode fit and NUTS anew).

    u = (ln v∞/[km/s], ln Ṁ/[M☉/Myr]); the observation is (ln M(<r) at every cell's outer edge
    of the final state, whether the run failed)."""

    def __init__(self, config, t_end: float):
        volumes = np.asarray(config.grid.volumes)

        def observe(u, model, adjoint):
            params, initial, v_unit, m_unit = model
            f = wind_model(Problem("wind", config, params, initial, t_end), adjoint=adjoint, with_failed=True)
            w, failed = f(v_unit * jnp.exp(u[0]), m_unit * jnp.exp(u[1]))
            return jnp.log(jnp.cumsum(w[0] * jnp.asarray(volumes, w.dtype))), failed

        def pred_twice(u, model):  # (output, aux): the prediction comes back with the Jacobian, run once
            pred = observe(u, model, "forward")[0]
            return pred, pred

        def log_like(u, model, data, noise):
            pred, failed = observe(u, model, "forward")
            return jnp.where(failed, -jnp.inf, -0.5 * jnp.sum(((pred - data) / noise) ** 2))

        def predict(u, model):
            return observe(u, model, "forward")

        def jacobian(u, model):  # (prediction, its forward-mode Jacobian (cells, 2))
            return jax.jacfwd(pred_twice, has_aux=True)(u, model)[::-1]

        def grid(pts, model, data, noise):
            return jax.lax.map(lambda u: log_like(u, model, data, noise), pts)

        self.predict, self.jacobian, self.grid = jax.jit(predict), jax.jit(jacobian), jax.jit(grid)

        def map_loss(theta, args):  # the mean squared residual in the fit coordinates θ
            model, data, lo, hi = args
            return jnp.mean((observe(jnp.clip(_u_of_theta(theta, lo, hi), lo, hi), model, "checkpointed")[0]
                             - data) ** 2)

        def log_density(z, args):  # whitened: u = u_MAP + chol z; zero outside the box or for a failed run
            model, u0, chol, lo, hi, data, noise = args
            u = u0 + chol @ z
            inside = jnp.all((u > lo) & (u < hi))
            pred, failed = observe(jnp.clip(u, lo, hi), model, "checkpointed")
            log_like = -0.5 * jnp.sum(((pred - data) / noise) ** 2)
            return jnp.where(inside & ~failed, log_like, -jnp.inf)

        self.map_loss, self.log_density = map_loss, log_density


@functools.lru_cache(maxsize=4)
def _programs(config, t_end: float) -> _Programs:
    return _Programs(config, t_end)


def _u_of_theta(theta, lo, hi):
    """u from the fit coordinates θ = (ln v, ln v²Ṁ) relative to the prior box centre."""
    c = (lo + hi) / 2.0
    return jnp.stack([c[0] + theta[0], c[1] + theta[1] - 2.0 * theta[0]])


def _laplace_cov(jac, noise: float) -> np.ndarray:
    """The Laplace covariance (JᵀJ / σ²)⁻¹ at a maximum of the likelihood: the inverse Fisher matrix."""
    from astrograd.inverse import fisher

    return np.linalg.inv(np.asarray(fisher(jnp.asarray(jac), noise**2)))


def _map_estimate(programs: _Programs, model, data, lo, hi, dtype, iterations: int, progress: bool):
    """Maximum of the likelihood of ``data``, from the prior box centre: Adam on the mean
    squared residual in the fit coordinates (ln v, ln v²Ṁ) as in :func:`fit_wind` (reverse
    mode), then Gauss–Newton steps with the forward-mode Jacobian. Returns (u, J at u)."""
    from astrograd.inverse import fit

    data = jnp.asarray(data)
    lo, hi = jnp.asarray(lo, dtype), jnp.asarray(hi, dtype)
    res = fit(programs.map_loss, jnp.zeros(2, dtype), args=(model, data, lo, hi), optimizer=wind_adam(iterations),
              steps=iterations, progress=progress, description="posterior: maximum likelihood")
    u = _u_of_theta(jnp.asarray(res.params), lo, hi)
    for _ in range(4):  # Gauss–Newton
        pred, jac = programs.jacobian(u, model)
        u = u + jnp.linalg.solve(jac.T @ jac, jac.T @ (data - pred))
    return np.asarray(u), np.asarray(programs.jacobian(u, model)[1])


def grid_log_likelihood(problem: Problem, data, noise: float):
    """(k, 2) points u ↦ (k,) Gaussian log likelihoods of ``data`` from forward runs of
    ``problem`` (one compiled ``lax.map``; −inf where a run failed)."""
    return _grid_log_likelihood(_programs(problem.config, problem.t_end), _model_args(problem), data, noise)


def _grid_log_likelihood(programs: _Programs, model, data, noise: float):
    data = jnp.asarray(data)
    noise = jnp.asarray(noise, data.dtype)
    return lambda pts: programs.grid(pts, model, data, noise)


def grid_posterior(batch_log_like, centre, half_width, points: int):
    """The log posterior (flat prior) on a ``points`` × ``points`` grid of u = (ln v∞, ln Ṁ)
    centred on ``centre`` with ``half_width`` (2,), from ``batch_log_like`` (see
    :func:`grid_log_likelihood`), and its mean and covariance by quadrature. Returns (axes,
    log posterior (g, g), mean, cov)."""
    axes = [np.linspace(c - h, c + h, points) for c, h in zip(centre, half_width, strict=True)]
    mv, mm = np.meshgrid(*axes)  # (g, g): axis 0 ln Ṁ, axis 1 ln v∞
    pts = jnp.asarray(np.stack([mv.ravel(), mm.ravel()], axis=1))
    logp = np.asarray(batch_log_like(pts)).reshape(mv.shape)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    mean = np.array([np.sum(w * mv), np.sum(w * mm)])
    d = np.stack([mv - mean[0], mm - mean[1]])
    cov = np.einsum("iab,jab,ab->ij", d, d, w)
    return axes, logp, mean, cov


NOISE_MAX = 10.0  # the largest relative noise on ln M(<r) that wind_posterior accepts


def check_settings(*, noise=0.05, num_warmup=150, num_samples=300, num_chains=2, map_iterations=150,
                   grid_points=41) -> None:
    """InputError naming the first bad setting of :func:`wind_posterior`."""
    # two draws per chain at least: the diagnostics (ESS, r_hat) and the grid's width need a spread
    for name, value, minimum in (("num_warmup", num_warmup, 1), ("num_samples", num_samples, 2),
                                 ("num_chains", num_chains, 1), ("map_iterations", map_iterations, 1)):
        check_int(name, value, minimum)
    if isinstance(grid_points, bool) or not isinstance(grid_points, int) or grid_points == 1 or grid_points < 0:
        raise InputError(f"grid_points = {grid_points!r} is not allowed; it must be 0 (no grid) or an integer >= 2")
    # a number (a string or None was a TypeError from np.isfinite), finite and > 0
    sigma = check_positive("noise", noise, strict=True)
    # a relative noise on ln M(<r) beyond NOISE_MAX: the data say nothing about (v∞, Ṁ) (the
    # likelihood is flat over the prior box); 1e300 squared overflowed and the maximum
    # likelihood stopped with "loss or gradient became non-finite ... at step 0"
    if sigma > NOISE_MAX:
        raise InputError(f"noise = {sigma:g} is not allowed; it must be a finite number > 0 and <= {NOISE_MAX:g} "
                         "(a relative noise on ln M(<r): beyond it the data say nothing about the wind)")


def _params_record(params) -> dict:
    """The fields of ``HydroParams`` as JSON-able values (a number, or a list for a state)."""
    import dataclasses

    return {f.name: np.asarray(getattr(params, f.name), float).tolist() for f in dataclasses.fields(params)}


def _short(digest):
    """The first 12 hex digits of a SHA-256 (None stays None), enough to tell two apart in a message."""
    return None if digest is None else str(digest)[:12]


def _check_resume(checkpoint, problem: Problem, key, problem_record: dict, *, noise, num_warmup, num_samples,
                  map_iterations) -> dict | None:
    """Refuse a ``checkpoint`` of :func:`wind_posterior` written with another setting, naming
    it with both values (:func:`refuse_other_settings`): the wind momentum, cells, noise,
    map_iterations, num_warmup, num_samples, and (for checkpoints that record them) the key, the
    set-up, every field of the configuration and of the parameters, t_end, the prior box and the
    initial state. ``num_chains`` may change (a run with more chains extends one with fewer, one
    with fewer takes the first chains) and so may ``grid_points`` and ``progress`` (the grid
    reference is computed from the draws after sampling). Returns the stored fingerprint, or
    None without a checkpoint file."""
    from pathlib import Path

    from astrograd.io._npz import key_list, load_npz

    if checkpoint is None or not Path(checkpoint).exists():
        return None
    meta, _ = load_npz(checkpoint, "checkpoint")
    stored = meta.get("fingerprint")
    if not isinstance(stored, dict):  # not one of wind_posterior: check_checkpoint refuses it
        return None
    config = problem.config
    settings = [("wind_momentum", stored_wind_momentum(stored), bool(config.wind_momentum)),
                ("cells", stored.get("cells"), config.num_cells), ("noise", stored.get("noise"), float(noise)),
                ("map_iterations", stored.get("map_iterations"), map_iterations),
                ("num_warmup", meta.get("num_warmup"), num_warmup),
                ("num_samples", meta.get("num_samples"), num_samples), ("key", stored.get("key"), key_list(key))]
    record = stored.get("problem")
    if isinstance(record, dict):
        for group, prefix in (("setup", "setup."), ("config", ""), ("params", "")):
            stored_group, this = record.get(group), problem_record[group]
            stored_group = stored_group if isinstance(stored_group, dict) else {}  # a damaged header: refused below
            if group == "config":  # wind_momentum (recorded only when on) was compared above
                stored_group = {k: v for k, v in stored_group.items() if k != "wind_momentum"}
                this = {k: v for k, v in this.items() if k != "wind_momentum"}
            settings += [(prefix + name, stored_group.get(name), value) for name, value in this.items()]
        settings += [(name, record.get(name), problem_record[name]) for name in ("t_end", "prior_box")]
        # the hash covers the parameters and t_end too, compared above: what differs is the initial state
        settings.append(("initial_state_sha256", _short(record.get("problem_sha256")),
                         _short(problem_record["problem_sha256"])))
    refuse_other_settings(checkpoint, settings)
    return stored


def wind_posterior(
    problem: Problem,
    key,
    *,
    noise: float = 0.05,
    num_warmup: int = 150,
    num_samples: int = 300,
    num_chains: int = 2,
    map_iterations: int = 150,
    grid_points: int = 41,
    checkpoint=None,
    progress: bool = True,
) -> WindPosterior:
    """Sample p(v∞, Ṁ | data) for the wind bubble of ``problem`` with NUTS through the solver.

    The data: the log enclosed mass ln M(<r) of the final state at the problem's own (v∞, Ṁ),
    at every cell, with independent Gaussian noise of standard deviation ``noise`` (0.05: 5 %
    on each enclosed mass) drawn from ``key``. Prior: uniform in (ln v∞, ln Ṁ) over
    ``PRIOR_V_KM_S`` × ``PRIOR_MASS_MSUN`` (the loss map's range).

    The posterior is far narrower than the prior, so the sampler is prepared first: the maximum
    likelihood from the box centre (``map_iterations`` Adam steps, then Gauss–Newton), and the
    Laplace covariance C = (Jᵀ J / σ²)⁻¹ there. NUTS then moves in whitened coordinates z with
    u = u_MAP + chol(C) z (a linear change of variables: the draws are exact whatever C is) and
    adapts its step size and a dense mass matrix in the warm-up. A parameter outside the box or
    a failed run (non-physical state) has zero density. Each gradient is one reverse-mode pass
    through the adaptive solver (bounded memory).

    Reference: the posterior on a ``grid_points`` × ``grid_points`` grid of forward runs over
    ±6 sample standard deviations around the sample mean (enlarged until the density at its
    edge is below 1e-6 of the peak), and its moments by quadrature (0: skipped).

    checkpoint: file for save/resume; one of another problem, noise, data or setting is refused,
    naming the setting and both values before the data's forward run (see :func:`_check_resume`;
    ``num_chains`` and ``grid_points`` may change on a resume).
    """
    from astrograd.inverse import check_checkpoint, sample
    from astrograd.io._npz import key_list

    check_settings(noise=noise, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                   map_iterations=map_iterations, grid_points=grid_points)
    check_key("key", key)  # an integer seed was a TypeError from jax.random.split
    setup = _wind_setup(problem)
    u_true = np.log([setup.v_inf_km_s, setup.mdot_msun_per_myr])
    lo, hi = _prior_box(problem)
    if np.any(u_true <= lo) or np.any(u_true >= hi):
        raise InputError("the problem's (v_inf, mdot) lies outside the prior box; see PRIOR_V_KM_S, PRIOR_MASS_MSUN")
    # every setting of a checkpoint that differs, named with both values before the forward run
    # of the data (before, only cells, noise and map_iterations were compared by name, other
    # numerics only as "data differ", the sampler's settings after the data's run)
    problem_record = {**_problem_fingerprint(problem), "params": _params_record(problem.params),
                      "t_end": float(problem.t_end), "prior_box": [lo.tolist(), hi.tolist()]}
    stored_fingerprint = _check_resume(checkpoint, problem, key, problem_record, noise=noise, num_warmup=num_warmup,
                                       num_samples=num_samples, map_iterations=map_iterations)
    k_data, k_sample = jax.random.split(key)
    programs, model = _programs(problem.config, problem.t_end), _model_args(problem)
    clean, _ = programs.predict(jnp.asarray(u_true), model)
    data = clean + noise * jax.random.normal(k_data, clean.shape, clean.dtype)
    # what defines the density (with the whitening below): a checkpoint of another problem or
    # noise is refused here, before the maximum likelihood; another whitening by sample()
    fingerprint = {"cells": problem.config.num_cells, "noise": float(noise), "u_true": u_true.tolist(),
                   "data": np.asarray(data).tolist(), "map_iterations": map_iterations,
                   # only when on: a checkpoint written before the option existed still resumes
                   **({"wind_momentum": True} if problem.config.wind_momentum else {})}
    if stored_fingerprint is None or "problem" in stored_fingerprint:
        # left out for a checkpoint written before they were recorded, which still resumes: its
        # data and the sampler's key and arguments still tie it to this problem
        fingerprint.update(problem=problem_record, key=key_list(key))
    stored = check_checkpoint(checkpoint, fingerprint)
    if stored is not None and "u_map" in stored and "chol" in stored:
        # a resume: the maximum likelihood and whitening of this data and these settings, as the
        # checkpoint holds them (JSON floats round-trip exactly), instead of searching again
        u_map, chol = (np.asarray(stored[k], dtype=clean.dtype) for k in ("u_map", "chol"))
    else:
        u_map, jac = _map_estimate(programs, model, data, lo, hi, clean.dtype, map_iterations, progress)
        chol = np.linalg.cholesky(_laplace_cov(jac, noise))
    dtype = clean.dtype
    density_args = (model, jnp.asarray(u_map, dtype), jnp.asarray(chol, dtype), jnp.asarray(lo, dtype),
                    jnp.asarray(hi, dtype), data, jnp.asarray(noise, dtype))
    res = sample(
        programs.log_density, jnp.zeros(2, dtype), k_sample, args=density_args, num_warmup=num_warmup,
        num_samples=num_samples, num_chains=num_chains, init_scale=0.5, dense_mass=True, checkpoint=checkpoint,
        progress=progress, description="wind posterior (NUTS)",
        fingerprint={**fingerprint, "u_map": np.asarray(u_map).tolist(), "chol": np.asarray(chol).tolist()},
    )
    u = u_map + np.asarray(res.samples) @ chol.T
    mean = u.reshape(-1, 2).mean(axis=0)
    jac_mean = np.asarray(programs.jacobian(jnp.asarray(mean, dtype), model)[1])
    laplace_cov = _laplace_cov(jac_mean, noise)
    grid = (None, None, None, None)
    if grid_points:
        laplace_sd = np.sqrt(np.diag(laplace_cov))
        sd = u.reshape(-1, 2).std(axis=0, ddof=1)
        # draws that never moved (every proposal rejected) have no spread: the grid collapsed to
        # a point (a zero covariance; the figure's contours then failed); the Laplace width instead
        half = 6.0 * np.where(sd > 0, sd, laplace_sd)
        batch_log_like = _grid_log_likelihood(programs, model, data, noise)  # compiled once for every widening
        for _ in range(4):
            grid = grid_posterior(batch_log_like, mean, half, grid_points)
            logp = grid[1]
            edge = np.concatenate([logp[0], logp[-1], logp[:, 0], logp[:, -1]])
            if np.max(edge) - np.max(logp) < np.log(1e-6):
                break
            half = 1.5 * half
    return WindPosterior(
        u_true=u_true, data=np.asarray(data), noise=float(noise), u_samples=u, v_inf_km_s=np.exp(u[..., 0]),
        mdot_msun_per_myr=np.exp(u[..., 1]), laplace_cov=laplace_cov,
        result=res, grid_u=None if grid[0] is None else (grid[0][0], grid[0][1]), grid_log_posterior=grid[1],
        grid_mean=grid[2], grid_cov=grid[3],
    )


def physical_summary(post: WindPosterior) -> dict:
    """Per parameter: truth, posterior mean, standard deviation, 5–95 % interval and whether the
    truth lies inside it; mean and standard deviation of its log from the draws, the grid
    (quadrature of forward runs) and Laplace."""
    out = {}
    for i, (name, draws) in enumerate((("v_inf_km_s", post.v_inf_km_s), ("mdot_msun_per_myr", post.mdot_msun_per_myr))):
        truth = post.true[i]
        q05, q95 = np.quantile(draws, [0.05, 0.95])
        out[name] = {
            "true": truth, "mean": float(draws.mean()), "std": float(draws.std(ddof=1)),
            "q05": float(q05), "q95": float(q95), "truth_inside_90": bool(q05 <= truth <= q95),
            "sd_log_samples": float(np.log(draws).std(ddof=1)),
            "sd_log_laplace": float(np.sqrt(post.laplace_cov[i, i])),
        }
        if post.grid_cov is not None:
            out[name]["mean_log_samples"] = float(np.log(draws).mean())
            out[name]["mean_log_grid"] = float(post.grid_mean[i])
            out[name]["sd_log_grid"] = float(np.sqrt(post.grid_cov[i, i]))
    return out
