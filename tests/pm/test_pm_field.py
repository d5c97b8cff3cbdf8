"""Field-level inference (``astrograd.pm._field``): the linearised model against linear theory,
the MAP against the Wiener filter in the linear regime, NUTS draws against the exact Gaussian
posterior, the CLI and bad input."""

import functools
import json

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from astrograd._errors import InputError
from astrograd._precision import float64
from astrograd.cosmo import Cosmology, growth_table
from astrograd.pm import PMConfig, linear_modes, rfft_wavevectors
from astrograd.pm._config import cli_config, cli_cosmology
from astrograd.pm._field import (
    apply_response,
    coverage,
    cross_correlation,
    field_map,
    field_posterior,
    field_problem,
    linear_posterior_std,
    linear_response,
    log_posterior,
    mock_data,
    observed_density,
    wiener_correlation,
    wiener_filter,
)
from astrograd.pm.cli import app


def _cosmo(scale=1.0):
    return Cosmology(omega_m=0.3, omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8 * scale)


def _small(steps=3):
    return PMConfig(ptcl_grid=(8, 8, 8), box_size=(128.0, 128.0, 128.0), a_start=1 / 16, a_stop=1.0,
                    num_steps=steps, dtype="float64")


# Compiled once and shared by several tests (compilation, not running, is most of their time;
# eagerly, each op of the model and its adjoint is dispatched and compiled on its own, ~3× slower).
# The config is static and the cosmology traced, so σ8 = 0.8 and 0.008 share a program; a
# problem's noise level is static, so every problem given to the gradients has σ = _SIGMA.
_SIGMA = 0.2


@functools.partial(jax.jit, static_argnums=2)
def _forward_mode_response(w, cosmo, config):
    """R ω: forward mode through the plain scan, along ω, at ω = 0 (the linearised model)."""
    return jax.jvp(lambda x: observed_density(x, cosmo, config, adjoint="autodiff"), (jnp.zeros_like(w),), (w,))[1]


def _autodiff_log_posterior(x, problem):
    """:func:`log_posterior` with JAX autodiff through the plain scan instead of the reverse-time
    adjoint (the reference for its gradient)."""
    misfit = observed_density(x, problem.cosmo, problem.config, adjoint="autodiff") - problem.data
    return -0.5 * jnp.sum(x**2) - 0.5 * jnp.sum(misfit**2) / problem.sigma**2


_log_posterior_value_and_grad = jax.jit(jax.value_and_grad(log_posterior))  # the reverse-time adjoint
_autodiff_log_posterior_grad = jax.jit(jax.grad(_autodiff_log_posterior))


def _log_posterior_grad(x, problem):
    return _log_posterior_value_and_grad(x, problem)[1]


def _transpose_by(grad_log_posterior, c, cosmo, config):
    """Rᵀ c by reverse mode: at ω = 0, where δ(0) = 0 exactly (the particles sit on the lattice),
    ∇ log p = −ω − Jᵀ (δ(ω) − d) / σ² is Rᵀ d / σ², so take it with the data d = c."""
    return grad_log_posterior(jnp.zeros_like(c), field_problem(c, _SIGMA, cosmo, config)) * _SIGMA**2


def test_linear_response_is_a_convolution_and_the_adjoint_agrees(x64):
    config, cosmo = _small(), _cosmo()
    r = linear_response(cosmo, config)
    w = jax.random.normal(jax.random.key(1), config.ptcl_grid, jnp.float64)
    # forward mode through the plain scan, along a random field: R ω = irfftn(r̂ ω̂)
    jw = _forward_mode_response(w, cosmo, config)
    conv_err = float(jnp.max(jnp.abs(jw - apply_response(r, w)))) / float(jnp.max(jnp.abs(jw)))
    assert conv_err < 1e-14  # measured 4.8e-16 (was 1e-12)
    # reverse mode through the reverse-time adjoint: Rᵀ e_0 has the kernel conj(r̂) (taken from the
    # gradient of log p, whose compiled program the gradient test reuses)
    impulse = jnp.zeros_like(w).at[0, 0, 0].set(1.0)
    rt = jnp.conj(jnp.fft.rfftn(_transpose_by(_log_posterior_grad, impulse, cosmo, config)))
    adj_err = float(jnp.max(jnp.abs(rt - r))) / float(jnp.max(jnp.abs(r)))
    print(f"measured: convolution {conv_err:.1e}, reverse-time kernel {adj_err:.1e}")
    assert adj_err < 2e-14  # measured 8.7e-16 (was 1e-10)


