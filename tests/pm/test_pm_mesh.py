"""CIC paint/read-out and the FFT Poisson solver against exact results."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.pm import (
    PMConfig,
    acceleration,
    acceleration_mesh,
    cic_paint,
    cic_paint_2d,
    cic_readout,
    density_contrast,
    density_mesh,
    power_spectrum,
    projection,
    shell_average,
)


def test_paint_conserves_mass_and_is_transpose_of_readout(x64):
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    shape, cell = (6, 5, 8), (2.0, 3.0, 1.5)
    box = np.array(shape) * np.array(cell)
    pos = jax.random.uniform(k1, (300, 3), minval=-20.0, maxval=40.0)  # outside the box too
    w = jax.random.uniform(k2, (300,))
    mesh = cic_paint(pos, shape, cell, w)
    assert abs(float(mesh.sum()) - float(w.sum())) < 1e-12 * float(w.sum())
    m = jax.random.normal(k3, shape)
    # measured 3.8e-16 and 2.9e-15 (were rtol 1e-12, and atol 1e-12 with the default rtol 1e-7)
    np.testing.assert_allclose(jnp.vdot(mesh, m), jnp.vdot(w, cic_readout(m, pos, cell)), rtol=2.5e-14)
    # periodic images paint identically
    np.testing.assert_allclose(cic_paint(pos + jnp.asarray(box), shape, cell, w), mesh, rtol=0, atol=1e-13)


def test_single_particle_weights(x64):
    mesh = cic_paint(jnp.array([[1.25, 0.5, 3.75]]), (4, 4, 4), (1.0, 1.0, 1.0))
    expected = np.zeros((4, 4, 4))
    for i, wi in ((1, 0.75), (2, 0.25)):
        for j, wj in ((0, 0.5), (1, 0.5)):
            for k, wk in ((3, 0.25), (0, 0.75)):
                expected[i, j, k] = wi * wj * wk
    np.testing.assert_allclose(mesh, expected, atol=1e-15)


def test_readout_of_linear_field_is_exact(x64):
    """CIC interpolation reproduces a field linear in each coordinate away from the wrap."""
    shape, cell = (8, 8, 8), (1.0, 2.0, 0.5)
    grid = np.stack(np.meshgrid(*[np.arange(n) * c for n, c in zip(shape, cell, strict=False)], indexing="ij"), -1)
    field = 1.0 + 0.3 * grid[..., 0] - 0.2 * grid[..., 1] + 0.7 * grid[..., 2]
    pos = jax.random.uniform(jax.random.key(1), (50, 3)) * jnp.array([6.0, 12.0, 3.0])
    ref = 1.0 + 0.3 * pos[:, 0] - 0.2 * pos[:, 1] + 0.7 * pos[:, 2]
    np.testing.assert_allclose(cic_readout(jnp.asarray(field), pos, cell), ref, rtol=2.5e-14)  # measured 6.9e-16


def test_integer_positions_paint_and_read_out_like_floats():
    """Integer positions made an integer mesh and an integer cell size: 1.5 became 1 and the
    weights were truncated (two particles painted a mesh summing to 1)."""
    ints = np.array([[0, 0, 0], [3, 1, 2], [5, 4, 1]])
    floats = jnp.asarray(ints, dtype=jnp.float32)
    cell = (1.5, 2.0, 1.25)
    np.testing.assert_allclose(cic_paint(ints, (4, 4, 4), cell), cic_paint(floats, (4, 4, 4), cell), atol=1e-6)
    image = cic_paint_2d(floats[:, :2], (4, 4), cell[:2])
    np.testing.assert_allclose(cic_paint_2d(ints[:, :2], (4, 4), cell[:2]), image, atol=1e-6)
    mesh = jax.random.normal(jax.random.key(0), (4, 4, 4))
    np.testing.assert_allclose(cic_readout(mesh, ints, cell), cic_readout(mesh, floats, cell), atol=1e-6)
    cfg = PMConfig(ptcl_grid=(2, 2, 2), mesh_shape=(4, 4, 4), box_size=(6.0, 8.0, 5.0))
    lattice = np.array([[i, j, k] for i in (0, 3) for j in (1, 5) for k in (0, 2)])
    np.testing.assert_allclose(density_contrast(lattice, cfg), density_contrast(jnp.asarray(lattice, float), cfg),
                               atol=1e-6)
    np.testing.assert_allclose(acceleration(lattice, cfg), acceleration(jnp.asarray(lattice, float), cfg), atol=1e-6)
    with pytest.raises(InputError, match="positions has dtype complex64; it must hold real numbers"):
        cic_paint(jnp.zeros((2, 3), jnp.complex64), (4, 4, 4), cell)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_projection_equals_summed_mesh(x64, axis):
    box = (16.0, 24.0, 8.0)
    pos = jax.random.uniform(jax.random.key(2), (200, 3)) * jnp.array(box)
    mesh = cic_paint(pos, (8, 12, 4), (2.0, 2.0, 2.0))
    # measured 2.7e-15 (4.9e-16 relative); was atol 1e-12 with the default rtol 1e-7
    np.testing.assert_allclose(projection(pos, box, axis, pixel_size=2.0), mesh.sum(axis=axis), rtol=2e-14, atol=3e-14)
    with pytest.raises(InputError, match="pixel_size"):
        projection(pos, box, axis, pixel_size=3.0)


def _plane_wave_force(config, kvec):
    axes = [np.arange(n) * c for n, c in zip(config.mesh_shape, config.cell_size, strict=True)]
    x = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    phase = x @ kvec
    delta = 0.3 * np.cos(phase)
    k2 = kvec @ kvec
    exact = -0.3 * np.sin(phase)[..., None] * kvec / k2  # F = −∇φ, φ = −δ/k²
    return jnp.asarray(delta), exact


def test_poisson_spectral_exact_and_fd_second_order(x64):
    errs = []
    for n in (16, 32):
        cfg = PMConfig(ptcl_grid=(n // 2, n // 2, n // 4), mesh_shape=(n, n, n // 2), box_size=(50.0, 50.0, 40.0),
                       gradient="spectral", dtype="float64")
        kvec = 2 * np.pi * np.array([2 / 50.0, 1 / 50.0, 1 / 40.0])
        delta, exact = _plane_wave_force(cfg, kvec)
        # measured 3.8e-15 of the largest force; was 1e-12 of it plus the default rtol 1e-7
        np.testing.assert_allclose(acceleration_mesh(delta, cfg), exact, rtol=0, atol=1e-13 * np.abs(exact).max())
        fd = PMConfig(ptcl_grid=cfg.ptcl_grid, mesh_shape=cfg.mesh_shape, box_size=cfg.box_size, gradient="fd",
                      dtype="float64")
        errs.append(float(jnp.max(jnp.abs(acceleration_mesh(delta, fd) - exact))))
    order = np.log2(errs[0] / errs[1])
    assert 1.9 < order < 2.1


def test_config_bad_input():
    with pytest.raises(InputError, match="multiple"):
        PMConfig(ptcl_grid=16, mesh_shape=24)
    with pytest.raises(InputError, match="a_start"):
        PMConfig(a_start=1.0, a_stop=0.5)
    with pytest.raises(InputError, match="box_size"):
        PMConfig(box_size=(100.0, -1.0, 100.0))
    with pytest.raises(InputError, match="gradient"):
        PMConfig(gradient="upwind")


def test_config_refuses_non_integers_and_times_outside_the_growth_table():
    # these used to be truncated (4.5 -> 4), taken as bool("no") = True, or run with growth
    # factors clipped at a = 4 (particles frozen after it)
    with pytest.raises(InputError, match=r"ptcl_grid = \(4.5, 4.5, 4.5\) is not allowed; each entry must be an int"):
        PMConfig(ptcl_grid=4.5)
    with pytest.raises(InputError, match="ptcl_grid = .'x'"):
        PMConfig(ptcl_grid="x")
    with pytest.raises(InputError, match="mesh_shape = .* positive integer multiple"):
        PMConfig(ptcl_grid=4, mesh_shape=8.5)
    for steps in (2.7, True, None):
        with pytest.raises(InputError, match=f"num_steps = {steps!r} is not allowed"):
            PMConfig(ptcl_grid=4, num_steps=steps)
    with pytest.raises(InputError, match="lpt_order = True"):
        PMConfig(ptcl_grid=4, lpt_order=True)
    with pytest.raises(InputError, match="compensate_cic = 'no' is not allowed"):
        PMConfig(ptcl_grid=4, compensate_cic="no")
    with pytest.raises(InputError, match=r"a_stop = 8 is outside the allowed range \[1e-05, 4\]"):
        PMConfig(ptcl_grid=4, a_stop=8.0)
    with pytest.raises(InputError, match="a_start = 1e-07 is outside"):
        PMConfig(ptcl_grid=4, a_start=1e-7)
    # integral floats are still integers
    cfg = PMConfig(ptcl_grid=4.0, mesh_shape=np.int64(8), num_steps=3.0)
    assert cfg.ptcl_grid == (4, 4, 4) and cfg.mesh_shape == (8, 8, 8) and cfg.num_steps == 3


def test_float64_config_without_x64_is_refused_not_run_in_float32():
    """dtype="float64" with JAX's float64 off ran in float32 (a UserWarning per array)."""
    from astrograd.cosmo import Cosmology
    from astrograd.pm import simulate, white_noise

    cfg = PMConfig(ptcl_grid=4, box_size=64.0, num_steps=1, dtype="float64")  # building it is fine
    assert not jax.config.read("jax_enable_x64")
    message = "dtype = 'float64' needs JAX's float64 (off: the run would be float32)"
    with pytest.raises(InputError, match=re.escape(message)):
        white_noise(jax.random.key(0), cfg)
    with pytest.raises(InputError, match=re.escape(message)):
        simulate(jnp.zeros((4, 4, 4), jnp.float32), Cosmology(), cfg)
    with jax.enable_x64(True):
        assert white_noise(jax.random.key(0), cfg).dtype == jnp.float64


