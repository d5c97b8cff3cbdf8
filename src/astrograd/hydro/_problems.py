"""Initial conditions of the worked examples: Sod shock tube, Sedov blast, stellar-wind bubble."""

from __future__ import annotations

from dataclasses import dataclass, field

import astropy.constants as const
import astropy.units as u
import numpy as np

from astrograd._errors import InputError, check_int, check_positive
from astrograd.hydro._config import MAX_CELLS, HydroConfig, HydroParams
from astrograd.units import CodeUnits

__all__ = ["Problem", "sedov_problem", "sod_problem", "wind_problem", "WindSetup"]


@dataclass
class Problem:
    """A ready-to-run problem: config, params, primitive initial state (3, n) at ``t_start``,
    end time, and the code units when it is posed in physical units (None otherwise)."""

    name: str
    config: HydroConfig
    params: HydroParams
    initial: np.ndarray
    t_end: float
    units: CodeUnits | None = None
    info: dict = field(default_factory=dict)
    t_start: float = 0.0


SOD_LEFT = (1.0, 0.0, 1.0)
SOD_RIGHT = (0.125, 0.0, 0.1)


def sod_problem(num_cells: int = 400, geometry: str = "cartesian", gamma: float = 1.4, **config_kw) -> Problem:
    """Sod (1978) shock tube on [0, 1]: (ρ, u, p) = (1, 0, 1) left of 0.5, (0.125, 0, 0.1) right;
    t_end = 0.2. Cartesian: open boundaries; curvilinear: reflective centre, open outside."""
    kw = {"left_boundary": "open" if geometry == "cartesian" else "reflective", "right_boundary": "open"}
    kw.update(config_kw)
    config = HydroConfig(num_cells=num_cells, geometry=geometry, **kw)
    x = config.grid.centres
    left = x < 0.5
    w = np.stack([np.where(left, SOD_LEFT[i], SOD_RIGHT[i]) for i in range(3)])
    return Problem("sod", config, HydroParams(gamma=gamma), w, 0.2, info={"x0": 0.5})


def sedov_problem(
    num_cells: int = 200,
    gamma: float = 5.0 / 3.0,
    energy: float = 1.0,
    density: float = 1.0,
    ambient_pressure: float = 1e-5,
    t_end: float = 0.05,
    energy_cells: int = 2,
    **config_kw,
) -> Problem:
    """Spherical point blast: ``energy`` deposited as heat in the ``energy_cells`` innermost cells
    of a uniform cold gas on [0, 1] (reflective centre, open outside)."""
    kw = {"left_boundary": "reflective", "right_boundary": "open", "geometry": "spherical"}
    kw.update(config_kw)
    config = HydroConfig(num_cells=num_cells, **kw)
    params = HydroParams(gamma=gamma)  # checked before γ is used (text was a TypeError, 1e308 an overflow)
    check_positive("blast energy", energy)
    check_positive("ambient density", density)
    check_positive("ambient pressure", ambient_pressure)
    check_positive("t_end", t_end)
    check_int("energy_cells", energy_cells, 1)
    if energy_cells > num_cells:
        raise InputError(f"energy_cells = {energy_cells} is not allowed; it must be at most the {num_cells} cells")
    vol = config.grid.volumes
    p = np.full(num_cells, ambient_pressure)
    p[:energy_cells] = (float(gamma) - 1.0) * energy / vol[:energy_cells].sum()
    w = np.stack([np.full(num_cells, density), np.zeros(num_cells), p])
    info = {"energy": energy, "density": density, "energy_cells": int(energy_cells)}
    return Problem("sedov", config, params, w, t_end, info=info)


@dataclass(frozen=True)
class WindSetup:
    """Physical set-up of the wind bubble (jf1uids' example, Storcks & Buck 2024).

    Defaults: 40 M☉ star, v∞ = 2000 km/s, Ṁ = 2.965e-3 M☉/Myr × M/M☉, ambient 2 m_p/cm³ and
    p/k = 3e4 K/cm³, t = 2.5e4 yr, 3 pc box; code units 3 pc, 1e-4 M☉, 1 km/s.
    """

    star_mass_msun: float = 40.0
    v_inf_km_s: float = 2000.0
    mdot_per_msun: float = 2.965e-3  # M☉/Myr per M☉ of star mass
    ambient_density_mp_cm3: float = 2.0
    ambient_pressure_k_cm3: float = 3e4
    t_end_yr: float = 2.5e4
    box_pc: float = 3.0

    @property
    def mdot_msun_per_myr(self) -> float:
        return self.mdot_per_msun * self.star_mass_msun

    @property
    def units(self) -> CodeUnits:
        return CodeUnits(self.box_pc * u.pc, 1e-4 * u.Msun, 1.0 * u.km / u.s)

    def code_values(self) -> dict[str, float]:
        """Wind and ambient parameters in code units."""
        cu = self.units
        return {
            "mdot": cu.to_code(self.mdot_msun_per_myr * u.Msun / u.Myr),
            "v_inf": cu.to_code(self.v_inf_km_s * u.km / u.s),
            "rho": cu.to_code(self.ambient_density_mp_cm3 * const.m_p / u.cm**3),
            "p": cu.to_code(self.ambient_pressure_k_cm3 * const.k_B * u.K / u.cm**3),
            "t_end": cu.to_code(self.t_end_yr * u.yr),
            "r_max": cu.to_code(self.box_pc * u.pc),
        }


