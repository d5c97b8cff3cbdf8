"""Learn a quadratic drag force with an MLP inside the RK4 integrator, trained through the
unrolled trajectories of three throws and tested on a fourth.

Run: .venv/bin/python examples/orbit_learn_drag.py  (writes outputs/orbit/learn_drag.png)
"""

import argparse
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Writes outputs/orbit/learn_drag.png.")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()  # before importing JAX, so that --help answers at once

    import jax

    jax.config.update("jax_enable_x64", True)

    from astrograd.orbit import learn_drag
    from astrograd.orbit._plot import plot_learned_drag

    r = learn_drag(drag=0.02, steps=1500, key=jax.random.key(0), progress=True)
    print(f"drag law relative error: {r.drag_relative_error:.3f}")
    print(f"position RMS on training throws {r.train_position_rms:.4f} m "
          f"(no drag {r.train_position_rms_no_drag:.4f} m)")
    print(f"position RMS on the held-out throw {r.test_position_rms:.4f} m "
          f"(no drag {r.test_position_rms_no_drag:.4f} m)")
    print("figure:", plot_learned_drag(r, Path("outputs/orbit/learn_drag.png")))
