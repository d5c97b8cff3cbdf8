"""Snapshots read back by an independent reader, yt's Gadget frontend: the box, the particle
masses against ρ_crit = 3H0²/(8πG) from astropy's constants, the positions, and the velocities
against the Zel'dovich relation v_pec = a H(a) f(a) ψ of the 1LPT displacement ψ."""

import astropy.constants as const
import astropy.units as u
import jax
import numpy as np
import pytest
import yt

from astrograd.cosmo import Cosmology
from astrograd.pm import PMConfig, linear_modes, lpt, positions, white_noise
from astrograd.pm._snapshot import write_gadget_snapshot


def test_yt_reads_box_masses_positions_and_zeldovich_velocities(tmp_path):
    a = 0.1
    cosmo = Cosmology(omega_m=0.3, sigma8=0.8)
    cfg = PMConfig(ptcl_grid=8, mesh_shape=16, box_size=64.0, a_start=a, lpt_order=1, dtype="float64")
    with jax.enable_x64(True):
        disp, mom = lpt(linear_modes(white_noise(jax.random.key(3), cfg), cosmo, cfg), cosmo, cfg)
        pos = np.asarray(positions(disp, cfg))
        disp = np.asarray(disp)
    path = write_gadget_snapshot(tmp_path / "snapshot_000.h5", pos, np.asarray(mom), a, cosmo, cfg)

    yt.set_log_level(40)
    ds = yt.load(str(path))
    assert ds.cosmological_simulation and ds.current_redshift == pytest.approx(1 / a - 1)
    assert ds.omega_matter == pytest.approx(0.3) and ds.hubble_constant == pytest.approx(0.7)
    np.testing.assert_allclose(ds.domain_width.to("Mpccm/h").value, 64.0, rtol=1e-12)
    ad = ds.all_data()
    order = np.argsort(ad["PartType1", "ParticleIDs"].value)
    np.testing.assert_array_equal(ad["PartType1", "ParticleIDs"].value[order], np.arange(512))

    x = ad["PartType1", "Coordinates"].to("Mpccm/h").value[order]
    np.testing.assert_allclose(x, pos, atol=64.0 * 1e-6)  # float32 in the file

    rho_crit = (3 * (100 * u.km / u.s / u.Mpc) ** 2 / (8 * np.pi * const.G)).to(u.Msun / u.Mpc**3).value  # h² M☉/Mpc³
    mass = ad["PartType1", "Masses"].to("Msun/h").value
    np.testing.assert_allclose(mass.sum(), 0.3 * rho_crit * 64.0**3, rtol=1e-5)

    # 1LPT: v_pec = a dx/dt = a H f ψ, with H = 100 E(a) km/s per Mpc/h; f ≈ Ω_m(a)^0.55 (≈ 0.998 here)
    e = np.sqrt(0.3 / a**3 + 0.7)
    f = (0.3 / a**3 / e**2) ** 0.55
    v = ad["PartType1", "Velocities"].to("km/s").value[order]
    expected = a * 100.0 * e * f * disp
    assert np.abs(expected).max() > 10.0  # a real velocity field, not zeros
    np.testing.assert_allclose(v, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())  # measured 1e-5
