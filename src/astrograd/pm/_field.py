"""Field-level inference: the initial white noise behind an observed density map.

Model: ``d = δ(ω) + n``. ω ~ N(0, I) is the white noise on the particle grid; δ(ω) is the CIC
density contrast at ``a_stop`` on a mesh of the particle grid's resolution, from the whole
forward model (linear modes, LPT, KDK N-body); n ~ N(0, σ² I) is the measurement noise. So

    −log p(ω | d) = ½ |ω|² + ½ |δ(ω) − d|² / σ² + const.

Linearised at ω = 0 the model is a convolution on the particle lattice (it commutes with lattice
translations: the particles sit at the same offset in every data cell), δ(ω) ≈ R ω with R
diagonal in Fourier space. Its eigenvalues r̂_k are :func:`linear_response`. The linearised
posterior is Gaussian: its mean is the Wiener filter conj(r̂) d̂ / (σ² + |r̂|²), its covariance
has eigenvalues σ² / (σ² + |r̂|²) (:func:`wiener_filter`). That is the exact reference in the
linear regime. The nonlinear posterior is explored by a maximum a posteriori fit
(:func:`field_map`) and by NUTS draws (:func:`field_posterior`), both in coordinates whitened by
the linear posterior covariance, a fixed linear change of variables, so the draws stay exact.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from astrograd._errors import (
    InputError,
    check_bool,
    check_finite_array,
    check_int,
    check_key,
    check_positive,
    check_seed,
)
from astrograd.cosmo import Cosmology
from astrograd.io._npz import sha256_of
from astrograd.pm._config import PMConfig, check_counts, check_shape, cli_config, cli_cosmology, rfft_shape
from astrograd.pm._gravity import density_contrast
from astrograd.pm._lpt import linear_modes
from astrograd.pm._nbody import positions
from astrograd.pm._observables import shell_average
from astrograd.pm._simulate import simulate


def data_config(config: PMConfig) -> PMConfig:
    """The observation's mesh: one cell per particle of ``config``'s grid, same box and times."""
    return PMConfig(
        ptcl_grid=config.ptcl_grid, mesh_shape=config.ptcl_grid, box_size=config.box_size,
        a_start=config.a_start, a_stop=config.a_stop, num_steps=config.num_steps,
        lpt_order=config.lpt_order, gradient=config.gradient, dtype=config.dtype,
    )


def observed_density(
    noise: Float[Array, "px py pz"], cosmo: Cosmology, config: PMConfig, adjoint: str = "reverse_time"
) -> Float[Array, "px py pz"]:
    """δ = ρ/ρ̄ − 1 at ``config.a_stop`` on the particle grid's mesh (CIC), from white noise."""
    disp, _ = simulate(noise, cosmo, config, adjoint=adjoint)
    return density_contrast(positions(disp, config), data_config(config))


_observed_density_jit = jax.jit(observed_density, static_argnums=(2, 3))


@functools.partial(jax.jit, static_argnums=1)
def linear_response(cosmo: Cosmology, config: PMConfig) -> Complex[Array, "px py pzr"]:
    """The eigenvalues r̂_k (rfftn layout of the particle grid) of the model linearised at ω = 0:
    δ(ω) ≈ irfftn(r̂ · rfftn(ω)). One forward-mode derivative of the whole model (LPT and every
    N-body step) along a unit impulse at the origin, whose response is the convolution kernel."""
    dtype = config.float_dtype
    zero = jnp.zeros(config.ptcl_grid, dtype)
    impulse = zero.at[0, 0, 0].set(1.0)
    _, kernel = jax.jvp(lambda w: observed_density(w, cosmo, config, adjoint="autodiff"), (zero,), (impulse,))
    return jnp.fft.rfftn(kernel)


def apply_response(response: Complex[Array, "px py pzr"], noise: Float[Array, "px py pz"]) -> Float[Array, "px py pz"]:
    """R ω, the linearised model applied to white noise."""
    return jnp.fft.irfftn(response * jnp.fft.rfftn(noise), s=noise.shape)


class FieldProblem(eqx.Module):
    """An observed density map and the model that explains it (see :func:`field_problem`)."""

    data: Float[Array, "px py pz"]
    cosmo: Cosmology
    config: PMConfig = eqx.field(static=True)
    sigma: float = eqx.field(static=True)


