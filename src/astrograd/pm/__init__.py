"""Particle-mesh N-body gravity with a reverse-time adjoint, initial conditions and observables.

Units: lengths in Mpc/h, momenta p = a² E(a) dx/d ln a in Mpc/h, wavenumbers in h/Mpc.
"""

from astrograd.pm._config import DTYPES, GRADIENTS, PMConfig
from astrograd.pm._gravity import acceleration, acceleration_mesh, density_contrast, gradient_kernels
from astrograd.pm._lpt import linear_modes, lpt, lpt_fields, white_noise
from astrograd.pm._mesh import cic_paint, cic_paint_2d, cic_readout, cic_window, rfft_wavevectors
from astrograd.pm._nbody import (
    ADJOINTS,
    KDKFactors,
    kdk_factors,
    nbody,
    nbody_backward,
    nbody_snapshots,
    positions,
)
from astrograd.pm._observables import density_mesh, power_spectrum, projection
from astrograd.pm._simulate import simulate

__all__ = [
    "ADJOINTS",
    "DTYPES",
    "GRADIENTS",
    "KDKFactors",
    "PMConfig",
    "acceleration",
    "acceleration_mesh",
    "cic_paint",
    "cic_paint_2d",
    "cic_readout",
    "cic_window",
    "density_contrast",
    "density_mesh",
    "gradient_kernels",
    "kdk_factors",
    "linear_modes",
    "lpt",
    "lpt_fields",
    "nbody",
    "nbody_backward",
    "nbody_snapshots",
    "positions",
    "power_spectrum",
    "projection",
    "rfft_wavevectors",
    "simulate",
    "white_noise",
]
