"""Gadget-style HDF5 snapshots (loadable by yt's Gadget frontend) and initial-condition files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from astrograd.cosmo import Cosmology
from astrograd.pm._config import PMConfig

#: ρ_crit today in 10¹⁰ M☉/h per (Mpc/h)³.
RHO_CRIT_1E10_MSUN_H_MPC_H3 = 27.7536627
KPC_IN_CM = 3.085677581491367e21
#: Gadget's default length unit (kpc/h), which yt assumes for Gadget HDF5 files.
KPC_PER_MPC = 1000.0
KM_IN_CM = 1.0e5
MSUN_IN_G = 1.98841e33
#: H0 in km/s per Mpc/h.
H0_KM_S_MPC_H = 100.0


def particle_mass(cosmo: Cosmology, config: PMConfig) -> float:
    """Mass of one particle in 10¹⁰ M☉/h: Ω_m ρ_crit V / N."""
    return float(RHO_CRIT_1E10_MSUN_H_MPC_H3 * float(cosmo.omega_m) * config.volume / config.num_ptcl)


def peculiar_velocity(mom: np.ndarray, a: float) -> np.ndarray:
    """Peculiar velocity a dx/dt in km/s from p = a² dx/dt / H0 (Mpc/h)."""
    return np.asarray(mom) * H0_KM_S_MPC_H / a


def write_gadget_snapshot(
    path: str | Path, pos: np.ndarray, mom: np.ndarray, a: float, cosmo: Cosmology, config: PMConfig
) -> Path:
    """Write one snapshot: ``Header`` attributes and ``PartType1/{Coordinates, Velocities,
    ParticleIDs}``. Gadget's default units, which yt assumes (also stored as
    ``UnitLength_in_cm`` etc. in ``Header`` and ``Parameters``): comoving kpc/h, Gadget
    velocities √a dx/dt = v_pec / √a in km/s, masses in 10¹⁰ M☉/h. ``pos`` is in Mpc/h.
    IDs follow the C order of the Lagrangian grid, from 0."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = config.num_ptcl
    box = np.asarray(config.box_size, dtype=np.float64) * KPC_PER_MPC
    units = {
        "UnitLength_in_cm": KPC_IN_CM,
        "UnitVelocity_in_cm_per_s": KM_IN_CM,
        "UnitMass_in_g": 1.0e10 * MSUN_IN_G,
    }
    with h5py.File(path, "w") as f:
        header = f.create_group("Header")
        header.attrs["BoxSize"] = float(box[0]) if np.all(box == box[0]) else box
        header.attrs["Time"] = float(a)
        header.attrs["Redshift"] = 1.0 / float(a) - 1.0
        num = np.array([0, n, 0, 0, 0, 0], dtype=np.uint32)
        header.attrs["NumPart_ThisFile"] = num
        header.attrs["NumPart_Total"] = num
        header.attrs["NumPart_Total_HighWord"] = np.zeros(6, dtype=np.uint32)
        header.attrs["MassTable"] = np.array([0.0, particle_mass(cosmo, config), 0, 0, 0, 0])
        header.attrs["NumFilesPerSnapshot"] = 1
        header.attrs["Omega0"] = float(cosmo.omega_m)
        header.attrs["OmegaLambda"] = float(cosmo.omega_de)
        header.attrs["HubbleParam"] = float(cosmo.h)
        header.attrs["Flag_Sfr"] = 0
        header.attrs["Flag_Cooling"] = 0
        header.attrs["Flag_Feedback"] = 0
        header.attrs["Flag_StellarAge"] = 0
        header.attrs["Flag_Metals"] = 0
        header.attrs["Flag_DoublePrecision"] = 0
        params = f.create_group("Parameters")
        for k, v in units.items():
            header.attrs[k] = v
            params.attrs[k] = v
        params.attrs["ComovingIntegrationOn"] = 1
        ptype = f.create_group("PartType1")
        coords = np.mod(np.asarray(pos, dtype=np.float64) * KPC_PER_MPC, box).astype(np.float32)
        # a coordinate within float32 round-off below the box side rounds up to it: 0 instead
        coords[coords.astype(np.float64) >= box] = 0.0
        ptype.create_dataset("Coordinates", data=coords)
        vel = peculiar_velocity(mom, a) / np.sqrt(a)
        ptype.create_dataset("Velocities", data=vel.astype(np.float32))
        ptype.create_dataset("ParticleIDs", data=np.arange(n, dtype=np.uint64))
    return path


def write_initial_conditions(
    path: str | Path, noise, disp, mom, cosmo: Cosmology, config: PMConfig, extra: dict | None = None
) -> Path:
    """Save white noise (particle grid), displacements and momenta at a_start (N, 3) with the
    configuration and cosmology as attributes: every PMConfig field; Ω_m, Ω_b, h, n_s, Ω_k, w0,
    wa, Ω_DE, ``transfer``, ``t_cmb`` and the normalisation that was given (``sigma8`` or
    ``A_s``; ``normalisation`` names it). ``extra``: more attributes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("white_noise", data=np.asarray(noise))
        f.create_dataset("displacement", data=np.asarray(disp))
        f.create_dataset("momentum", data=np.asarray(mom))
        for k in ("ptcl_grid", "mesh_shape", "box_size", "a_start", "a_stop", "num_steps", "lpt_order",
                  "compensate_cic"):
            f.attrs[k] = np.asarray(getattr(config, k))
        f.attrs["gradient"] = config.gradient
        f.attrs["dtype"] = config.dtype
        # an A_s-normalised cosmology has sigma8 = None (float(None) was a TypeError)
        normalisation = "sigma8" if cosmo.sigma8 is not None else "A_s"
        for k in ("omega_m", "omega_b", "h", "n_s", normalisation, "omega_k", "w0", "wa", "omega_de"):
            f.attrs[k] = float(getattr(cosmo, k))
        f.attrs["normalisation"] = normalisation
        f.attrs["transfer"] = cosmo.transfer
        f.attrs["t_cmb"] = float(cosmo.t_cmb)
        for k, v in (extra or {}).items():
            f.attrs[k] = v
    return path
