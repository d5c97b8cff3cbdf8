"""Recover g = 2.5 m/s² from a thrown ball's trajectory with Adam (start: 15 m/s²).

Run: .venv/bin/python examples/orbit_fit_gravity.py  (writes outputs/orbit/fit_gravity.png)
"""

import argparse
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Writes outputs/orbit/fit_gravity.png.")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()  # before importing JAX, so that --help answers at once

    import jax

    jax.config.update("jax_enable_x64", True)  # a script may; the package never does at import

    from astrograd.orbit import fit_gravity
    from astrograd.orbit._plot import plot_gravity_fit

    result = fit_gravity(g_true=2.5, g_init=15.0, speed=10.0, angle_deg=60.0, dt=0.05, progress=True)
    print(f"g = {result.g:.6f} m/s² (relative error {result.relative_error:.1e}) after "
          f"{result.iterations} Adam steps; within 1e-3 from step {result.iterations_to_1e3}")
    joint = fit_gravity(joint=True, learning_rate=0.3, steps=3000, progress=True)
    print(f"joint fit: g = {joint.g:.6f} m/s², v0 = {joint.velocity0.round(6).tolist()} m/s "
          f"(true {joint.velocity0_true.round(6).tolist()})")
    print("figure:", plot_gravity_fit(result, Path("outputs/orbit/fit_gravity.png")))
