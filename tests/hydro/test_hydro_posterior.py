"""Posterior of the wind parameters: NUTS through the solver against the posterior on a grid of
forward runs, the CLI's files, resume, and bad input."""

import json

import h5py
import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from astrograd._errors import InputError
from astrograd.hydro import wind_problem
from astrograd.hydro._posterior import wind_posterior
from astrograd.hydro.cli import app

runner = CliRunner()


def test_cli_posterior_writes_draws_figure_and_json_and_resumes(tmp_path, monkeypatch, check_output_file):
    args = ["posterior", "--cells", "16", "--warmup", "30", "--samples", "40", "--chains", "2", "--out", str(tmp_path),
            "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    with h5py.File(tmp_path / "posterior.h5") as f:
        v, m, u = f["v_inf_km_s"][:], f["mdot_msun_per_myr"][:], f["u"][:]
        grid_mean, grid_cov = f["grid_mean_u"][:], f["grid_cov_u"][:]
        assert v.shape == (2, 40) and m.shape == (2, 40) and u.shape == (2, 40, 2)
        assert f["data_log_enclosed_mass"].shape == (16,) and f["laplace_cov_u"].shape == (2, 2)
        assert f["grid_log_posterior"].shape == (41, 41)
        assert f.attrs["v_inf_true_km_s"] == pytest.approx(2000.0)
    np.testing.assert_allclose(np.exp(u[..., 0]), v, rtol=1e-12)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(m))
    # even this short run sits on the grid posterior: means within 5 of its standard deviations
    sd = np.sqrt(np.diag(grid_cov))
    assert np.all(np.abs(u.reshape(-1, 2).mean(axis=0) - grid_mean) < 5 * sd)
    assert summary["v_inf_km_s"]["true"] == pytest.approx(2000.0) and summary["divergences"] >= 0
    check_output_file(tmp_path / "posterior.png")  # a size > 1000 passed a blank figure
    check_output_file(tmp_path / "posterior.h5")
    import astrograd.hydro._posterior as posterior_module

    def no_search(*a, **k):
        raise AssertionError("the maximum likelihood was searched again")

    monkeypatch.setattr(posterior_module, "_map_estimate", no_search)
    # rerun: both chains come from the checkpoint, and so do the maximum likelihood and the
    # whitening (before: searched again, ~16 s); the draws u = u_MAP + chol z are bit-identical
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    with h5py.File(tmp_path / "posterior.h5") as f:
        np.testing.assert_array_equal(f["v_inf_km_s"][:], v)
        np.testing.assert_array_equal(f["u"][:], u)
    # other data (noise level) with the same checkpoint file: refused, not silently reused, and
    # before the maximum likelihood is searched; named as the option, with both values (before:
    # "a different sampling run (fingerprint entries noise, data differ)")
    other = runner.invoke(app, [*args, "--noise", "0.1"])
    assert other.exit_code == 2 and "was written with --noise 0.05, this run has --noise 0.1; use the same setting " \
        "or another --out" in other.output, other.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cells", "8"], "--cells = 8"),
        (["--noise", "0"], "--noise = 0 is not allowed; it must be a finite number > 0"),
        # before: the data drawn, then "loss or gradient became non-finite ... at step 0"
        (["--noise", "1e300"], "--noise = 1e+300 is not allowed; it must be a finite number > 0 and <= 10"),
        (["--noise", "10.5"], "--noise = 10.5 is not allowed"),
        (["--samples", "0"], "--samples = 0 is not allowed"),
        # before: the whole run, then blackjax's AssertionError traceback (ESS needs two draws)
        (["--samples", "1"], "--samples = 1 is not allowed; it must be an integer >= 2"),
        (["--seed", str(2**64)], f"--seed = {2**64} is not allowed"),  # was JAX's OverflowError
    ],
)
def test_cli_posterior_bad_input_is_one_line_exit_2(tmp_path, args, message):
    res = runner.invoke(app, ["posterior", "--out", str(tmp_path), *args])
    assert res.exit_code == 2 and message in res.output, res.output


def test_prior_box_must_contain_the_problem():
    from astrograd.hydro._problems import WindSetup

    with pytest.raises(InputError, match="outside the prior box"):
        wind_posterior(wind_problem(16, setup=WindSetup(v_inf_km_s=5000.0)), jax.random.key(0))
    # before: KeyError 'setup'
    from astrograd.hydro import sod_problem

    with pytest.raises(InputError, match="^problem 'sod' is not allowed; it must be a wind problem"):
        wind_posterior(sod_problem(8), jax.random.key(0))