@pytest.mark.parametrize("side", [1e30, 1e-30, 2e5, 5e-3])
def test_config_refuses_boxes_outside_the_sensible_range(side):
    """At 1e30 Mpc/h the linear modes underflowed to 0 in float32 and the particles never moved;
    at 1e-30 |k|² overflowed (an error about k = inf): the box sides must be in [1e-2, 1e5] Mpc/h."""
    from astrograd.pm._config import BOX_RANGE

    message = f"box_size = {side:g} is outside the allowed range [0.01, 100000] Mpc/h"
    with pytest.raises(InputError, match=re.escape(message)):
        PMConfig(ptcl_grid=4, box_size=(100.0, side, 100.0))
    assert PMConfig(ptcl_grid=4, box_size=BOX_RANGE[0]).box_size == (BOX_RANGE[0],) * 3
    assert PMConfig(ptcl_grid=4, box_size=BOX_RANGE[1]).box_size == (BOX_RANGE[1],) * 3


@pytest.mark.parametrize("value", [1, 0, 1.0, "no", "False", None])
def test_boolean_flags_refuse_numbers_and_strings(value):
    """compensate_cic = 1 was taken as True and "no" was truthy elsewhere: flags take only bools."""
    with pytest.raises(InputError, match=f"compensate_cic = {value!r} is not allowed; it must be True or False"):
        PMConfig(ptcl_grid=4, compensate_cic=value)
    with pytest.raises(InputError, match=f"deconvolve_cic = {value!r} is not allowed; it must be True or False"):
        power_spectrum(jnp.zeros((4, 4, 4)), 64.0, deconvolve_cic=value)
    assert PMConfig(ptcl_grid=4, compensate_cic=np.True_).compensate_cic is True


