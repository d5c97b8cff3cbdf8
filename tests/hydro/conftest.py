"""Shared by the hydro tests: an independent numpy reference for radial Sod problems."""

import numpy as np
import pytest


def _rusanov_curvilinear_reference(n, t_end, alpha=2, gamma=1.4):
    """Independent reference: first-order Rusanov scheme for the non-conservative radial form
    U_t + F_r = -(α/r) (ρu, ρu², (E+p)u) (α = 1 cylindrical, 2 spherical) of Sod's problem on
    [0, 1], n cells (numpy)."""
    dx = 1.0 / n
    r = (np.arange(n) + 0.5) * dx
    rho = np.where(r < 0.5, 1.0, 0.125)
    p = np.where(r < 0.5, 1.0, 0.1)
    q = np.stack([rho, 0 * rho, p / (gamma - 1)])
    t = 0.0
    while t < t_end - 1e-14:
        rho, mom, en = q
        vel = mom / rho
        p = (gamma - 1) * (en - 0.5 * mom * vel)
        c = np.sqrt(gamma * p / rho)
        dt = min(0.4 * dx / np.max(np.abs(vel) + c), t_end - t)
        flux = np.stack([mom, mom * vel + p, (en + p) * vel])
        # ghost cells: reflective at r = 0, zero-gradient outside
        qg = np.concatenate([q[:, :1] * np.array([[1], [-1], [1]]), q, q[:, -1:]], axis=1)
        fg = np.concatenate([flux[:, :1] * np.array([[-1], [1], [-1]]), flux, flux[:, -1:]], axis=1)
        sg = np.concatenate([(np.abs(vel) + c)[:1], np.abs(vel) + c, (np.abs(vel) + c)[-1:]])
        smax = np.maximum(sg[:-1], sg[1:])
        face = 0.5 * (fg[:, :-1] + fg[:, 1:]) - 0.5 * smax * (qg[:, 1:] - qg[:, :-1])
        source = -(alpha / r) * np.stack([mom, mom * vel, (en + p) * vel])
        q = q - dt / dx * (face[:, 1:] - face[:, :-1]) + dt * source
        t += dt
    rho, mom, en = q
    return rho


@pytest.fixture
def rusanov_curvilinear_reference():
    """The numpy Rusanov reference (``_rusanov_curvilinear_reference``) as a fixture."""
    return _rusanov_curvilinear_reference