@pytest.mark.slow
def test_posterior_matches_the_grid_posterior_and_covers_the_truth():
    with jax.enable_x64(True):
        post = wind_posterior(wind_problem(32), jax.random.key(0), noise=0.05, num_warmup=150, num_samples=400,
                              num_chains=2, progress=False)
    s = post.result.summary()
    assert max(abs(r - 1) for r in s["r_hat"]) < 0.05 and min(s["ess"]) > 100 and s["divergences"] == 0
    u = post.u_samples.reshape(-1, 2)
    ess = min(s["ess"])
    sd_grid = np.sqrt(np.diag(post.grid_cov))
    # the draws against the posterior computed on a grid of forward runs (no gradients, no sampler):
    # means within 4 standard errors, standard deviations within 30 % and correlation within 0.1
    # (Monte Carlo errors with ~200 effective draws: 7 % and 0.03)
    assert np.all(np.abs(u.mean(axis=0) - post.grid_mean) < 4 * sd_grid / np.sqrt(ess))
    np.testing.assert_allclose(u.std(axis=0, ddof=1), sd_grid, rtol=0.3)
    corr_grid = post.grid_cov[0, 1] / np.prod(sd_grid)
    assert abs(np.corrcoef(u.T)[0, 1] - corr_grid) < 0.1
    # the truth lies within 3.5 posterior standard deviations (Mahalanobis; p ≈ 0.002 by chance)
    d = post.grid_mean - post.u_true
    assert np.sqrt(d @ np.linalg.solve(post.grid_cov, d)) < 3.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        # before: TypeError tracebacks (np.isfinite of a string or None; jax.random.split of an int)
        ({"noise": "0.05"}, "^noise = '0.05' is text; it must be a finite number > 0$"),
        ({"noise": None}, "^noise = None is not a number; it must be a positive number$"),
        ({"noise": 1e300}, "^noise = 1e\\+300 is not allowed; it must be a finite number > 0 and <= 10 "),
        ({"key": 0}, "^key = 0 is not allowed; it must be one PRNG key"),
    ],
)
def test_wind_posterior_refuses_a_noise_that_is_not_a_number_and_a_seed_for_a_key(kwargs, match):
    args = {"key": jax.random.key(0), **kwargs}
    with pytest.raises(InputError, match=match):
        wind_posterior(wind_problem(16), args.pop("key"), **args)


def test_a_second_posterior_of_the_same_grid_compiles_nothing_again(compilations):
    """Each call built closures over its problem, so the solver's forward run, its Jacobian, the
    reverse-mode maximum-likelihood fit and NUTS were compiled anew (~60 s at 16 cells, every
    call). The grid is the CLI test's (run before this one, in float64 too), so that after it
    nothing needs compiling here; other data (another key) goes through the same programs."""
    with jax.enable_x64(True):
        problem = wind_problem(16)
        wind_posterior(problem, jax.random.key(7), num_warmup=3, num_samples=2, num_chains=1, grid_points=0,
                       progress=False)  # compiles, unless the CLI test ran
        with compilations() as compiled:
            post = wind_posterior(problem, jax.random.key(8), num_warmup=3, num_samples=2, num_chains=1,
                                  grid_points=0, progress=False)
    names = " ".join(map(str, compiled))
    for program in ("predict", "jacobian", "update", "logdensity", "advance"):
        assert program not in names, compiled
    assert post.u_samples.shape == (1, 2, 2) and np.all(np.isfinite(post.u_samples))
    # the data is this key's: the maximum likelihood moved with it
    assert post.data.shape == (16,)


def test_draws_without_spread_get_a_grid_of_the_laplace_width(monkeypatch):
    """When NUTS rejects every proposal (a tiny run), all draws are equal: the reference grid's
    half-width, 6 sample standard deviations, was 0, the grid a point, its covariance zero, and
    the figure's contours failed ("Contour levels must be increasing"). The grid now takes the
    Laplace width for a parameter whose draws do not spread. Same grid as the tests before, so
    it compiles little."""
    import astrograd.inverse as inverse

    real = inverse.sample

    def unmoving(*args, **kwargs):  # the real sampler, with every draw replaced by the first
        res = real(*args, **kwargs)
        res.samples = np.broadcast_to(res.samples[:, :1], res.samples.shape).copy()
        return res

    monkeypatch.setattr(inverse, "sample", unmoving)
    with jax.enable_x64(True):
        post = wind_posterior(wind_problem(16), jax.random.key(9), num_warmup=3, num_samples=2, num_chains=1,
                              grid_points=5, progress=False)
    assert np.all(post.u_samples.std(axis=(0, 1)) == 0)
    sd_grid = np.sqrt(np.diag(post.grid_cov))
    assert np.all(sd_grid > 0) and np.all(np.isfinite(sd_grid)), post.grid_cov
    # a 5-point grid over ±6 Laplace widths (or wider) resolves the posterior to within its
    # spacing: its sd is some fraction of the Laplace sd, not zero or larger than the grid
    laplace_sd = np.sqrt(np.diag(post.laplace_cov))
    assert np.all(sd_grid < 6 * 1.5**3 * laplace_sd)