def test_observables_and_force_refuse_bad_shapes_and_boxes():
    cfg = PMConfig(ptcl_grid=4, box_size=32.0, num_steps=1)
    pos = cfg.lagrangian_positions() + 0.3
    box = cfg.box_size
    with pytest.raises(InputError, match=r"positions has shape \(64, 2\); it must be \(N, 3\)"):
        density_mesh(pos[:, :2], (8, 8, 8), box)
    with pytest.raises(InputError, match=r"positions has shape \(0, 3\)"):
        density_mesh(pos[:0], (8, 8, 8), box)  # was a mesh of NaN
    with pytest.raises(InputError, match="mesh_shape = .* each entry must be a positive integer"):
        density_mesh(pos, (0, 8, 8), box)
    with pytest.raises(InputError, match="box_size = -32 is not allowed"):
        density_mesh(pos, (8, 8, 8), (-32.0, 32.0, 32.0))
    with pytest.raises(InputError, match="box_size = .* must have 3 entries"):
        projection(pos, (32.0, 32.0), 2, pixel_size=4.0)
    with pytest.raises(InputError, match="shape = .* each entry must be a positive integer"):
        projection(pos, box, 2, shape=(0, 8))
    with pytest.raises(InputError, match="axis = True"):
        projection(pos, box, True, pixel_size=4.0)
    with pytest.raises(InputError, match=r"positions has shape \(64, 2\)"):
        projection(pos[:, :2], box, 2, pixel_size=4.0)
    delta = density_mesh(pos, (8, 8, 8), box) - 1.0
    with pytest.raises(InputError, match=r"delta has shape \(8, 8\); it must be a 3D mesh"):
        power_spectrum(delta[0], box)
    with pytest.raises(InputError, match="num_bins = 0 is not allowed"):
        power_spectrum(delta, box, num_bins=0)  # was empty
    with pytest.raises(InputError, match="k_max = 0.01 is not allowed; it must be > 0.0981748"):
        power_spectrum(delta, box, k_max=0.01)  # was empty
    with pytest.raises(InputError, match="k_max = -1 is not allowed"):
        power_spectrum(delta, box, k_max=-1.0)  # was the k = 0 mode
    with pytest.raises(InputError, match="box_size = -32"):
        power_spectrum(delta, (-32.0, 32.0, 32.0))  # was a negative power
    with pytest.raises(InputError, match=r"a field of shape \(4, 4, 3\) is not allowed; it must be \(8, 8, 5\)"):
        shell_average((8, 8, 8), box, [np.ones((4, 4, 3))])
    with pytest.raises(InputError, match=r"positions has shape \(10, 3\); it must be \(64, 3\)"):
        acceleration(pos[:10], cfg)  # was a force from the wrong mean density
    with pytest.raises(InputError, match=r"positions has shape \(64, 2\)"):
        density_contrast(pos[:, :2], cfg)
    with pytest.raises(InputError, match=r"delta has shape \(4, 4, 4\); it must be mesh_shape = \(8, 8, 8\)"):
        acceleration_mesh(jnp.zeros((4, 4, 4)), cfg)


