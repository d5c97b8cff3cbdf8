"""The ballistic throw: a differentiable projectile with optional drag, and its inverse problems."""

from astrograd.orbit._model import (
    INTEGRATORS,
    Ballistics,
    ThrowConfig,
    Trajectory,
    ballistic_acceleration,
    check_trajectory,
    initial_velocity,
    simulate,
    steps_for_flight,
    throw,
)
from astrograd.orbit._observables import Apex, Landing, apex, landing, require_landed
from astrograd.orbit._problems import (
    AngleSearch,
    DragLearning,
    DragNet,
    GravityFit,
    best_angle,
    fit_gravity,
    learn_drag,
    scan_range,
)

__all__ = [
    "AngleSearch",
    "DragLearning",
    "DragNet",
    "GravityFit",
    "best_angle",
    "fit_gravity",
    "learn_drag",
    "scan_range",
    "INTEGRATORS",
    "Apex",
    "Ballistics",
    "Landing",
    "ThrowConfig",
    "Trajectory",
    "apex",
    "ballistic_acceleration",
    "check_trajectory",
    "initial_velocity",
    "landing",
    "require_landed",
    "simulate",
    "steps_for_flight",
    "throw",
]
