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


def plot_reconstruction(path: Path, fields: dict, summary: dict) -> Path:
    """Field-level inference: slices of the true, MAP and posterior-mean white noise and of the
    posterior standard deviation; the data and the density of the posterior mean; and the
    cross-correlation with the truth against the Wiener filter's expectation."""
    plt = pyplot()
    has_truth = "truth" in fields
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.2))
    noise_panels = [("truth", "truth")] if has_truth else [("wiener", "Wiener filter")]
    noise_panels += [("map", "MAP"), ("mean", "posterior mean")]
    lim = float(np.percentile(np.abs(fields["linear_" + noise_panels[0][0]]), 99)) + 1e-9
    for ax, (name, title) in zip(axes[0, :3], noise_panels, strict=True):
        ax.imshow(fields["linear_" + name][:, :, 0], cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
        ax.set_title(f"initial conditions: {title}\n(linear δ at a = 1, slice z = 0)", fontsize=9)
    im = axes[0, 3].imshow(fields["std"][:, :, 0], cmap="viridis", vmin=0, origin="lower")
    axes[0, 3].set_title(f"posterior std of the white noise\n(linear theory {summary['posterior_std_linear']:.2f})",
                         fontsize=9)
    fig.colorbar(im, ax=axes[0, 3], fraction=0.046)
    dens = [("data", "observed δ (with noise)")]
    dens += [("density_truth", "true δ")] if has_truth else []
    dens += [("density_mean", "δ of the posterior mean")]
    vmax = float(np.percentile(np.abs(fields["data"]), 99))
    for ax, (name, title) in zip(axes[1, : len(dens)], dens, strict=True):
        ax.imshow(fields[name][:, :, 0], cmap="inferno", vmin=-1, vmax=max(vmax, 1e-9), origin="lower")
        ax.set_title(title, fontsize=9)
    for ax in list(axes[0]) + list(axes[1, : len(dens)]):
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[1, len(dens) : 3]:
        ax.axis("off")
    ax = axes[1, 3]
    ax.plot(fields["k"], fields["r_wiener_expected"], "k--", label="Wiener filter, expected")
    for name, style, label in (("r_wiener", "C0:", "Wiener filter"), ("r_map", "C1-", "MAP"),
                               ("r_mean", "C2-", "posterior mean")):
        if name in fields:
            ax.plot(fields["k"], fields[name], style, label=f"{label} × truth")
    ax.set_xlabel("k (h/Mpc)")
    ax.set_ylabel("cross-correlation r(k)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    fig.suptitle(f"initial conditions from a noisy density map at a = {summary['a_stop']:g} "
                 f"(σ = {summary['noise']:g}; {summary['chains']} × {summary['samples']} NUTS draws)", fontsize=10)
    return save_figure(fig, path, dpi=110)