def test_config_takes_numbers_as_strings_stores_plain_strings_and_limits_the_mesh():
    # a_start / a_stop passed the range check as strings, then failed with a TypeError in a_start < a_stop
    cfg = PMConfig(ptcl_grid=4, a_start="0.1", a_stop="1")
    assert (cfg.a_start, cfg.a_stop) == (0.1, 1.0)
    assert PMConfig(ptcl_grid=4, a_stop="1").a_stop == 1.0
    with pytest.raises(InputError, match="a_start = 0.5 is not allowed; it must be smaller than a_stop = 0.2"):
        PMConfig(ptcl_grid=4, a_start="0.5", a_stop="0.2")
    # more cells than int32 indices reach: JAX's OverflowError traceback while tracing the paint
    with pytest.raises(InputError, match=r"mesh_shape = \(2048, 2048, 2048\) has 8589934592 cells; at most 2147483647"):
        PMConfig(ptcl_grid=1024)
    with pytest.raises(InputError, match=r"mesh_shape = \(4096, 1024, 1024\) has 4294967296 cells"):
        density_mesh(np.zeros((1, 3)), (4096, 1024, 1024), 100.0)
    # an np.dtype equal to "float32" made a config equal to the default but with another hash
    cfg = PMConfig(ptcl_grid=4, dtype=np.dtype("float32"))
    assert cfg == PMConfig(ptcl_grid=4) and hash(cfg) == hash(PMConfig(ptcl_grid=4)) and cfg.dtype == "float32"


def test_observables_refuse_non_finite_input_and_convert_integers():
    box = (16.0, 16.0, 16.0)
    ints = np.array([[1, 1, 1], [5, 6, 7]])
    # integer positions painted into an integer mesh: every fractional CIC weight dropped (all zeros)
    np.testing.assert_array_equal(np.asarray(density_mesh(ints, (8, 8, 8), box)),
                                  np.asarray(density_mesh(ints.astype(np.float32), (8, 8, 8), box)))
    assert float(jnp.sum(projection(ints, box, 2, shape=(8, 8)))) == pytest.approx(2.0)
    pos = np.array([[1.0, 2.0, 3.0], [np.nan, 5.0, 6.0]])
    with pytest.raises(InputError, match=r"positions has a non-finite value .*nan.* at index \(1, 0\)"):
        density_mesh(pos, (8, 8, 8), box)  # was a mesh with NaN
    with pytest.raises(InputError, match=r"positions has a non-finite value"):
        projection(pos, box, 2, pixel_size=2.0)
    with pytest.raises(InputError, match=r"positions has dtype complex"):
        density_mesh(pos.astype(complex), (8, 8, 8), box)
    with pytest.raises(InputError, match=r"give pixel_size or shape for the projection, not both \(pixel_size = 4.0"):
        projection(pos[:1], box, 2, pixel_size=4.0, shape=(8, 8))  # pixel_size was ignored
    # the string passed check_positive, then failed in the division (TypeError)
    assert projection(pos[:1], box, 2, pixel_size="2").shape == (8, 8)
    # an integer mesh gave integer wavevectors: every shell empty, P(k) = []
    counts = np.zeros((8, 8, 8), dtype=np.int64)
    counts[0, 0, 0] = 8
    k, pk, _ = power_spectrum(counts, box)
    k_ref, pk_ref, _ = power_spectrum(counts.astype(np.float32), box)
    assert len(k) == len(k_ref) > 0
    np.testing.assert_allclose(pk, pk_ref, rtol=1e-6)
    delta = np.zeros((8, 8, 8))
    delta[0, 0, 1] = np.inf
    with pytest.raises(InputError, match=r"delta has a non-finite value .*inf.* at index \(0, 0, 1\)"):
        power_spectrum(delta, box)  # was P = NaN