MIN_WIND_CELLS = 16
"""Fewest cells of :func:`wind_problem`: its default 2 injection cells are then 1/8 of the grid."""
WIND_FRACTION = 8
"""The injection cells of :func:`wind_problem` may be at most 1/WIND_FRACTION of the grid."""


def mdot_code(star_mass_msun, setup: WindSetup):
    """Ṁ in code units for a star of the given mass (the set-up's Ṁ ∝ M scaling)."""
    return setup.units.to_code(setup.mdot_per_msun * u.Msun / u.Myr) * star_mass_msun


def wind_problem(
    num_cells: int = 401,
    setup: WindSetup | None = None,
    wind_cells: int | None = None,
    gamma: float = 5.0 / 3.0,
    cfl: float = 0.8,
    **config_kw,
) -> Problem:
    """Stellar-wind bubble in spherical geometry (reflective centre, open outer edge; HLLC with
    the van Leer limiter unless ``config_kw`` says otherwise).
    ``num_cells`` >= 16; ``wind_cells`` (the innermost cells receiving the wind, 1 to
    ``num_cells`` // 8) defaults to the cells inside 1 % of the box (at least 2)."""
    setup = setup or WindSetup()
    if not isinstance(setup, WindSetup):
        raise InputError(f"setup = {setup!r} is not allowed; it must be a WindSetup (or None: the default)")
    # every field a real number > 0 (a text value passed check_positive, which converts "40",
    # then failed in the unit arithmetic with a TypeError; Ṁ per M☉ <= 0 and box_pc were unchecked
    # or refused in code units as "wind mass-loss rate = -1.17e+06", "length unit = 0 pc")
    for name, value in (("star mass", setup.star_mass_msun), ("v_inf", setup.v_inf_km_s),
                        ("mdot_per_msun", setup.mdot_per_msun),
                        ("ambient density", setup.ambient_density_mp_cm3),
                        ("ambient pressure", setup.ambient_pressure_k_cm3), ("t_end_yr", setup.t_end_yr),
                        ("box_pc", setup.box_pc)):
        check_positive(name, value, strict=True)
    # the wind is injected uniformly into the innermost wind_cells cells, which must stay a small
    # part of the grid: at 4 cells the default 2 injection cells were half the box, and the
    # "bubble" compared with Weaver's was the injection region itself
    if isinstance(num_cells, bool) or not isinstance(num_cells, int | np.integer) or num_cells < MIN_WIND_CELLS:
        raise InputError(f"number of cells = {num_cells!r} is not allowed for the wind problem; it must be an "
                         f"integer >= {MIN_WIND_CELLS} (the wind is injected into the innermost cells, which must "
                         f"be at most 1/{WIND_FRACTION} of the grid)")
    if num_cells > MAX_CELLS:  # HydroConfig's message gave its range [4, ...], which the wind refuses below 16
        raise InputError(f"number of cells = {num_cells!r} is not allowed for the wind problem; it must be an "
                         f"integer in [{MIN_WIND_CELLS}, {MAX_CELLS}] (int32 cell indices)")
    most = int(num_cells) // WIND_FRACTION
    if wind_cells is None:
        wind_cells = max(2, int(round(0.01 * num_cells)))
    elif isinstance(wind_cells, bool) or not isinstance(wind_cells, int | np.integer) or not 1 <= wind_cells <= most:
        raise InputError(f"wind_cells = {wind_cells!r} is not allowed for {num_cells} cells; it must be an integer "
                         f"in [1, {most}] (at most 1/{WIND_FRACTION} of the grid receives the wind)")
    cv = setup.code_values()
    # van Leer: the shock lands in the same cell as with MC at 401 cells, and the wind-parameter
    # recovery was validated with it (MC's profile loss had a spurious minimum at 64 cells)
    kw = {"left_boundary": "reflective", "right_boundary": "open", "geometry": "spherical", "limiter": "van_leer"}
    kw.update(config_kw)
    config = HydroConfig(num_cells=num_cells, r_max=cv["r_max"], wind_cells=wind_cells, **kw)
    params = HydroParams(gamma=gamma, cfl=cfl, wind_mass_loss_rate=cv["mdot"], wind_velocity=cv["v_inf"])
    w = np.stack([np.full(num_cells, cv["rho"]), np.zeros(num_cells), np.full(num_cells, cv["p"])])
    return Problem("wind", config, params, w, cv["t_end"], units=setup.units, info={"setup": setup, **cv})