def test_linear_response_follows_linear_growth_on_large_scales(x64):
    """|r̂_k| = D(a) √(P(k)/V_cell) × the CIC lattice factor sin(ks/2)/(ks/2) for the modes along
    an axis, up to the PM force's discreteness (a fine force mesh: 4 cells per particle)."""
    config = PMConfig(ptcl_grid=(16, 16, 16), mesh_shape=(64, 64, 64), box_size=(256.0,) * 3, a_start=1 / 16,
                      a_stop=1.0, num_steps=10, dtype="float64")
    cosmo = _cosmo()
    r = np.abs(np.asarray(linear_response(cosmo, config)))

    @jax.jit  # one compile for both (eagerly, each op of the growth ODE and the power spectrum compiles)
    def amplitude_and_growth(cosmo):
        return (linear_modes(jnp.zeros(config.ptcl_grid).at[0, 0, 0].set(1.0), cosmo, config),
                growth_table(cosmo).D1(1.0))

    amp, d1 = amplitude_and_growth(cosmo)
    amp, d1 = np.abs(np.asarray(amp)), float(d1)
    ks = np.broadcast_arrays(*[np.asarray(k) for k in rfft_wavevectors(config.ptcl_grid, config.ptcl_spacing,
                                                                        jnp.float64)])
    on_axis = np.sum([k == 0 for k in ks], axis=0) == 2
    kmag = np.sqrt(sum(k**2 for k in ks))
    s = config.ptcl_spacing[0]
    for harmonic, tol in ((1, 0.01), (2, 0.02)):
        k = harmonic * 2 * np.pi / config.box_size[0]
        sel = on_axis & np.isclose(kmag, k)
        assert sel.sum() == 5
        expected = d1 * amp[sel] * np.sin(k * s / 2) / (k * s / 2)
        print(f"measured: shell {harmonic}, max |r̂/expected − 1| = {np.max(np.abs(r[sel] / expected - 1)):.2%}")
        np.testing.assert_allclose(r[sel], expected, rtol=tol)


def test_log_posterior_gradient_reverse_time_against_autodiff_and_fd(x64):
    """The gradient used by the MAP and NUTS, at a nonlinear point (σ8 = 0.8): the reverse-time
    adjoint against JAX autodiff of the plain scan, and a directional derivative against central
    finite differences."""
    config, cosmo = _small(), _cosmo()
    truth, problem = mock_data(jax.random.key(4), _SIGMA, cosmo, config)
    w = truth + 0.3 * jax.random.normal(jax.random.key(5), truth.shape, jnp.float64)
    # the one compiled value_and_grad gives the gradient and the finite-difference values
    _, g = _log_posterior_value_and_grad(w, problem)
    g_ref = _autodiff_log_posterior_grad(w, problem)
    rel = float(jnp.linalg.norm(g - g_ref) / jnp.linalg.norm(g_ref))
    v = jax.random.normal(jax.random.key(6), w.shape, jnp.float64)
    h = 1e-5
    fd = (_log_posterior_value_and_grad(w + h * v, problem)[0]
          - _log_posterior_value_and_grad(w - h * v, problem)[0]) / (2 * h)
    fd_rel = abs(float(jnp.vdot(g, v)) - float(fd)) / abs(float(fd))
    print(f"measured: reverse-time vs autodiff {rel:.1e}, directional vs central FD {fd_rel:.1e}")
    # measured 9.6e-16 and 2.5e-10 (were 1e-8 and 1e-6)
    assert rel < 2e-14
    assert fd_rel < 5e-9


@pytest.fixture(scope="module")
def linear_regime():
    """A nearly linear model (σ8 = 0.008) with the noise scaled alike: the posterior is the
    linearised one to about 1e-3."""
    with float64():
        config, cosmo = _small(), _cosmo(0.01)
        truth, problem = mock_data(jax.random.key(0), 0.002, cosmo, config)
        return config, cosmo, truth, problem, linear_response(cosmo, config)


