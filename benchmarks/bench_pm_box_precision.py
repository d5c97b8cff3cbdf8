"""float32 against float64 for a PM run as the box grows: the relative difference of the final
displacements (the float64 run as reference), for the box sides of docs/pm.md's precision note.

    .venv/bin/python benchmarks/bench_pm_box_precision.py [--ptcl 32] [--steps 4] [--a-start 0.015625]

Prints one JSON object per box side.
"""

from __future__ import annotations

import argparse
import json

from _timing import input_errors_as_usage_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ptcl", type=int, default=32, help="particles per side (default 32)")
    parser.add_argument("--steps", type=int, default=4, help="KDK steps to a = 1 (default 4)")
    parser.add_argument("--a-start", type=float, default=1 / 64, help="initial scale factor (default 1/64)")
    parser.add_argument("--boxes", type=float, nargs="+", default=[1e3, 1e4, 3e4, 1e5], help="box sides, Mpc/h")
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)  # float64 available; each run picks its dtype
    import numpy as np

    from astrograd.cosmo import Cosmology, growth_table
    from astrograd.pm import PMConfig, linear_modes, lpt, white_noise
    from astrograd.pm._nbody import kdk_factors, nbody

    cosmo = Cosmology()
    for box in args.boxes:
        final, noise = {}, None
        for dtype in ("float64", "float32"):  # the same white noise (drawn in float64) for both
            config = PMConfig(ptcl_grid=args.ptcl, box_size=box, a_start=args.a_start, a_stop=1.0, num_steps=args.steps,
                              dtype=dtype)
            table = growth_table(cosmo)
            noise = white_noise(jax.random.key(0), config) if noise is None else noise.astype(dtype)
            modes = linear_modes(noise, cosmo, config, table)
            disp, mom = lpt(modes, cosmo, config, table)
            disp, _ = jax.jit(nbody, static_argnums=(3,))(disp, mom, kdk_factors(cosmo, config, table), config)
            final[dtype] = np.asarray(disp, np.float64)
        ref = final["float64"]
        print(json.dumps({"box_mpc_h": box, "ptcl": args.ptcl, "steps": args.steps, "a_start": args.a_start,
                          "rms_displacement_mpc_h": float(np.sqrt(np.mean(ref**2))),
                          "relative_difference_float32": float(np.linalg.norm(final["float32"] - ref)
                                                               / np.linalg.norm(ref))}), flush=True)


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
