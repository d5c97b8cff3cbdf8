"""Initial conditions: white noise, linear modes vs P(k), 1LPT/2LPT vs analytic fields, momenta."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.cosmo import Cosmology, E, growth_table, linear_power
from astrograd.pm import PMConfig, linear_modes, lpt, lpt_fields, power_spectrum, white_noise


def _grid(cfg):
    axes = [np.arange(n) * s for n, s in zip(cfg.ptcl_grid, cfg.ptcl_spacing, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1)


def test_white_noise_explicit_key():
    cfg = PMConfig(ptcl_grid=(4, 6, 8))
    a = white_noise(jax.random.key(3), cfg)
    assert a.shape == (4, 6, 8) and a.dtype == jnp.float32
    np.testing.assert_array_equal(a, white_noise(jax.random.key(3), cfg))
    assert not np.allclose(a, white_noise(jax.random.key(4), cfg))


def test_initial_conditions_refuse_bad_keys_noise_and_modes():
    cfg = PMConfig(ptcl_grid=4, box_size=32.0, num_steps=1)
    cosmo = Cosmology()
    with pytest.raises(InputError, match="key = 0 is not allowed; it must be one PRNG key"):
        white_noise(0, cfg)
    with pytest.raises(InputError, match=r"key = an array of dtype key<fry> and shape \(2,\)"):
        white_noise(jax.random.split(jax.random.key(0)), cfg)
    # a 2D noise used to broadcast silently against the 3D amplitudes
    with pytest.raises(InputError, match=r"noise has shape \(4, 4\); it must be the particle grid \(4, 4, 4\)"):
        linear_modes(jnp.zeros((4, 4)), cosmo, cfg)
    noise = white_noise(jax.random.key(0), cfg)
    with pytest.raises(InputError, match=r"noise has a non-finite value .*nan.* at index \(1, 2, 3\)"):
        linear_modes(noise.at[1, 2, 3].set(jnp.nan), cosmo, cfg)
    with pytest.raises(InputError, match=r"modes has shape \(4, 4, 4\); it must be \(4, 4, 3\), the rfftn layout"):
        lpt(noise, cosmo, cfg)
    # traced noise: no value check (jit and grad as before)
    assert jax.jit(lambda w: linear_modes(w, cosmo, cfg))(noise).shape == (4, 4, 3)


def test_linear_modes_have_the_linear_power(x64):
    cfg = PMConfig(ptcl_grid=32, box_size=400.0, dtype="float64")
    cosmo = Cosmology()
    ratios = []
    for seed in range(4):
        modes = linear_modes(white_noise(jax.random.key(seed), cfg), cosmo, cfg)
        delta = jnp.fft.irfftn(modes, s=cfg.ptcl_grid)
        k, p, n = power_spectrum(delta, cfg.box_size, deconvolve_cic=False)
        ratios.append(p / np.asarray(linear_power(cosmo, jnp.asarray(k))))
    ratio = np.mean(ratios, axis=0)
    # each bin averages 4 n modes of an exponential distribution: relative error 1/sqrt(4 n)
    sigma = 1.0 / np.sqrt(4 * n)
    assert np.all(np.abs(ratio - 1) < 5 * sigma + 0.02)  # bin-averaging of a curved P(k)
    assert abs(np.sum((ratio - 1) / sigma**2) / np.sum(1 / sigma**2)) < 0.02


def test_zeldovich_plane_wave_and_2lpt_crossed_waves(x64):
    cfg = PMConfig(ptcl_grid=(16, 16, 8), box_size=(80.0, 80.0, 40.0), dtype="float64")
    q = _grid(cfg)
    k = 2 * np.pi / 80.0 * 2
    # δ = A cos(k x): Ψ1_x = −A sin(k x) / k, no second order
    delta = 0.4 * np.cos(k * q[..., 0])
    psi1, psi2 = lpt_fields(jnp.fft.rfftn(delta), cfg)
    # measured 3.3e-15, 0, 0 (the default rtol 1e-7 let 2.5e-7 pass in the first)
    np.testing.assert_allclose(psi1[:, 0], (-0.4 * np.sin(k * q[..., 0]) / k).ravel(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(psi1[:, 1:], 0.0, atol=1e-13)
    np.testing.assert_allclose(psi2, 0.0, atol=1e-13)
    # φ1 = α cos kx + β cos ky: ∇²φ2 = φ,xx φ,yy = αβ k⁴ cos kx cos ky → φ2 = −αβ k² cos kx cos ky / 2
    alpha, beta = 3.0, -5.0
    cx, cy = np.cos(k * q[..., 0]), np.cos(k * q[..., 1])
    sx, sy = np.sin(k * q[..., 0]), np.sin(k * q[..., 1])
    delta = -alpha * k**2 * cx - beta * k**2 * cy
    psi1, psi2 = lpt_fields(jnp.fft.rfftn(delta), cfg)
    # measured 5.6e-16, 1.0e-15 and 1.2e-15 of max |Ψ2| (were atol 1e-12 plus the default rtol 1e-7)
    np.testing.assert_allclose(psi1[:, 0], (alpha * k * sx).ravel(), rtol=0, atol=3e-14)
    np.testing.assert_allclose(psi1[:, 1], (beta * k * sy).ravel(), rtol=0, atol=3e-14)
    ref2 = np.stack([alpha * beta * k**3 * sx * cy / 2, alpha * beta * k**3 * cx * sy / 2, 0 * cx], -1)
    np.testing.assert_allclose(psi2, ref2.reshape(-1, 3), rtol=0, atol=3e-14 * np.abs(ref2).max())


def test_lpt_momentum_is_time_derivative_of_displacement(x64):
    """p = a³ E dx/da, checked by central differences of the LPT displacement in a."""
    cosmo = Cosmology()
    table = growth_table(cosmo)
    a, h = 0.05, 1e-5
    base = dict(ptcl_grid=8, box_size=64.0, dtype="float64")
    noise = white_noise(jax.random.key(5), PMConfig(**base))
    modes = linear_modes(noise, cosmo, PMConfig(**base), table)
    d_plus, _ = lpt(modes, cosmo, PMConfig(a_start=a + h, **base), table)
    d_minus, _ = lpt(modes, cosmo, PMConfig(a_start=a - h, **base), table)
    _, mom = lpt(modes, cosmo, PMConfig(a_start=a, **base), table)
    fd = a**3 * E(cosmo, a) * (d_plus - d_minus) / (2 * h)
    np.testing.assert_allclose(mom, fd, rtol=1e-6, atol=1e-8 * float(jnp.abs(mom).max()))


@pytest.mark.parametrize("normalisation", [{"A_s": 2.1e-9, "sigma8": None}, {"sigma8": 0.8}])
def test_initial_conditions_file_records_the_cosmology_and_config_it_was_made_with(tmp_path, normalisation):
    """An A_s-normalised cosmology was float(None) (a TypeError) in write_initial_conditions,
    and Ω_k, w0, wa were not written: the file now rebuilds the Cosmology and PMConfig it came from."""
    import h5py

    from astrograd.pm._snapshot import write_initial_conditions

    cosmo = Cosmology(omega_m=0.31, omega_b=0.049, h=0.68, n_s=0.97, omega_k=0.01, w0=-0.9, wa=0.1,
                      transfer="eisenstein_hu_nowiggle", **normalisation)
    cfg = PMConfig(ptcl_grid=2, box_size=(16.0, 16.0, 32.0), a_start=0.1, num_steps=2, lpt_order=1,
                   gradient="spectral", compensate_cic=True)
    n = cfg.num_ptcl
    path = write_initial_conditions(tmp_path / "ics.h5", np.zeros(cfg.ptcl_grid), np.zeros((n, 3)),
                                    np.zeros((n, 3)), cosmo, cfg, {"views": 1})
    with h5py.File(path) as f:
        attrs = dict(f.attrs)
    fields = ("omega_m", "omega_b", "h", "n_s", "omega_k", "w0", "wa", "transfer")
    given = "A_s" if "A_s" in normalisation else "sigma8"
    assert attrs["normalisation"] == given and attrs["views"] == 1
    assert ("A_s" in attrs, "sigma8" in attrs) == (given == "A_s", given == "sigma8")
    rebuilt = Cosmology(**{k: attrs[k] for k in fields}, **{given: attrs[given]},
                        **({"sigma8": None} if given == "A_s" else {}), t_cmb=attrs["t_cmb"])
    for k in (*fields, "sigma8", "A_s", "t_cmb"):
        assert (getattr(rebuilt, k) is None) == (getattr(cosmo, k) is None)
        if getattr(cosmo, k) is not None:
            assert np.all(np.asarray(getattr(rebuilt, k)) == np.asarray(getattr(cosmo, k))), k
    assert attrs["omega_de"] == pytest.approx(1 - 0.31 - 0.01)
    config_fields = ("ptcl_grid", "mesh_shape", "box_size", "a_start", "a_stop", "num_steps", "lpt_order",
                     "gradient", "compensate_cic", "dtype")
    config_attrs = {k: attrs[k] for k in config_fields}
    config_attrs.update(ptcl_grid=tuple(int(v) for v in attrs["ptcl_grid"]),
                        mesh_shape=tuple(int(v) for v in attrs["mesh_shape"]),
                        num_steps=int(attrs["num_steps"]), lpt_order=int(attrs["lpt_order"]),
                        compensate_cic=bool(attrs["compensate_cic"]))
    assert PMConfig(**config_attrs) == cfg


@pytest.mark.parametrize(("i", "j", "ni", "nj"), [(0, 1, 1, 1), (0, 2, 2, 1), (1, 2, 1, 2)])
def test_2lpt_crossed_waves_of_different_wavenumbers_on_a_non_cubic_grid(x64, i, j, ni, nj):
    """φ1 = α cos(k_i q_i) + β cos(k_j q_j) with k_i ≠ k_j and particle spacings that differ per axis
    (and a force mesh 2× finer, which the LPT must not use): ∇²φ2 = φ,ii φ,jj = αβ k_i² k_j² cos cos, so
    φ2 = −αβ k_i² k_j² / (k_i² + k_j²) cos cos and Ψ2 = ∇φ2."""
    cfg = PMConfig(ptcl_grid=(8, 4, 6), mesh_shape=(16, 8, 12), box_size=(40.0, 60.0, 30.0), dtype="float64")
    q = _grid(cfg)
    ki, kj = 2 * np.pi * ni / cfg.box_size[i], 2 * np.pi * nj / cfg.box_size[j]
    alpha, beta = 3.0, -5.0
    ci, cj, si, sj = np.cos(ki * q[..., i]), np.cos(kj * q[..., j]), np.sin(ki * q[..., i]), np.sin(kj * q[..., j])
    psi1, psi2 = lpt_fields(jnp.fft.rfftn(-alpha * ki**2 * ci - beta * kj**2 * cj), cfg)
    ref1, ref2 = np.zeros(q.shape), np.zeros(q.shape)
    ref1[..., i], ref1[..., j] = alpha * ki * si, beta * kj * sj
    c = alpha * beta * ki**2 * kj**2 / (ki**2 + kj**2)
    ref2[..., i], ref2[..., j] = c * ki * si * cj, c * kj * ci * sj
    # measured ≤ 1.0e-15 of the largest value (were 1e-12 of it plus the default rtol 1e-7)
    np.testing.assert_allclose(psi1, ref1.reshape(-1, 3), rtol=0, atol=3e-14 * np.abs(ref1).max())
    np.testing.assert_allclose(psi2, ref2.reshape(-1, 3), rtol=0, atol=3e-14 * np.abs(ref2).max())