def test_map_tends_to_the_wiener_filter_linearly_in_the_amplitude(x64):
    """MAP − Wiener filter shrinks in proportion to the field amplitude (σ8 and the noise scaled
    together, so the Wiener filter in white-noise units stays the same)."""
    config = _small()
    gaps = []
    for scale in (0.1, 0.01):
        cosmo = _cosmo(scale)
        _, problem = mock_data(jax.random.key(0), 0.2 * scale, cosmo, config)
        r = linear_response(cosmo, config)
        wf, _ = wiener_filter(problem, r)
        m, res = field_map(problem, steps=50, response=r, tol=1e-8, progress=False)
        assert res.converged
        gaps.append(float(jnp.linalg.norm(m - wf) / jnp.linalg.norm(wf)))
    print(f"measured: MAP − Wiener gaps {gaps[0]:.2e}, {gaps[1]:.2e}, ratio {gaps[0] / gaps[1]:.2f}")
    assert gaps[1] < 1e-2
    assert 7.0 < gaps[0] / gaps[1] < 14.0, gaps


def test_field_map_reuses_its_compiled_program_for_new_data(x64, compilations):
    """Each call made a new loss closure, and fit compiled its L-BFGS update through the whole
    model again (every call compiled as much as the first). The model is the first one of
    test_map_tends_to_the_wiener_filter_linearly_in_the_amplitude, so that after it nothing
    needs compiling here."""
    config, cosmo, sigma = _small(), _cosmo(0.1), 0.2 * 0.1  # σ as that test computes it (static)
    rng = np.random.default_rng(0)
    problems = [field_problem(sigma * rng.normal(size=config.ptcl_grid), sigma, cosmo, config) for _ in range(3)]
    with compilations() as compiled:
        jax.jit(lambda x: x + 1.5)(jnp.zeros(7))
        assert compiled, "the listener saw no compilation"
        first, _ = field_map(problems[0], steps=2, progress=False)  # compiles, unless that test ran
        compiled.clear()
        second, result = field_map(problems[1], steps=2, progress=False)
        third, _ = field_map(problems[2], steps=3, progress=False)
    assert compiled == []
    assert result.best_params.shape == config.ptcl_grid and not np.allclose(first, second)
    assert not np.allclose(second, third)


def test_wiener_filter_solves_the_normal_equations(x64, linear_regime):
    """(I + RᵀR/σ²) ω_WF = Rᵀ d / σ², with R applied in real space by forward mode and Rᵀ by
    reverse mode, both through the plain scan (reverse mode is the transpose of forward mode)."""
    config, cosmo, _, problem, r = linear_regime
    wf, _ = wiener_filter(problem, r)

    def rt(c):
        return _transpose_by(_autodiff_log_posterior_grad, c, cosmo, config)

    s2 = problem.sigma**2
    lhs = wf + rt(_forward_mode_response(wf, cosmo, config)) / s2
    rhs = rt(problem.data) / s2
    # measured 5.1e-16 of max |rhs| (was 1e-8)
    assert float(jnp.max(jnp.abs(lhs - rhs))) < 1.5e-14 * float(jnp.max(jnp.abs(rhs)))


@pytest.mark.slow
def test_nuts_draws_match_the_gaussian_posterior_in_the_linear_regime(x64, linear_regime):
    config, _, truth, problem, _ = linear_regime
    post = field_posterior(problem, jax.random.key(3), num_warmup=60, num_samples=150, num_chains=1,
                           map_steps=20, progress=False)
    exact_sd = linear_posterior_std(post.variance_k, config.ptcl_grid)
    assert post.samples.shape == (1, 150, 8, 8, 8)
    assert post.sampling.divergent.sum() == 0
    # per-cell posterior sd, averaged over 512 cells, within a few % of the exact one
    assert abs(post.std.mean() / exact_sd - 1) < 0.05
    # the posterior mean is the Wiener filter within its Monte Carlo error
    ess = np.asarray(post.sampling.ess)
    z = (post.mean - post.wiener) / (exact_sd / np.sqrt(ess))
    assert np.sqrt(np.mean(z**2)) < 1.5
    # and covers the truth like a calibrated posterior (0.683 expected; 512 correlated cells)
    assert 0.58 < coverage(truth, post.mean, post.std) < 0.78


