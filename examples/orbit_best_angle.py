"""The throw angle of maximum range by gradient ascent: 45° without drag, lower with drag.

Run: .venv/bin/python examples/orbit_best_angle.py  (writes outputs/orbit/best_angle.png)
"""

import argparse
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Writes outputs/orbit/best_angle.png.")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()  # before importing JAX, so that --help answers at once

    import jax

    jax.config.update("jax_enable_x64", True)

    from astrograd.orbit import best_angle
    from astrograd.orbit._plot import plot_best_angle

    results = [best_angle(speed=20.0, drag=k, dt=0.02, progress=True) for k in (0.0, 0.01, 0.02, 0.05)]
    for r in results:
        print(f"k = {r.drag:<5g} /m: ascent {r.angle_deg:8.4f}°  scan {r.scan_angle_deg:8.3f}°  "
              f"range {r.range_m:8.4f} m")
    print("figure:", plot_best_angle(results, Path("outputs/orbit/best_angle.png")))
