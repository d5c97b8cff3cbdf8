"""Fitting and sensitivities: ``fit`` (optax, history, save/resume), Jacobians, JVPs, Fisher,
posterior sampling with NUTS (``sample``)."""

from astrograd._errors import FitStepError
from astrograd.inverse._fisher import fisher
from astrograd.inverse._fit import FitResult, fit
from astrograd.inverse._sample import SampleResult, check_checkpoint, sample
from astrograd.inverse._sensitivity import (
    FiniteDifferenceLimit,
    directional_derivative,
    finite_difference_limit,
    sensitivity,
)

__all__ = [
    "FiniteDifferenceLimit",
    "FitStepError",
    "FitResult",
    "SampleResult",
    "check_checkpoint",
    "directional_derivative",
    "finite_difference_limit",
    "fisher",
    "fit",
    "sample",
    "sensitivity",
]