def test_cross_correlation_of_the_wiener_filter_has_the_expected_shape(x64, linear_regime):
    config, _, truth, problem, r = linear_regime
    wf, var = wiener_filter(problem, r)
    k, r_wf = cross_correlation(wf, truth, config.box_size)
    k2, r_expected = wiener_correlation(var, config.ptcl_grid, config.box_size)
    np.testing.assert_allclose(k, k2)
    assert np.all(np.diff(r_expected) < 0) and r_expected[0] > 0.95
    # one realisation: within the scatter of a few modes per bin
    assert np.all(np.abs(r_wf - r_expected) < 0.1)
    _, self_r = cross_correlation(truth, truth, config.box_size)
    np.testing.assert_allclose(self_r, 1.0, rtol=1e-12)


def test_bad_input_is_refused_in_one_line():
    config = PMConfig(ptcl_grid=(8, 8, 8), box_size=(128.0,) * 3, num_steps=2)
    with pytest.raises(InputError, match="sigma"):
        field_problem(np.zeros((8, 8, 8)), 0.0, _cosmo(), config)
    with pytest.raises(InputError, match=r"shape \(4, 4, 4\)"):
        field_problem(np.zeros((4, 4, 4)), 0.1, _cosmo(), config)
    bad = np.zeros((8, 8, 8))
    bad[1, 2, 3] = np.nan
    with pytest.raises(InputError, match=r"\(1, 2, 3\)"):
        field_problem(bad, 0.1, _cosmo(), config)
    with pytest.raises(InputError, match="shapes"):
        cross_correlation(np.zeros((4, 4, 4)), np.zeros((8, 8, 8)), (1.0, 1.0, 1.0))


def test_more_bad_input_is_refused_before_any_simulation():
    config = PMConfig(ptcl_grid=(4, 4, 4), box_size=(64.0,) * 3, num_steps=1)
    with pytest.raises(InputError, match="key = 0 is not allowed; it must be one PRNG key"):
        mock_data(0, 0.1, _cosmo(), config)
    with pytest.raises(InputError, match="sigma .* = 'x' is not a number"):
        mock_data(jax.random.key(0), "x", _cosmo(), config)
    with pytest.raises(InputError, match="data has dtype complex128; it must hold real numbers"):
        field_problem(np.zeros((4, 4, 4), complex), 0.1, _cosmo(), config)  # the imaginary part was dropped
    problem = field_problem(np.zeros((4, 4, 4)), 0.1, _cosmo(), config)
    with pytest.raises(InputError, match=r"response has shape \(4, 4, 4\); it must be \(4, 4, 3\)"):
        wiener_filter(problem, jnp.ones((4, 4, 4)))
    with pytest.raises(InputError, match=r"noise has shape \(8, 8, 8\)"):
        log_posterior(jnp.zeros((8, 8, 8)), problem)
    # another grid's variance used to be cropped silently
    with pytest.raises(InputError, match=r"variance_k has shape \(4, 4, 3\); it must be \(8, 8, 5\)"):
        linear_posterior_std(np.ones((4, 4, 3)), (8, 8, 8))
    with pytest.raises(InputError, match=r"variance_k has shape \(4, 4, 4\)"):
        wiener_correlation(np.ones((4, 4, 4)), (4, 4, 4), config.box_size)
    with pytest.raises(InputError, match=r"a has a non-finite value .*nan.* at index \(0, 0, 0\)"):
        cross_correlation(np.full((4, 4, 4), np.nan), np.ones((4, 4, 4)), config.box_size)
    with pytest.raises(InputError, match="num_bins = 0"):
        cross_correlation(np.ones((4, 4, 4)), np.ones((4, 4, 4)), config.box_size, num_bins=0)
    # a uniform field: r = 0/0, NaN in every shell
    with pytest.raises(InputError, match=r"b has no power in the shell at k = 0.09817 h/Mpc \(a uniform field\?\)"):
        cross_correlation(np.random.default_rng(0).normal(size=(4, 4, 4)), np.ones((4, 4, 4)), config.box_size)
    # these broadcast (a (4,) mean against a (4, 4, 4) truth) or counted a negative std and NaN as outside
    truth = np.zeros((4, 4, 4))
    with pytest.raises(InputError, match=r"truth, mean and std have shapes \(4, 4, 4\), \(4,\), \(4, 4, 4\)"):
        coverage(truth, np.zeros(4), np.ones((4, 4, 4)))
    with pytest.raises(InputError, match="std has a value -1; each must be >= 0"):
        coverage(truth, truth, -np.ones((4, 4, 4)))
    assert coverage(truth, truth, np.zeros((4, 4, 4))) == 0.0  # sd 0: never within it
    with pytest.raises(InputError, match=r"mean has a non-finite value .*nan.* at index \(0, 0, 0\)"):
        coverage(truth, np.full((4, 4, 4), np.nan), np.ones((4, 4, 4)))
    assert coverage(truth, truth + 0.5, np.ones((4, 4, 4))) == 1.0