def field_problem(data, sigma: float, cosmo: Cosmology, config: PMConfig) -> FieldProblem:
    """Check and bundle the data (the density contrast on the particle grid, shape
    ``config.ptcl_grid``), the noise level σ (per data cell) and the model."""
    sigma = check_positive("sigma (the noise level of the data)", sigma)
    data = np.asarray(data)
    if data.shape != tuple(config.ptcl_grid):
        raise InputError(f"data has shape {data.shape}; it must be the particle grid {tuple(config.ptcl_grid)}")
    if data.dtype.kind not in "biuf":
        raise InputError(f"data has dtype {data.dtype}; it must hold real numbers")
    if not np.all(np.isfinite(data)):
        first = np.argwhere(~np.isfinite(data))[0]
        raise InputError(f"data has a non-finite value at cell {tuple(int(i) for i in first)}")
    return FieldProblem(data=jnp.asarray(data, config.float_dtype), cosmo=cosmo, config=config, sigma=float(sigma))


def mock_data(key, sigma: float, cosmo: Cosmology, config: PMConfig) -> tuple[Array, FieldProblem]:
    """(true white noise, problem whose data is its density plus N(0, σ²) noise): two keys split
    from ``key``."""
    check_key("key", key)
    check_positive("sigma (the noise level of the data)", sigma)  # before the simulation
    k_field, k_noise = jax.random.split(key)
    truth = jax.random.normal(k_field, config.ptcl_grid, config.float_dtype)
    delta = _observed_density_jit(truth, cosmo, config)
    data = delta + sigma * jax.random.normal(k_noise, config.ptcl_grid, config.float_dtype)
    return truth, field_problem(data, sigma, cosmo, config)


def log_posterior(noise: Float[Array, "px py pz"], problem: FieldProblem) -> Float[Array, ""]:
    """log p(ω | d) up to a constant: −½ |ω|² − ½ |δ(ω) − d|² / σ²."""
    misfit = observed_density(noise, problem.cosmo, problem.config) - problem.data
    return -0.5 * jnp.sum(noise**2) - 0.5 * jnp.sum(misfit**2) / problem.sigma**2


def wiener_filter(problem: FieldProblem, response=None) -> tuple[Array, Array]:
    """The posterior of the linearised model: its mean (the Wiener filter, a field like ω) and
    the eigenvalues of its covariance σ² / (σ² + |r̂|²) (rfftn layout)."""
    grid = problem.config.ptcl_grid
    if response is None:
        response = linear_response(problem.cosmo, problem.config)
    check_shape("response", response, rfft_shape(grid),
                f"{rfft_shape(grid)}, the rfftn layout of the particle grid {grid} (from linear_response)")
    s2 = problem.sigma**2
    mean_k = jnp.conj(response) * jnp.fft.rfftn(problem.data) / (s2 + jnp.abs(response) ** 2)
    return jnp.fft.irfftn(mean_k, s=problem.config.ptcl_grid), s2 / (s2 + jnp.abs(response) ** 2)


def linear_posterior_std(variance_k, shape) -> float:
    """The posterior standard deviation of each white-noise cell in the linear regime: the
    square root of the diagonal of the circulant covariance (the mean of its eigenvalues)."""
    shape = _check_variance(variance_k, shape)
    return float(np.sqrt(np.fft.irfftn(np.asarray(variance_k), s=shape, axes=(0, 1, 2))[0, 0, 0]))


def _check_variance(variance_k, shape) -> tuple[int, int, int]:
    """``shape`` as 3 integers; InputError unless ``variance_k`` has its rfftn layout."""
    shape = check_counts("shape", shape, 1, "a positive integer")
    check_shape("variance_k", variance_k, rfft_shape(shape),
                f"{rfft_shape(shape)}, the rfftn layout of shape {shape} (from wiener_filter)")
    return shape


def _whitening(variance_k, shape):
    """u ↦ C^{1/2} u, with C the linearised posterior covariance (a symmetric circulant with the
    eigenvalues ``variance_k`` from :func:`wiener_filter`): ω = centre + C^{1/2} u makes
    u ~ N(0, I) in the linear regime."""
    root = jnp.sqrt(variance_k)
    return lambda u: jnp.fft.irfftn(root * jnp.fft.rfftn(u), s=shape)


def _map_loss(u, args):
    """−log p(ω | d) at ω = start + C^{1/2} u. Module-level, with the problem and the whitening
    as ``fit``'s ``args``: ``fit`` reuses its compiled update for every problem of one model and
    shape (a closure made per call was compiled again on every call)."""
    start, variance, problem = args
    return -log_posterior(start + _whitening(variance, problem.config.ptcl_grid)(u), problem)


