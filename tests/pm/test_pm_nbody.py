"""The KDK N-body solver: Zel'dovich plane wave (exact before shell crossing), linear growth on
large scales, reverse-time adjoint vs plain autodiff, reversibility, gradients vs finite
differences, one scan for any number of steps."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.cosmo import Cosmology, E, growth_table
from astrograd.pm import (
    KDKFactors,
    PMConfig,
    acceleration,
    density_mesh,
    kdk_factors,
    linear_modes,
    lpt,
    nbody,
    nbody_backward,
    nbody_snapshots,
    positions,
    power_spectrum,
    simulate,
    white_noise,
)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _nbody(d, p, f, cfg, adjoint="reverse_time"):
    return nbody(d, p, f, cfg, adjoint)


@functools.partial(jax.jit, static_argnums=2)
def _start(key, cosmo, cfg):
    """Growth table, 2LPT start from the white noise of ``key``, and KDK factors, as one program:
    eagerly, each operation of the growth ODE and 2LPT compiled on its own (~2x slower)."""
    table = growth_table(cosmo)
    d0, p0 = lpt(linear_modes(white_noise(key, cfg), cosmo, cfg, table), cosmo, cfg, table)
    return table, d0, p0, kdk_factors(cosmo, cfg, table)


@pytest.mark.parametrize(("mesh_factor", "gradient", "steps"), [(1, "spectral", 4), (2, "fd", 4), (2, "fd", 16)])
def test_zeldovich_plane_wave(x64, mesh_factor, gradient, steps):
    """A single plane wave is one-dimensional: the Zel'dovich solution x = q + D1(a) Ψ(q),
    p = a² E dD1/dln a Ψ(q) is exact until shell crossing (here at D1 ≈ 1.7). The sine mode
    of the displacement and momentum must follow it; with a mesh finer than the particle grid,
    particles also feel grid-scale aliasing forces, so the point-wise check uses mesh = grid."""
    m = mesh_factor
    cfg = PMConfig(ptcl_grid=(32, 4, 4), mesh_shape=(32 * m, 4 * m, 4 * m), box_size=(128.0, 16.0, 16.0),
                   a_start=0.1, num_steps=steps, lpt_order=1, gradient=gradient, dtype="float64")
    cosmo = Cosmology()
    table = growth_table(cosmo)
    qi = np.arange(32) * 4.0
    k = 2 * np.pi / 128.0
    amp = 0.6  # δ amplitude at D1 = 1 (a = 1)
    delta = np.broadcast_to((amp * np.cos(k * qi))[:, None, None], cfg.ptcl_grid)
    d0, p0 = lpt(jnp.fft.rfftn(jnp.asarray(delta)), cosmo, cfg, table)
    d, p = _nbody(d0, p0, kdk_factors(cosmo, cfg, table), cfg)
    shape = np.broadcast_to(np.sin(k * qi)[:, None, None], cfg.ptcl_grid).ravel()
    d_mode = float(jnp.sum(d[:, 0] * shape) / np.sum(shape**2))
    p_mode = float(jnp.sum(p[:, 0] * shape) / np.sum(shape**2))
    d_exact = -amp / k * float(table.D1(1.0))
    p_exact = -amp / k * float(E(cosmo, 1.0) * table.dD1_dlna(1.0))
    assert abs(d_mode / d_exact - 1) < 0.01 and abs(p_mode / p_exact - 1) < 0.015, (d_mode / d_exact, p_mode / p_exact)
    if mesh_factor == 1:
        err = float(jnp.max(jnp.abs(d[:, 0] - d_exact * shape))) / abs(d_exact)
        assert err < 0.03, err
    np.testing.assert_allclose(d[:, 1:], 0.0, atol=1e-12)  # measured 0 (exact by symmetry; was 1e-10)


def test_linear_growth_on_large_scales(x64):
    """The low-k power grows as D1² (growth-consistent factors), even with only 5 steps: the
    ratio of final to initial power, on the same realisation, is free of cosmic variance.
    The residual deficit grows as (k / k_lattice)² (particle-lattice discreteness)."""
    cfg = PMConfig(ptcl_grid=32, mesh_shape=64, box_size=2048.0, a_start=0.1, num_steps=5, dtype="float64")
    table, d0, p0, factors = _start(jax.random.key(7), Cosmology(), cfg)
    d, _ = _nbody(d0, p0, factors, cfg)
    spectra = []
    for disp in (d0, d):
        mesh = density_mesh(positions(disp, cfg), cfg.ptcl_grid, cfg.box_size) - 1.0
        spectra.append(power_spectrum(mesh, cfg.box_size, k_max=2.5 * 2 * np.pi / 2048.0))
    (k, p_init, _), (_, p_final, _) = spectra
    growth = np.sqrt(p_final / p_init) / float(table.D1(1.0) / table.D1(0.1))
    assert abs(growth[0] - 1) < 0.004 and abs(growth[1] - 1) < 0.015, growth


CFG = PMConfig(ptcl_grid=(8, 6, 4), mesh_shape=(16, 12, 8), box_size=(64.0, 60.0, 32.0), a_start=0.1,
               num_steps=8, dtype="float64")


def _loss(noise, params, adjoint):
    cosmo = Cosmology(omega_m=params[0], sigma8=params[1], h=params[2])
    d, p = simulate(noise, cosmo, CFG, adjoint)
    w = jnp.arange(d.size, dtype=d.dtype).reshape(d.shape) / d.size
    return jnp.sum(w * d) + 0.1 * jnp.sum(jnp.sin(p)) + jnp.sum(d**2) / d.size


# One program per adjoint gives the loss and its gradient: the finite differences below reuse it
# rather than compiling the forward run on its own (compilation is most of these tests' time).
_value_and_grad = jax.jit(jax.value_and_grad(_loss, argnums=(0, 1)), static_argnums=2)


def _grad(noise, params, adjoint):
    return _value_and_grad(noise, params, adjoint)[1]


def test_adjoint_matches_autodiff(x64):
    noise = white_noise(jax.random.key(11), CFG)
    params = jnp.array([0.3, 0.8, 0.7])
    g_adj = _grad(noise, params, "reverse_time")
    g_ad = _grad(noise, params, "autodiff")
    # measured 3.9e-16 (noise) and 3.5e-15 (parameters); was 1e-8
    for a, b in zip(g_adj, g_ad, strict=False):
        assert float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))) < 1e-13
    # and the adjoint agrees with central finite differences along random directions
    def f(x, p):
        return _value_and_grad(x, p, "reverse_time")[0]

    for seed in (1, 2):
        k1, k2 = jax.random.split(jax.random.key(seed))
        vx, vp = jax.random.normal(k1, noise.shape), jax.random.normal(k2, params.shape) * 0.01
        eps = 1e-5
        fd = (f(noise + eps * vx, params + eps * vp) - f(noise - eps * vx, params - eps * vp)) / (2 * eps)
        ad = jnp.vdot(g_adj[0], vx) + jnp.vdot(g_adj[1], vp)
        # measured 4.8e-11 and 2.0e-9 (was 1e-6)
        assert abs(float(fd - ad)) < 5e-8 * abs(float(ad)), (float(fd), float(ad))


def test_reversibility(x64):
    cfg = PMConfig(ptcl_grid=8, mesh_shape=16, box_size=64.0, a_start=1 / 64, num_steps=32, dtype="float64")
    _, d0, p0, f = _start(jax.random.key(2), Cosmology(), cfg)
    d, p = _nbody(d0, p0, f, cfg)
    assert float(jnp.std(d)) > 10 * float(jnp.std(d0))  # the particles really moved
    db, pb = jax.jit(nbody_backward, static_argnums=3)(d, p, f, cfg)
    # measured 7.5e-15 and 2.1e-15 (was 1e-10)
    assert float(jnp.max(jnp.abs(db - d0))) < 2e-13 * float(jnp.max(jnp.abs(d)))
    assert float(jnp.max(jnp.abs(pb - p0))) < 2e-13 * float(jnp.max(jnp.abs(p)))


def test_one_scan_whatever_the_number_of_steps():
    """The traced program (forward and gradient) is the same size for 4 and 64 steps."""
    sizes = []
    for steps in (4, 64):
        cfg = PMConfig(ptcl_grid=4, box_size=32.0, num_steps=steps)
        noise = jnp.zeros(cfg.ptcl_grid)
        loss = lambda x, c=cfg: jnp.sum(simulate(x, Cosmology(), c)[0] ** 2)  # noqa: E731
        sizes.append((len(jax.make_jaxpr(loss)(noise).eqns), len(jax.make_jaxpr(jax.grad(loss))(noise).eqns)))
    assert sizes[0] == sizes[1]


def _small_start(num_steps, seed):
    """A 4³-particle configuration, its cosmology and table, 2LPT start and KDK factors."""
    cfg = PMConfig(ptcl_grid=4, box_size=32.0, num_steps=num_steps)
    cosmo = Cosmology()
    table, d0, p0, f = _start(jax.random.key(seed), cosmo, cfg)
    return cfg, cosmo, table, d0, p0, f


def test_snapshot_run_reports_each_step_and_is_unchanged_by_it():
    """on_step (the CLI's progress bar) is called with 1, 2, ..., steps; the run is identical."""
    cfg, cosmo, table, d0, p0, f = _small_start(5, 4)
    seen = []
    with_cb = jax.jit(lambda d, p: nbody_snapshots(d, p, f, cfg, [2, 5], on_step=lambda n: seen.append(int(n))))
    plain = jax.jit(lambda d, p: nbody_snapshots(d, p, f, cfg, [2, 5]))
    a, b = jax.block_until_ready(with_cb(d0, p0)), plain(d0, p0)
    assert sorted(seen) == [1, 2, 3, 4, 5]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_snapshot_run_reports_non_finite_initial_conditions_at_step_0():
    """NaN initial conditions (σ8 = 1e25 overflows in float32) were reported after the first
    step, by then in every particle: the CLI named a_start + one step and particle 0."""
    cfg, cosmo, table, d0, p0, f = _small_start(2, 0)
    run = jax.jit(lambda d, p: nbody_snapshots(d, p, f, cfg, [2])[2:])  # traced: no InputError
    assert [int(x) for x in run(d0, p0)] == [-1, -1]
    assert [int(x) for x in run(d0.at[7, 2].set(jnp.nan), p0)] == [0, 7]
    assert [int(x) for x in run(d0, p0.at[9, 0].set(jnp.inf))] == [0, 9]


def test_bad_particles_steps_and_snapshots_are_refused():
    cfg, cosmo, table, d0, p0, f = _small_start(2, 0)
    with pytest.raises(InputError, match=r"disp has shape \(10, 3\); it must be \(64, 3\), one row per particle"):
        nbody(d0[:10], p0[:10], f, cfg)
    with pytest.raises(InputError, match=r"mom has shape \(64, 2\)"):
        nbody(d0, p0[:, :2], f, cfg, adjoint="autodiff")
    with pytest.raises(InputError, match=r"disp has a non-finite value .*nan.* at index \(3, 1\)"):
        nbody(d0.at[3, 1].set(jnp.nan), p0, f, cfg)  # was NaN out
    with pytest.raises(InputError, match=r"disp has shape \(10, 3\)"):
        nbody_backward(d0[:10], p0[:10], f, cfg)
    with pytest.raises(InputError, match=r"disp has shape \(64, 2\); it must end with \(64, 3\)"):
        positions(d0[:, :2], cfg)
    # a snapshot after the last step used to come back as zeros
    with pytest.raises(InputError, match="snap_steps = 5 is not allowed; each entry must be an integer step count "
                                         "from 0 to 2"):
        nbody_snapshots(d0, p0, f, cfg, [1, 5])
    with pytest.raises(InputError, match="snap_steps = 0.5 is not allowed"):
        nbody_snapshots(d0, p0, f, cfg, [0.5])
    with pytest.raises(InputError, match=r"a_steps has shape \(1,\)"):
        kdk_factors(cosmo, cfg, table, a_steps=[0.5])
    with pytest.raises(InputError, match=r"a_steps = -0.5 is outside the allowed range \[1e-05, 4\]"):
        kdk_factors(cosmo, cfg, table, a_steps=[-0.5, 1.0])  # was NaN factors
    # a concrete a_steps is checked inside jit too (the CLI's case)
    with pytest.raises(InputError, match="a_steps = 5 is outside"):
        jax.jit(lambda: kdk_factors(cosmo, cfg, table, a_steps=np.array([0.5, 5.0])))()
    with pytest.raises(InputError, match=r"noise has shape \(8, 8, 8\); it must be the particle grid \(4, 4, 4\)"):
        simulate(jnp.zeros((8, 8, 8)), cosmo, cfg)


def test_factors_of_other_shapes_and_steps_that_do_not_increase_are_refused():
    cfg, cosmo, table, d0, p0, f = _small_start(2, 0)
    # a (steps, 3) factor broadcast over the axes silently; lengths that differ were scan's error
    wide = KDKFactors(*(jnp.ones((2, 3)),) * 3)
    with pytest.raises(InputError, match=r"factors have shapes kick1 \(2, 3\), drift \(2, 3\), kick2 \(2, 3\); each "
                                         r"must be \(num_steps,\)"):
        nbody(d0, p0, wide, cfg)
    short = KDKFactors(f.kick1, f.drift[:1], f.kick2)
    for run in (nbody, nbody_backward, lambda *a: nbody_snapshots(*a, [1])):
        with pytest.raises(InputError, match=r"factors have shapes kick1 \(2,\), drift \(1,\), kick2 \(2,\)"):
            run(d0, p0, short, cfg)
    # these ran backwards in time, or took a zero step, silently
    for a_steps in ([0.5, 0.2, 1.0], [0.5, 0.5, 1.0]):
        with pytest.raises(InputError, match=r"a_steps = \[.*\] is not allowed; the scale factors must increase"):
            kdk_factors(cosmo, cfg, table, a_steps=a_steps)


def test_positions_and_snapshot_coordinates_stay_below_the_box_side(tmp_path):
    import h5py

    from astrograd.pm._snapshot import write_gadget_snapshot

    cfg, cosmo, _, _, _, _ = _small_start(2, 0)
    q = np.asarray(cfg.lagrangian_positions())
    x = q.copy()
    x[0] = [-1e-6, 5.0, 32.0 - 1e-9]  # float32: -1e-6 mod 32 rounds up to 32
    x = positions(jnp.asarray(x - q, jnp.float32), cfg)
    assert float(jnp.max(x)) < 32.0 and float(jnp.min(x)) >= 0.0
    pos = q.astype(np.float64)
    pos[0] = [-1e-9, 5.0, 32.0 - 1e-9]  # within float32 round-off of the side: was written as BoxSize
    path = write_gadget_snapshot(tmp_path / "s.h5", pos, np.zeros_like(pos), 0.5, cosmo, cfg)
    with h5py.File(path) as f:
        coords, side = f["PartType1/Coordinates"][:], f["Header"].attrs["BoxSize"]
    assert side == 32000.0 and coords.min() >= 0 and coords.max() < side
    np.testing.assert_array_equal(coords[0], [0.0, 5000.0, 0.0])


@pytest.mark.slow  # ~40 s on a shared 2-core machine: four programs to compile
def test_adjoint_gradients_of_omega_m_and_sigma8_each_match_autodiff(x64):
    """Each cosmological gradient on its own (not only the largest entry of the vector) agrees
    between the reverse-time adjoint and plain autodiff to 1e-8 relative, and with central finite
    differences: a non-cubic box, a force mesh 3× the particle grid, the finite-difference kernel
    and 2LPT."""
    cfg = PMConfig(ptcl_grid=(4, 6, 4), mesh_shape=(12, 18, 12), box_size=(40.0, 60.0, 50.0), a_start=0.05,
                   num_steps=3, lpt_order=2, gradient="fd", dtype="float64")

    def loss(params, noise, adjoint):
        d, p = simulate(noise, Cosmology(omega_m=params[0], sigma8=params[1]), cfg, adjoint)
        return jnp.sum(jnp.sin(0.3 * d)) + 0.1 * jnp.sum(p**2)

    noise = white_noise(jax.random.key(3), cfg)
    params = jnp.array([0.3, 0.8])
    grad = jax.jit(jax.grad(loss), static_argnums=2)
    g_adj, g_ad = np.asarray(grad(params, noise, "reverse_time")), np.asarray(grad(params, noise, "autodiff"))
    np.testing.assert_allclose(g_adj, g_ad, rtol=1e-8, atol=0)
    f = jax.jit(loss, static_argnums=2)
    for i, h in enumerate((1e-5, 1e-5)):
        step = jnp.zeros(2).at[i].set(h)
        fd = (f(params + step, noise, "reverse_time") - f(params - step, noise, "reverse_time")) / (2 * h)
        assert float(fd) == pytest.approx(g_adj[i], rel=1e-6)


def test_float32_or_integer_particles_run_in_the_precision_of_the_config(x64):
    # a float32 state in a float64 run (e.g. read from a float32 file), or integer zeros, was a
    # raw TypeError of the scan: its carry changed dtype after the first step
    cfg = PMConfig(ptcl_grid=(2, 2, 3), box_size=(20.0, 20.0, 30.0), a_start=0.1, num_steps=1, dtype="float64")
    f = KDKFactors(kick1=jnp.array([0.5]), drift=jnp.array([2.0]), kick2=jnp.array([0.5]))  # no growth table
    d32 = jax.random.normal(jax.random.key(3), (cfg.num_ptcl, 3), jnp.float32)
    d, p = nbody(d32, 0.1 * d32, f, cfg)
    assert d.dtype == p.dtype == jnp.float64
    # a drift by 2 × (0.1 d32 + 0.5 F): the particles moved
    assert float(jnp.max(jnp.abs(d - d32))) > 0.01
    zeros = np.zeros((cfg.num_ptcl, 3), dtype=np.int32)  # unperturbed particles stay put
    for a in nbody_snapshots(zeros, zeros, f, cfg, [0, 1])[:2]:
        assert a.dtype == jnp.float64 and float(jnp.max(jnp.abs(a))) < 1e-10


@pytest.mark.parametrize(("gradient", "compensate", "factor"),
                         [("spectral", False, 1), ("fd", False, 2), ("spectral", True, 2), ("fd", True, 1)])
def test_total_momentum_is_conserved_to_round_off(x64, gradient, compensate, factor):
    """CIC read-out is the transpose of CIC painting and both gradient kernels are odd, so the
    pairwise forces cancel: Σ F = Σ_cells ρ K ρ = 0 and the total momentum never changes (the
    particles move 10-20x their initial displacements here). Measured 5e-17 of N std(p)."""
    cfg = PMConfig(ptcl_grid=(8, 8, 6), mesh_shape=(8 * factor, 8 * factor, 6 * factor), box_size=(64.0, 64.0, 48.0),
                   a_start=0.05, num_steps=10, gradient=gradient, compensate_cic=compensate, dtype="float64")
    cosmo = Cosmology()
    table = growth_table(cosmo)
    d0, p0 = lpt(linear_modes(white_noise(jax.random.key(3), cfg), cosmo, cfg, table), cosmo, cfg, table)
    p0 = p0 + jnp.array([0.3, -0.2, 0.1]) * jnp.std(p0)  # a bulk flow as well
    d, p = _nbody(d0, p0, kdk_factors(cosmo, cfg, table), cfg)
    assert float(jnp.std(d)) > 5 * float(jnp.std(d0))
    drift = np.asarray(jnp.sum(p, axis=0) - jnp.sum(p0, axis=0)) / (cfg.num_ptcl * float(jnp.std(p)))
    assert np.all(np.abs(drift) < 2e-15), drift


def test_forward_mode_through_the_reverse_time_adjoint_is_a_one_line_error(x64):
    """jax.jvp through adjoint='reverse_time' (a custom_vjp) was JAX's raw TypeError; it now names
    adjoint='autodiff', whose forward mode agrees with the reverse-time gradient."""
    noise = white_noise(jax.random.key(5), CFG)
    params = jnp.array([0.3, 0.8, 0.7])
    tangent = jnp.array([1.0, -0.5, 0.25])
    with pytest.raises(InputError, match="^adjoint = 'reverse_time' has reverse mode only .* use adjoint='autodiff'"):
        jax.jvp(lambda q: _loss(noise, q, "reverse_time"), (params,), (tangent,))
    _, forward = jax.jvp(lambda q: _loss(noise, q, "autodiff"), (params,), (tangent,))
    reverse = jnp.vdot(_grad(noise, params, "reverse_time")[1], tangent)
    assert abs(float(forward - reverse)) < 1e-12 * abs(float(reverse))
    x = CFG.lagrangian_positions() + 0.5
    with pytest.raises(InputError, match="^acceleration has reverse mode only .* adjoint='autodiff' have forward mode"):
        jax.jvp(lambda x: acceleration(x, CFG), (x,), (x,))


def test_same_call_twice_gives_bit_identical_results(x64):
    """Determinism: the run and its reverse-time gradient, called twice, agree bit for bit."""
    noise = white_noise(jax.random.key(9), CFG)
    params = jnp.array([0.3, 0.8, 0.7])
    for first, second in ((simulate(noise, Cosmology(), CFG), simulate(noise, Cosmology(), CFG)),
                          (_grad(noise, params, "reverse_time"), _grad(noise, params, "reverse_time"))):
        for a, b in zip(first, second, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