def test_float32_model_under_x64_and_the_cli_float32_run_without_it(monkeypatch, tmp_path):
    from astrograd.pm import density_mesh

    config = PMConfig(ptcl_grid=(4, 4, 4), box_size=(64.0,) * 3, num_steps=1, dtype="float32")
    with float64():
        # δ came out float64 (a numpy float64 factor): the float32 scan carry was a TypeError
        assert linear_response(_cosmo(), config).dtype == jnp.complex64
        assert density_mesh(config.lagrangian_positions(), (4, 4, 4), 64.0).dtype == jnp.float32
    import astrograd.pm._field as field

    seen = []

    def fake(out, **kwargs):
        seen.append((kwargs["dtype"], jax.config.read("jax_enable_x64")))
        raise InputError("stop here")

    monkeypatch.setattr(field, "reconstruct_to_dir", fake)
    for dtype in ("float32", "float64"):
        CliRunner().invoke(app, ["reconstruct", "--dtype", dtype, "--out", str(tmp_path)])
    # float32 under x64 failed in the sampler (float32 position, float64 arithmetic) after the MAP
    assert seen == [("float32", False), ("float64", True)]


def test_cli_reconstruct_refuses_a_particle_grid_without_a_shell_before_the_run(monkeypatch, tmp_path):
    """Before: --ptcl-grid 2 ran the whole reconstruction and reported empty correlations (a 2³
    mesh has no mode below its Nyquist frequency); shell_average now refuses it, so the command
    checks it before the mock data are drawn."""
    import astrograd.pm._field as field

    def no_mock(*args, **kwargs):
        raise AssertionError("the mock data were made before the particle grid was checked")

    monkeypatch.setattr(field, "mock_data", no_mock)
    res = CliRunner().invoke(app, ["reconstruct", "--ptcl-grid", "2", "--out", str(tmp_path / "new")])
    assert res.exit_code == 2, res.output
    assert res.output.strip().splitlines()[-1] == ("error: --ptcl-grid = 2 is not allowed for reconstruct; it must "
                                                   "be an integer >= 3 (a 2³ data mesh has no mode below its Nyquist "
                                                   "frequency to correlate)")
    assert not (tmp_path / "new").exists()


def test_field_posterior_checks_the_key_before_the_map(monkeypatch):
    import astrograd.pm._field as field

    def no_response(*args, **kwargs):
        raise AssertionError("the linear response was computed before the key was checked")

    monkeypatch.setattr(field, "linear_response", no_response)
    config = PMConfig(ptcl_grid=(4, 4, 4), box_size=(64.0,) * 3, num_steps=1)
    problem = field_problem(np.zeros((4, 4, 4)), 0.1, _cosmo(), config)
    with pytest.raises(InputError, match="key = 0 is not allowed; it must be one PRNG key"):
        field_posterior(problem, 0)
    with pytest.raises(InputError, match="num_samples = 1 is not allowed; it must be an integer >= 2"):
        field_posterior(problem, jax.random.key(0), num_samples=1)


