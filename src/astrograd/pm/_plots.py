"""Figures of the PM examples (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrograd._plotting import pyplot, save_figure


def plot_images(path: Path, images: list[np.ndarray], titles: list[str], suptitle: str = "") -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(images), figsize=(3.6 * len(images), 2.6), squeeze=False)
    for ax, img, title in zip(axes[0], images, titles, strict=True):
        ax.imshow(img, cmap="inferno", origin="upper", vmin=0, vmax=np.percentile(img, 99.5) + 1e-9)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return save_figure(fig, path, dpi=120)


def plot_loss(path: Path, losses: list[float], reference: dict[int, float] | None = None) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    it = np.arange(len(losses))
    ax.loglog(np.maximum(it, 1), losses, label="astrograd")
    for n, v in (reference or {}).items():
        ax.plot([n], [v], "kx")
    if reference:
        ax.plot([], [], "kx", label="pmwd (paper)")
    ax.set_xlabel("Adam iteration")
    ax.set_ylabel("var(image − target) / var(target)")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)


def write_gif(path: Path, frames: list[np.ndarray], iterations: list[int], fps: int = 8) -> Path:
    """Animated GIF of the projections (frames: (views, h, w) each) during the fit."""
    plt = pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter

    views = frames[0].shape[0]
    vmax = float(np.percentile(np.asarray(frames[-1]), 99.5)) + 1e-9
    fig, axes = plt.subplots(1, views, figsize=(3.2 * views, 2.3), squeeze=False)
    ims = []
    for v, ax in enumerate(axes[0]):
        ims.append(ax.imshow(frames[0][v], cmap="inferno", vmin=0, vmax=vmax))
        ax.set_xticks([])
        ax.set_yticks([])
    title = fig.suptitle("")

    def draw(i):
        for v, im in enumerate(ims):
            im.set_data(frames[i][v])
        title.set_text(f"iteration {iterations[i]}")
        return ims

    anim = FuncAnimation(fig, draw, frames=len(frames))
    anim.save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return path


def plot_power(path: Path, k, p, p_lin, a: float) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.loglog(k, p, label=f"PM, a = {a:g}")
    ax.loglog(k, p_lin, "--", label="linear theory")
    ax.set_xlabel("k [h/Mpc]")
    ax.set_ylabel("P(k) [(Mpc/h)³]")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)
