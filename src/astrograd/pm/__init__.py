"""Particle-mesh N-body gravity with a reverse-time adjoint, initial conditions, observables, and
field-level inference of the initial conditions behind a density map.

Units: lengths in Mpc/h, momenta p = a² E(a) dx/d ln a in Mpc/h, wavenumbers in h/Mpc.
"""

from astrograd.pm._config import DTYPES, GRADIENTS, PMConfig
from astrograd.pm._field import (
    FieldPosterior,
    FieldProblem,
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
from astrograd.pm._observables import density_mesh, power_spectrum, projection, shell_average
from astrograd.pm._simulate import simulate

__all__ = [
    "ADJOINTS",
    "DTYPES",
    "FieldPosterior",
    "FieldProblem",
    "GRADIENTS",
    "KDKFactors",
    "PMConfig",
    "acceleration",
    "acceleration_mesh",
    "cic_paint",
    "cic_paint_2d",
    "cic_readout",
    "cic_window",
    "coverage",
    "cross_correlation",
    "density_contrast",
    "density_mesh",
    "field_map",
    "field_posterior",
    "field_problem",
    "gradient_kernels",
    "kdk_factors",
    "linear_modes",
    "linear_posterior_std",
    "linear_response",
    "log_posterior",
    "lpt",
    "lpt_fields",
    "mock_data",
    "nbody",
    "nbody_backward",
    "nbody_snapshots",
    "observed_density",
    "positions",
    "power_spectrum",
    "projection",
    "rfft_wavevectors",
    "shell_average",
    "simulate",
    "white_noise",
    "wiener_correlation",
    "wiener_filter",
]
