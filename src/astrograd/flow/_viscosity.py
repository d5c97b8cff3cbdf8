"""The one rule for a viscosity ν (length²/time) and the scheme that must take it, shared by the
2D solver (``viscosity_scheme``) and Burgers (``advection``)."""

from __future__ import annotations

import numpy as np

from astrograd._errors import InputError, check_positive


def check_viscosity(viscosity, scheme: str, takes: str, other: str) -> float:
    """Return ν as a float, or raise InputError naming ``scheme`` (e.g. "viscosity_scheme
    'implicit'") when it cannot take the value.

    takes: ``"positive"`` (ν > 0; ν = 0 is refused pointing at ``other``, the way to run
    inviscid), ``"non-negative"`` (ν ≥ 0) or ``"zero"`` (an inviscid scheme: ν = 0 only, any
    other value pointing at ``other``, the viscous schemes)."""
    if takes == "positive":
        if not isinstance(viscosity, bool | np.bool_) and _is_zero(viscosity):
            raise InputError(f"viscosity = 0 is not allowed with {scheme}; it must be a finite number > 0 ({other})")
        return check_positive("viscosity", viscosity)
    nu = check_positive("viscosity", viscosity, allow_zero=True)
    if takes == "zero" and nu != 0:  # it was accepted and ignored
        raise InputError(f"viscosity = {nu:.6g} is not allowed with {scheme} (inviscid); it must be 0, {other}")
    return nu


def _is_zero(value) -> bool:
    try:
        return float(value) == 0.0
    except (TypeError, ValueError, OverflowError):
        return False