def _posterior_checkpoint(path, problem, key, *, noise=0.05, num_warmup=150, num_samples=300, map_iterations=150):
    """A checkpoint header as wind_posterior and sample() write it for these settings (no run)."""
    import dataclasses

    from astrograd.hydro._posterior import _prior_box
    from astrograd.hydro._wind import _problem_fingerprint
    from astrograd.io._npz import atomic_savez, key_list

    lo, hi = _prior_box(problem)
    params = {f.name: np.asarray(getattr(problem.params, f.name), float).tolist()
              for f in dataclasses.fields(problem.params)}
    record = {**_problem_fingerprint(problem), "params": params, "t_end": float(problem.t_end),
              "prior_box": [lo.tolist(), hi.tolist()]}
    fingerprint = {"cells": problem.config.num_cells, "noise": noise, "map_iterations": map_iterations,
                   "problem": record, "key": key_list(key)}
    atomic_savez(path, {"num_warmup": num_warmup, "num_samples": num_samples, "fingerprint": fingerprint}, {})
    return path


def test_a_posterior_checkpoint_of_any_other_setting_is_refused_by_name_before_any_run(x64, tmp_path, monkeypatch):
    """Before, only cells, noise, the data and map_iterations were in the fingerprint: another
    limiter, CFL number, set-up or initial state was refused as "data differ" after the data's
    forward run, other sampler settings only after it. Now each is named with both values before
    anything is compiled; num_chains and grid_points may change on a resume."""
    import dataclasses

    import astrograd.hydro._posterior as posterior_module
    from astrograd.hydro._problems import WindSetup

    def no_run(*args):
        raise AssertionError("a program was built before the checkpoint was checked")

    monkeypatch.setattr(posterior_module, "_programs", no_run)
    key, base = jax.random.key(0), wind_problem(16)
    checkpoint = _posterior_checkpoint(tmp_path / "c.npz", base, key)
    initial = np.array(base.initial)
    initial[0, -1] *= 1.01
    cases = [
        ({}, wind_problem(16, limiter="mc"), "limiter='van_leer', this run has limiter='mc'"),
        ({}, wind_problem(16, riemann="hll"), "riemann='hllc', this run has riemann='hll'"),
        ({}, wind_problem(16, cfl=0.5), "cfl=0.8, this run has cfl=0.5"),
        ({}, wind_problem(16, wind_cells=1), "wind_cells=2, this run has wind_cells=1"),
        ({}, wind_problem(16, setup=WindSetup(star_mass_msun=41.0)), "setup.star_mass_msun=40.0, this run has "
                                                                     "setup.star_mass_msun=41.0"),
        ({}, dataclasses.replace(base, initial=initial), "initial_state_sha256="),
        ({}, dataclasses.replace(base, t_end=base.t_end * 0.9), "t_end="),
        ({"noise": 0.1}, base, "noise=0.05, this run has noise=0.1"),
        ({"num_warmup": 5}, base, "num_warmup=150, this run has num_warmup=5"),
        ({"num_samples": 7}, base, "num_samples=300, this run has num_samples=7"),
        ({"map_iterations": 3}, base, "map_iterations=150, this run has map_iterations=3"),
        ({"key": jax.random.key(1)}, base, "key=[0, 0], this run has key=[0, 1]"),
    ]
    for kwargs, problem, message in cases:
        kwargs = {"key": key, **kwargs}
        with pytest.raises(InputError, match=r"was written with .*; use the same setting or another checkpoint file$") \
                as err:
            wind_posterior(problem, kwargs.pop("key"), checkpoint=checkpoint, progress=False, **kwargs)
        assert message in str(err.value) and len(str(err.value).splitlines()) == 1, (message, str(err.value))
    for kwargs in ({}, {"num_chains": 5}, {"grid_points": 0}):  # the same settings: on to the run
        with pytest.raises(AssertionError, match="a program was built"):
            wind_posterior(base, key, checkpoint=checkpoint, progress=False, **kwargs)


def test_cli_posterior_names_the_options_of_a_checkpoint_of_other_settings_before_any_run(tmp_path, monkeypatch):
    """The library's refusal reported with the options as typed (--noise, --warmup, --samples,
    --wind-momentum, another --out), one line, exit 2, nothing run (the CLI's own pre-check of
    the wind momentum is gone: the library names it, before the data)."""
    import astrograd.hydro._posterior as posterior_module

    def no_run(*args):
        raise AssertionError("a program was built before the checkpoint was checked")

    monkeypatch.setattr(posterior_module, "_programs", no_run)
    _posterior_checkpoint(tmp_path / "checkpoint-posterior-16-0.npz", wind_problem(16), jax.random.key(0))
    for args, message in (
            (("--noise", 0.1), "was written with --noise 0.05, this run has --noise 0.1; use the same setting or "
                               "another --out"),
            (("--warmup", 5), "was written with --warmup 150, this run has --warmup 5;"),
            (("--samples", 4), "was written with --samples 300, this run has --samples 4;"),
            (("--wind-momentum",), "was written with --no-wind-momentum, this run has --wind-momentum; use the same "
                                   "setting or another --out")):
        res = runner.invoke(app, ["posterior", "--cells", "16", "--out", str(tmp_path), *map(str, args)])
        lines = [ln for ln in res.output.strip().splitlines() if ln]
        assert res.exit_code == 2 and len(lines) == 1 and message in lines[0], res.output