def _force_case(gradient, compensate):
    """A non-cubic float64 config, displaced particles and a random force cotangent."""
    cfg = PMConfig(ptcl_grid=(8, 6, 4), mesh_shape=(16, 12, 8), box_size=(64.0, 60.0, 32.0), gradient=gradient,
                   compensate_cic=compensate, dtype="float64")
    x = cfg.lagrangian_positions() + 3 * jax.random.normal(jax.random.key(0), (cfg.num_ptcl, 3))
    return cfg, x, jax.random.normal(jax.random.key(1), (cfg.num_ptcl, 3))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _force_and_vjp(force, x, ct, cfg):
    """``force(x, cfg)`` and its VJP with ``ct``, as one program shared by the tests below (eagerly,
    each operation of painting, FFT and read-out, and of their VJPs, compiled on its own)."""
    f, vjp = jax.vjp(lambda y: force(y, cfg), x)
    return f, vjp(ct)[0]


@pytest.mark.parametrize(("gradient", "compensate"), [("fd", False), ("spectral", True)])
def test_hand_written_force_adjoint_matches_autodiff(x64, gradient, compensate):
    """The custom VJP of the PM force equals JAX's autodiff of paint → FFT → read-out."""
    from astrograd.pm._gravity import acceleration, acceleration_autodiff

    cfg, x, ct = _force_case(gradient, compensate)
    f1, g1 = _force_and_vjp(acceleration, x, ct, cfg)
    f2, g2 = _force_and_vjp(acceleration_autodiff, x, ct, cfg)
    np.testing.assert_allclose(f1, f2, rtol=0, atol=1e-13)  # measured 5.3e-15 (the default rtol 1e-7 let 1e-7 pass)
    assert float(jnp.max(jnp.abs(g1 - g2)) / jnp.max(jnp.abs(g2))) < 1e-12


@pytest.mark.parametrize(("gradient", "compensate"), [("fd", False), ("spectral", True)])
def test_force_with_vjp_matches_force_and_its_vjp(x64, gradient, compensate):
    """The fused force + VJP of the reverse-time adjoint equals the force and its custom VJP."""
    from astrograd.pm._gravity import acceleration, acceleration_with_vjp

    cfg, x, ct = _force_case(gradient, compensate)
    f1, g1 = _force_and_vjp(acceleration, x, ct, cfg)  # compiled by the test above
    f2, g2 = jax.jit(acceleration_with_vjp, static_argnums=2)(x, ct, cfg)
    assert float(jnp.max(jnp.abs(f1 - f2)) / jnp.max(jnp.abs(f1))) < 1e-12
    assert float(jnp.max(jnp.abs(g1 - g2)) / jnp.max(jnp.abs(g1))) < 1e-12


def test_power_spectrum_refuses_a_k_max_above_every_mode():
    """k_max = 1e30 was numpy's "Maximum allowed size exceeded" traceback (1e31 shells); up to
    the mesh's corner |k| = √3 π/Δ it is taken."""
    delta = np.random.default_rng(1).normal(size=(4, 4, 4))
    corner = np.sqrt(3.0) * np.pi / 8.0  # box 32 Mpc/h, 4 cells: Δ = 8
    for k_max in (1e30, 1.01 * corner):
        shown = re.escape(f"{k_max:g}")
        with pytest.raises(InputError, match=rf"k_max = {shown} is not allowed; it must be at most 0\.680175, the "
                                             r"largest \|k\| of the \(4, 4, 4\) mesh"):
            power_spectrum(delta, 32.0, k_max=k_max)
    _, _, counts = power_spectrum(delta, 32.0, k_max=corner, num_bins=3)
    assert counts.sum() >= 4**3 - 2  # every mode but k = 0 (and the corner, on the top edge)