def field_map(problem: FieldProblem, *, steps: int = 200, response=None, tol: float | None = None,
              progress: bool = True):
    """The maximum a posteriori white noise, by L-BFGS through the whole model, started at the
    Wiener filter and in coordinates whitened by the linearised posterior covariance.

    Returns (ω_MAP, astrograd.inverse.FitResult of the whitened coordinates). Later calls for
    the same config and σ reuse the compiled program (other data and cosmological values too)."""
    from astrograd.inverse import fit

    check_bool("progress", progress)
    check_int("steps", steps, 1)  # before the linear response (fit checked it only after that)
    response = linear_response(problem.cosmo, problem.config) if response is None else response
    start, variance = wiener_filter(problem, response)
    result = fit(_map_loss, jnp.zeros_like(start), args=(start, variance, problem), optimizer="lbfgs",
                 steps=steps, tol=tol, history=False, progress=progress, description="MAP field")
    return start + _whitening(variance, problem.config.ptcl_grid)(result.best_params), result


def _log_density(u, args):
    """log p(ω | d) at ω = centre + C^{1/2} u: module-level, with the problem as ``sample``'s
    ``args``, so that a later posterior of the same model and shape compiles nothing again."""
    return -_map_loss(u, args)


@jax.jit
def _to_field(u, centre, variance):
    """ω = centre + C^{1/2} u of (chains, draws, px, py, pz) whitened draws."""
    return jax.vmap(jax.vmap(lambda x: centre + _whitening(variance, centre.shape)(x)))(u)


@dataclass
class FieldPosterior:
    """Outcome of :func:`field_posterior`. Fields have the particle grid's shape.

    map / wiener: the maximum a posteriori white noise and the Wiener filter of the linearised
      model. mean / std: the posterior mean and standard deviation per cell from the draws.
    samples: (chains, draws, px, py, pz) white-noise draws (float32).
    variance_k: eigenvalues of the linearised posterior covariance (rfftn layout).
    sampling: the astrograd.inverse.SampleResult of the whitened coordinates (r_hat, ESS, ...).
    map_fit: the FitResult of the MAP search.
    """

    map: np.ndarray
    wiener: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    samples: np.ndarray
    variance_k: np.ndarray
    sampling: object
    map_fit: object


def _fingerprint(problem: FieldProblem) -> dict:
    """What defines the sampled density, so that stale chains are refused: the data, noise and
    model (known before the MAP: checked first), and then the centre of the whitened coordinates
    (the MAP, which depends on ``map_steps``)."""
    return {
        "data_sha256": sha256_of(problem.data),
        "sigma": problem.sigma,
        "config": repr(problem.config),
        "cosmo": [float(x) for x in jax.tree.leaves(problem.cosmo)],
    }


def _check_settings_counts(**counts) -> None:
    """Each count an integer >= 1, ``num_samples`` >= 2 (a chain's effective sample size needs two
    draws: one failed after the whole run), InputError naming it, checked before anything costly."""
    for name, value in counts.items():
        check_int(name, value, 2 if name == "num_samples" else 1)


def field_posterior(problem: FieldProblem, key, *, num_warmup: int = 200, num_samples: int = 300,
                    num_chains: int = 2, map_steps: int = 200, checkpoint=None, progress: bool = True,
                    ) -> FieldPosterior:
    """Draw white-noise fields from p(ω | d) with NUTS through the whole model.

    First the MAP (:func:`field_map`); then NUTS with a diagonal mass matrix in the coordinates
    u of ω = ω_MAP + C^{1/2} u, with C the linearised posterior covariance (a fixed linear change
    of variables: the draws of ω are exact). ``checkpoint``: a file; the chains are saved every 50
    NUTS steps and a rerun with the same data, noise, model and settings resumes from it.
    """
    from astrograd.inverse import check_checkpoint, sample

    _check_settings_counts(num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains, map_steps=map_steps)
    check_bool("progress", progress)
    check_key("key", key)  # before the MAP search, not after it (in the sampler)
    fingerprint = _fingerprint(problem)
    check_checkpoint(checkpoint, fingerprint)  # other data or model: refused before the MAP
    response = linear_response(problem.cosmo, problem.config)
    wiener, variance = wiener_filter(problem, response)
    centre, map_fit = field_map(problem, steps=map_steps, response=response, progress=progress)
    result = sample(_log_density, jnp.zeros_like(centre), key, args=(centre, variance, problem),
                    num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains, init_scale=0.5,
                    dense_mass=False, checkpoint=checkpoint,
                    fingerprint={**fingerprint, "centre_sha256": sha256_of(centre)}, progress=progress,
                    description="NUTS field")
    draws = np.asarray(_to_field(jnp.asarray(result.samples), centre, variance), dtype=np.float32)
    flat = draws.reshape(-1, *draws.shape[2:]).astype(np.float64)
    return FieldPosterior(
        map=np.asarray(centre), wiener=np.asarray(wiener), mean=flat.mean(axis=0), std=flat.std(axis=0, ddof=1),
        samples=draws, variance_k=np.asarray(variance), sampling=result, map_fit=map_fit,
    )


