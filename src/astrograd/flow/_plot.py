"""Figures: vorticity/marker frames, GIF animations, fit results (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrograd._plotting import pyplot, save_figure
from astrograd.flow._ops import curl


def _frame(fig, axes, vx, vy, marker, solid, grid, time, vmax):
    w = np.asarray(curl(vx, vy, grid))
    w = np.where(np.asarray(solid) > 0.5, np.nan, w)
    ext = (0, grid.lx, 0, grid.ly)
    axes[0].clear()
    axes[1].clear()
    axes[0].imshow(w, origin="lower", extent=ext, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    axes[0].set_title(f"vorticity, t = {time:.4g}")
    m = np.where(np.asarray(solid) > 0.5, np.nan, np.asarray(marker))
    axes[1].imshow(m, origin="lower", extent=ext, cmap="magma")
    axes[1].set_title("marker")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def write_gif(path, saved, params, config, *, fps: int = 10) -> Path:
    """Animated GIF of vorticity and marker from stacked saved states (leading axis = frame)."""
    from PIL import Image

    plt = pyplot()
    g = config.grid
    n = int(np.shape(saved.time)[0])
    w_all = [np.asarray(curl(saved.vx[k], saved.vy[k], g)) for k in range(n)]
    fluid = np.asarray(params.solid) < 0.5
    vmax = max(float(np.nanpercentile(np.abs(w[fluid]), 99)) for w in w_all) or 1.0
    aspect = g.ly / g.lx
    fig, axes = plt.subplots(1, 2, figsize=(6, 3 * aspect + 0.5), dpi=80)
    frames = []
    for k in range(n):
        _frame(fig, axes, saved.vx[k], saved.vy[k], saved.marker[k], params.solid, g, float(saved.time[k]), vmax)
        fig.tight_layout()
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        frames.append(Image.fromarray(rgba[..., :3].copy()))
    plt.close(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
    return path


def plot_state(path, state, params, config, title: str = "") -> Path:
    """PNG of vorticity and marker of one state."""
    plt = pyplot()
    g = config.grid
    w = np.asarray(curl(state.vx, state.vy, g))
    vmax = float(np.nanpercentile(np.abs(w[np.asarray(params.solid) < 0.5]), 99)) or 1.0
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.5 * g.ly / g.lx + 0.6), dpi=100)
    _frame(fig, axes, state.vx, state.vy, state.marker, params.solid, g, float(state.time), vmax)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_burgers_fit(path, result: dict) -> Path:
    """Initial states (true, fitted), states at the target step, and the loss history."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), dpi=100)
    x = result["x"]
    axes[0].plot(x, result["u0_true"], "k-", label="u0 = -sin(pi x)")
    axes[0].plot(x, result["u0_fit"], "C1-", label="fitted u0")
    axes[0].set_title("initial state")
    axes[0].legend(fontsize=8)
    axes[1].plot(x, result["target"], "k-", label="target (step 16)")
    axes[1].plot(x, result["u_fit"], "C1--", label="from fitted u0")
    axes[1].set_title("state at the target step")
    axes[1].legend(fontsize=8)
    axes[2].semilogy(np.arange(len(result["losses"])), result["losses"], "C0-")
    axes[2].set_xlabel("gradient-descent iteration")
    axes[2].set_title(f"loss {result['initial_loss']:.3g} -> {result['final_loss']:.3g}")
    return save_figure(fig, path)


def plot_marker_fit(path, result: dict) -> Path:
    """Initial marker, target, fitted marker, fitted initial velocity and loss history."""
    plt = pyplot()
    nx, ny, lx, ly = result["grid"]
    ext = (0, lx, 0, ly)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), dpi=100)
    vmax = float(max(result["target"].max(), result["marker_fit"].max()))
    for ax, key, title in zip(
        axes[:3], ("marker0", "target", "marker_fit"), ("initial marker", "target", "fitted"), strict=True
    ):
        ax.imshow(result[key], origin="lower", extent=ext, vmin=0, vmax=vmax, cmap="magma")
        ax.set_title(title)
    ux = 0.5 * (result["vx0"][:, 1:] + result["vx0"][:, :-1])
    uy = 0.5 * (result["vy0"][1:] + result["vy0"][:-1])
    xs = (np.arange(nx) + 0.5) * lx / nx
    ys = (np.arange(ny) + 0.5) * ly / ny
    axes[2].quiver(xs[::2], ys[::2], ux[::2, ::2], uy[::2, ::2], color="w")
    axes[3].semilogy(result["losses"], "C0-")
    axes[3].set_title(f"loss {result['initial_loss']:.3g} -> {result['final_loss']:.3g}")
    axes[3].set_xlabel("Adam iteration")
    return save_figure(fig, path)
