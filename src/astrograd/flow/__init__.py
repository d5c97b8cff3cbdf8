"""Differentiable 2D incompressible flow on a staggered (MAC) grid.

Semi-Lagrangian / MacCormack advection, explicit / implicit viscosity, pressure projection by
preconditioned CG (lineax, implicit-function-theorem gradients) or FFT, walls, inflow, outflow,
periodic sides, obstacle masks, a passive marker; scenes (Kármán, Taylor–Green, smoke) and 1D
Burgers. See docs/flow.md.
"""

from astrograd.flow import _burgers as burgers
from astrograd.flow._advect import ADVECTION_SCHEMES, advect
from astrograd.flow._burgers import BOOK_VISCOSITY, BurgersConfig, burgers_initial, burgers_simulate, burgers_step
from astrograd.flow._fit import fit_burgers, fit_marker, marker_problem
from astrograd.flow._grid import PERIODIC, SIDE_KINDS, Boundaries, Grid
from astrograd.flow._obstacles import box_mask, cylinder_mask
from astrograd.flow._ops import centred_velocity, curl, divergence
from astrograd.flow._scenes import karman, kinetic_energy, shedding_probe, smoke, strouhal_number, taylor_green
from astrograd.flow._solver import (
    PRESSURE_SOLVERS,
    STATUS_NON_FINITE,
    STATUS_SOLVE_FAILED,
    VISCOSITY_SCHEMES,
    FlowConfig,
    FlowParams,
    FlowState,
    diffusion_number,
    enforce_boundaries,
    is_ok,
    make_params,
    make_state,
    raise_on_failure,
    simulate,
    step,
)

__all__ = [
    "BOOK_VISCOSITY",
    "BurgersConfig",
    "burgers",
    "burgers_initial",
    "burgers_simulate",
    "burgers_step",
    "fit_burgers",
    "fit_marker",
    "marker_problem",
    "shedding_probe",
    "strouhal_number",
    "ADVECTION_SCHEMES",
    "PERIODIC",
    "PRESSURE_SOLVERS",
    "SIDE_KINDS",
    "STATUS_NON_FINITE",
    "STATUS_SOLVE_FAILED",
    "VISCOSITY_SCHEMES",
    "Boundaries",
    "FlowConfig",
    "FlowParams",
    "FlowState",
    "Grid",
    "advect",
    "box_mask",
    "centred_velocity",
    "curl",
    "cylinder_mask",
    "diffusion_number",
    "divergence",
    "enforce_boundaries",
    "is_ok",
    "karman",
    "kinetic_energy",
    "make_params",
    "make_state",
    "raise_on_failure",
    "simulate",
    "smoke",
    "step",
    "taylor_green",
]
