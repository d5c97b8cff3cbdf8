"""Radial compressible finite-volume hydrodynamics (cartesian, cylindrical, spherical) with
stellar winds, exact references and gradients through the adaptive time loop.

See docs/hydro.md.
"""

from astrograd.hydro._config import (
    BOUNDARIES,
    GEOMETRIES,
    INTEGRATORS,
    LIMITERS,
    RIEMANN_SOLVERS,
    Grid,
    HydroConfig,
    HydroParams,
)
from astrograd.hydro._exact import (
    SEDOV_XI0,
    WeaverBubble,
    free_wind_density,
    sedov_shock_radius,
    weaver_bubble,
    weaver_coefficient,
    weaver_radius,
    weaver_shell_velocity,
    wind_luminosity,
)
from astrograd.hydro._exact_riemann import exact_riemann, riemann_star_state
from astrograd.hydro._numerics import (
    conserved_to_primitive,
    euler_flux,
    hll_flux,
    hllc_flux,
    limited_slope,
    primitive_to_conserved,
)
from astrograd.hydro._posterior import WindPosterior, wind_posterior
from astrograd.hydro._problems import Problem, WindSetup, sedov_problem, sod_problem, wind_problem
from astrograd.hydro._solve import (
    HydroSolution,
    check_initial_state,
    raise_if_failed,
    run,
    simulate,
    simulate_fixed,
)
from astrograd.hydro._step import cfl_time_step, step, unphysical, wind_source, wind_velocity_profile
from astrograd.hydro._wind import (
    WindFit,
    fit_wind,
    outer_shock_radius,
    wind_loss,
    wind_loss_map,
    wind_model,
    wind_sensitivity,
)

__all__ = [
    "BOUNDARIES",
    "GEOMETRIES",
    "INTEGRATORS",
    "LIMITERS",
    "RIEMANN_SOLVERS",
    "SEDOV_XI0",
    "Grid",
    "HydroConfig",
    "HydroParams",
    "HydroSolution",
    "Problem",
    "WindFit",
    "WindPosterior",
    "WindSetup",
    "cfl_time_step",
    "check_initial_state",
    "conserved_to_primitive",
    "euler_flux",
    "exact_riemann",
    "fit_wind",
    "free_wind_density",
    "hll_flux",
    "hllc_flux",
    "limited_slope",
    "outer_shock_radius",
    "primitive_to_conserved",
    "raise_if_failed",
    "riemann_star_state",
    "run",
    "sedov_problem",
    "sedov_shock_radius",
    "simulate",
    "simulate_fixed",
    "sod_problem",
    "step",
    "unphysical",
    "WeaverBubble",
    "weaver_bubble",
    "weaver_coefficient",
    "weaver_radius",
    "weaver_shell_velocity",
    "wind_loss",
    "wind_loss_map",
    "wind_luminosity",
    "wind_model",
    "wind_posterior",
    "wind_problem",
    "wind_sensitivity",
    "wind_source",
    "wind_velocity_profile",
]
