"""Kármán vortex street in the Physics-based Deep Learning book's geometry: GIF and HDF5.

Run: .venv/bin/python examples/flow_karman.py [NX NY RE STEPS]
(defaults 64 128 400 600; writes outputs/flow/karman.gif and karman.h5)
"""

import sys
from pathlib import Path

import jax

from astrograd import flow
from astrograd.flow._io import write_flow_snapshot
from astrograd.flow._plot import write_gif

if __name__ == "__main__":
    nx, ny, reynolds, steps = (
        (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
        if len(sys.argv) > 4
        else (64, 128, 400.0, 600)
    )
    state, params, config = flow.karman(
        nx, ny, reynolds, 1.0, advection="maccormack", perturbation=0.05, key=jax.random.key(0)
    )
    save_every = max(1, steps // 60)
    final, saved = flow.simulate(state, params, config, steps, save_every=save_every)
    out = Path("outputs/flow")
    print("gif:", write_gif(out / "karman.gif", saved, params, config))
    print("hdf5:", write_flow_snapshot(out / "karman.h5", final, params, config, saved=saved, save_every=save_every))
    print(f"max CG iterations per solve: {int(final.cg_steps)}")