@pytest.mark.parametrize("value", [1, "no"])
def test_progress_flags_refuse_numbers_and_strings_before_any_simulation(monkeypatch, tmp_path, value):
    import astrograd.pm._field as field

    def no_simulation(*args, **kwargs):
        raise AssertionError("the model ran before the progress flag was checked")

    for name in ("linear_response", "mock_data"):
        monkeypatch.setattr(field, name, no_simulation)
    config = PMConfig(ptcl_grid=(4, 4, 4), box_size=(64.0,) * 3, num_steps=1)
    problem = field_problem(np.zeros((4, 4, 4)), 0.1, _cosmo(), config)
    match = f"progress = {value!r} is not allowed; it must be True or False"
    with pytest.raises(InputError, match=match):
        field_map(problem, progress=value)
    with pytest.raises(InputError, match=match):
        field_posterior(problem, jax.random.key(0), progress=value)
    with pytest.raises(InputError, match=match):
        field.reconstruct_to_dir(tmp_path, ptcl_grid=4, box=64.0, steps=1, progress=value)
    # a bad step count was refused by fit, after the linear response (a compile of the whole model)
    for steps in (0, 2.5, True):
        with pytest.raises(InputError, match=f"steps = {steps!r} is not allowed"):
            field_map(problem, steps=steps, progress=False)


@pytest.mark.parametrize(("option", "name", "value", "minimum"),
                         [("--warmup", "num_warmup", 0, 1), ("--samples", "num_samples", 0, 2),
                          ("--chains", "num_chains", 0, 1), ("--map-steps", "map_steps", 0, 1),
                          # one draw per chain passed, then failed after the whole run (the ESS needs two)
                          ("--samples", "num_samples", 1, 2)])