def cross_correlation(a, b, box_size, num_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """r(k) = P_ab / √(P_aa P_bb) of two fields on the same periodic grid, in shells of |k| a little
    under one fundamental frequency wide (:func:`astrograd.pm.shell_average`). Returns (k, r)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise InputError(f"fields of shapes {a.shape} and {b.shape} cannot be correlated; give two 3D grids "
                         "of the same shape")
    check_finite_array("a", a)
    check_finite_array("b", b)
    ka, kb = np.fft.rfftn(a), np.fft.rfftn(b)
    k, (ab, aa, bb), _ = shell_average(a.shape, box_size, [(ka * np.conj(kb)).real, np.abs(ka) ** 2,
                                                            np.abs(kb) ** 2], num_bins)
    for name, power in (("a", aa), ("b", bb)):
        if not np.all(power > 0):  # r = 0/0: NaN
            raise InputError(f"{name} has no power in the shell at k = {k[np.argmin(power > 0)]:.4g} h/Mpc (a uniform "
                             "field?); r(k) is undefined there")
    return k, ab / np.sqrt(aa * bb)


def wiener_correlation(variance_k, shape, box_size, num_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The expected r(k) of the Wiener filter with the truth in the linear regime, binned as
    :func:`cross_correlation` bins it; ``variance_k`` from :func:`wiener_filter`, ``shape`` the
    particle grid. Per mode the filter keeps the signal fraction s = 1 − σ²/(σ² + |r̂|²) of the
    truth's power in its cross power and in its own power, so r = Σ s / √(Σ s · Σ 1) per shell."""
    shape = _check_variance(variance_k, shape)
    s = 1.0 - np.asarray(variance_k, np.float64)
    k, (cross, ones), _ = shell_average(shape, box_size, [s, np.ones_like(s)], num_bins)
    return k, cross / np.sqrt(cross * ones)


def coverage(truth, mean, std) -> float:
    """Fraction of cells whose true value lies within one posterior standard deviation of the
    posterior mean (0.683 for a calibrated Gaussian posterior). The three fields have one shape."""
    arrays = {"truth": np.asarray(truth, np.float64), "mean": np.asarray(mean, np.float64),
              "std": np.asarray(std, np.float64)}
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) != 1 or arrays["truth"].size == 0:
        raise InputError(f"truth, mean and std have shapes {', '.join(map(str, shapes.values()))}; give three "
                         "fields of one (non-empty) shape")
    for name, a in arrays.items():
        check_finite_array(name, a)
    if arrays["std"].min() < 0:
        raise InputError(f"std has a value {arrays['std'].min():g}; each must be >= 0")
    # |z| < 1 without dividing: a cell of sd 0 (a chain that never moved) counts as outside
    return float(np.mean(np.abs(arrays["truth"] - arrays["mean"]) < arrays["std"]))


