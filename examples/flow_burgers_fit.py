"""Burgers: optimise the initial state so that step 16 matches the run from -sin(pi x).

Run: .venv/bin/python examples/flow_burgers_fit.py   (writes outputs/flow/burgers_fit.png)
"""

from pathlib import Path

from astrograd.flow import fit_burgers
from astrograd.flow._plot import plot_burgers_fit

if __name__ == "__main__":
    result = fit_burgers(50, 128.0, callback=lambda i, loss: print(f"iteration {i:3d}  loss {loss:.6f}"))
    print(f"loss {result['initial_loss']:.4f} -> {result['final_loss']:.6f} (book: 0.383 -> 0.00326)")
    print("figure:", plot_burgers_fit(Path("outputs/flow/burgers_fit.png"), result))
