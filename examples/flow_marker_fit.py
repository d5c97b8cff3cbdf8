"""Marker transport: optimise the initial velocity so that the marker after 20 steps matches a
target (closed unit box, 32 x 32, Adam through the solver and its pressure solves).

Run: .venv/bin/python examples/flow_marker_fit.py   (writes outputs/flow/marker_fit.png)
"""

import argparse
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Writes outputs/flow/marker_fit.png.")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()  # before importing JAX, so that --help answers at once

    from astrograd.flow import fit_marker
    from astrograd.flow._plot import plot_marker_fit

    result = fit_marker(100, 0.05, n=32, steps=20, progress=True)
    for i in range(0, len(result["losses"]), 10):
        print(f"iteration {i:3d}  loss {result['losses'][i]:.3e}")
    print(f"loss {result['initial_loss']:.3e} -> {result['final_loss']:.3e}")
    print("figure:", plot_marker_fit(Path("outputs/flow/marker_fit.png"), result))