@pytest.mark.parametrize(("shape", "box", "least"), [
    ((2, 2, 2), 32.0, "3 cells along each axis"),  # every mode at |k| >= k_f = k_Ny
    ((8, 8, 1), 32.0, "3 cells along each axis"),
    ((8, 8, 2), 32.0, "3 cells along each axis"),
    ((8, 2, 2), (8.0, 32.0, 32.0), r"\(1, 3, 3\) cells along its axes"),  # x: k_Ny = 16 k_f; y, z: k_f
])
def test_power_spectrum_refuses_a_mesh_without_a_mode_below_its_nyquist_frequency(shape, box, least):
    """Too few cells along an axis for any mode to lie below the smallest Nyquist frequency: the
    shells were all empty and power_spectrum returned three empty arrays, silently."""
    delta = np.random.default_rng(2).normal(size=shape)
    with pytest.raises(InputError, match=rf"^a mesh of shape {re.escape(str(shape))} has no mode below its Nyquist "
                                         rf"frequency \(no shell to average\); it must have at least {least}$"):
        power_spectrum(delta, box)
    # at the minimum, 3 cells per axis, there is one shell below k_Ny = 1.5 k_f: the 6 modes of
    # |k| = k_f and the 12 of √2 k_f (the 8 corners, √3 k_f, lie above it)
    _, _, counts = power_spectrum(np.random.default_rng(2).normal(size=(3, 3, 3)), 32.0)
    assert counts.tolist() == [18.0]
    # a k_max at or below the lowest mode left every shell empty as well
    with pytest.raises(InputError, match=r"^k_max = 0\.19 is not allowed; no mode of the \(8, 8, 8\) mesh lies "
                                         r"below it \(it must be > 0\.19635, the smallest \|k\| > 0\)$"):
        power_spectrum(np.random.default_rng(2).normal(size=(8, 8, 8)), 32.0, k_max=0.19)


def test_low_level_cic_functions_refuse_bad_concrete_input():
    """Weights of the wrong length or a scalar were a TypeError traceback, a cell size of 0 or
    NaN a NaN mesh, a 2D mesh in cic_readout a broadcasting traceback."""
    pos = jnp.array([[0.5, 1.0, 1.5], [2.5, 3.0, 0.5]])
    with pytest.raises(InputError, match=r"weights has shape \(3,\); it must be \(2,\), one per particle"):
        cic_paint(pos, (4, 4, 4), 1.0, jnp.ones(3))
    with pytest.raises(InputError, match=r"weights has shape \(\); it must be \(2,\)"):
        cic_paint(pos, (4, 4, 4), 1.0, 2.0)
    with pytest.raises(InputError, match=r"weights has shape \(3,\)"):
        cic_paint_2d(pos[:, :2], (4, 4), 1.0, jnp.ones(3))
    for cell in (0.0, float("nan"), (1.0, 0.0, 1.0), (1.0, 1.0), -1.0):
        with pytest.raises(InputError, match=r"cell_size = .* is not allowed; it must be one finite number > 0"):
            cic_paint(pos, (4, 4, 4), cell)
        with pytest.raises(InputError, match=r"cell_size = .* is not allowed"):
            cic_readout(jnp.ones((4, 4, 4)), pos, cell)
    with pytest.raises(InputError, match=r"pixel_size = nan is not allowed"):
        cic_paint_2d(pos[:, :2], (4, 4), float("nan"))
    with pytest.raises(InputError, match=r"mesh has shape \(4, 4\); it must be \(nx, ny, nz\)"):
        cic_readout(jnp.ones((4, 4)), pos, 1.0)
    with pytest.raises(InputError, match=r"positions has shape \(2, 2\); it must be \(N, 3\)"):
        cic_paint(pos[:, :2], (4, 4, 4), 1.0)
    with pytest.raises(InputError, match=r"the mesh shape \(4, 4\) is not allowed; it must be 3 positive integers"):
        cic_paint(pos, (4, 4), 1.0)
    # traced cell sizes and weights are not checked (a NaN stays a NaN inside jit), good ones work
    mesh = jax.jit(lambda c, w: cic_paint(pos, (4, 4, 4), c, w))(1.0, jnp.array([1.0, 2.0]))
    assert float(mesh.sum()) == pytest.approx(3.0)
    assert bool(jnp.isnan(jax.jit(lambda c: cic_paint(pos, (4, 4, 4), c))(float("nan"))).any())
    image = cic_paint_2d(pos[:, :2], (4, 4), (1.0, 1.0), np.array([1, 2]))  # integer weights
    assert float(image.sum()) == pytest.approx(3.0)


