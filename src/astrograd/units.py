"""Code units from a length, a mass and a velocity unit; astropy is used at the edges only.

A simulation works with plain floats in code units. ``CodeUnits`` converts astropy quantities into
those floats (``to_code``) and back (``from_code``) for any unit built from length, mass and time;
the time unit is length / velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np

from astrograd._errors import InputError, check_positive

__all__ = ["CodeUnits"]


def _as_quantity(name: str, value, physical_type: str) -> u.Quantity:
    try:
        q = u.Quantity(value)
    except TypeError:
        raise InputError(f"{name} = {value!r} is not a quantity; give an astropy {physical_type}") from None
    if q.unit.physical_type != physical_type:
        raise InputError(
            f"{name} = {value!r} has physical type {q.unit.physical_type!r}; it must be a {physical_type}"
        )
    if np.iscomplexobj(q.value):  # was accepted: (1+1j) km/s compared as greater than 0
        raise InputError(f"{name} = {value!r} is complex; it must be a finite real scalar > 0")
    if not (q.isscalar and q.value > 0 and bool(u.Quantity(q.value).value < float("inf"))):
        raise InputError(f"{name} = {value!r} is not allowed; it must be a finite scalar > 0")
    return q


@dataclass(frozen=True)
class CodeUnits:
    """Code units defined by a length, a mass and a velocity (astropy quantities).

    Example: ``CodeUnits(3 * u.pc, 1e-4 * u.Msun, 1 * u.km / u.s)``; the time unit is
    length / velocity (here 2.93 Myr), the density unit mass / length³, the pressure unit
    density × velocity².
    """

    length: u.Quantity
    mass: u.Quantity
    velocity: u.Quantity

    def __post_init__(self):
        object.__setattr__(self, "length", _as_quantity("length unit", self.length, "length"))
        object.__setattr__(self, "mass", _as_quantity("mass unit", self.mass, "mass"))
        object.__setattr__(self, "velocity", _as_quantity("velocity unit", self.velocity, "speed"))
        # each unit finite and > 0 on its own, their combinations overflowed in float64: a length
        # of 1e-320 pc gave a density unit of inf g/cm³, 1e308 Mpc a time unit of inf s
        with np.errstate(over="ignore", divide="ignore", under="ignore"):
            derived = {"time": self.time, "density": self.density, "pressure": self.pressure}
        for name, value in derived.items():
            if not (np.isfinite(value.value) and value.value > 0):
                raise InputError(
                    f"units length = {self.length}, mass = {self.mass}, velocity = {self.velocity} give a "
                    f"{name} unit of {value}; choose units whose time, density and pressure are finite and > 0 in cgs"
                )

    @property
    def time(self) -> u.Quantity:
        """Time unit = length / velocity."""
        return (self.length / self.velocity).to(u.s)

    @property
    def density(self) -> u.Quantity:
        """Density unit = mass / length³ (g/cm³)."""
        return (self.mass / self.length**3).to(u.g / u.cm**3)

    @property
    def pressure(self) -> u.Quantity:
        """Pressure unit = density × velocity² (dyn/cm²)."""
        return (self.density * self.velocity**2).to(u.dyn / u.cm**2)

    def _scale(self, unit: u.UnitBase) -> float:
        """Value in cgs of the code unit with the dimensions of ``unit``."""
        cgs = unit.decompose(bases=[u.cm, u.g, u.s])
        powers = dict(zip(cgs.bases, cgs.powers, strict=True))
        length_cm = self.length.to_value(u.cm)
        mass_g = self.mass.to_value(u.g)
        time_s = self.time.to_value(u.s)
        return (
            length_cm ** float(powers.get(u.cm, 0))
            * mass_g ** float(powers.get(u.g, 0))
            * time_s ** float(powers.get(u.s, 0))
        )

    def to_code(self, quantity):
        """The value of an astropy quantity (any unit built from length, mass and time) in code
        units: a float, or a numpy array for an array quantity. Temperatures and other
        non-mechanical units raise InputError."""
        try:
            q = u.Quantity(quantity)
            cgs = q.unit.decompose(bases=[u.cm, u.g, u.s])
        except (TypeError, u.UnitsError):
            raise InputError(
                f"cannot convert {quantity!r} to code units; it must be a quantity built from length, mass and time"
            ) from None
        if np.iscomplexobj(q.value):  # float() dropped the imaginary part: (1+1j) km/s gave 1.0
            raise InputError(f"cannot convert {quantity!r} to code units; it is complex, give a real quantity")
        value = q.value * cgs.scale / self._scale(q.unit)
        return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float)

    def from_code(self, value, unit) -> u.Quantity:
        """A code-unit value (a number, or an array or list of numbers) as an astropy quantity in
        ``unit``; anything else (text, None, complex numbers) is an InputError."""
        if isinstance(unit, bool | int | float | np.number):  # astropy read 3 as a scaled dimensionless unit
            raise InputError(f"unit {unit!r} is not allowed; give a unit such as 'km/s' or u.km / u.s, not a number")
        try:
            unit = u.Unit(unit)
        except (TypeError, ValueError):
            raise InputError(f"unit {unit!r} is not a unit astropy knows") from None
        try:
            cgs = unit.decompose(bases=[u.cm, u.g, u.s])
        except u.UnitsError:
            raise InputError(f"unit {unit!s} is not built from length, mass and time") from None
        values = value
        if not hasattr(values, "dtype"):  # a list was "can't multiply sequence by non-int": a TypeError
            try:
                values = np.asarray(values)
            except (TypeError, ValueError):  # ragged
                values = None
        dtype = getattr(values, "dtype", None)
        if dtype is None or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
            raise InputError(f"cannot convert {value!r} from code units; give a real number or an array of them")
        return (values * self._scale(unit) / cgs.scale) * unit

    def cgs_attributes(self) -> dict[str, float]:
        """The three defining units in cgs, as stored in snapshot attributes."""
        return {
            "unit_length_cm": float(self.length.to_value(u.cm)),
            "unit_mass_g": float(self.mass.to_value(u.g)),
            "unit_velocity_cm_s": float(self.velocity.to_value(u.cm / u.s)),
        }

    @classmethod
    def from_cgs_attributes(cls, attrs) -> CodeUnits:
        """Rebuild from ``unit_length_cm``, ``unit_mass_g``, ``unit_velocity_cm_s``; a missing one,
        or one that is not a number > 0, is an InputError (before: KeyError or ValueError)."""
        scales = {"unit_length_cm": u.cm, "unit_mass_g": u.g, "unit_velocity_cm_s": u.cm / u.s}
        missing = [name for name in scales if name not in attrs]
        if missing:
            raise InputError(f"the unit attribute {missing[0]!r} is missing; physical units need {', '.join(scales)}")
        return cls(*(check_positive(name, attrs[name]) * unit for name, unit in scales.items()))
