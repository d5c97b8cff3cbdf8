"""Figures of the learning examples (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrograd._plotting import pyplot, save_figure
from astrograd.flow import Grid, curl


def plot_sol_errors(result: dict, path: str | Path) -> Path:
    """Relative L1 error over the rollout, one panel per test Reynolds number."""
    plt = pyplot()
    reynolds = result["reynolds"]
    fig, axes = plt.subplots(1, len(reynolds), figsize=(3.6 * len(reynolds), 3.2), squeeze=False)
    for r, ax in enumerate(axes[0]):
        for label, err in result["errors"].items():
            ax.plot(np.arange(err.shape[1]), err[r], label=label)
        ax.set_title(f"Re = {reynolds[r]:g}")
        ax.set_xlabel("step")
        ax.set_yscale("log")
    axes[0, 0].set_ylabel("relative L1 error")
    axes[0, 0].legend()
    return save_figure(fig, path, dpi=90)


def plot_sol_vorticity(result: dict, path: str | Path, run: int = 0) -> Path:
    """Vorticity after the rollout: reference and each mode side by side (one test run)."""
    plt = pyplot()
    nx, ny = result["grid"]
    grid = Grid(nx, ny, 100.0, 200.0)
    panels = [("reference", result["reference_final"][run])] + [(k, v[run][:2]) for k, v in result["finals"].items()]
    fields = [np.asarray(curl(vx, vy, grid)) for _, (vx, vy) in panels]
    vmax = max(float(np.abs(f).max()) for f in fields[:1]) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 4.0))
    for ax, (label, _), f in zip(axes, panels, fields, strict=True):
        ax.imshow(f, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=(0, 100, 0, 200))
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"vorticity after {result['steps']} steps, Re = {result['reynolds'][run]:g}", fontsize=10)
    return save_figure(fig, path, dpi=90)


def plot_control(result: dict, path: str | Path, rows: int = 4) -> Path:
    """Start, target, final marker with the networks and (where computed) with direct
    optimisation, for the first held-out pairs."""
    plt = pyplot()
    rows = min(rows, len(result["start"]))
    has_direct = len(result["final_direct"]) > 0
    cols = 4 if has_direct else 3
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for i in range(rows):
        panels = [
            ("start", result["start"][i]),
            ("target", result["target"][i]),
            (f"networks ({result['mae_networks'][i]:.3f})", result["final_networks"][i]),
        ]
        if has_direct:
            if i < len(result["final_direct"]):
                panels.append((f"direct ({result['mae_direct'][i]:.3f})", result["final_direct"][i]))
            else:
                panels.append(("direct: not run", np.zeros_like(result["start"][i])))
        for ax, (label, img) in zip(axes[i], panels, strict=True):
            ax.imshow(img, origin="lower", cmap="magma", vmin=0, vmax=1)
            ax.set_title(label, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(fig, path, dpi=90)
