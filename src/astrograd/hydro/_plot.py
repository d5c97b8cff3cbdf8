"""Figures of the hydro examples (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrograd._plotting import pyplot, save_figure


def plot_profiles(path, x, w, *, reference=None, title="", xlabel="x", labels=("density", "velocity", "pressure"),
                  vlines=(), reference_label="exact") -> Path:
    """Three panels (ρ, u, p) against x; ``reference`` (x_ref, (3, m)) drawn as a line."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for k, ax in enumerate(axes):
        if reference is not None:
            ax.plot(reference[0], reference[1][k], "k-", lw=1, label=reference_label)
        ax.plot(x, w[k], ".", ms=3, label="astrograd")
        for v, lab in vlines:
            ax.axvline(v, color="r", ls="--", lw=1, label=lab)
        ax.set_xlabel(xlabel)
        ax.set_title(labels[k])
        if k == 2 and np.all(np.asarray(w[k]) > 0) and np.ptp(np.log10(np.asarray(w[k]))) > 2:
            ax.set_yscale("log")
        if k == 0 and np.all(np.asarray(w[k]) > 0) and np.ptp(np.log10(np.asarray(w[k]))) > 2:
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path, dpi=110)


def plot_loss_map(path, v_grid, m_grid, losses, paths=None, truth=None, title="") -> Path:
    """Loss landscape over (v∞, star mass) with optimisation paths."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.4, 5))
    mesh = ax.pcolormesh(v_grid, m_grid, np.log10(np.maximum(losses, 1e-300)), shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="log10 loss")
    for i, p in enumerate(paths or []):
        ax.plot(p[:, 0], p[:, 1], "-", color="w", lw=1.2)
        ax.plot(p[0, 0], p[0, 1], "o", color="w", ms=4)
        ax.plot(p[-1, 0], p[-1, 1], "x", color="r", ms=6, label="recovered" if i == 0 else None)
    if truth is not None:
        ax.plot(*truth, "*", color="orange", ms=12, label="truth")
    ax.set_xlabel("v∞ [km/s]")
    ax.set_ylabel("star mass [M☉]")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return save_figure(fig, path, dpi=110)


def plot_wind(path, r_pc, w, dw, *, weaver_pc=None, weaver=None, title="") -> Path:
    """Wind bubble: profiles (top) and forward-mode sensitivities ∂/∂v∞ (bottom).

    weaver: optional ``(r_pc, rho, u, p)`` of the similarity solution (same units as ``w``),
    drawn dashed over the profiles; weaver_pc: the Weaver outer radius, drawn as a vertical line."""
    plt = pyplot()

    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4), sharex=True)
    names = ("density [code]", "velocity [km/s]", "pressure [code]")
    for k in range(3):
        ax = axes[0, k]
        ax.plot(r_pc, w[k], "-", lw=1.2, label="astrograd")
        if k != 1:
            ax.set_yscale("log")
        if weaver is not None:
            ax.plot(weaver[0], weaver[k + 1], "k--", lw=1, label="Weaver (adiabatic similarity)")
        if weaver_pc is not None:
            ax.axvline(weaver_pc, color="r", ls=":", lw=1, label="R₂ = 0.88 (L t³/ρ)^(1/5)")
        ax.set_title(names[k])
        axes[1, k].plot(r_pc, dw[k], "-", color="C2", lw=1.2)
        axes[1, k].set_title("∂(" + names[k].split()[0] + ")/∂v∞")
        axes[1, k].set_xlabel("r [pc]")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path, dpi=110)


def plot_convergence(path, cells, errors, labels, title="") -> Path:
    """L1 error against cell count, log-log, with a first-order guide."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 4))
    for e, lab in zip(errors, labels, strict=True):
        ax.loglog(cells, e, "o-", label=lab)
    c = np.asarray(cells, float)
    ax.loglog(c, errors[0][0] * c[0] / c, "k:", label="order 1")
    ax.set_xlabel("cells")
    ax.set_ylabel("L1 density error")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=110)


def plot_posterior(path, v_inf, mdot, truth, *, grid=None, laplace_cov=None, title="") -> Path:
    """Posterior draws of (v∞, Ṁ) with the contours holding 68 % and 95 % of the grid posterior
    (``grid``: ((ln v∞ axis, ln Ṁ axis), log posterior (g, g))), the Laplace 1σ and 2σ ellipses
    (``laplace_cov`` in ln v∞, ln Ṁ, centred on the draws' mean) and the truth; the marginals."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    v, m = np.ravel(v_inf), np.ravel(mdot)
    ax = axes[0]
    ax.plot(v, m, ".", ms=2, alpha=0.4, color="C0", label="NUTS draws")
    w = None
    if grid is not None:
        (lv, lm), logp = grid
        w = np.exp(logp - logp.max())
        w /= w.sum()
        order = np.sort(w.ravel())[::-1]
        levels = [order[np.searchsorted(np.cumsum(order), q)] for q in (0.95, 0.68)]
        ax.contour(np.exp(lv), np.exp(lm), w, levels=levels, colors="k", linewidths=1)
        ax.plot([], [], "k-", lw=1, label="grid posterior 68 %, 95 %")
    if laplace_cov is not None:
        centre = np.log([v.mean(), m.mean()])
        vals, vecs = np.linalg.eigh(np.asarray(laplace_cov))
        angle = np.linspace(0.0, 2.0 * np.pi, 200)
        for k in (1.0, 2.0):
            ell = centre[:, None] + k * vecs @ (np.sqrt(vals)[:, None] * np.stack([np.cos(angle), np.sin(angle)]))
            ax.plot(np.exp(ell[0]), np.exp(ell[1]), "--", color="0.5", lw=1,
                    label="Laplace 1σ, 2σ" if k == 1 else None)
    ax.plot(*truth, "*", color="orange", ms=12, label="truth")
    ax.set_xlabel("v∞ [km/s]")
    ax.set_ylabel("Ṁ [M☉/Myr]")
    ax.legend(fontsize=7)
    for i, (ax, draws, label) in enumerate(((axes[1], v, "v∞ [km/s]"), (axes[2], m, "Ṁ [M☉/Myr]"))):
        ax.hist(draws, bins=30, density=True, color="C0", alpha=0.6, label="NUTS")
        if w is not None:
            axis = np.exp(grid[0][i])
            marginal = w.sum(axis=0 if i == 0 else 1)
            area = np.sum(0.5 * (marginal[1:] + marginal[:-1]) * np.diff(axis))
            ax.plot(axis, marginal / area, "k-", lw=1, label="grid")
        if laplace_cov is not None:
            sd, mu = np.sqrt(laplace_cov[i, i]), np.log(draws).mean()
            x = np.linspace(draws.min(), draws.max(), 200)
            ax.plot(x, np.exp(-0.5 * ((np.log(x) - mu) / sd) ** 2) / (np.sqrt(2 * np.pi) * sd * x), "--",
                    color="0.5", lw=1, label="Laplace")
        ax.axvline(truth[i], color="orange", lw=2, label="truth")
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path, dpi=110)