def reconstruct_to_dir(out, *, ptcl_grid: int = 16, mesh_factor: int = 2, box: float = 256.0,
                       a_start: float = 1 / 16, a_stop: float = 1.0, steps: int = 10, omega_m: float = 0.3,
                       sigma8: float = 0.8, noise: float = 0.2, data_file=None, map_steps: int = 200,
                       warmup: int = 200, samples: int = 300, chains: int = 2, seed: int = 0,
                       dtype: str = "float64", progress: bool = True) -> dict:
    """The ``astrograd pm reconstruct`` run: a mock observation (or ``data_file``'s ``delta``),
    the Wiener filter, the MAP and NUTS draws; ``out/reconstruct.h5``, ``out/reconstruct.png``
    and ``out/checkpoint-*.npz`` (a rerun resumes the chains). Returns the JSON summary."""
    import time
    from pathlib import Path

    from astrograd.io import read_h5, write_h5
    from astrograd.pm._plots import plot_reconstruction

    _check_settings_counts(num_warmup=warmup, num_samples=samples, num_chains=chains, map_steps=map_steps)
    check_bool("progress", progress)
    out = Path(out)
    cosmo = cli_cosmology(omega_m, sigma8)
    config = cli_config(ptcl_grid, mesh_factor, box, a_start, a_stop, steps, dtype=dtype)
    if min(config.ptcl_grid) < 3:
        # the correlations with the truth are shell averages on the particle grid: 2³ cells have no
        # mode below their Nyquist frequency (empty arrays; now refused by shell_average, which came
        # after the whole run)
        raise InputError(f"--ptcl-grid = {ptcl_grid} is not allowed for reconstruct; it must be an integer >= 3 (a "
                         "2³ data mesh has no mode below its Nyquist frequency to correlate)")
    key_data, key_sample = jax.random.split(jax.random.key(check_seed(seed)))
    t0 = time.perf_counter()
    if data_file is None:
        truth, problem = mock_data(key_data, noise, cosmo, config)
        truth = np.asarray(truth)
    else:
        arrays, _ = read_h5(data_file, required=("delta",))
        truth, problem = None, field_problem(arrays["delta"], noise, cosmo, config)
    out.mkdir(parents=True, exist_ok=True)
    post = field_posterior(problem, key_sample, num_warmup=warmup, num_samples=samples, num_chains=chains,
                           map_steps=map_steps, progress=progress,
                           checkpoint=out / f"checkpoint-reconstruct-{ptcl_grid}-{seed}.npz")
    seconds = time.perf_counter() - t0
    res = post.sampling
    grads = int(res.gradient_evaluations.sum() + res.warmup_gradient_evaluations.sum())
    ess, r_hat = np.asarray(res.ess).ravel(), np.asarray(res.r_hat).ravel()
    to_density = _observed_density_jit
    delta_map = np.asarray(to_density(jnp.asarray(post.map), cosmo, config))
    delta_mean = np.asarray(to_density(jnp.asarray(post.mean), cosmo, config))
    sd_linear = linear_posterior_std(post.variance_k, config.ptcl_grid)
    k, r_expected = wiener_correlation(post.variance_k, config.ptcl_grid, config.box_size)
    summary = {
        "ptcl_grid": ptcl_grid, "box": box, "a_stop": a_stop, "steps": steps, "noise": noise, "sigma8": sigma8,
        "seconds": seconds, "map_steps": int(post.map_fit.steps), "map_grad_norm": float(post.map_fit.grad_norm),
        "chains": chains, "warmup": warmup, "samples": samples, "gradient_evaluations": grads,
        "divergences": int(res.divergent.sum()), "mean_acceptance": float(res.acceptance_rate.mean()),
        "r_hat_max": float(np.nanmax(r_hat)) if chains > 1 else None,
        "ess_min": float(ess.min()), "ess_median": float(np.median(ess)),
        "posterior_std_mean": float(post.std.mean()), "posterior_std_linear": sd_linear,
        "data_residual_rms_map": float(np.sqrt(np.mean((delta_map - np.asarray(problem.data)) ** 2))),
        "k": k.tolist(), "r_wiener_expected": r_expected.tolist(),
    }
    linear = jax.jit(lambda w: jnp.fft.irfftn(linear_modes(w, cosmo, config), s=config.ptcl_grid))
    datasets = {"data": np.asarray(problem.data), "wiener": post.wiener, "map": post.map, "mean": post.mean,
                "std": post.std, "samples": post.samples, "density_map": delta_map, "density_mean": delta_mean,
                "k": k, "r_wiener_expected": r_expected,
                "linear_map": np.asarray(linear(jnp.asarray(post.map))),
                "linear_mean": np.asarray(linear(jnp.asarray(post.mean))),
                "linear_wiener": np.asarray(linear(jnp.asarray(post.wiener)))}
    if truth is not None:
        for name, field in (("map", post.map), ("mean", post.mean), ("wiener", post.wiener)):
            summary[f"r_{name}"] = cross_correlation(field, truth, config.box_size)[1].tolist()
            datasets[f"r_{name}"] = np.asarray(summary[f"r_{name}"])
        summary["coverage_1sigma"] = coverage(truth, post.mean, post.std)
        datasets["truth"] = truth
        datasets["linear_truth"] = np.asarray(linear(jnp.asarray(truth)))
        datasets["density_truth"] = np.asarray(to_density(jnp.asarray(truth), cosmo, config))
    attrs = {"box_size": box, "a_start": a_start, "a_stop": a_stop, "num_steps": steps, "mesh_factor": mesh_factor,
             "omega_m": omega_m, "sigma8": sigma8, "noise": noise, "seed": seed, "dtype": dtype}
    summary["out"] = str(write_h5(out / "reconstruct.h5", datasets, attrs))
    summary["plot"] = str(plot_reconstruction(out / "reconstruct.png", datasets, summary))
    return summary
