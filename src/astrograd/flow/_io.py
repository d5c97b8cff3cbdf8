"""HDF5 snapshots of flow runs (layout documented in docs/flow.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrograd._errors import check_int
from astrograd.flow._solver import FlowConfig, FlowParams, FlowState
from astrograd.io import write_h5


def _fields(state: FlowState, index=None) -> dict:
    pick = (lambda a: np.asarray(a)) if index is None else (lambda a: np.asarray(a[index]))
    return {
        "vx": pick(state.vx),
        "vy": pick(state.vy),
        "marker": pick(state.marker),
        "pressure": pick(state.pressure),
    }


def write_flow_snapshot(
    path,
    final: FlowState,
    params: FlowParams,
    config: FlowConfig,
    *,
    saved: FlowState | None = None,
    save_every: int | None = None,
    attrs: dict | None = None,
) -> Path:
    """Write the final state (datasets ``vx (ny, nx+1)``, ``vy (ny+1, nx)``, ``marker``,
    ``pressure`` (ny, nx), ``obstacle`` (ny, nx) uint8; attributes ``time``, ``dx``, ``dy``,
    ``viscosity``, …) and, if ``saved`` is given, one group ``step_%06d`` per saved state
    (same four datasets, attribute ``time``)."""
    g = config.grid
    datasets = _fields(final)
    datasets["obstacle"] = (np.asarray(params.solid) > 0.5).astype(np.uint8)
    if saved is not None:
        # without it every saved state was named step_000000 and only the last one was kept
        save_every = check_int("save_every", save_every, 1)
        n_saved = int(np.shape(saved.time)[0])
        for k in range(n_saved):
            group = _fields(saved, k)
            group["attrs"] = {"time": float(saved.time[k]), "step": k * save_every}
            datasets[f"step_{k * save_every:06d}"] = group
    meta = {
        "time": float(final.time),
        "dx": g.dx,
        "dy": g.dy,
        "nx": g.nx,
        "ny": g.ny,
        "lx": g.lx,
        "ly": g.ly,
        "dt": config.dt,
        "viscosity": float(params.viscosity),
        "inflow_speed": float(params.inflow_speed),
        "boundaries": ",".join(
            (config.boundaries.left, config.boundaries.right, config.boundaries.bottom, config.boundaries.top)
        ),
        "advection": config.advection,
        "viscosity_scheme": config.viscosity_scheme,
        "pressure_solver": config.pressure_solver,
        "tol": config.tol,
    }
    meta.update(attrs or {})
    return write_h5(path, datasets, meta)


def write_burgers_snapshot(
    path,
    x,
    u_final,
    *,
    saved=None,
    save_every=None,
    dt: float,
    time: float,
    dx: float,
    viscosity: float,
    attrs: dict | None = None,
) -> Path:
    """Burgers: datasets ``x`` (n,), ``u`` (n,); groups ``step_%06d`` with ``u`` and ``time``."""
    datasets = {"x": np.asarray(x), "u": np.asarray(u_final)}
    if saved is not None:
        save_every = check_int("save_every", save_every, 1)  # None was a TypeError from int()
        for k in range(int(np.shape(saved)[0])):
            step = k * save_every
            datasets[f"step_{step:06d}"] = {"u": np.asarray(saved[k]), "attrs": {"time": dt * step, "step": step}}
    meta = {"time": time, "dx": dx, "dt": dt, "viscosity": viscosity}
    meta.update(attrs or {})
    return write_h5(path, datasets, meta)