def test_shell_average_bins_are_equal_width_from_half_the_fundamental_to_nyquist():
    """The default shells: int(k_Nyquist / k_f) of them, equal width, from k_f / 2 up to the
    Nyquist frequency (7/8 k_f wide on an 8³ mesh, not one k_f as the docstring said), counted
    against every mode of the full FFT."""
    n, box = 8, 16.0
    k_f = 2 * np.pi / box
    edges = np.linspace(0.5, n / 2, n // 2 + 1) * k_f
    assert np.allclose(np.diff(edges), 0.875 * k_f)
    f = np.fft.fftfreq(n, box / n) * 2 * np.pi
    kmag = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2).ravel()
    # shells [lower, upper): the Nyquist modes on the top edge are left out
    expected = [np.sum((kmag >= lo) & (kmag < hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    k, (ones,), counts = shell_average((n, n, n), box, [np.ones((n, n, n // 2 + 1))])
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(ones, counts)
    assert counts[0] == 6 and k[0] == pytest.approx(k_f)  # only |k| = k_f: √2 k_f is in the second shell
    _, _, counts3 = shell_average((n, n, n), box, [np.ones((n, n, n // 2 + 1))], num_bins=3)
    edges3 = np.linspace(0.5, n / 2, 4) * k_f
    np.testing.assert_array_equal(counts3, [np.sum((kmag >= lo) & (kmag < hi))
                                            for lo, hi in zip(edges3[:-1], edges3[1:], strict=True)])


@pytest.mark.parametrize(("axis", "n"), [(0, 1), (1, 3), (2, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_power_spectrum_of_a_plane_wave_lands_in_its_bin_with_its_variance(axis, n, dtype, request):
    """δ = A cos(k x + φ) on a non-cubic box: all the power in the one shell holding |k| (by the
    shells' edges, computed here), and P · modes summed over the shell is V A² / 2 (the field's
    variance times the volume: Parseval)."""
    if dtype == np.float64:  # without x64 the float64 case ran in float32
        request.getfixturevalue("x64")
    box, mesh, amp = (64.0, 32.0, 48.0), (16, 8, 12), 0.3
    x = np.meshgrid(*[np.arange(m) * b / m for m, b in zip(mesh, box, strict=True)], indexing="ij")
    k = 2 * np.pi * n / box[axis]
    delta = amp * np.cos(k * x[axis] + 0.4)
    field = jnp.asarray(delta, dtype)
    assert field.dtype == dtype
    kb, p, counts = power_spectrum(field, box, deconvolve_cic=False)
    k_f = 2 * np.pi / max(box)
    edges = np.linspace(0.5 * k_f, min(np.pi * m / b for m, b in zip(mesh, box, strict=True)), int(
        min(np.pi * m / b for m, b in zip(mesh, box, strict=True)) / k_f) + 1)
    shell = int(np.searchsorted(edges, k, side="right")) - 1
    lo, hi = edges[shell], edges[shell + 1]
    (hit,) = np.flatnonzero((kb >= lo) & (kb < hi))
    # measured: leakage into other shells ≤ 1.2e-13 (float32) and 3.1e-30 (float64) of the power
    # (round-off squared), Parseval to 1.5e-7 and 6.7e-16; the tolerances were 1e-6 and 1e-5 for
    # both dtypes (1e10 times the float64 error). Now ~(100 eps)² and ~100 eps of each dtype
    leak, rel = (1e-10, 1e-5) if dtype == np.float32 else (1e-27, 5e-14)
    assert np.all(np.delete(p, hit) < leak * p[hit])
    assert p[hit] * counts[hit] == pytest.approx(np.prod(box) * amp**2 / 2, rel=rel)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cic_paint_conserves_mass_on_faces_edges_and_outside_the_box(dtype, request):
    """Particles on cell faces, on the box edge (x = L), just below 0 and L, and far outside
    [0, L) on a non-cubic mesh: the mesh sums to the particle count, every cell is >= 0, and each
    particle paints where its position wrapped into [0, L) paints."""
    if dtype == np.float64:  # without x64 the float64 case ran in float32
        request.getfixturevalue("x64")
    box, mesh = np.array([8.0, 6.0, 4.0]), (4, 3, 2)
    cell = tuple(box / mesh)
    pos = np.array([[0, 0, 0], [2, 2, 2], [8, 6, 4], [-1e-12, 0, 0], [8 - 1e-12, 6 - 1e-13, 4 - 1e-13],
                    [16, -6, 12.5], [-8.5, 3, 1], [7.999999, 5.9999999, 3.9999999], [1e4, 1e4, -1e4]])
    painted = cic_paint(jnp.asarray(pos, dtype), mesh, cell)
    assert painted.dtype == dtype
    assert float(jnp.sum(painted)) == pytest.approx(len(pos), rel=10 * float(np.finfo(dtype).eps))
    assert float(jnp.min(painted)) >= 0.0
    for p in pos:
        alone = cic_paint(jnp.asarray(p[None], dtype), mesh, cell)
        wrapped = cic_paint(jnp.asarray(np.mod(p, box)[None], dtype), mesh, cell)
        np.testing.assert_allclose(alone, wrapped, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-13)  # measured 0


def _cic_window_of(kvec, cell):
    """W(k) = Π (sin(k_i Δ_i / 2) / (k_i Δ_i / 2))², written out (not cic_window)."""
    half = np.asarray(kvec) * np.asarray(cell) / 2
    return float(np.prod(np.where(half == 0, 1.0, np.sin(half) / np.where(half == 0, 1.0, half)) ** 2))


@pytest.mark.parametrize("compensate", [False, True])
def test_fd_kernel_and_cic_compensation_exact_on_a_plane_wave(x64, compensate):
    """On δ = A cos(k·x) the mesh force is exact for both kernels: spectral −A sin(k·x) k/k²; fd
    (central differences of the exact potential) −A sin(k·x) g/k² with g_i = sin(k_i Δ_i)/Δ_i;
    CIC compensation divides either by W(k)² of the written-out sinc² (non-cubic cells)."""
    kvec = 2 * np.pi * np.array([2 / 50.0, 1 / 60.0, 3 / 40.0])
    for gradient in ("spectral", "fd"):
        cfg = PMConfig(ptcl_grid=(8, 6, 4), mesh_shape=(16, 12, 16), box_size=(50.0, 60.0, 40.0), gradient=gradient,
                       compensate_cic=compensate, dtype="float64")
        delta, exact = _plane_wave_force(cfg, kvec)
        if gradient == "fd":
            exact = exact / kvec * np.sin(kvec * np.asarray(cfg.cell_size)) / np.asarray(cfg.cell_size)
        if compensate:
            exact = exact / _cic_window_of(kvec, cfg.cell_size) ** 2
        # measured 3.8e-15 (both kernels) and 8.7e-15 (compensated) of the largest force
        np.testing.assert_allclose(acceleration_mesh(delta, cfg), exact, rtol=0, atol=2e-13 * np.abs(exact).max())


def test_power_spectrum_deconvolution_divides_by_the_cic_window_of_the_mode(x64):
    """A plane wave along y on a non-cubic mesh: the deconvolved power is the raw power over W(k)²
    of the written-out sinc² of that mode (cell 4 Mpc/h along y)."""
    box, mesh, amp, n = (64.0, 32.0, 48.0), (16, 8, 12), 0.3, 3
    y = np.arange(mesh[1]) * box[1] / mesh[1]
    k = 2 * np.pi * n / box[1]
    field = jnp.asarray(np.broadcast_to((amp * np.cos(k * y + 0.4))[None, :, None], mesh))
    _, raw, _ = power_spectrum(field, box, deconvolve_cic=False)
    _, deconvolved, _ = power_spectrum(field, box)
    hit = int(np.argmax(raw))
    w = _cic_window_of([0.0, k, 0.0], [b / m for b, m in zip(box, mesh, strict=True)])
    assert w < 0.7  # a mode where the window matters
    assert deconvolved[hit] == pytest.approx(raw[hit] / w**2, rel=1e-14)  # measured 4.4e-16
