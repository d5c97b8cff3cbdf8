"""Cosmology: background expansion, linear growth D1/D2, Eisenstein–Hu transfer, linear power.

All functions are pure functions of a :class:`Cosmology` (an equinox module) and differentiable
with respect to its parameters. Units: k in h/Mpc, P(k) in (Mpc/h)³, radii in Mpc/h.
"""

from astrograd.cosmo._cosmology import (
    E2,
    HUBBLE_DISTANCE_MPC_H,
    TRANSFER_CHOICES,
    Cosmology,
    E,
    dlnE_dlna,
    omega_m_of_a,
)
from astrograd.cosmo._growth import GrowthTable, growth_factor, growth_rate, growth_table
from astrograd.cosmo._power import linear_power, sigma8, sigma_r, tophat_window
from astrograd.cosmo._transfer import (
    transfer,
    transfer_eisenstein_hu,
    transfer_eisenstein_hu_nowiggle,
)

__all__ = [
    "HUBBLE_DISTANCE_MPC_H",
    "TRANSFER_CHOICES",
    "Cosmology",
    "E",
    "E2",
    "GrowthTable",
    "dlnE_dlna",
    "growth_factor",
    "growth_rate",
    "growth_table",
    "linear_power",
    "omega_m_of_a",
    "sigma8",
    "sigma_r",
    "tophat_window",
    "transfer",
    "transfer_eisenstein_hu",
    "transfer_eisenstein_hu_nowiggle",
]
