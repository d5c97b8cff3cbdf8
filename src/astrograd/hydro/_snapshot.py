"""HDF5 snapshots: datasets x, rho, u, p (code units); attributes time, gamma, geometry and, for
runs in physical units, unit_length_cm, unit_mass_g, unit_velocity_cm_s; the run's numerics
(:func:`numerics_attributes`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrograd._errors import InputError
from astrograd.io import read_h5, write_h5
from astrograd.units import CodeUnits

__all__ = ["read_snapshot", "write_snapshot"]


# the run's numerics, written as attributes so that a run continued from the snapshot (`--init`)
# uses them: a continued `--riemann hll --cfl 0.4` run went on with the defaults
NUMERICS = ("riemann", "limiter", "integrator", "left_boundary", "right_boundary", "cfl_width")


def numerics_attributes(config, params) -> dict:
    """The attributes recording the numerics of a run with ``config`` and ``params``; with a wind
    (``wind_cells`` > 0) also ``wind_momentum``, 0 or 1."""
    attrs = {**{k: str(getattr(config, k)) for k in NUMERICS}, "cfl": float(params.cfl)}
    if config.wind_cells > 0:
        attrs["wind_momentum"] = int(config.wind_momentum)
    return attrs


def write_snapshot(
    path,
    x,
    primitive,
    *,
    time: float,
    gamma: float,
    geometry: str,
    units: CodeUnits | None = None,
    attrs: dict | None = None,
) -> Path:
    """Write a snapshot. x: (n,) cell centres; primitive: (3, n) = (ρ, u, p), code units."""
    w = np.asarray(primitive, dtype=float)
    meta = {"time": float(time), "gamma": float(gamma), "geometry": str(geometry)}
    if units is not None:
        meta.update(units.cgs_attributes())
    meta.update(attrs or {})
    return write_h5(path, {"x": np.asarray(x, float), "rho": w[0], "u": w[1], "p": w[2]}, meta)


def read_snapshot(path, num_cells: int | None = None):
    """Read an initial state. Returns (x or None, (3, n) primitive, attrs).

    ``rho``, ``u`` and ``p`` are required and must have equal lengths (and ``num_cells`` if
    given); ``x`` is optional and must then have the same length.
    """
    data, attrs = read_h5(path, required=("rho", "u", "p"))
    arrays = [_numbers(path, k, data[k]) for k in ("rho", "u", "p")]
    n = arrays[0].size
    for name, a in zip(("u", "p"), arrays[1:], strict=True):
        if a.size != n:
            raise InputError(f"dataset {name!r} in {str(path)!r} has {a.size} values but 'rho' has {n}")
    if num_cells is not None and n != num_cells:
        raise InputError(f"{str(path)!r} has {n} cells but --cells is {num_cells}")
    x = None
    if "x" in data:
        x = _numbers(path, "x", data["x"])
        if x.size != n:
            raise InputError(f"dataset 'x' in {str(path)!r} has {x.size} values but 'rho' has {n}")
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:  # a NaN passed the uniform-grid check (comparisons with NaN are false) and ran
            raise InputError(f"dataset 'x' in {str(path)!r} holds {x[bad[0]]} at index {bad[0]}; it must hold finite "
                             "cell centres")
    return x, np.stack(arrays), attrs


def _numbers(path, name: str, values: np.ndarray) -> np.ndarray:
    """Dataset ``name`` as a 1D float array, else a one-line InputError (several dimensions, or
    values that are not real numbers: strings, complex, booleans, compound types)."""
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise InputError(f"dataset {name!r} in {str(path)!r} holds {values.dtype} values; it must hold real numbers")
    if values.ndim > 1:
        raise InputError(f"dataset {name!r} in {str(path)!r} has shape {values.shape}; it must be 1D")
    return values.astype(float).reshape(-1)
