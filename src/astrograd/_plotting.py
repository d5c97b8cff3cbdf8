"""Shared matplotlib plumbing for the figures of every package (Agg backend, no screen)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (figures are files; no display is needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, *, dpi=None, tight: bool = True) -> Path:
    """Lay out (``tight_layout`` unless ``tight=False``), write ``fig`` to ``path`` (creating its
    folder), close it, and return the path."""
    plt = pyplot()
    if tight:
        fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
