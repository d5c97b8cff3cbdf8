"""Wind loss landscape (issue 3, example 4): wall time of `wind_loss_map` over a grid of
(v∞, star mass), one run at a time, vmapped, and split over devices.

    .venv/bin/python benchmarks/bench_hydro_loss_map.py [--cells 401] [--grid 40] \
        [--modes one,vmap40,devices2,devices2_vmap20]

Each mode runs in its own subprocess (devices2 starts JAX with 2 host devices on a CPU) and
prints one JSON object: wall and compile-inclusive seconds, the minimum and its place. A mode
that fails prints {"mode": ..., "error": ...} and the script exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

from _timing import exit_on_usage_error_of, input_errors_as_usage_errors


def _case(mode: str, cells: int, grid: int) -> dict:
    # one: vmap=1 (one run at a time); vmapK: K runs per vmapped loop; devicesN: split over N
    # devices, one run at a time on each; devicesN_vmapK: both
    kw = {"vmap": 1}
    for part in mode.split("_"):
        if part.startswith("devices"):
            n = int(part[len("devices"):])
            os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n}"
            kw["devices"] = n
        elif part.startswith("vmap"):
            kw["vmap"] = int(part[len("vmap"):])
        elif part != "one":
            raise SystemExit(f"unknown mode {mode!r}; use one, vmapK, devicesN or devicesN_vmapK")
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from astrograd.hydro import wind_problem
    from astrograd.hydro._wind import wind_loss_map

    pr = wind_problem(cells)
    v, m = np.linspace(200.0, 4000.0, grid), np.linspace(15.0, 70.0, grid)
    t0 = time.perf_counter()
    losses = wind_loss_map(pr, v, m, batch=40, progress=False, **kw)
    wall = time.perf_counter() - t0
    i, j = np.unravel_index(np.argmin(losses), losses.shape)
    return {"case": "wind_loss_map", "mode": mode, "vmap": kw["vmap"], "devices": kw.get("devices", 1),
            "cells": cells, "grid": grid, "runs": grid * grid,
            "wall_s": round(wall, 2), "seconds_per_run": round(wall / grid**2, 4),
            "argmin_v_km_s": float(v[j]), "argmin_mass_msun": float(m[i]), "min_loss": float(losses[i, j]),
            "jax": jax.__version__, "backend": jax.default_backend(), "devices_seen": len(jax.devices()),
            "cpus": os.cpu_count(), "machine": platform.machine(), "load_avg_1min": os.getloadavg()[0]}


_MODE = re.compile(r"one|vmap[1-9][0-9]*|devices[1-9][0-9]*(_vmap[1-9][0-9]*)?")


def _modes(text: str) -> list[str]:
    """argparse type of --modes: an unknown mode ran in its subprocess and failed there (exit 1,
    "1 mode(s) failed"), "vmapx" with a ValueError traceback."""
    modes = text.split(",")
    for mode in modes:
        if not _MODE.fullmatch(mode):
            raise argparse.ArgumentTypeError(
                f"unknown mode {mode!r}; use one, vmapK, devicesN or devicesN_vmapK (K, N >= 1), comma-separated")
    return modes


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=401)
    p.add_argument("--grid", type=int, default=40)
    p.add_argument("--modes", type=_modes, default="one,devices2")
    p.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        print(json.dumps(_case(args.case, args.cells, args.grid)), flush=True)
        return
    failed = []
    for mode in args.modes:
        cmd = [sys.executable, __file__, "--case", mode, "--cells", str(args.cells), "--grid", str(args.grid)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        exit_on_usage_error_of(out)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if lines:
            print(lines[-1], flush=True)
        if out.returncode != 0 or not lines:
            failed.append(mode)
            print(json.dumps({"mode": mode, "error": out.stderr.strip().splitlines()[-1:] or out.returncode}),
                  flush=True)
    if failed:
        raise SystemExit(f"error: {len(failed)} mode(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    with input_errors_as_usage_errors():
        main()
