"""White noise → linear modes → LPT → N-body: the whole forward model in one function."""

from __future__ import annotations

from jaxtyping import Array, Float

from astrograd.cosmo import Cosmology, growth_table
from astrograd.pm._config import PMConfig
from astrograd.pm._lpt import check_noise, linear_modes, lpt
from astrograd.pm._nbody import kdk_factors, nbody


def simulate(
    noise: Float[Array, "px py pz"],
    cosmo: Cosmology,
    config: PMConfig,
    adjoint: str = "reverse_time",
    devices=None,
) -> tuple[Float[Array, "n 3"], Float[Array, "n 3"]]:
    """Displacements (N, 3, Mpc/h) and momenta (N, 3) at ``config.a_stop`` from white noise on
    the particle grid; differentiable with respect to ``noise`` and every parameter of ``cosmo``.
    ``devices`` splits the N-body part over several devices (see :func:`nbody`)."""
    # checked before the growth table is integrated (seconds): a wrong shape fails at once
    check_noise(noise, config)
    table = growth_table(cosmo)
    modes = linear_modes(noise, cosmo, config, table)
    disp, mom = lpt(modes, cosmo, config, table)
    return nbody(disp, mom, kdk_factors(cosmo, config, table), config, adjoint=adjoint, devices=devices)
