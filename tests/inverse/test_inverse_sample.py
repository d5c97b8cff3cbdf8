"""NUTS sampling (``astrograd.inverse.sample``): exact Gaussian moments, reproducibility, chains
independent of their number, resume from a checkpoint, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import astrograd.inverse._sample as sample_module
from astrograd._cli_util import ProgressBar
from astrograd._errors import InputError
from astrograd.inverse import check_checkpoint, sample
from astrograd.inverse._nuts import FAST, LAST_WARMUP, SLOW, SLOW_END, warmup_schedule

MU = np.array([1.0, -2.0, 0.5])
COV = np.array([[1.0, 2.7, 0.0], [2.7, 9.0, 0.0], [0.0, 0.0, 0.04]])  # correlation 0.9, scales 1, 3, 0.2


def _log_density(theta):
    x = jnp.concatenate([jnp.atleast_1d(theta["a"]), theta["b"]]) - MU
    return -0.5 * x @ jnp.linalg.solve(jnp.asarray(COV), x)


INIT = {"a": np.float64(0.0), "b": np.zeros(2)}


@pytest.fixture(scope="module")
def gaussian_run():
    with jax.enable_x64(True):
        return sample(_log_density, INIT, jax.random.key(0), num_warmup=200, num_samples=600, num_chains=2,
                      progress=False)


def test_gaussian_moments_within_monte_carlo_error(gaussian_run):
    res = gaussian_run
    assert res.samples["a"].shape == (2, 600) and res.samples["b"].shape == (2, 600, 2)
    flat = res.flat_samples()
    ess = np.concatenate([np.ravel(res.ess["a"]), np.ravel(res.ess["b"])])
    assert np.all(ess > 200), ess
    sd = np.sqrt(np.diag(COV))
    # mean: 4 standard errors with the effective sample size
    assert np.all(np.abs(flat.mean(axis=0) - MU) < 4 * sd / np.sqrt(ess)), (flat.mean(axis=0), MU)
    # standard deviations within 15 %, the correlation of the first two within 0.05
    assert np.allclose(flat.std(axis=0, ddof=1), sd, rtol=0.15)
    assert abs(np.corrcoef(flat[:, :2].T)[0, 1] - 0.9) < 0.05
    r_hat = np.concatenate([np.ravel(res.r_hat["a"]), np.ravel(res.r_hat["b"])])
    assert np.all(np.abs(r_hat - 1) < 0.02), r_hat
    assert not res.divergent.any()
    assert np.all(res.gradient_evaluations >= 600) and np.all(res.warmup_gradient_evaluations >= 200)
    s = res.summary()
    assert s["divergences"] == 0 and len(s["mean"]) == 3 and 0.5 < s["mean_acceptance"] <= 1.0
    # the warm-up's dense inverse mass matrix estimates the covariance (from one window of 75
    # draws): variances within a factor 2, the correlation within 0.1
    for m in res.inverse_mass_matrix:
        assert np.all((np.diag(m) / np.diag(COV) > 0.5) & (np.diag(m) / np.diag(COV) < 2)), m
        assert abs(m[0, 1] / np.sqrt(m[0, 0] * m[1, 1]) - 0.9) < 0.1, m


def test_gaussian_moments_would_catch_a_ten_percent_error():
    """The run above (ESS ≈ 1000, about 700 for the squares) cannot tell a sampler with a 20 %
    error in a variance from a right one: 15 % in the standard deviation is 32 % in the variance,
    and 4 standard errors of the mean are 0.13 σ (a 10 % error in the mean of ``a`` is 0.1 σ).
    Here 12 chains × 600 draws (about 1 s; the chain program of the run above is reused): ESS ≈
    5800 for the means and ≈ 3500 for the squares, so the means are held to 4 standard errors
    (0.05 σ) and the variances to 4 standard errors of a variance, 4 √(2/ESS) ≈ 9.5 %: a 10 %
    error in a mean (of ``a`` or ``b``) fails, and so does a 15 % error in a variance (10 % is at
    the edge). Measured: |z| ≤ 0.9 (this key), ≤ 1.9 on other keys and sizes."""
    with jax.enable_x64(True):
        res = sample(_log_density, INIT, jax.random.key(1), num_warmup=200, num_samples=600, num_chains=12,
                     progress=False)
        flat = res.flat_samples()
        _, ess_sq = sample_module._diagnostics(((flat - MU) ** 2).reshape(12, 600, 3))
    ess = np.concatenate([np.ravel(res.ess["a"]), np.ravel(res.ess["b"])])
    ess_sq = np.asarray(ess_sq)
    # the tolerances below shrink with the ESS: a sampler that mixes badly must not widen them
    assert np.all(ess > 4000) and np.all(ess_sq > 2500), (ess, ess_sq)
    sd = np.sqrt(np.diag(COV))
    assert np.all(np.abs(flat.mean(axis=0) - MU) < 4 * sd / np.sqrt(ess)), (flat.mean(axis=0), MU)
    rel_var = flat.var(axis=0, ddof=1) / np.diag(COV) - 1
    assert np.all(np.abs(rel_var) < 4 * np.sqrt(2 / ess_sq)), (rel_var, ess_sq)
    # the correlation's standard error is (1 − ρ²)/√ESS ≈ 0.0025 (measured error 0.0044)
    assert abs(np.corrcoef(flat[:, :2].T)[0, 1] - 0.9) < 0.015


def _windows(codes):
    """(first step, length) of each slow window."""
    ends = np.flatnonzero(codes == SLOW_END)
    starts = [int(np.flatnonzero(codes == SLOW)[0])] + [int(e) + 1 for e in ends[:-1]]
    return [(a, int(e) + 1 - a) for a, e in zip(starts, ends, strict=True)]


def test_warmup_windows_follow_stan():
    # Stan's reference manual (HMC algorithm parameters): 1000 warm-up steps are an initial fast
    # window of 75, slow windows of 25, 50, 100, 200 and 500 (the last stretched to the final
    # window), and a final fast window of 50
    codes = warmup_schedule(1000)
    assert _windows(codes) == [(75, 25), (100, 50), (150, 100), (250, 200), (450, 500)]
    assert np.all(codes[:75] == FAST) and np.all(codes[950:999] == FAST) and codes[-1] == LAST_WARMUP
    # fewer than 75 + 25 + 50 steps: 15 % fast, one slow window, 10 % fast
    codes = warmup_schedule(100)
    assert _windows(codes) == [(15, 75)] and np.all(codes[:15] == FAST) and np.all(codes[90:99] == FAST)
    # below 20 steps only the step size is adapted
    assert list(warmup_schedule(19)) == [FAST] * 18 + [LAST_WARMUP]
    assert list(warmup_schedule(1)) == [LAST_WARMUP]


def test_same_key_same_draws_and_chains_independent_of_their_number(gaussian_run, tmp_path):
    with jax.enable_x64(True):
        one = sample(_log_density, INIT, jax.random.key(0), num_warmup=200, num_samples=600, num_chains=1,
                     progress=False)
    np.testing.assert_array_equal(one.samples["b"][0], gaussian_run.samples["b"][0])
    assert np.isnan(one.r_hat["a"])  # one chain: no between-chain comparison
    with jax.enable_x64(True):
        other = sample(_log_density, INIT, jax.random.key(1), num_warmup=200, num_samples=600, num_chains=1,
                       progress=False)
    assert not np.array_equal(other.samples["b"][0], one.samples["b"][0])


def test_resume_from_checkpoint_runs_only_the_missing_chains(gaussian_run, tmp_path):
    path = tmp_path / "nuts.npz"
    kw = dict(num_warmup=200, num_samples=600, progress=False, checkpoint=path, fingerprint={"noise": 0.1})
    with jax.enable_x64(True):
        first = sample(_log_density, INIT, jax.random.key(0), num_chains=1, **kw)
        assert first.resumed_chains == 0 and path.exists()
        both = sample(_log_density, INIT, jax.random.key(0), num_chains=2, **kw)
    assert both.resumed_chains == 1
    # equal to the uninterrupted two-chain run, draw for draw
    np.testing.assert_array_equal(both.samples["b"], gaussian_run.samples["b"])
    np.testing.assert_array_equal(both.log_density, gaussian_run.log_density)
    # a finished run read back compiles nothing (before: the gradient at every start, seconds
    # for a simulator, compiled and evaluated again)
    traces = []

    def counted(theta):
        traces.append(1)
        return _log_density(theta)

    with jax.enable_x64(True):
        again = sample(counted, INIT, jax.random.key(0), num_chains=2, **kw)
    assert again.resumed_chains == 2 and traces == []
    np.testing.assert_array_equal(again.samples["b"], gaussian_run.samples["b"])
    # a legacy uint32 key works too, and is a different run from the typed key's checkpoint
    with jax.enable_x64(True), pytest.raises(InputError, match="different sampling run"):
        sample(_log_density, INIT, jax.random.PRNGKey(1), num_chains=2, **kw)
    # naming what differs (it was "settings, key, init or fingerprint differ" whatever differed)
    with jax.enable_x64(True), pytest.raises(InputError, match=r"different sampling run \(num_samples differ\)"):
        sample(_log_density, INIT, jax.random.key(0), num_chains=2, **{**kw, "num_samples": 500})
    with jax.enable_x64(True), pytest.raises(InputError, match=r"different sampling run \(init differ\)"):
        sample(_log_density, {"a": np.float64(0.5), "b": np.zeros(2)}, jax.random.key(0), num_chains=2, **kw)
    # what defines the density must match too
    with jax.enable_x64(True), pytest.raises(InputError, match="fingerprint differ"):
        sample(_log_density, INIT, jax.random.key(0), num_chains=2, **{**kw, "fingerprint": {"data": [1.0]}})
    # ... and can be checked before a run is prepared, on the entries known by then
    check_checkpoint(path, {"noise": np.float64(0.1)})
    check_checkpoint(path, {})
    for given, key in (({"noise": 0.2}, "noise"), ({"noise": 0.1, "data": [1.0]}, "data")):
        with pytest.raises(InputError, match=f"different sampling run \\(fingerprint entries {key} differ"):
            check_checkpoint(path, given)
    check_checkpoint(tmp_path / "none.npz", {"noise": 0.2})  # no checkpoint yet: nothing to refuse
    check_checkpoint(None, {"noise": 0.2})


def test_an_interrupted_chain_resumes_to_the_uninterrupted_result(gaussian_run, tmp_path, monkeypatch):
    """Interrupted in the warm-up of chain 0, then in the draws of chain 1: each rerun continues the
    running chain from its last chunk (50 steps), and the result equals the uninterrupted run draw
    for draw."""
    path = tmp_path / "nuts.npz"
    kw = dict(num_warmup=200, num_samples=600, num_chains=2, progress=False, checkpoint=path)
    calls = []

    def interrupted_at(n):
        class Interrupted(ProgressBar):
            def advance(self, *args, **kwargs):
                calls.append(kwargs.get("status"))
                if len(calls) == n:
                    raise KeyboardInterrupt
                return super().advance(*args, **kwargs)

        return Interrupted

    with jax.enable_x64(True):
        # 16 chunks per chain: stop after the 3rd (chain 0, warm-up), then after chain 1's 10th
        for stop in (3, 3 + 13 + 10):
            monkeypatch.setattr(sample_module, "ProgressBar", interrupted_at(stop))
            with pytest.raises(KeyboardInterrupt):
                sample(_log_density, INIT, jax.random.key(0), **kw)
        assert calls[2] == "chain 0: warm-up 150/200" and calls[-1] == "chain 1: 300/600 draws"
        monkeypatch.setattr(sample_module, "ProgressBar", interrupted_at(0))  # runs to the end
        res = sample(_log_density, INIT, jax.random.key(0), **kw)
    assert len(calls) == 2 * 16  # no chunk was run twice
    assert res.resumed_chains == 1
    for name in ("log_density", "acceptance_rate", "step_size", "inverse_mass_matrix",
                 "gradient_evaluations", "warmup_gradient_evaluations"):
        np.testing.assert_array_equal(getattr(res, name), getattr(gaussian_run, name))
    np.testing.assert_array_equal(res.samples["b"], gaussian_run.samples["b"])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"num_samples": 0}, "num_samples = 0"),
        ({"num_samples": 1}, "num_samples = 1 is not allowed; it must be an integer >= 2"),  # blackjax's ESS
        ({"num_warmup": 1.5}, "num_warmup = 1.5"),
        ({"num_chains": 0}, "num_chains = 0"),
        ({"init_scale": -1.0}, "init_scale = -1 is not allowed; it must be a finite number >= 0"),
        ({"target_acceptance": 1.0}, "target_acceptance = 1.0"),
        # a string was a TypeError from a comparison, and dense_mass="no" ran a dense matrix
        ({"target_acceptance": "a"}, "target_acceptance = 'a'"),
        ({"init_scale": "a"}, "init_scale = 'a' is text"),
        ({"dense_mass": "no"}, "dense_mass = 'no' is not allowed; it must be True or False"),
        ({"fingerprint": {"data": object()}}, "must be JSON-able"),  # was json's TypeError
    ],
)
def test_bad_settings_are_one_line_errors(kw, match):
    with pytest.raises(InputError, match=match):
        sample(_log_density, INIT, jax.random.key(0), progress=False, **kw)


@pytest.mark.parametrize("key", [0, jax.random.split(jax.random.key(0), 2), np.zeros(2)])
def test_a_key_that_is_not_one_prng_key_is_refused(key):
    """Before: JAX's TypeError ('invalid PRNG key data') or fold_in's ValueError for a batch of keys."""
    with pytest.raises(InputError, match="^key = .* is not allowed; it must be one PRNG key, e.g. jax.random.key"):
        sample(_log_density, INIT, key, progress=False)


def test_bad_start_and_bad_density_are_one_line_errors():
    def outside(theta):  # zero density left of 0
        return jnp.where(theta[0] > 0, -0.5 * jnp.sum(theta**2), -jnp.inf)

    with pytest.raises(InputError, match="start of chain 0"):
        sample(outside, jnp.array([-1.0, 0.0]), jax.random.key(0), init_scale=0.0, progress=False)
    with pytest.raises(InputError, match="gradient of log_density is not finite at the start of chain 0"):
        sample(lambda t: -jnp.sum(jnp.sqrt(jnp.abs(t))), jnp.zeros(2), jax.random.key(0), init_scale=0.0,
               progress=False)
    with pytest.raises(InputError, match="must return a scalar"):
        sample(lambda t: t, jnp.zeros(2), jax.random.key(0), progress=False)
    with pytest.raises(InputError, match="floating-point"):
        sample(lambda t: 0.0, jnp.zeros(2, jnp.int32), jax.random.key(0), progress=False)
    # an integer log density was JAX's "grad requires real-valued outputs"
    with pytest.raises(InputError, match="log_density must return a floating-point scalar; it returned int"):
        sample(lambda t: 1, jnp.zeros(2), jax.random.key(0), progress=False)


def test_float32_parameters_under_x64():
    """Before: blackjax's 'cond branches must have equal output types' (its trajectory mixes float64
    constants with a float32 position). The chain runs in float64, the density gets float32."""
    seen = []

    def density(theta):
        seen.append(theta.dtype)
        return -0.5 * jnp.sum(theta**2)

    with jax.enable_x64(True):
        res = sample(density, jnp.zeros(2, jnp.float32), jax.random.key(0), num_warmup=30, num_samples=20,
                     num_chains=1, progress=False)
    assert set(seen) == {jnp.dtype("float32")} and res.samples.dtype == np.float32
    assert np.all(np.isfinite(res.samples)) and res.samples.shape == (1, 20, 2)


def test_a_density_with_a_hard_wall_stays_inside():
    # half-normal on x > 0 (a wall at 0): no draw crosses it, mean sqrt(2/π)
    def half(theta):
        return jnp.where(theta[0] > 0, -0.5 * theta[0] ** 2, -jnp.inf)

    # 4000 draws (ESS ≈ 580; 1000 draws had ESS 160, so 4 standard errors of the mean were 24 %
    # of it and a sampler with a 20 % error passed): now 13 % of the mean, and E[x²] = 1 to
    # 4 √(2/ESS) ≈ 24 %
    with jax.enable_x64(True):
        res = sample(half, jnp.array([1.0]), jax.random.key(3), num_warmup=200, num_samples=4000, num_chains=1,
                     dense_mass=False, progress=False)
        x = res.flat_samples()[:, 0]
        _, ess_sq = sample_module._diagnostics((x**2)[None, :, None])
    assert np.all(x > 0)
    ess, ess_sq = float(res.ess[0]), float(ess_sq[0])
    assert ess > 400 and ess_sq > 400, (ess, ess_sq)
    assert abs(x.mean() - np.sqrt(2 / np.pi)) < 4 * np.sqrt(1 - 2 / np.pi) / np.sqrt(ess)
    assert abs(np.mean(x**2) - 1) < 4 * np.sqrt(2 / ess_sq)


def test_the_log_density_is_traced_once_per_program():
    """A costly simulator's trace (seconds) is paid once for the start values and once for the
    compiled chain program: the step function traces one NUTS transition, not a second one for
    the output shapes of the padding steps."""
    import blackjax
    from blackjax.mcmc.hmc import HMCState

    traces = [0]

    def log_density(x):
        traces[0] += 1
        return -0.5 * jnp.sum(x**2)

    sample(log_density, jnp.zeros(2), jax.random.key(0), num_warmup=10, num_samples=10, num_chains=2,
           progress=False)
    in_sample, traces[0] = traces[0], 0
    x = jnp.zeros(2)
    state = HMCState(x, jnp.zeros(()), x)
    jax.eval_shape(lambda: blackjax.nuts.build_kernel()(jax.random.key(0), state, log_density, 1.0, jnp.ones(2)))
    assert in_sample == 1 + traces[0]  # the start's value_and_grad, and one transition


def _shifted_gaussian(x, args):
    centre, scale = args
    return -0.5 * jnp.sum(((x - centre) / scale) ** 2)


def test_args_are_inputs_of_the_compiled_programs_not_constants(compilations):
    """Data passed as ``args`` gives the draws of a closure over it, bit for bit, and a call with
    other data of the same shapes compiles nothing (a closure per call compiled the start's
    gradient and the chain program again: the whole simulator, for a posterior)."""
    kw = dict(num_warmup=20, num_samples=10, num_chains=1, progress=False)
    centre = jnp.array([1.0, -2.0])
    closed = sample(lambda x: _shifted_gaussian(x, (centre, 0.5)), jnp.zeros(2), jax.random.key(3), **kw)
    given = sample(_shifted_gaussian, jnp.zeros(2), jax.random.key(3), args=(centre, 0.5), **kw)
    np.testing.assert_array_equal(given.samples, closed.samples)
    np.testing.assert_array_equal(given.log_density, closed.log_density)
    with compilations() as compiled:
        other = sample(_shifted_gaussian, jnp.zeros(2), jax.random.key(3), args=(-centre, 0.25), **kw)
    names = " ".join(map(str, compiled))
    assert "advance" not in names and "logdensity" not in names, compiled
    assert not np.array_equal(other.samples, given.samples)
    # the data is used: the draws sit around the other centre
    assert np.all(np.abs(other.samples.mean(axis=(0, 1)) + centre) < 0.5), other.samples.mean(axis=(0, 1))



def test_a_resume_with_other_args_is_refused(x64, tmp_path):
    """The data a density reads through ``args`` are part of the checkpoint's fingerprint (their
    shapes, dtypes and a SHA-256 of their values): a resume with other data read the finished
    chains of the other data's posterior and ran the missing ones on the new data, a mixture of
    two posteriors. With the same data it equals the uninterrupted run, draw for draw; a version-2
    checkpoint (which holds no record of its args) is refused naming the version."""
    from astrograd.io._npz import atomic_savez, load_npz

    path = tmp_path / "args.npz"
    centre = jnp.array([1.0, -2.0])
    kw = dict(num_warmup=20, num_samples=10, progress=False)
    full = sample(_shifted_gaussian, jnp.zeros(2), jax.random.key(3), args=(centre, 0.5), num_chains=2, **kw)
    kw["checkpoint"] = path
    sample(_shifted_gaussian, jnp.zeros(2), jax.random.key(3), args=(centre, 0.5), num_chains=1, **kw)
    for args, differ in (((centre + 1e-9, 0.5), "args_sha256"), ((centre, 0.25), "args_sha256"),
                         ((centre, jnp.full(2, 0.5)), "args, args_sha256")):
        with pytest.raises(InputError, match=rf"different sampling run \({differ} differ\)"):
            sample(_shifted_gaussian, jnp.zeros(2), jax.random.key(3), args=args, num_chains=2, **kw)
    resumed = sample(_shifted_gaussian, jnp.zeros(2), jax.random.key(3), args=(centre, 0.5), num_chains=2, **kw)
    assert resumed.resumed_chains == 1
    np.testing.assert_array_equal(resumed.samples, full.samples)
    np.testing.assert_array_equal(resumed.log_density, full.log_density)
    # a checkpoint written before the args were recorded
    meta, arrays = load_npz(path, "checkpoint")
    old = {k: v for k, v in meta.items() if k not in ("args", "args_sha256")}
    atomic_savez(path, {**old, "version": 2}, arrays)
    with pytest.raises(InputError, match=r"different sampling run \(version, args, args_sha256 differ\)"):
        sample(_shifted_gaussian, jnp.zeros(2), jax.random.key(3), args=(centre, 0.5), num_chains=2, **kw)
    # a typed PRNG key among the args (numpy cannot hold one) is recorded by its key data
    from astrograd.io._npz import args_record

    records = [args_record((jax.random.key(k), centre)) for k in (1, 2)]
    assert records[0]["args"][0] == [list(jax.random.key_data(jax.random.key(1)).shape), "uint32"]
    assert records[0]["args_sha256"] != records[1]["args_sha256"]


def _split_r_hat(draws):
    """Split R̂ of (chains, draws) draws (Gelman et al., BDA3 eq. 11.4, each chain's halves as
    two chains, the middle draw of an odd count left out), in numpy."""
    n = draws.shape[1] // 2
    x = np.concatenate([draws[:, :n], draws[:, draws.shape[1] - n:]])
    between = n * x.mean(axis=1).var(ddof=1)
    within = x.var(axis=1, ddof=1).mean()
    return np.sqrt(((n - 1) / n * within + between / n) / within)


def test_r_hat_is_split_and_ess_matches_ar1(gaussian_run):
    """r_hat is the split R̂ the docstring promises (it was blackjax's whole-chain R̂, about 1 for
    two chains that drift the same way, a run that has not converged), and the ESS of AR(1)
    chains is N (1 − ρ)/(1 + ρ)."""
    res = gaussian_run
    for c, name in ((None, "a"), (0, "b"), (1, "b")):
        draws = res.samples[name] if c is None else res.samples[name][..., c]
        got = res.r_hat[name] if c is None else res.r_hat[name][c]
        assert float(got) == pytest.approx(_split_r_hat(draws), rel=1e-10)
    rng = np.random.default_rng(3)
    drift = np.linspace(0.0, 1.0, 501) + 0.05 * rng.normal(size=(2, 501))
    with jax.enable_x64(True):
        r_hat, _ = sample_module._diagnostics(drift[:, :, None])
    assert r_hat[0] == pytest.approx(_split_r_hat(drift), rel=1e-10) and r_hat[0] > 1.5
    rho, chains, n = 0.5, 4, 20000
    noise = rng.normal(size=(chains, n))
    x = np.empty((chains, n))
    x[:, 0] = noise[:, 0] / np.sqrt(1 - rho**2)
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    with jax.enable_x64(True):
        _, ess = sample_module._diagnostics(x[:, :, None])
    assert ess[0] == pytest.approx(chains * n * (1 - rho) / (1 + rho), rel=0.05)


@pytest.mark.parametrize("num_samples", [2, 3])
def test_r_hat_of_fewer_than_four_draws_compares_whole_chains(num_samples):
    """The split R̂ halves each chain: with 2 or 3 draws a half holds one draw, and r_hat was NaN
    (no warning) although the chains have draws to compare. Now Gelman and Rubin's R̂ of the
    whole chains (BDA3 §11.4, written out here)."""
    res = sample(lambda t: -0.5 * jnp.sum(t**2), jnp.zeros(2), jax.random.key(0), num_warmup=10,
                 num_samples=num_samples, num_chains=3, progress=False)
    x = res.samples  # (chains, draws, 2)
    n = x.shape[1]
    within = x.var(axis=1, ddof=1).mean(axis=0)
    between = n * x.mean(axis=1).var(axis=0, ddof=1)
    expected = np.sqrt(((n - 1) / n * within + between / n) / within)
    assert np.all(np.isfinite(res.r_hat))
    np.testing.assert_allclose(res.r_hat, expected, rtol=1e-5)  # float32 draws: measured 5e-8