def test_cli_refuses_bad_sampler_counts_before_the_mock_data(monkeypatch, tmp_path, option, name, value, minimum):
    import astrograd.pm._field as field

    def no_mock(*args, **kwargs):
        raise AssertionError("the mock data were made before the settings were checked")

    monkeypatch.setattr(field, "mock_data", no_mock)
    res = CliRunner().invoke(app, ["reconstruct", option, str(value), "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    # named as typed on the command line (the library's check names ``name``)
    assert res.output.strip().splitlines()[-1] == (f"error: {option} = {value} is not allowed; it must be an "
                                                   f"integer >= {minimum}")


def test_cli_reconstruct_float32_caps_steps_before_the_mock_data(monkeypatch, tmp_path):
    """As in `pm run` (cli_config): --steps had no upper bound; in float32, steps of Δa below the
    spacing of scale factors near --a-stop repeat a scale factor. The largest count allowed keeps
    them distinct in float32 (checked here with numpy); twice as many do not."""
    import re

    import astrograd.pm._field as field

    monkeypatch.setattr(field, "mock_data", lambda *a, **k: pytest.fail("the mock data were made"))
    res = CliRunner().invoke(app, ["reconstruct", "--dtype", "float32", "--a-start", "0.5", "--steps", "100000000",
                                   "--out", str(tmp_path / "new")])
    assert res.exit_code == 2, res.output
    line = res.output.strip().splitlines()[-1]
    assert line.startswith("error: --steps = 100000000 is not allowed; it must be an integer in [1, ")
    assert "float32" in line and not (tmp_path / "new").exists()
    largest = int(re.search(r"in \[1, (\d+)\]", line).group(1))
    for steps, distinct in ((largest, True), (2 * largest, False)):
        assert bool(np.all(np.diff(np.linspace(0.5, 1.0, steps + 1).astype(np.float32)) > 0)) is distinct


def _cli(args):
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


_LINEAR_CLI = ["reconstruct", "--ptcl-grid", "8", "--box", "128", "--steps", "2", "--sigma8", "0.008", "--noise",
               "0.002", "--warmup", "60", "--samples", "150", "--chains", "1", "--map-steps", "10", "--json"]


def test_cli_reconstruct_in_the_linear_regime_matches_the_exact_posterior(tmp_path, check_output_file):
    """NUTS through the CLI, where the posterior is the linearised one: the per-cell posterior
    sd against linear theory, the Wiener filter's correlation with the truth, and coverage."""
    out = tmp_path / "rec"
    summary = _cli([*_LINEAR_CLI, "--out", str(out)])
    check_output_file(out / "reconstruct.png")  # drawn, not just written (a blank figure passed `.exists()`)
    check_output_file(out / "reconstruct.h5")
    with h5py.File(out / "reconstruct.h5") as f:
        assert f["samples"].shape == (1, 150, 8, 8, 8)
        for name in ("truth", "data", "wiener", "map", "mean", "std", "density_mean", "linear_mean"):
            assert f[name].shape == (8, 8, 8)
        assert f["r_map"].shape == (len(summary["k"]),) and f.attrs["noise"] == 0.002
        mean, wiener = f["mean"][:], f["wiener"][:]
    assert summary["divergences"] == 0
    assert abs(summary["posterior_std_mean"] / summary["posterior_std_linear"] - 1) < 0.05
    # the posterior mean is the Wiener filter within its Monte Carlo error (ESS ≥ the minimum)
    mc = summary["posterior_std_linear"] / np.sqrt(summary["ess_min"])
    assert np.sqrt(np.mean((mean - wiener) ** 2)) < 1.5 * mc
    assert 0.58 < summary["coverage_1sigma"] < 0.78
    assert np.all(np.abs(np.array(summary["r_mean"]) - np.array(summary["r_wiener_expected"])) < 0.1)


def test_field_posterior_reuses_its_compiled_programs_for_new_data(x64, compilations):
    """Each call sampled a new closure over the problem, so NUTS compiled the start's gradient and
    the chain program through the whole model again (as long as the first call). Now a second
    posterior of the same model and shape compiles neither, and its draws follow its own data.
    The model is the one of the CLI test before (config and σ are static), so that after it
    nothing needs compiling here."""
    config, cosmo, sigma = cli_config(8, 2, 128.0, 1 / 16, 1.0, 2, dtype="float64"), cli_cosmology(0.3, 0.008), 0.002
    rng = np.random.default_rng(1)
    problems = [field_problem(sigma * rng.normal(size=config.ptcl_grid), sigma, cosmo, config) for _ in range(2)]
    kw = dict(num_warmup=3, num_samples=2, num_chains=1, map_steps=2, progress=False)
    first = field_posterior(problems[0], jax.random.key(0), **kw)
    with compilations() as compiled:
        second = field_posterior(problems[1], jax.random.key(0), **kw)
    names = " ".join(map(str, compiled))
    assert "advance" not in names and "logdensity" not in names, compiled
    assert second.samples.shape == (1, 2, *config.ptcl_grid)
    assert not np.allclose(first.map, second.map) and not np.allclose(first.samples, second.samples)
    # the draws are ω = ω_MAP + C^{1/2} u of the whitened draws
    u = np.asarray(second.sampling.samples[0, 0])
    root = np.sqrt(np.asarray(second.variance_k))
    expected = second.map + np.fft.irfftn(root * np.fft.rfftn(u), s=config.ptcl_grid, axes=(0, 1, 2))
    np.testing.assert_allclose(second.samples[0, 0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_cli_reconstruct_resumes_and_reads_data_files(tmp_path, monkeypatch):
    out = tmp_path / "rec"
    args = [*_LINEAR_CLI[:-9], "--warmup", "20", "--samples", "20", "--chains", "2", "--map-steps", "5", "--json",
            "--out", str(out)]
    first = _cli(args)
    again = _cli(args)  # both chains read from the checkpoint: the same draws
    assert again["gradient_evaluations"] == first["gradient_evaluations"]
    assert again["posterior_std_mean"] == first["posterior_std_mean"]
    # another MAP (the centre of the whitened coordinates) or noise: the stored chains are refused,
    # another noise before the MAP is computed
    import astrograd.pm._field as field_module

    def no_map(*args, **kwargs):
        raise AssertionError("the MAP was computed before a stale checkpoint was refused")

    for change, before_map in ((["--map-steps", "1"], False), (["--noise", "0.003"], True)):
        with monkeypatch.context() as m:
            if before_map:
                m.setattr(field_module, "field_map", no_map)
            res = CliRunner().invoke(app, [*args, *change])
        assert res.exit_code == 2 and "different sampling run" in res.output, res.output
    with h5py.File(tmp_path / "obs.h5", "w") as f:
        f["delta"] = np.zeros((8, 8, 8))
    summary = _cli(["reconstruct", "--ptcl-grid", "8", "--box", "128", "--steps", "2", "--warmup", "5", "--samples",
                    "5", "--chains", "1", "--map-steps", "2", "--data", str(tmp_path / "obs.h5"), "--out",
                    str(tmp_path / "rec2"), "--json"])
    assert "coverage_1sigma" not in summary


def test_cli_reconstruct_refuses_bad_input(tmp_path):
    runner = CliRunner()
    for bad, match in ((["--noise", "-1"], "--noise = -1"), (["--mesh-factor", "0"], "mesh-factor"),
                       (["--data", str(tmp_path / "missing.h5")], "does not exist"), (["--dtype", "half"], "dtype"),
                       (["--seed", str(2**64)], f"seed = {2**64} is not allowed")):
        res = runner.invoke(app, ["reconstruct", "--ptcl-grid", "8", "--out", str(tmp_path / "bad"), *bad])
        assert res.exit_code == 2, res.output
        assert match in res.output and len(res.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_nonlinear_posterior_beats_the_wiener_filter_and_is_calibrated(x64):
    """σ8 = 0.8 at 16 Mpc/h per particle (mildly nonlinear): inference through the whole model
    correlates better with the truth than the Wiener filter of the same data on every shell above
    the largest scales, and the truth's 1σ coverage stays near 0.683."""
    config = PMConfig(ptcl_grid=(8, 8, 8), box_size=(128.0,) * 3, a_start=1 / 16, a_stop=1.0, num_steps=10,
                      dtype="float64")
    truth, problem = mock_data(jax.random.key(1), 0.2, _cosmo(), config)
    post = field_posterior(problem, jax.random.key(2), num_warmup=200, num_samples=300, num_chains=2,
                           progress=False)
    assert post.sampling.divergent.sum() == 0 and np.nanmax(post.sampling.r_hat) < 1.05
    _, r_wiener = cross_correlation(post.wiener, truth, config.box_size)
    _, r_mean = cross_correlation(post.mean, truth, config.box_size)
    _, r_map = cross_correlation(post.map, truth, config.box_size)
    cover = coverage(truth, post.mean, post.std)
    print(f"measured: r_mean − r_wiener {np.round(r_mean - r_wiener, 3)}, r_map − r_wiener "
          f"{np.round(r_map - r_wiener, 3)}, coverage {cover:.3f}")
    assert np.all(r_mean[1:] > r_wiener[1:] + 0.01) and np.all(r_map[1:] > r_wiener[1:] + 0.01)
    assert 0.6 < cover < 0.76


def test_cross_correlation_computes_k_in_float64_without_x64():
    """|k| came from jnp in float64 only under x64; without it jnp truncated it to float32, with
    a warning (the one of the test suite), and the shells' k were float32 values."""
    import warnings

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 8, 10)), rng.normal(size=(6, 8, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        k, r = cross_correlation(a, b, (60.0, 80.0, 100.0))
    kx, ky, kz = (2 * np.pi * f for f in (np.fft.fftfreq(6, 10.0), np.fft.fftfreq(8, 10.0), np.fft.rfftfreq(10, 10.0)))
    kmag = np.sqrt(kx[:, None, None] ** 2 + ky[None, :, None] ** 2 + kz[None, None, :] ** 2)
    # the lowest shell: |k| in [k_f/2, 3 k_f/2), k_f of the largest side; its mean counted as in rfft
    kf = 2 * np.pi / 100.0
    weight = np.ones_like(kmag) * 2.0
    weight[:, :, 0] = 1.0
    weight[:, :, -1] = 1.0
    inside = (kmag >= 0.5 * kf) & (kmag < 1.5 * kf)
    assert np.abs(k[0] / (np.sum(weight * kmag * inside) / np.sum(weight * inside)) - 1) < 1e-14
    assert np.all(np.abs(r) <= 1.0)
