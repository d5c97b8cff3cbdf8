"""The shipped exact references against published numbers (Toro 2009, Table 4.2) and against
the Rankine–Hugoniot / isentropic relations they must satisfy."""

import numpy as np
import pytest

from astrograd._errors import InputError, SimulationError
from astrograd.hydro import exact_riemann, riemann_star_state, sedov_shock_radius, weaver_radius

# Toro (2009) Table 4.2: left, right, p*, u*, rho*_L, rho*_R (gamma = 1.4)
TORO = [
    ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 0.30313, 0.92745, 0.42632, 0.26557),
    ((1.0, -2.0, 0.4), (1.0, 2.0, 0.4), 0.00189, 0.00000, 0.02185, 0.02185),
    ((1.0, 0.0, 1000.0), (1.0, 0.0, 0.01), 460.894, 19.5975, 0.57506, 5.99924),
    ((1.0, 0.0, 0.01), (1.0, 0.0, 100.0), 46.0950, -6.19633, 5.99242, 0.57511),
    ((5.99924, 19.5975, 460.894), (5.99242, -6.19633, 46.0950), 1691.64, 8.68975, 14.2823, 31.0426),
]


@pytest.mark.parametrize("case", TORO, ids=[f"toro{i + 1}" for i in range(5)])
def test_star_state_matches_toro_table(case):
    left, right, p_ref, u_ref, rho_l_ref, rho_r_ref = case
    p, u = riemann_star_state(left, right, 1.4)
    assert p == pytest.approx(p_ref, rel=2e-4, abs=1e-5)
    assert u == pytest.approx(u_ref, rel=2e-4, abs=1e-5)
    # densities on both sides of the contact, sampled at t = 1 just beside x = u*
    rho, _, _ = exact_riemann(left, right, 1.4, np.array([u - 1e-9, u + 1e-9]), 1.0, x0=0.0)
    assert rho[0] == pytest.approx(rho_l_ref, rel=2e-4)
    assert rho[1] == pytest.approx(rho_r_ref, rel=2e-4)


def test_sod_shock_satisfies_rankine_hugoniot():
    left, right, gamma = (1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 1.4
    t = 0.25
    x = np.linspace(0.0, 1.0, 20001)
    rho, u, p = exact_riemann(left, right, gamma, x, t)
    # shock: last jump in density
    i = np.flatnonzero(np.abs(np.diff(rho)) > 0.05)[-1]
    shock_speed = (x[i] + x[i + 1]) / 2 - 0.5
    shock_speed /= t
    r1, u1, p1 = rho[i - 5], u[i - 5], p[i - 5]
    r0, u0, p0 = right
    # mass and momentum fluxes in the shock frame are continuous
    assert r1 * (u1 - shock_speed) == pytest.approx(r0 * (u0 - shock_speed), rel=2e-3)
    m = r0 * (u0 - shock_speed)
    assert p1 + m * (u1 - shock_speed) == pytest.approx(p0 + m * (u0 - shock_speed), rel=2e-3)
    # rarefaction fan is isentropic: p / rho^gamma constant
    fan = (x > 0.5 - 1.18 * t) & (x < 0.5 - 0.08 * t)
    entropy = p[fan] / rho[fan] ** gamma
    assert np.ptp(entropy) < 1e-12 * entropy.mean() + 1e-12


def test_vacuum_and_bad_states_are_reported():
    with pytest.raises(SimulationError):
        riemann_star_state((1.0, -20.0, 0.4), (1.0, 20.0, 0.4), 1.4)
    with pytest.raises(InputError, match="left density"):
        riemann_star_state((-1.0, 0.0, 1.0), (1.0, 0.0, 1.0), 1.4)


def test_similarity_radii():
    # R = xi0 (E t^2 / rho)^(1/5): scaling exponents and the published constants
    assert sedov_shock_radius(1.0, 1.0, 1.0, 1.4) == pytest.approx(1.033, abs=1e-3)
    assert sedov_shock_radius(1.0, 1.0, 1.0, 5 / 3) == pytest.approx(1.152, abs=1e-3)
    assert sedov_shock_radius(32.0, 1.0, 1.0, 1.4) / sedov_shock_radius(1.0, 1.0, 1.0, 1.4) == pytest.approx(2.0)
    assert weaver_radius(1.0, 1.0, 2.0) / weaver_radius(1.0, 1.0, 1.0) == pytest.approx(2.0**0.6)
    with pytest.raises(InputError, match="gamma"):
        sedov_shock_radius(1.0, 1.0, 1.0, 1.3)
