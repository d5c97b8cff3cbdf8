"""Kármán vortex street in the Physics-based Deep Learning book's geometry: GIF and HDF5.

Run: .venv/bin/python examples/flow_karman.py [NX] [NY] [RE] [STEPS]
(defaults 64 128 400 600; writes outputs/flow/karman.gif and karman.h5)
"""

import argparse
from pathlib import Path

from _args import int_at_least, positive_float  # examples/_args.py


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Writes outputs/flow/karman.gif and outputs/flow/karman.h5.")
    parser.add_argument("nx", metavar="NX", type=int_at_least(2), nargs="?", default=64,
                        help="cells in x, across the 100 units wide channel (default: %(default)s)")
    parser.add_argument("ny", metavar="NY", type=int_at_least(2), nargs="?", default=128,
                        help="cells in y, along the 200 units long channel (default: %(default)s)")
    parser.add_argument("reynolds", metavar="RE", type=positive_float, nargs="?", default=400.0,
                        help="Reynolds number of the cylinder (default: %(default)s)")
    parser.add_argument("steps", metavar="STEPS", type=int_at_least(1), nargs="?", default=600,
                        help="time steps of dt = 1; about 60 are saved for the GIF (default: %(default)s)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()  # before importing JAX, so that --help and bad values answer at once

    import jax

    from astrograd import flow
    from astrograd.flow._io import write_flow_snapshot
    from astrograd.flow._plot import write_gif

    nx, ny, reynolds, steps = args.nx, args.ny, args.reynolds, args.steps
    state, params, config = flow.karman(
        nx, ny, reynolds, 1.0, advection="maccormack", perturbation=0.05, key=jax.random.key(0)
    )
    save_every = max(1, steps // 60)
    final, saved = flow.simulate(state, params, config, steps, save_every=save_every)
    out = Path("outputs/flow")
    print("gif:", write_gif(out / "karman.gif", saved, params, config))
    print("hdf5:", write_flow_snapshot(out / "karman.h5", final, params, config, saved=saved, save_every=save_every))
    print(f"max CG iterations per solve: {int(final.cg_steps)}")
