"""Onset of vortex shedding in the Kármán reference runs (the reason for karman-data's warm-up):
the cross-stream velocity 70 units behind the cylinder centre every 100 steps, for the fine
(128×256) reference solver with the data set's perturbation.

    .venv/bin/python benchmarks/bench_karman_onset.py [--re 73.2 390.6] [--steps 2400]
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from _timing import input_errors_as_usage_errors
from astrograd.flow import simulate
from astrograd.learn._karman import fine_scene

if __name__ == "__main__":
    with input_errors_as_usage_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--re", type=float, nargs="+", default=[73.2, 390.6])
        parser.add_argument("--steps", type=int, default=2400,
                            help="steps per run, >= 100 (the probe is read every 100)")
        args = parser.parse_args()
        if args.steps < 100:  # no probe at all: max() of an empty list
            parser.error(f"--steps {args.steps} is too few; the probe is read every 100 steps (give >= 100)")
        for re in args.re:
            state, params, config = fine_scene(32, 64, re, 1.0, 4, 0.01, jax.random.key(0))
            advance = jax.jit(lambda s, p=params, c=config: simulate(s, p, c, 100)[0])
            probe = []
            for _ in range(args.steps // 100):
                state = advance(state)
                vx = np.asarray(state.vx)
                probe.append(round(float(vx[int(120 / 200 * vx.shape[0]), vx.shape[1] // 2]), 4))
            print(json.dumps({"reynolds": re, "every": 100, "cross_stream_velocity": probe,
                              "max_abs_last_1000": max(abs(v) for v in probe[-10:])}), flush=True)
