"""Figures for the ballistic-throw examples (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from astrograd._errors import InputError
from astrograd._plotting import pyplot, save_figure
from astrograd.orbit._problems import AngleSearch, DragLearning, GravityFit

__all__ = ["plot_best_angle", "plot_gravity_fit", "plot_learned_drag"]


def _figure(ncols: int):
    plt = pyplot()
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 4.0), constrained_layout=True)
    return plt, fig, axes


def _save(fig, path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"plot file {str(path)!r} must end in .png")
    return save_figure(fig, path, dpi=110, tight=False)


def _in_air(traj):
    pos = np.asarray(traj.position)
    keep = np.ones(len(pos), bool)
    below = np.flatnonzero(pos[:, 1] < 0)
    if below.size:
        keep[below[0] + 1:] = False
    return pos[keep]


def plot_gravity_fit(result: GravityFit, path) -> Path:
    """Observed, initial and fitted trajectories; relative error of g and loss per iteration."""
    plt, fig, (ax, ax2) = _figure(2)
    obs = _in_air(result.observed)
    ax.plot(obs[:, 0], obs[:, 1], "o", ms=3, color="k", label=f"observed (g = {result.g_true:g} m/s²)")
    ini = _in_air(result.initial)
    ax.plot(ini[:, 0], ini[:, 1], "--", color="tab:gray", label=f"initial guess (g = {result.g_history[0]:g})")
    fit = np.asarray(result.fitted.position)[: len(obs)]
    ax.plot(fit[:, 0], fit[:, 1], "-", color="tab:red", label=f"fitted (g = {result.g:.5f})")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="x (m)", ylabel="height (m)", title="trajectories")
    ax.legend(fontsize=8)
    it = np.arange(len(result.g_history))
    ax2.semilogy(it, np.abs(result.g_history - result.g_true) / result.g_true, label="|g − g_true| / g_true")
    ax2.semilogy(it, result.losses, label="loss (m²)")
    ax2.axhline(1e-3, color="k", ls=":", lw=0.8)
    ax2.set(xlabel="iteration", title="convergence")
    ax2.legend(fontsize=8)
    return _save(fig, path)


def plot_best_angle(results: AngleSearch | Sequence[AngleSearch], path) -> Path:
    """Range against throw angle (brute-force scan) with the gradient-ascent iterates."""
    if isinstance(results, AngleSearch):
        results = [results]
    plt, fig, (ax, ax2) = _figure(2)
    for r in results:
        label = f"k = {r.drag:g} /m"
        (line,) = ax.plot(r.scan_angles_deg, r.scan_ranges_m, label=f"{label}: scan")
        hist = r.angle_history_deg
        ranges_at = np.interp(hist, r.scan_angles_deg, r.scan_ranges_m)
        ax.plot(hist, ranges_at, "o", ms=3, color=line.get_color(), alpha=0.6)
        ax.axvline(r.angle_deg, color=line.get_color(), ls=":", lw=0.8)
        ax2.plot(np.arange(len(hist)), hist, color=line.get_color(),
                 label=f"{label}: {r.angle_deg:.3f}° (scan {r.scan_angle_deg:.3f}°)")
    ax.set(xlabel="angle (degrees)", ylabel="range (m)", title=f"range at {results[0].speed:g} m/s")
    ax.legend(fontsize=8)
    ax2.set(xlabel="gradient-ascent iteration", ylabel="angle (degrees)", title="ascent")
    ax2.legend(fontsize=8)
    return _save(fig, path)


def plot_learned_drag(result: DragLearning, path) -> Path:
    """Trajectories (data, learned drag, no drag) and the drag law, learned vs true."""
    plt, fig, (ax, ax2) = _figure(2)
    n_train = len(result.train_throws)
    for k, (obs, lrn, nod) in enumerate(zip(result.observed, result.learned, result.no_drag, strict=True)):
        held_out = k >= n_train
        o = _in_air(obs)
        ax.plot(o[:, 0], o[:, 1], "o", ms=2.5, color="k", label="data (true drag)" if k == 0 else None)
        m = np.asarray(lrn.position)[: len(o)]
        ax.plot(m[:, 0], m[:, 1], "--" if held_out else "-", color="tab:red",
                label=("learned, held-out throw" if held_out else ("learned drag" if k == 0 else None)))
        n = _in_air(nod)
        ax.plot(n[:, 0], n[:, 1], ":", color="tab:gray", label="no drag" if k == 0 else None)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="x (m)", ylabel="height (m)", title="trajectories")
    ax.legend(fontsize=8)
    order = np.argsort(result.speeds)
    ax2.plot(result.speeds[order], result.true_drag[order], color="k", label="true k v²")
    ax2.plot(result.speeds, result.learned_drag, ".", ms=3, color="tab:red", label="network |f(v)|")
    ax2.set(xlabel="speed at the velocities of the training throws (m/s)", ylabel="drag (m/s²)",
            title=f"drag law (relative error {result.drag_relative_error:.2%})")
    ax2.legend(fontsize=8)
    return _save(fig, path)
